/*
 * policy_values.c - the loader's errors and the scalar values every part
 * of the schema reads: strings, paths, booleans, durations and choices,
 * each checked for its type and reported with file:line:column.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "policy_load.h"

static int __attribute__((format(printf, 4, 0)))
vfail(struct loader *l, size_t line, size_t col, const char *fmt,
    va_list ap)
{
	char *t = l->err->text;
	size_t size = sizeof(l->err->text), o;
	int n;

	if (line > 0)
		n = snprintf(t, size, "%s:%zu:%zu: ", l->file, line, col);
	else
		n = snprintf(t, size, "%s: ", l->file);
	o = n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
	/* a message too long for the buffer is cut short, which is fine */
	n = vsnprintf(t + o, size - o, fmt, ap);
	o += n < 0 ? 0 : (size_t)n < size - o ? (size_t)n : size - o - 1;
	if (line == 0 && l->from != NULL)
		snprintf(t + o, size - o, " (included from %s)", l->from);
	return -1;
}

int __attribute__((format(printf, 3, 4)))
pl_fail(struct loader *l, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(l, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
	return -1;
}

int __attribute__((format(printf, 4, 5)))
pl_fail_at(struct loader *l, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(l, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

int
pl_oom(struct loader *l, const struct node *n)
{
	return pl_fail(l, n, "out of memory");
}

/* Quotes a scalar for a message (escaping what a log must not carry). */
const char *
pl_q(char *buf, size_t buflen, const struct node *n)
{
	if (n->kind != N_SCALAR) {
		snprintf(buf, buflen, "%s",
		    n->kind == N_MAP ? "(a mapping)" : "(a list)");
		return buf;
	}
	pb_quote(buf, buflen, n->str, n->len, 64);
	return buf;
}

bool
pl_is_null(const struct node *n)
{
	return n->kind == N_SCALAR && n->plain &&
	    (n->len == 0 || strcmp(n->str, "~") == 0 ||
	    strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	    strcmp(n->str, "NULL") == 0);
}

const char *
pl_kind_name(const struct node *n)
{
	if (n->kind == N_MAP)
		return "a mapping";
	if (n->kind == N_SEQ)
		return "a list";
	return pl_is_null(n) ? "null" : "a string";
}

bool
pl_key_is(const struct node *k, const char *name)
{
	return k->len == strlen(name) && memcmp(k->str, name, k->len) == 0;
}

/* A non-null scalar, as a string: YAML numbers and booleans are kept as
 * written, since names like "42" are legitimate. */
int
pl_want_string(struct loader *l, const struct node *n, const char *what,
    bool nonempty)
{
	if (n->kind != N_SCALAR || pl_is_null(n))
		return pl_fail(l, n, "%s must be a string, not %s", what,
		    pl_kind_name(n));
	if (nonempty && n->len == 0)
		return pl_fail(l, n, "%s must not be empty", what);
	return 0;
}

int
pl_set_string(struct loader *l, const struct node *n, const char *what,
    char **dst)
{
	char *s;

	if (pl_want_string(l, n, what, true) < 0)
		return -1;
	s = strdup(n->str);
	if (s == NULL)
		return pl_oom(l, n);
	free(*dst);
	*dst = s;
	return 0;
}

static int
file_dir(struct loader *l, const struct node *n)
{
	const char *slash;
	char *cwd, eb[128];
	size_t dlen, clen;

	if (l->dir != NULL)
		return 0;
	slash = strrchr(l->file, '/');
	if (l->file[0] == '/') {
		dlen = slash == l->file ? 1 : (size_t)(slash - l->file);
		l->dir = strndup(l->file, dlen);
		return l->dir ? 0 : pl_oom(l, n);
	}
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return pl_fail(l, n, "cannot resolve a relative path: %s",
		    pb_errstr(errno, eb, sizeof(eb)));
	if (slash == NULL) {
		l->dir = cwd;
		return 0;
	}
	clen = strlen(cwd);
	dlen = (size_t)(slash - l->file);
	l->dir = malloc(clen + 1 + dlen + 1);
	if (l->dir == NULL) {
		free(cwd);
		return pl_oom(l, n);
	}
	memcpy(l->dir, cwd, clen);
	l->dir[clen] = '/';
	memcpy(l->dir + clen + 1, l->file, dlen);
	l->dir[clen + 1 + dlen] = '\0';
	free(cwd);
	return 0;
}

/* Paths are resolved against the directory of the file naming them, so
 * a policy means the same whatever the current directory of the host. */
int
pl_set_path(struct loader *l, const struct node *n, const char *what,
    char **dst)
{
	size_t dlen;
	char *s;

	if (pl_want_string(l, n, what, true) < 0)
		return -1;
	if (n->str[0] == '/') {
		s = strdup(n->str);
	} else {
		if (file_dir(l, n) < 0)
			return -1;
		dlen = strlen(l->dir);
		s = malloc(dlen + 1 + n->len + 1);
		if (s != NULL) {
			memcpy(s, l->dir, dlen);
			if (dlen == 0 || l->dir[dlen - 1] != '/')
				s[dlen++] = '/';
			memcpy(s + dlen, n->str, n->len + 1);
		}
	}
	if (s == NULL)
		return pl_oom(l, n);
	free(*dst);
	*dst = s;
	return 0;
}

int
pl_set_bool(struct loader *l, const struct node *n, const char *what, bool *dst)
{
	if (n->kind == N_SCALAR && n->plain && strcmp(n->str, "true") == 0)
		*dst = true;
	else if (n->kind == N_SCALAR && n->plain &&
	    strcmp(n->str, "false") == 0)
		*dst = false;
	else
		return pl_fail(l, n, "%s must be true or false", what);
	return 0;
}

int
pl_set_duration(struct loader *l, const struct node *n, const char *what,
    long long lo, long long hi, long long *dst)
{
	long long v = 0, mult = 1;
	size_t i = 0;
	char b[160];

	if (n->kind != N_SCALAR || pl_is_null(n))
		return pl_fail(l, n, "%s must be a duration (like 90s, 15m, 1h, "
		    "1d or a number of seconds), not %s", what, pl_kind_name(n));
	while (i < n->len && n->str[i] >= '0' && n->str[i] <= '9') {
		int d = n->str[i] - '0';

		if (v > (LLONG_MAX - d) / 10)
			return pl_fail(l, n, "%s: duration %s is too large", what,
			    pl_q(b, sizeof(b), n));
		v = v * 10 + d;
		i++;
	}
	if (i == 0 || n->len - i > 1)
		goto bad;
	if (i < n->len) {
		switch (n->str[i]) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: goto bad;
		}
	}
	if (v > LLONG_MAX / mult)
		return pl_fail(l, n, "%s: duration %s is too large", what,
		    pl_q(b, sizeof(b), n));
	v *= mult;
	if (v < lo || v > hi)
		return pl_fail(l, n, "%s must be between %llds and %llds, not "
		    "%s", what, lo, hi, pl_q(b, sizeof(b), n));
	*dst = v;
	return 0;
bad:
	return pl_fail(l, n, "%s: invalid duration %s (expected like 90s, 15m, "
	    "1h, 1d or a number of seconds)", what, pl_q(b, sizeof(b), n));
}

/* Picks one of names[] (NULL-terminated); returns its index or -1. */
int
pl_set_enum(struct loader *l, const struct node *n, const char *what,
    const char *const *names, const char *expected)
{
	char b[160];
	int i;

	if (pl_want_string(l, n, what, false) < 0)
		return -1;
	for (i = 0; names[i] != NULL; i++)
		if (pl_key_is(n, names[i]))
			return i;
	pl_fail(l, n, "%s: unknown value %s (expected %s)", what,
	    pl_q(b, sizeof(b), n), expected);
	return -1;
}

int
pl_unknown_key(struct loader *l, const struct node *k, const char *where,
    const char *expected)
{
	char b[160];

	return pl_fail(l, k, "unknown key %s %s (expected one of: %s)",
	    pl_q(b, sizeof(b), k), where, expected);
}

int
pl_want_map(struct loader *l, const struct node *n, const char *what)
{
	if (n->kind != N_MAP)
		return pl_fail(l, n, "%s must be a mapping, not %s", what,
		    pl_kind_name(n));
	return 0;
}
