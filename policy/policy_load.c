/*
 * policy_load.c - reads and strictly validates the policy YAML.
 *
 * libyaml's event API feeds a small node tree that keeps every node's
 * position, then a schema walk turns the tree into struct pb_policy. The
 * file is trusted to be written by an administrator, but a typo must
 * never widen access: an unknown key, a wrong type, an empty role list or
 * an unparsable pattern fails the whole load, and the module then denies
 * everyone. libyaml itself knows nothing of duplicate keys, and expands
 * aliases on request only, so both are checked here.
 *
 * libyaml is not linked: it is dlopen'ed for the length of one load. A
 * login whose policy has a fresh compiled snapshot (policy_snapshot.c)
 * never reads YAML, and every PostgreSQL backend would otherwise map
 * libyaml and bind its symbols for nothing.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <yaml.h>

#include "dynload.h"
#include "msg.h"
#include "policy_int.h"
#include "trusted_file.h"

#define MAX_FILE        (4 * 1024 * 1024)
#define MAX_SCALAR      (64 * 1024)
#define MAX_DEPTH       32
#define MAX_INCLUDES    1000

#define LIBYAML_SONAME  "libyaml-0.so.2"

#define DEFAULT_ISSUER  "https://agent.buildkite.com"
#define DEFAULT_JWKS    "https://agent.buildkite.com/.well-known/jwks"
#define DEFAULT_CACHE   "/var/cache/pam_buildkite"

enum nkind { N_SCALAR, N_SEQ, N_MAP };

/* Kept small, with the scalar's bytes inline: a 4 MiB file of tiny
 * values makes millions of these. The file cap keeps every count below
 * 2^32. */
struct node {
	unsigned char kind;     /* enum nkind */
	bool plain;             /* an untagged plain scalar */
	unsigned line, col;     /* 1-based */
	unsigned len;           /* of str */
	unsigned n, cap;        /* kids */
	struct node **kids;     /* list items; for maps key, value, ... */
	char str[];             /* scalar value, NUL-terminated */
};

/* The libyaml functions of one load. */
struct yaml_api {
	void *lib;
	int (*parser_initialize)(yaml_parser_t *);
	void (*parser_set_input_string)(yaml_parser_t *, const unsigned char *,
	    size_t);
	int (*parser_parse)(yaml_parser_t *, yaml_event_t *);
	void (*event_delete)(yaml_event_t *);
	void (*parser_delete)(yaml_parser_t *);
};

struct loader {
	struct pb_error *err;
	struct yaml_api *yaml;  /* opened by the first file's parse */
	struct pb_policy *pol;
	const char *file;       /* name used in messages */
	const char *from;       /* "file:line:col" of the include: key */
	char *dir;              /* absolute directory of file, lazily */
	bool include;           /* an included file: rules only */
	struct pb_sources *keep;        /* the files read, for a snapshot */
	uid_t uid;              /* judged as this user (trusted_file.h) */
};

/* ------------------------------------------------------------- errors */

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

static int __attribute__((format(printf, 3, 4)))
fail(struct loader *l, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(l, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
	return -1;
}

static int __attribute__((format(printf, 4, 5)))
fail_at(struct loader *l, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(l, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

static int
oom(struct loader *l, const struct node *n)
{
	return fail(l, n, "out of memory");
}

/* Quotes a scalar for a message (escaping what a log must not carry). */
static const char *
q(char *buf, size_t buflen, const struct node *n)
{
	if (n->kind != N_SCALAR) {
		snprintf(buf, buflen, "%s",
		    n->kind == N_MAP ? "(a mapping)" : "(a list)");
		return buf;
	}
	pb_quote(buf, buflen, n->str, n->len, 64);
	return buf;
}

/* ---------------------------------------------------------- node tree */

/* The nodes of one file live in an arena: a 10,000-rule policy makes
 * about 150,000 of them, and handing each back to malloc cost more than
 * parsing did. Nothing in the arena is freed before the whole file is. */
struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
};

#define ARENA_BLOCK     (64 * 1024)

static void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	size_t align = sizeof(max_align_t);

	n = (n + align - 1) / align * align;
	if (b == NULL || b->size - b->used < n) {
		/* a request bigger than a block gets a block of its own */
		size_t size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->size = size;
		if (a->head != NULL && size != ARENA_BLOCK) {
			/* keep filling the current block */
			b->next = a->head->next;
			a->head->next = b;
			b->used = n;
			return b->data;
		}
		b->next = a->head;
		a->head = b;
	}
	b->used += n;
	return (char *)b->data + b->used - n;
}

static void
arena_free(struct arena *a)
{
	while (a->head != NULL) {
		struct arena_block *b = a->head;

		a->head = b->next;
		free(b);
	}
}

static struct node *
node_new(struct arena *a, size_t strlen_)
{
	struct node *n = arena_alloc(a, sizeof(*n) + strlen_ + 1);

	if (n != NULL)
		memset(n, 0, sizeof(*n) + strlen_ + 1);
	return n;
}

static int
node_add(struct arena *a, struct node *parent, struct node *kid)
{
	if (parent->n == parent->cap) {
		/* the old array stays in the arena: at most as much again */
		unsigned cap = parent->cap ? parent->cap * 2 : 4;
		struct node **k = arena_alloc(a, (size_t)cap * sizeof(*k));

		if (k == NULL)
			return -1;
		if (parent->n > 0)
			memcpy(k, parent->kids, parent->n * sizeof(*k));
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

struct keyref {
	const struct node *key;
	size_t idx;
};

static int
keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
	int c = memcmp(x->key->str, y->key->str, n);

	if (c != 0)
		return c;
	if (x->key->len != y->key->len)
		return x->key->len < y->key->len ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Keys must be strings and unique. Sorting keeps a mapping with very
 * many keys from costing quadratic time. */
static int
map_check(struct loader *l, const struct node *m)
{
	struct keyref *refs;
	const struct node *dup = NULL, *first = NULL;
	size_t i, dupi = 0, nk = m->n / 2;
	char b[160];

	for (i = 0; i < nk; i++) {
		const struct node *k = m->kids[2 * i];

		if (k->kind != N_SCALAR)
			return fail(l, k, "mapping keys must be strings");
	}
	if (nk < 2)
		return 0;
	if (nk <= 16) {
		/* a rule's few keys: comparing pairs beats sorting */
		size_t j;

		for (i = 1; i < nk && dup == NULL; i++)
			for (j = 0; j < i; j++)
				if (m->kids[2 * i]->len ==
				    m->kids[2 * j]->len &&
				    memcmp(m->kids[2 * i]->str,
				    m->kids[2 * j]->str,
				    m->kids[2 * j]->len) == 0) {
					dup = m->kids[2 * i];
					first = m->kids[2 * j];
					break;
				}
		goto report;
	}
	refs = calloc(nk, sizeof(*refs));
	if (refs == NULL)
		return oom(l, m);
	for (i = 0; i < nk; i++) {
		refs[i].key = m->kids[2 * i];
		refs[i].idx = i;
	}
	qsort(refs, nk, sizeof(*refs), keyref_cmp);
	/* report the earliest second occurrence, as a reader would */
	for (i = 0; i < nk; ) {
		size_t j = i + 1;

		while (j < nk && refs[j].key->len == refs[i].key->len &&
		    memcmp(refs[j].key->str, refs[i].key->str,
		    refs[i].key->len) == 0)
			j++;
		if (j - i > 1 && (dup == NULL || refs[i + 1].idx < dupi)) {
			dup = refs[i + 1].key;
			dupi = refs[i + 1].idx;
			first = refs[i].key;
		}
		i = j;
	}
	free(refs);
report:
	if (dup != NULL)
		return fail(l, dup, "duplicate key %s (first at line %u, "
		    "column %u)", q(b, sizeof(b), dup), first->line,
		    first->col);
	return 0;
}

static int
yaml_fail(struct loader *l, const yaml_parser_t *p, const char *buf,
    size_t len)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";
	yaml_mark_t m = p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR)
		return fail_at(l, 1, 1, "out of memory");
	if (p->error == YAML_READER_ERROR) {
		/* the reader decodes ahead of the scanner and reports only a
		 * byte offset: count lines and characters up to it */
		size_t i, line = 1, col = 1, end = p->problem_offset;

		for (i = 0; i < end && i < len; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		return fail_at(l, line, col, "%s", problem);
	}
	if (p->context != NULL)
		return fail_at(l, m.line + 1, m.column + 1, "%s %s (line %zu, "
		    "column %zu)", problem, p->context,
		    p->context_mark.line + 1, p->context_mark.column + 1);
	return fail_at(l, m.line + 1, m.column + 1, "%s", problem);
}

/* Explicit tags could turn a string into something else; only the one a
 * node already has by default is tolerated. */
static int
check_props(struct loader *l, const yaml_event_t *ev, const char *anchor,
    const char *tag, const char *deftag)
{
	size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
	char b[160];

	if (anchor != NULL)
		return fail_at(l, line, col, "anchors and aliases are not "
		    "allowed");
	if (tag != NULL && strcmp(tag, deftag) != 0) {
		pb_quote(b, sizeof(b), tag, strlen(tag), 64);
		return fail_at(l, line, col, "tags are not allowed (found "
		    "%s)", b);
	}
	return 0;
}

/* Loads libyaml into l->yaml unless it is there already. */
static int
yaml_open(struct loader *l)
{
	static const char *const names[] = {
		"yaml_parser_initialize", "yaml_parser_set_input_string",
		"yaml_parser_parse", "yaml_event_delete", "yaml_parser_delete",
	};
	struct yaml_api *y = l->yaml;
	pb_fn f[sizeof(names) / sizeof(names[0])];
	char why[PB_MSG_MAX];

	if (y->lib != NULL)
		return 0;
	y->lib = pb_dlopen_api(LIBYAML_SONAME, "libyaml-0-2", RTLD_NOW |
	    RTLD_LOCAL, names, f, sizeof(names) / sizeof(names[0]), why,
	    sizeof(why));
	if (y->lib == NULL)
		return fail_at(l, 0, 0, "cannot read YAML: %s", why);
	y->parser_initialize = (int (*)(yaml_parser_t *))f[0];
	y->parser_set_input_string = (void (*)(yaml_parser_t *,
	    const unsigned char *, size_t))f[1];
	y->parser_parse = (int (*)(yaml_parser_t *, yaml_event_t *))f[2];
	y->event_delete = (void (*)(yaml_event_t *))f[3];
	y->parser_delete = (void (*)(yaml_parser_t *))f[4];
	return 0;
}

static int
parse_tree(struct loader *l, struct arena *a, const char *buf, size_t len,
    struct node **root)
{
	const struct yaml_api *y = l->yaml;
	yaml_parser_t p;
	yaml_event_t ev;
	struct node *stack[MAX_DEPTH];
	size_t depth = 0;
	int docs = 0, rc = -1;
	bool done = false;

	*root = NULL;
	if (yaml_open(l) < 0)
		return -1;
	if (!y->parser_initialize(&p))
		return fail_at(l, 1, 1, "out of memory");
	y->parser_set_input_string(&p, (const unsigned char *)buf, len);

	while (!done) {
		struct node *n = NULL;
		size_t line, col;
		bool push = false;

		if (!y->parser_parse(&p, &ev)) {
			yaml_fail(l, &p, buf, len);
			goto out;
		}
		line = ev.start_mark.line + 1;
		col = ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				fail_at(l, line, col, "only one YAML document "
				    "is allowed");
				goto bad;
			}
			break;
		case YAML_ALIAS_EVENT:
			fail_at(l, line, col, "anchors and aliases are not "
			    "allowed");
			goto bad;
		case YAML_SCALAR_EVENT:
			if (check_props(l, &ev,
			    (const char *)ev.data.scalar.anchor,
			    (const char *)ev.data.scalar.tag,
			    YAML_STR_TAG) < 0)
				goto bad;
			if (ev.data.scalar.length > MAX_SCALAR) {
				fail_at(l, line, col, "value longer than %d "
				    "bytes", MAX_SCALAR);
				goto bad;
			}
			if (memchr(ev.data.scalar.value, '\0',
			    ev.data.scalar.length) != NULL) {
				fail_at(l, line, col, "NUL byte in a value");
				goto bad;
			}
			n = node_new(a, ev.data.scalar.length);
			if (n == NULL) {
				fail_at(l, line, col, "out of memory");
				goto bad;
			}
			n->kind = N_SCALAR;
			memcpy(n->str, ev.data.scalar.value,
			    ev.data.scalar.length);
			n->len = (unsigned)ev.data.scalar.length;
			n->plain = ev.data.scalar.tag == NULL &&
			    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (ev.type == YAML_SEQUENCE_START_EVENT ?
			    check_props(l, &ev,
			    (const char *)ev.data.sequence_start.anchor,
			    (const char *)ev.data.sequence_start.tag,
			    YAML_SEQ_TAG) < 0 :
			    check_props(l, &ev,
			    (const char *)ev.data.mapping_start.anchor,
			    (const char *)ev.data.mapping_start.tag,
			    YAML_MAP_TAG) < 0)
				goto bad;
			if (depth >= MAX_DEPTH) {
				fail_at(l, line, col, "nested deeper than %d "
				    "levels", MAX_DEPTH);
				goto bad;
			}
			n = node_new(a, 0);
			if (n == NULL) {
				fail_at(l, line, col, "out of memory");
				goto bad;
			}
			n->kind = ev.type == YAML_SEQUENCE_START_EVENT ?
			    N_SEQ : N_MAP;
			push = true;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth == 0)
				break;  /* libyaml guarantees balance */
			depth--;
			if (stack[depth]->kind == N_MAP &&
			    map_check(l, stack[depth]) < 0)
				goto bad;
			break;
		default:
			break;
		}
		if (n != NULL) {
			n->line = (unsigned)line;
			n->col = (unsigned)col;
			if (depth > 0) {
				if (node_add(a, stack[depth - 1], n) < 0) {
					fail_at(l, line, col, "out of memory");
					goto bad;
				}
			} else if (*root == NULL) {
				*root = n;
			} else {
				/* not reached: one document has one root */
				fail_at(l, line, col, "only one YAML document "
				    "is allowed");
				goto bad;
			}
			if (push)
				stack[depth++] = n;
		}
		y->event_delete(&ev);
	}
	rc = 0;
	goto out;
bad:
	y->event_delete(&ev);
out:
	if (rc < 0)
		*root = NULL;
	y->parser_delete(&p);
	return rc;
}

/* ------------------------------------------------------------ reading */

static int
read_file(struct loader *l, const char *path, char **out, size_t *outlen)
{
	struct stat st;
	char *buf = NULL, eb[128], why[PB_MSG_MAX];
	size_t len = 0, size;
	int fd, rc = -1;

	*out = NULL;
	/* Opened without blocking (a FIFO is refused, not waited on) and
	 * judged on the open descriptor, with every directory above it:
	 * whoever could write or replace the policy decides who logs in.
	 * Links are followed (and the directories they lead through
	 * judged): /etc/pam_buildkite/policy.yaml may be a link into a
	 * configuration repository. */
	fd = pb_trusted_open(path, 0, l->uid, &st, why, sizeof(why));
	if (fd < 0)
		return fail(l, NULL, "%s", why);
	if (st.st_size > MAX_FILE) {
		fail(l, NULL, "larger than %d bytes", MAX_FILE);
		goto out;
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (buf == NULL) {
		fail(l, NULL, "out of memory");
		goto out;
	}
	/* read one byte more than expected to notice a file that grew */
	while (len < size + 1) {
		ssize_t r = read(fd, buf + len, size + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fail(l, NULL, "cannot read: %s",
			    pb_errstr(errno, eb, sizeof(eb)));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > size) {
		fail(l, NULL, "changed while being read");
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* ------------------------------------------------------ scalar values */

static bool
is_null(const struct node *n)
{
	return n->kind == N_SCALAR && n->plain &&
	    (n->len == 0 || strcmp(n->str, "~") == 0 ||
	    strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	    strcmp(n->str, "NULL") == 0);
}

static const char *
kind_name(const struct node *n)
{
	if (n->kind == N_MAP)
		return "a mapping";
	if (n->kind == N_SEQ)
		return "a list";
	return is_null(n) ? "null" : "a string";
}

static bool
key_is(const struct node *k, const char *name)
{
	return k->len == strlen(name) && memcmp(k->str, name, k->len) == 0;
}

/* A non-null scalar, as a string: YAML numbers and booleans are kept as
 * written, since names like "42" are legitimate. */
static int
want_string(struct loader *l, const struct node *n, const char *what,
    bool nonempty)
{
	if (n->kind != N_SCALAR || is_null(n))
		return fail(l, n, "%s must be a string, not %s", what,
		    kind_name(n));
	if (nonempty && n->len == 0)
		return fail(l, n, "%s must not be empty", what);
	return 0;
}

static int
set_string(struct loader *l, const struct node *n, const char *what,
    char **dst)
{
	char *s;

	if (want_string(l, n, what, true) < 0)
		return -1;
	s = strdup(n->str);
	if (s == NULL)
		return oom(l, n);
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
		return l->dir ? 0 : oom(l, n);
	}
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return fail(l, n, "cannot resolve a relative path: %s",
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
		return oom(l, n);
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
static int
set_path(struct loader *l, const struct node *n, const char *what,
    char **dst)
{
	size_t dlen;
	char *s;

	if (want_string(l, n, what, true) < 0)
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
		return oom(l, n);
	free(*dst);
	*dst = s;
	return 0;
}

static int
set_bool(struct loader *l, const struct node *n, const char *what, bool *dst)
{
	if (n->kind == N_SCALAR && n->plain && strcmp(n->str, "true") == 0)
		*dst = true;
	else if (n->kind == N_SCALAR && n->plain &&
	    strcmp(n->str, "false") == 0)
		*dst = false;
	else
		return fail(l, n, "%s must be true or false", what);
	return 0;
}

static int
set_duration(struct loader *l, const struct node *n, const char *what,
    long long lo, long long hi, long long *dst)
{
	long long v = 0, mult = 1;
	size_t i = 0;
	char b[160];

	if (n->kind != N_SCALAR || is_null(n))
		return fail(l, n, "%s must be a duration (like 90s, 15m, 1h, "
		    "1d or a number of seconds), not %s", what, kind_name(n));
	while (i < n->len && n->str[i] >= '0' && n->str[i] <= '9') {
		int d = n->str[i] - '0';

		if (v > (LLONG_MAX - d) / 10)
			return fail(l, n, "%s: duration %s is too large", what,
			    q(b, sizeof(b), n));
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
		return fail(l, n, "%s: duration %s is too large", what,
		    q(b, sizeof(b), n));
	v *= mult;
	if (v < lo || v > hi)
		return fail(l, n, "%s must be between %llds and %llds, not "
		    "%s", what, lo, hi, q(b, sizeof(b), n));
	*dst = v;
	return 0;
bad:
	return fail(l, n, "%s: invalid duration %s (expected like 90s, 15m, "
	    "1h, 1d or a number of seconds)", what, q(b, sizeof(b), n));
}

/* Picks one of names[] (NULL-terminated); returns its index or -1. */
static int
set_enum(struct loader *l, const struct node *n, const char *what,
    const char *const *names, const char *expected)
{
	char b[160];
	int i;

	if (want_string(l, n, what, false) < 0)
		return -1;
	for (i = 0; names[i] != NULL; i++)
		if (key_is(n, names[i]))
			return i;
	fail(l, n, "%s: unknown value %s (expected %s)", what,
	    q(b, sizeof(b), n), expected);
	return -1;
}

static int
unknown_key(struct loader *l, const struct node *k, const char *where,
    const char *expected)
{
	char b[160];

	return fail(l, k, "unknown key %s %s (expected one of: %s)",
	    q(b, sizeof(b), k), where, expected);
}

static int
want_map(struct loader *l, const struct node *n, const char *what)
{
	if (n->kind != N_MAP)
		return fail(l, n, "%s must be a mapping, not %s", what,
		    kind_name(n));
	return 0;
}

/* -------------------------------------------------------------- token */

static int
add_alg(struct loader *l, const struct node *n, unsigned *mask)
{
	static const struct {
		const char *name;
		unsigned bit;
	} algs[] = {
		{ "RS256", PB_ALG_RS256 }, { "RS384", PB_ALG_RS384 },
		{ "RS512", PB_ALG_RS512 }, { "ES256", PB_ALG_ES256 },
		{ "ES384", PB_ALG_ES384 },
	};
	char b[160];
	size_t i;

	if (want_string(l, n, "token.algorithms", true) < 0)
		return -1;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (key_is(n, algs[i].name)) {
			*mask |= algs[i].bit;
			return 0;
		}
	}
	if (strcasecmp(n->str, "none") == 0 ||
	    strcasecmp(n->str, "HS256") == 0 ||
	    strcasecmp(n->str, "HS384") == 0 ||
	    strcasecmp(n->str, "HS512") == 0)
		return fail(l, n, "token.algorithms: %s is never allowed "
		    "(anyone could forge such a token)", q(b, sizeof(b), n));
	return fail(l, n, "token.algorithms: unknown algorithm %s (expected "
	    "RS256, RS384, RS512, ES256 or ES384)", q(b, sizeof(b), n));
}

static int
add_audience(struct loader *l, const struct node *n)
{
	struct pb_config *c = &l->pol->cfg;
	char **a, *s;

	if (want_string(l, n, "token.audience", true) < 0)
		return -1;
	s = strdup(n->str);
	if (s == NULL)
		return oom(l, n);
	a = reallocarray(c->token.audiences, c->token.n_audiences + 1,
	    sizeof(*a));
	if (a == NULL) {
		free(s);
		return oom(l, n);
	}
	c->token.audiences = a;
	a[c->token.n_audiences++] = s;
	return 0;
}

static int
load_token(struct loader *l, const struct node *m)
{
	struct pb_config *c = &l->pol->cfg;
	const struct node *aud = NULL, *org = NULL, *single = NULL;
	size_t i, j;

	if (want_map(l, m, "token") < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];
		int rc;

		if (key_is(k, "issuer")) {
			rc = set_string(l, v, "token.issuer", &c->token.issuer);
		} else if (key_is(k, "audience")) {
			aud = v;
			if (v->kind == N_SEQ) {
				if (v->n == 0)
					return fail(l, v, "token.audience "
					    "must not be an empty list");
				for (j = 0; j < v->n; j++)
					if (add_audience(l, v->kids[j]) < 0)
						return -1;
				rc = 0;
			} else {
				rc = add_audience(l, v);
			}
		} else if (key_is(k, "organization")) {
			org = v;
			rc = set_string(l, v, "token.organization",
			    &c->token.organization);
		} else if (key_is(k, "organization_id")) {
			rc = set_string(l, v, "token.organization_id",
			    &c->token.organization_id);
		} else if (key_is(k, "algorithms")) {
			unsigned mask = 0;

			if (v->kind == N_SEQ) {
				if (v->n == 0)
					return fail(l, v, "token.algorithms "
					    "must not be an empty list");
				for (j = 0; j < v->n; j++)
					if (add_alg(l, v->kids[j], &mask) < 0)
						return -1;
			} else if (add_alg(l, v, &mask) < 0) {
				return -1;
			}
			c->token.algorithms = mask;
			rc = 0;
		} else if (key_is(k, "leeway")) {
			rc = set_duration(l, v, "token.leeway", 0, 300,
			    &c->token.leeway);
		} else if (key_is(k, "max_lifetime")) {
			rc = set_duration(l, v, "token.max_lifetime", 1, 86400,
			    &c->token.max_lifetime);
		} else if (key_is(k, "single_use")) {
			single = v;
			rc = set_bool(l, v, "token.single_use",
			    &c->token.single_use);
		} else if (key_is(k, "replay_dir")) {
			rc = set_path(l, v, "token.replay_dir",
			    &c->token.replay_dir);
		} else {
			rc = unknown_key(l, k, "in token", "issuer, audience, "
			    "organization, organization_id, algorithms, "
			    "leeway, max_lifetime, single_use, replay_dir");
		}
		if (rc < 0)
			return -1;
	}
	if (aud == NULL)
		return fail(l, m, "token.audience is required");
	if (org == NULL)
		return fail(l, m, "token.organization is required (tokens of "
		    "every Buildkite organization share one issuer)");
	if (c->token.single_use && c->token.replay_dir == NULL)
		return fail(l, single, "token.single_use needs "
		    "token.replay_dir");
	return 0;
}

/* --------------------------------------------------------- jwks, audit */

static int
load_jwks(struct loader *l, const struct node *m)
{
	static const char *const writers[] = { "module", "tool", NULL };
	struct pb_config *c = &l->pol->cfg;
	const struct node *url = NULL, *file = NULL;
	size_t i, j;
	int w;

	if (want_map(l, m, "jwks") < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];
		int rc;

		if (key_is(k, "url")) {
			url = k;
			if (set_string(l, v, "jwks.url", &c->jwks.url) < 0)
				return -1;
			if (strncmp(v->str, "https://", 8) != 0 ||
			    v->len == 8)
				return fail(l, v, "jwks.url must be an "
				    "https:// URL");
			for (j = 0; j < v->len; j++)
				if ((unsigned char)v->str[j] <= 0x20 ||
				    v->str[j] == 0x7f)
					return fail(l, v, "jwks.url must not "
					    "contain spaces or control "
					    "characters");
			rc = 0;
		} else if (key_is(k, "file")) {
			file = k;
			rc = set_path(l, v, "jwks.file", &c->jwks.file);
		} else if (key_is(k, "cache")) {
			rc = set_path(l, v, "jwks.cache", &c->jwks.cache);
		} else if (key_is(k, "refresh")) {
			rc = set_duration(l, v, "jwks.refresh", 1, 7 * 86400,
			    &c->jwks.refresh);
		} else if (key_is(k, "max_stale")) {
			rc = set_duration(l, v, "jwks.max_stale", 0,
			    30 * 86400, &c->jwks.max_stale);
		} else if (key_is(k, "timeout")) {
			rc = set_duration(l, v, "jwks.timeout", 1, 60,
			    &c->jwks.timeout);
		} else if (key_is(k, "ca_file")) {
			rc = set_path(l, v, "jwks.ca_file", &c->jwks.ca_file);
		} else if (key_is(k, "writer")) {
			w = set_enum(l, v, "jwks.writer", writers,
			    "module or tool");
			if (w < 0)
				return -1;
			c->jwks.writer = w == 0 ? PB_WRITER_MODULE :
			    PB_WRITER_TOOL;
			rc = 0;
		} else {
			rc = unknown_key(l, k, "in jwks", "url, file, cache, "
			    "refresh, max_stale, timeout, ca_file, writer");
		}
		if (rc < 0)
			return -1;
	}
	if (url != NULL && file != NULL) {
		const struct node *later = url->line > file->line ||
		    (url->line == file->line && url->col > file->col) ?
		    url : file;

		return fail(l, later, "jwks.url and jwks.file are mutually "
		    "exclusive");
	}
	if (file != NULL) {
		free(c->jwks.url);
		c->jwks.url = NULL;
	}
	return 0;
}

static int
load_audit(struct loader *l, const struct node *m)
{
	static const char *const formats[] = { "logfmt", "json", NULL };
	static const char *const facnames[] = {
		"auth", "authpriv", "daemon", "user", "local0", "local1",
		"local2", "local3", "local4", "local5", "local6", "local7",
		NULL
	};
	static const int facs[] = {
		LOG_AUTH, LOG_AUTHPRIV, LOG_DAEMON, LOG_USER, LOG_LOCAL0,
		LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5,
		LOG_LOCAL6, LOG_LOCAL7,
	};
	struct pb_config *c = &l->pol->cfg;
	size_t i;
	int x;

	if (want_map(l, m, "audit") < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];

		if (key_is(k, "format")) {
			x = set_enum(l, v, "audit.format", formats,
			    "logfmt or json");
			if (x < 0)
				return -1;
			c->audit.format = x == 0 ? PB_AUDIT_LOGFMT :
			    PB_AUDIT_JSON;
		} else if (key_is(k, "facility")) {
			x = set_enum(l, v, "audit.facility", facnames,
			    "auth, authpriv, daemon, user or local0 to "
			    "local7");
			if (x < 0)
				return -1;
			c->audit.facility = facs[x];
		} else {
			return unknown_key(l, k, "in audit",
			    "format, facility");
		}
	}
	return 0;
}

/* -------------------------------------------------------------- rules */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v';
}

/* A pattern: a string split on whitespace, or a list of items. */
static int
load_pattern(struct loader *l, const struct node *n, const char *what,
    struct pb_pattern *p)
{
	char msg[PB_MSG_MAX];
	size_t i, j, dlen = 0;

	if (n->kind == N_SCALAR && !is_null(n)) {
		for (i = 0; i < n->len; ) {
			while (i < n->len && is_space(n->str[i]))
				i++;
			if (i == n->len)
				break;
			j = i;
			while (j < n->len && !is_space(n->str[j]))
				j++;
			if (pb_pattern_add(p, n->str + i, j - i, msg,
			    sizeof(msg)) < 0)
				return fail(l, n, "%s: %s", what, msg);
			i = j;
		}
		if (p->n == 0)
			return fail(l, n, "%s: empty pattern", what);
		p->display = strdup(n->str);
		return p->display ? 0 : oom(l, n);
	}
	if (n->kind != N_SEQ)
		return fail(l, n, "%s must be a pattern (a string or a list), "
		    "not %s", what, kind_name(n));
	if (n->n == 0)
		return fail(l, n, "%s: empty pattern", what);
	for (i = 0; i < n->n; i++) {
		const struct node *e = n->kids[i];

		if (e->kind != N_SCALAR || is_null(e))
			return fail(l, e, "%s: pattern items must be strings, "
			    "not %s", what, kind_name(e));
		if (pb_pattern_add(p, e->str, e->len, msg, sizeof(msg)) < 0)
			return fail(l, e, "%s: %s", what, msg);
		dlen += e->len + 1;
	}
	p->display = malloc(dlen);
	if (p->display == NULL)
		return oom(l, n);
	for (i = 0, j = 0; i < n->n; i++) {
		memcpy(p->display + j, n->kids[i]->str, n->kids[i]->len);
		j += n->kids[i]->len;
		p->display[j++] = ' ';
	}
	p->display[j - 1] = '\0';
	return 0;
}

static int
add_cond(struct loader *l, struct pb_rule *r, const struct node *n,
    const char *claim, size_t claimlen, const char *label, const char *what)
{
	struct pb_cond *c;

	c = reallocarray(r->conds, r->n_conds + 1, sizeof(*c));
	if (c == NULL)
		return oom(l, n);
	r->conds = c;
	c = &r->conds[r->n_conds];
	memset(c, 0, sizeof(*c));
	c->claim = strndup(claim, claimlen);
	if (c->claim == NULL)
		return oom(l, n);
	c->label = label ? label : c->claim;
	r->n_conds++;
	return load_pattern(l, n, what, &c->pat);
}

static int
load_claims(struct loader *l, struct pb_rule *r, const struct node *m)
{
	char what[PB_MSG_MAX], b[160];
	size_t i;

	if (want_map(l, m, "claims") < 0)
		return -1;
	if (m->n == 0)
		return fail(l, m, "claims must not be empty");
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];

		if (is_null(k) || k->len == 0)
			return fail(l, k, "claims: a claim name must be a "
			    "non-empty string");
		snprintf(what, sizeof(what), "claim %s", q(b, sizeof(b), k));
		if (add_cond(l, r, v, k->str, k->len, NULL, what) < 0)
			return -1;
	}
	return 0;
}

static int
add_cidr(struct loader *l, struct pb_rule *r, const struct node *n)
{
	char msg[PB_MSG_MAX];
	struct pb_cidr *c;

	if (want_string(l, n, "from", true) < 0)
		return -1;
	c = reallocarray(r->from, r->n_from + 1, sizeof(*c));
	if (c == NULL)
		return oom(l, n);
	r->from = c;
	if (pb_cidr_parse(n->str, &r->from[r->n_from], msg, sizeof(msg)) < 0)
		return fail(l, n, "from: %s", msg);
	r->n_from++;
	return 0;
}

static int
load_from(struct loader *l, struct pb_rule *r, const struct node *n)
{
	size_t i, j, dlen = 0;

	if (n->kind == N_SCALAR) {
		if (add_cidr(l, r, n) < 0)
			return -1;
		r->from_display = strdup(n->str);
		return r->from_display ? 0 : oom(l, n);
	}
	if (n->kind != N_SEQ)
		return fail(l, n, "from must be a CIDR or a list of CIDRs, not "
		    "%s", kind_name(n));
	if (n->n == 0)
		return fail(l, n, "from must not be an empty list");
	for (i = 0; i < n->n; i++) {
		if (add_cidr(l, r, n->kids[i]) < 0)
			return -1;
		dlen += n->kids[i]->len + 2;
	}
	r->from_display = malloc(dlen);
	if (r->from_display == NULL)
		return oom(l, n);
	for (i = 0, j = 0; i < n->n; i++) {
		memcpy(r->from_display + j, n->kids[i]->str, n->kids[i]->len);
		j += n->kids[i]->len;
		memcpy(r->from_display + j, ", ", 2);
		j += 2;
	}
	r->from_display[j - 2] = '\0';
	return 0;
}

static int
load_roles(struct loader *l, struct pb_rule *r, const struct node *n)
{
	char msg[sizeof(l->err->text)];
	size_t i;

	if (n->kind != N_SEQ)
		return fail(l, n, "roles must be a list of role names, not %s",
		    kind_name(n));
	if (n->n == 0)
		return fail(l, n, "roles must not be an empty list (a deny "
		    "rule without roles: denies every role)");
	r->roles = calloc(n->n, sizeof(*r->roles));
	if (r->roles == NULL)
		return oom(l, n);
	for (i = 0; i < n->n; i++) {
		const struct node *e = n->kids[i];
		struct pb_role *ro = &r->roles[r->n_roles];

		if (want_string(l, e, "a role", true) < 0)
			return -1;
		if (pb_role_check(e->str, e->len, &ro->tmpl, msg,
		    sizeof(msg)) < 0)
			return fail(l, e, "%s", msg);
		ro->text = strdup(e->str);
		if (ro->text == NULL)
			return oom(l, e);
		ro->len = e->len;
		r->n_roles++;
	}
	return 0;
}

static char *
where_of(const struct loader *l, const struct node *n)
{
	char *s;

	if (asprintf(&s, "%s:%u:%u", l->file, n->line, n->col) < 0)
		return NULL;
	return s;
}

/* Builds the rule into r; the caller frees r on failure. */
static int
build_rule(struct loader *l, const struct node *m, struct pb_rule *r)
{
	static const char *const cond_keys[] = {
		"pipeline", "branch", "tag", "step", "source",
	};
	static const char *const cond_claims[] = {
		"pipeline_slug", "build_branch", "build_tag", "step_key",
		"build_source",
	};
	const struct node *name = NULL, *effect = NULL, *conds[5] = { 0 };
	const struct node *claims = NULL, *from = NULL, *roles = NULL;
	char b[160];
	size_t i, c;

	if (m->kind != N_MAP)
		return fail(l, m, "each rule must be a mapping, not %s",
		    kind_name(m));
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];

		for (c = 0; c < 5; c++)
			if (key_is(k, cond_keys[c]))
				break;
		if (c < 5)
			conds[c] = v;
		else if (key_is(k, "name"))
			name = v;
		else if (key_is(k, "effect"))
			effect = v;
		else if (key_is(k, "claims"))
			claims = v;
		else if (key_is(k, "from"))
			from = v;
		else if (key_is(k, "roles"))
			roles = v;
		else
			return unknown_key(l, k, "in rule", "name, effect, "
			    "pipeline, branch, tag, step, source, claims, "
			    "from, roles");
	}
	if (name == NULL)
		return fail(l, m, "rule has no name");
	if (want_string(l, name, "name", true) < 0)
		return -1;
	for (i = 0; i < name->len; i++)
		if ((unsigned char)name->str[i] < 0x20 || name->str[i] == 0x7f)
			return fail(l, name, "rule name %s contains a control "
			    "character", q(b, sizeof(b), name));
	r->name = strdup(name->str);
	r->where = where_of(l, name);
	if (r->name == NULL || r->where == NULL)
		return oom(l, name);

	if (effect != NULL) {
		static const char *const effects[] = { "allow", "deny", NULL };
		int e = set_enum(l, effect, "effect", effects,
		    "allow or deny");

		if (e < 0)
			return -1;
		r->deny = e == 1;
	}
	if (conds[0] == NULL)
		return fail(l, m, "rule %s has no pipeline (required; write "
		    "pipeline: \"*\" for any pipeline)", q(b, sizeof(b), name));
	for (c = 0; c < 5; c++)
		if (conds[c] != NULL && add_cond(l, r, conds[c],
		    cond_claims[c], strlen(cond_claims[c]), cond_keys[c],
		    cond_keys[c]) < 0)
			return -1;
	if (claims != NULL && load_claims(l, r, claims) < 0)
		return -1;
	if (from != NULL && load_from(l, r, from) < 0)
		return -1;
	if (roles != NULL) {
		if (load_roles(l, r, roles) < 0)
			return -1;
	} else if (!r->deny) {
		return fail(l, m, "allow rule %s has no roles",
		    q(b, sizeof(b), name));
	}
	return 0;
}

static int
load_rules(struct loader *l, const struct node *n)
{
	struct pb_policy *pol = l->pol;
	size_t i;

	if (n->kind != N_SEQ)
		return fail(l, n, "rules must be a list, not %s (write rules: "
		    "[] for none)", kind_name(n));
	for (i = 0; i < n->n; i++) {
		struct pb_rule r;

		if (pol->n_rules >= PB_MAX_RULES)
			return fail(l, n->kids[i], "too many rules (at most "
			    "%d)", PB_MAX_RULES);
		memset(&r, 0, sizeof(r));
		if (build_rule(l, n->kids[i], &r) < 0) {
			pb_rule_free(&r);
			return -1;
		}
		if (pol->n_rules == pol->cap_rules) {
			size_t cap = pol->cap_rules ? pol->cap_rules * 2 : 16;
			struct pb_rule *nr = reallocarray(pol->rules, cap,
			    sizeof(*nr));

			if (nr == NULL) {
				pb_rule_free(&r);
				return oom(l, n->kids[i]);
			}
			pol->rules = nr;
			pol->cap_rules = cap;
		}
		pol->rules[pol->n_rules++] = r;
	}
	return 0;
}

struct nameref {
	const struct pb_rule *r;
	size_t idx;
};

static int
nameref_cmp(const void *a, const void *b)
{
	const struct nameref *x = a, *y = b;
	int c = strcmp(x->r->name, y->r->name);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Rule names identify the deciding rule in the audit log, so they must
 * be unique across the main file and every include. */
static int
check_names(struct pb_policy *pol, struct pb_error *err)
{
	struct nameref *refs;
	size_t i, dup = SIZE_MAX, first = 0;
	char b[160];

	if (pol->n_rules < 2)
		return 0;
	refs = calloc(pol->n_rules, sizeof(*refs));
	if (refs == NULL) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		return -1;
	}
	for (i = 0; i < pol->n_rules; i++) {
		refs[i].r = &pol->rules[i];
		refs[i].idx = i;
	}
	qsort(refs, pol->n_rules, sizeof(*refs), nameref_cmp);
	for (i = 0; i < pol->n_rules; ) {
		size_t j = i + 1;

		while (j < pol->n_rules &&
		    strcmp(refs[j].r->name, refs[i].r->name) == 0)
			j++;
		/* sorted by position within a name: i is the first
		 * definition, i + 1 the first repeat */
		if (j - i > 1 && (dup == SIZE_MAX || refs[i + 1].idx < dup)) {
			dup = refs[i + 1].idx;
			first = refs[i].idx;
		}
		i = j;
	}
	free(refs);
	if (dup == SIZE_MAX)
		return 0;
	pb_quote(b, sizeof(b), pol->rules[dup].name,
	    strlen(pol->rules[dup].name), 64);
	snprintf(err->text, sizeof(err->text), "%s: duplicate rule name %s "
	    "(first defined at %s)", pol->rules[dup].where, b,
	    pol->rules[first].where);
	return -1;
}

/* ------------------------------------------------------------ loading */

static int
check_version(struct loader *l, const struct node *root)
{
	const struct node *v = NULL;
	char b[160];
	size_t i;

	for (i = 0; i + 1 < root->n; i += 2)
		if (key_is(root->kids[i], "version"))
			v = root->kids[i + 1];
	if (v == NULL)
		return fail(l, root, "version is required (write version: 1)");
	if (v->kind == N_SCALAR && v->plain && key_is(v, "1"))
		return 0;
	if (v->kind == N_SCALAR && !v->plain && key_is(v, "1"))
		return fail(l, v, "version must be the number 1, not the "
		    "string \"1\"");
	if (v->kind == N_SCALAR && v->plain && !is_null(v))
		return fail(l, v, "unsupported version %s (this module reads "
		    "version 1)", q(b, sizeof(b), v));
	return fail(l, v, "version must be the number 1, not %s",
	    v->kind == N_SCALAR && !is_null(v) ? "a string" : kind_name(v));
}

static int load_includes(struct loader *l, const struct node *inc,
    const char *pattern);

static int
load_main(struct loader *l, const struct node *root)
{
	const struct node *inc = NULL, *token = NULL;
	char *pattern = NULL;
	size_t i;
	int rc = -1;

	if (root == NULL)
		return fail_at(l, 1, 1, "the policy is empty (version: 1, "
		    "token: and rules: are expected)");
	if (root->kind != N_MAP)
		return fail(l, root, "the policy must be a mapping, not %s",
		    kind_name(root));
	if (check_version(l, root) < 0)
		return -1;
	for (i = 0; i + 1 < root->n; i += 2) {
		const struct node *k = root->kids[i], *v = root->kids[i + 1];
		int r;

		if (key_is(k, "version")) {
			r = 0;
		} else if (key_is(k, "token")) {
			token = v;
			r = load_token(l, v);
		} else if (key_is(k, "jwks")) {
			r = load_jwks(l, v);
		} else if (key_is(k, "audit")) {
			r = load_audit(l, v);
		} else if (key_is(k, "include")) {
			inc = v;
			r = set_path(l, v, "include", &pattern);
			if (r == 0 && l->keep != NULL) {
				free(l->keep->include);
				if ((l->keep->include = strdup(pattern)) ==
				    NULL)
					r = oom(l, v);
			}
		} else if (key_is(k, "rules")) {
			r = load_rules(l, v);
		} else {
			r = unknown_key(l, k, "at the top level", "version, "
			    "token, jwks, audit, include, rules");
		}
		if (r < 0)
			goto out;
	}
	if (token == NULL) {
		fail(l, root, "token is required (with token.audience and "
		    "token.organization)");
		goto out;
	}
	if (inc != NULL && load_includes(l, inc, pattern) < 0)
		goto out;
	rc = 0;
out:
	free(pattern);
	return rc;
}

static int
load_included(struct loader *l, const struct node *root)
{
	size_t i;

	if (root == NULL)
		return 0;   /* only comments: no rules */
	if (root->kind != N_MAP)
		return fail(l, root, "an included file must be a mapping "
		    "holding rules:, not %s", kind_name(root));
	for (i = 0; i + 1 < root->n; i += 2) {
		const struct node *k = root->kids[i], *v = root->kids[i + 1];
		char b[160];

		if (!key_is(k, "rules"))
			return fail(l, k, "unknown key %s in an included file "
			    "(it may hold only rules)", q(b, sizeof(b), k));
		if (load_rules(l, v) < 0)
			return -1;
	}
	return 0;
}

/* Keeps a file's bytes for the snapshot; takes buf either way. */
static int
keep_source(struct loader *l, char *buf, size_t len)
{
	struct pb_sources *k = l->keep;
	struct pb_source *v;

	if (k == NULL) {
		free(buf);
		return 0;
	}
	v = reallocarray(k->v, k->n + 1, sizeof(*v));
	if (v == NULL) {
		free(buf);
		return oom(l, NULL);
	}
	k->v = v;
	v[k->n].data = buf;
	v[k->n].len = len;
	if ((v[k->n].path = strdup(l->file)) == NULL) {
		free(buf);
		return oom(l, NULL);
	}
	k->n++;
	return 0;
}

static int
load_file(struct loader *l)
{
	struct arena a = { NULL };
	struct node *root = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (read_file(l, l->file, &buf, &len) < 0)
		return -1;
	rc = parse_tree(l, &a, buf, len, &root);
	if (keep_source(l, buf, len) < 0)
		rc = -1;
	if (rc == 0)
		rc = l->include ? load_included(l, root) : load_main(l, root);
	arena_free(&a);
	return rc;
}

/* glob's error callback has no context pointer, so rather than keep the
 * failing path in a global, name the pattern's directory and why it
 * cannot be read. */
static int
include_dir_fail(struct loader *l, const struct node *inc,
    const char *pattern, const char *quoted)
{
	const char *slash = strrchr(pattern, '/');
	char dir[PATH_MAX], d[160];
	struct stat st;

	if (slash == NULL || (size_t)(slash - pattern) >= sizeof(dir) ||
	    memchr(pattern, '*', (size_t)(slash - pattern)) != NULL ||
	    memchr(pattern, '?', (size_t)(slash - pattern)) != NULL ||
	    memchr(pattern, '[', (size_t)(slash - pattern)) != NULL)
		return fail(l, inc, "include %s: cannot read a directory",
		    quoted);
	memcpy(dir, pattern, (size_t)(slash - pattern));
	dir[slash - pattern] = '\0';
	if (dir[0] == '\0')
		strcpy(dir, "/");
	pb_quote(d, sizeof(d), dir, strlen(dir), 128);
	if (stat(dir, &st) != 0)
		return fail(l, inc, "include %s: directory %s: %s", quoted, d,
		    strerror(errno));
	return fail(l, inc, "include %s: cannot read a directory on the "
	    "way to %s", quoted, d);
}

static int
load_includes(struct loader *l, const struct node *inc, const char *pattern)
{
	char where[PB_MSG_MAX], b[160];
	glob_t g;
	size_t i;
	int rc;

	pb_quote(b, sizeof(b), pattern, strlen(pattern), 128);
	memset(&g, 0, sizeof(g));
	/* GLOB_ERR: an unreadable directory must fail the load rather than
	 * silently drop the rules it holds */
	rc = glob(pattern, GLOB_ERR, NULL, &g);
	if (rc == GLOB_NOMATCH) {
		globfree(&g);
		return fail(l, inc, "include %s matches no file", b);
	}
	if (rc != 0) {
		globfree(&g);
		if (rc == GLOB_NOSPACE)
			return oom(l, inc);
		return include_dir_fail(l, inc, pattern, b);
	}
	if (g.gl_pathc > MAX_INCLUDES) {
		globfree(&g);
		return fail(l, inc, "include %s matches more than %d files",
		    b, MAX_INCLUDES);
	}
	snprintf(where, sizeof(where), "%s:%u:%u", l->file, inc->line,
	    inc->col);
	rc = 0;
	for (i = 0; i < g.gl_pathc && rc == 0; i++) {
		struct loader sub;

		memset(&sub, 0, sizeof(sub));
		sub.err = l->err;
		sub.yaml = l->yaml;
		sub.pol = l->pol;
		sub.file = g.gl_pathv[i];
		sub.from = where;
		sub.include = true;
		sub.keep = l->keep;
		sub.uid = l->uid;
		rc = load_file(&sub);
		free(sub.dir);
	}
	globfree(&g);
	return rc;
}

static void
config_free(struct pb_config *c)
{
	size_t i;

	free(c->token.issuer);
	for (i = 0; i < c->token.n_audiences; i++)
		free(c->token.audiences[i]);
	free(c->token.audiences);
	free(c->token.organization);
	free(c->token.organization_id);
	free(c->token.replay_dir);
	free(c->jwks.url);
	free(c->jwks.file);
	free(c->jwks.cache);
	free(c->jwks.ca_file);
}

static int
config_defaults(struct pb_config *c)
{
	c->token.issuer = strdup(DEFAULT_ISSUER);
	c->token.algorithms = PB_ALG_RS256;
	c->token.leeway = 30;
	c->token.max_lifetime = 900;
	c->token.single_use = false;
	c->jwks.url = strdup(DEFAULT_JWKS);
	c->jwks.cache = strdup(DEFAULT_CACHE);
	c->jwks.refresh = 3600;
	c->jwks.max_stale = 86400;
	c->jwks.timeout = 3;
	c->jwks.writer = PB_WRITER_MODULE;
	c->audit.format = PB_AUDIT_LOGFMT;
	c->audit.facility = LOG_AUTHPRIV;
	return c->token.issuer && c->jwks.url && c->jwks.cache ? 0 : -1;
}

int
pb_policy_parse_keep(const char *path, uid_t uid, struct pb_sources *keep,
    struct pb_policy **out, struct pb_error *err)
{
	struct pb_error scratch;
	struct yaml_api yaml;
	struct pb_policy *pol;
	struct loader l;
	int rc;

	if (err == NULL)
		err = &scratch;
	err->text[0] = '\0';
	if (out == NULL)
		return -1;
	*out = NULL;
	if (path == NULL || path[0] == '\0') {
		snprintf(err->text, sizeof(err->text), "no policy file given");
		return -1;
	}
	pol = calloc(1, sizeof(*pol));
	if (pol == NULL || config_defaults(&pol->cfg) < 0) {
		snprintf(err->text, sizeof(err->text), "%s: out of memory",
		    path);
		pb_policy_free(pol);
		return -1;
	}
	memset(&l, 0, sizeof(l));
	memset(&yaml, 0, sizeof(yaml));
	l.err = err;
	l.yaml = &yaml;
	l.pol = pol;
	l.file = path;
	l.keep = keep;
	l.uid = uid;
	rc = load_file(&l);
	free(l.dir);
	if (yaml.lib != NULL)
		dlclose(yaml.lib);
	if (rc == 0)
		rc = check_names(pol, err);
	if (rc < 0) {
		if (err->text[0] == '\0')
			snprintf(err->text, sizeof(err->text), "%s: invalid "
			    "policy", path);
		pb_policy_free(pol);
		return -1;
	}
	*out = pol;
	return 0;
}

int
pb_policy_parse(const char *path, struct pb_policy **out,
    struct pb_error *err)
{
	return pb_policy_parse_keep(path, geteuid(), NULL, out, err);
}

int
pb_policy_parse_as(const char *path, uid_t uid, struct pb_policy **out,
    struct pb_error *err)
{
	return pb_policy_parse_keep(path, uid, NULL, out, err);
}

int
pb_policy_load(const char *path, struct pb_policy **out,
    struct pb_error *err)
{
	return pb_policy_load_for(path, NULL, out, err);
}

int
pb_policy_load_for(const char *path, const char *role,
    struct pb_policy **out, struct pb_error *err)
{
	/* a snapshot is looked for only beside a policy named by its
	 * absolute path, as the PAM service file names it */
	if (path != NULL && path[0] == '/' && out != NULL &&
	    pb_snapshot_load(path, geteuid(), role, out, NULL, 0) == 0) {
		if (err != NULL)
			err->text[0] = '\0';
		return 0;
	}
	return pb_policy_parse_keep(path, geteuid(), NULL, out, err);
}

int
pb_policy_snapshot_state(const char *path, char *msg, size_t msglen)
{
	return pb_policy_snapshot_state_as(path, geteuid(), msg, msglen);
}

int
pb_policy_snapshot_state_as(const char *path, uid_t uid, char *msg,
    size_t msglen)
{
	struct pb_policy *pol = NULL;
	int rc;

	if (path == NULL)
		return -1;
	rc = pb_snapshot_load(path, uid, NULL, &pol, msg, msglen);
	pb_policy_free(pol);
	return rc;
}

void
pb_sources_free(struct pb_sources *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].data);
	}
	free(s->v);
	free(s->include);
	memset(s, 0, sizeof(*s));
}

void
pb_policy_free(struct pb_policy *pol)
{
	size_t i;

	if (pol == NULL)
		return;
	if (pol->snap != NULL) {
		/* the rules are slices of these blocks */
		free(pol->snap->conds);
		free(pol->snap->items);
		free(pol->snap->cidrs);
		free(pol->snap->roles);
		free(pol->snap->buf);
		free(pol->snap);
	} else {
		for (i = 0; i < pol->n_rules; i++)
			pb_rule_free(&pol->rules[i]);
	}
	free(pol->rules);
	free(pol->for_role);
	config_free(&pol->cfg);
	free(pol);
}

const struct pb_config *
pb_policy_config(const struct pb_policy *pol)
{
	return pol ? &pol->cfg : NULL;
}
