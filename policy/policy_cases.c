/*
 * policy_cases.c - the cases file of "pam-buildkite test" (format in
 * policy_cases.h), read with the policy's own YAML reader, so that its
 * errors, duplicate keys and limits are the policy's.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"
#include "policy_cases.h"
#include "policy_load.h"
#include "read_file.h"

#define CASE_KEYS "name, role, claims, rhost, expect, rule, reason"

static void
where(const struct loader *l, const struct node *n, char *out)
{
	snprintf(out, PB_WHERE_MAX, "%s:%u:%u", l->file, n->line, n->col);
}

/* A plain integer that fits json_int_t, as a claim's integer. */
static bool
plain_integer(const struct node *n, json_int_t *v)
{
	char *end;
	long long x;

	if (!n->plain || n->len == 0 || n->len > 19 ||
	    strspn(n->str + (n->str[0] == '-'), "0123456789") !=
	    n->len - (n->str[0] == '-'))
		return false;
	errno = 0;
	x = strtoll(n->str, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*v = (json_int_t)x;
	return true;
}

static json_t *
scalar_value(const struct node *n)
{
	json_int_t i;

	if (pl_is_null(n))
		return json_null();
	if (plain_integer(n, &i))
		return json_integer(i);
	return json_stringn(n->str, n->len);
}

/* A claim's value: a scalar or a list of scalars (aud may be a list). */
static int
claim_value(struct loader *l, const struct node *n, json_t **out)
{
	size_t i;

	*out = NULL;
	if (n->kind == N_MAP)
		return pl_fail(l, n, "a claim's value must be a scalar or a "
		    "list of scalars, not a mapping");
	if (n->kind == N_SCALAR) {
		*out = scalar_value(n);
		return *out == NULL ? pl_oom(l, n) : 0;
	}
	if ((*out = json_array()) == NULL)
		return pl_oom(l, n);
	for (i = 0; i < n->n; i++) {
		if (n->kids[i]->kind != N_SCALAR)
			return pl_fail(l, n->kids[i], "a claim's list must "
			    "hold scalars only");
		if (json_array_append_new(*out, scalar_value(n->kids[i])) != 0)
			return pl_oom(l, n->kids[i]);
	}
	return 0;
}

static int
load_claims(struct loader *l, const struct node *m, json_t *claims)
{
	size_t i;

	if (pl_want_map(l, m, "claims") < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		json_t *v;

		if (m->kids[i]->len == 0 || memchr(m->kids[i]->str, '\0',
		    m->kids[i]->len) != NULL)
			return pl_fail(l, m->kids[i], "a claim needs a name");
		if (claim_value(l, m->kids[i + 1], &v) < 0) {
			json_decref(v);
			return -1;
		}
		if (json_object_set_new(claims, m->kids[i]->str, v) != 0)
			return pl_oom(l, m->kids[i]);
	}
	return 0;
}

/* One key of a case; *expect_node set at "expect". */
static int
case_key(struct loader *l, const struct node *k, const struct node *v,
    struct pb_case *c, const struct node **expect)
{
	static const char *const verdicts[] = { "allow", "deny", NULL };
	int e;

	if (pl_key_is(k, "name"))
		return pl_set_string(l, v, "a case's name", &c->name);
	if (pl_key_is(k, "role"))
		return pl_set_string(l, v, "role", &c->role);
	if (pl_key_is(k, "rhost"))
		return pl_set_string(l, v, "rhost", &c->rhost);
	if (pl_key_is(k, "rule"))
		return pl_set_string(l, v, "rule", &c->rule);
	if (pl_key_is(k, "claims"))
		return load_claims(l, v, c->claims);
	if (pl_key_is(k, "reason")) {
		where(l, v, c->reason_where);
		return pl_set_string(l, v, "reason", &c->reason);
	}
	if (pl_key_is(k, "expect")) {
		if ((e = pl_set_enum(l, v, "expect", verdicts,
		    "allow or deny")) < 0)
			return -1;
		c->expect_allow = e == 0;
		*expect = v;
		return 0;
	}
	return pl_unknown_key(l, k, "in a case", CASE_KEYS);
}

static int
load_case(struct loader *l, const struct node *m, struct pb_case *c)
{
	const struct node *expect = NULL;
	size_t i;

	if (pl_want_map(l, m, "a case") < 0)
		return -1;
	where(l, m, c->where);
	c->line = m->line;
	if ((c->claims = json_object()) == NULL)
		return pl_oom(l, m);
	for (i = 0; i + 1 < m->n; i += 2)
		if (case_key(l, m->kids[i], m->kids[i + 1], c, &expect) < 0)
			return -1;
	if (c->name == NULL)
		return pl_fail(l, m, "a case needs a name");
	if (c->role == NULL)
		return pl_fail(l, m, "case \"%s\" needs a role", c->name);
	if (expect == NULL)
		return pl_fail(l, m, "case \"%s\" needs expect: allow or deny",
		    c->name);
	if (c->reason != NULL && c->expect_allow)
		return pl_fail(l, expect, "case \"%s\": a reason goes with "
		    "expect: deny", c->name);
	return 0;
}

static int
load_tests(struct loader *l, const struct node *seq, struct pb_cases *out)
{
	size_t i, j;

	if (seq->kind != N_SEQ)
		return pl_fail(l, seq, "tests must be a list of cases, not %s",
		    pl_kind_name(seq));
	if (seq->n > PB_CASES_MAX)
		return pl_fail(l, seq, "more than %d cases", PB_CASES_MAX);
	if (seq->n > 0 && (out->v = calloc(seq->n, sizeof(*out->v))) == NULL)
		return pl_oom(l, seq);
	for (i = 0; i < seq->n; i++) {
		out->n++;
		if (load_case(l, seq->kids[i], &out->v[i]) < 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(out->v[j].name, out->v[i].name) == 0)
				return pl_fail(l, seq->kids[i], "a second "
				    "case named \"%s\" (the first is at %s)",
				    out->v[i].name, out->v[j].where);
	}
	return 0;
}

static int
load_root(struct loader *l, const struct node *root, struct pb_cases *out)
{
	const struct node *tests = NULL;
	size_t i;

	if (root == NULL)
		return pl_fail_at(l, 1, 1, "the cases file is empty");
	if (pl_want_map(l, root, "the cases file") < 0)
		return -1;
	for (i = 0; i + 1 < root->n; i += 2) {
		if (!pl_key_is(root->kids[i], "tests"))
			return pl_unknown_key(l, root->kids[i], "at the top",
			    "tests");
		tests = root->kids[i + 1];
	}
	if (tests == NULL)
		return pl_fail_at(l, 1, 1, "the cases file needs tests:");
	return load_tests(l, tests, out);
}

static int
read_cases(struct loader *l, char **buf, size_t *len)
{
	struct stat st;
	char eb[128];
	int fd, rc;

	fd = pb_openat(AT_FDCWD, l->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY, 0);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		snprintf(l->err->text, sizeof(l->err->text), "%s: %s",
		    l->file, rc ? pb_errstr(rc, eb, sizeof(eb)) :
		    "not a regular file");
		return -1;
	}
	rc = pb_read_fd(fd, &st, MAX_FILE, buf, len);
	if (rc != 0)
		snprintf(l->err->text, sizeof(l->err->text), "%s: %s",
		    l->file, errno == EFBIG ? "larger than 4 MiB" :
		    pb_errstr(errno, eb, sizeof(eb)));
	close(fd);
	return rc;
}

int
pb_cases_load(const char *path, struct pb_cases *out, struct pb_error *err)
{
	struct yaml_api yaml;
	struct arena a = { NULL };
	struct node *root = NULL;
	struct loader l;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	memset(&yaml, 0, sizeof(yaml));
	err->text[0] = '\0';
	l.err = err;
	l.yaml = &yaml;
	l.file = path;
	if (read_cases(&l, &buf, &len) < 0)
		return -1;
	rc = pl_parse_tree(&l, &a, buf, len, &root);
	if (rc == 0)
		rc = load_root(&l, root, out);
	pl_arena_free(&a);
	free(buf);
	if (yaml.lib != NULL)
		dlclose(yaml.lib);
	if (rc < 0)
		pb_cases_free(out);
	return rc;
}

void
pb_cases_free(struct pb_cases *c)
{
	size_t i;

	for (i = 0; c->v != NULL && i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].role);
		free(c->v[i].rhost);
		free(c->v[i].rule);
		free(c->v[i].reason);
		json_decref(c->v[i].claims);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}
