/*
 * policy_include.c - reading the policy file and the files its include:
 * glob names, each judged as the policy is (trusted_file.h), parsed and
 * walked: settings and rules from the main file, rules only from an
 * included one.
 */
#include "config.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"
#include "policy_load.h"
#include "trusted_file.h"

static int load_includes(struct loader *l, const struct node *inc,
    const char *pattern);

static int
read_file(struct loader *l, const char *path, char **out, size_t *outlen)
{
	char why[PB_MSG_MAX];

	/* Opened without blocking (a FIFO is refused, not waited on) and
	 * judged on the open descriptor, with every directory above it:
	 * whoever could write or replace the policy decides who logs in.
	 * Links are followed (and the directories they lead through
	 * judged): /etc/pam_buildkite/policy.yaml may be a link into a
	 * configuration repository. */
	if (pb_read_trusted(path, 0, l->uid, MAX_FILE, out, outlen, why,
	    sizeof(why)) != 0)
		return pl_fail(l, NULL, "%s", why);
	return 0;
}

static int
check_version(struct loader *l, const struct node *root)
{
	const struct node *v = NULL;
	char b[160];
	size_t i;

	for (i = 0; i + 1 < root->n; i += 2)
		if (pl_key_is(root->kids[i], "version"))
			v = root->kids[i + 1];
	if (v == NULL)
		return pl_fail(l, root, "version is required (write version: 1)");
	if (v->kind == N_SCALAR && v->plain && pl_key_is(v, "1"))
		return 0;
	if (v->kind == N_SCALAR && !v->plain && pl_key_is(v, "1"))
		return pl_fail(l, v, "version must be the number 1, not the "
		    "string \"1\"");
	if (v->kind == N_SCALAR && v->plain && !pl_is_null(v))
		return pl_fail(l, v, "unsupported version %s (this module reads "
		    "version 1)", pl_q(b, sizeof(b), v));
	return pl_fail(l, v, "version must be the number 1, not %s",
	    v->kind == N_SCALAR && !pl_is_null(v) ? "a string" : pl_kind_name(v));
}

static int
load_main(struct loader *l, const struct node *root)
{
	const struct node *inc = NULL, *token = NULL;
	char *pattern = NULL;
	size_t i;
	int rc = -1;

	if (root == NULL)
		return pl_fail_at(l, 1, 1, "the policy is empty (version: 1, "
		    "token: and rules: are expected)");
	if (root->kind != N_MAP)
		return pl_fail(l, root, "the policy must be a mapping, not %s",
		    pl_kind_name(root));
	if (check_version(l, root) < 0)
		return -1;
	for (i = 0; i + 1 < root->n; i += 2) {
		const struct node *k = root->kids[i], *v = root->kids[i + 1];
		int r;

		if (pl_key_is(k, "version")) {
			r = 0;
		} else if (pl_key_is(k, "token")) {
			token = v;
			r = pl_load_token(l, v);
		} else if (pl_key_is(k, "jwks")) {
			r = pl_load_jwks(l, v);
		} else if (pl_key_is(k, "audit")) {
			r = pl_load_audit(l, v);
		} else if (pl_key_is(k, "session")) {
			r = pl_load_session(l, v);
		} else if (pl_key_is(k, "include")) {
			inc = v;
			r = pl_set_path(l, v, "include", &pattern);
			if (r == 0 && l->keep != NULL) {
				free(l->keep->include);
				if ((l->keep->include = strdup(pattern)) ==
				    NULL)
					r = pl_oom(l, v);
			}
		} else if (pl_key_is(k, "rules")) {
			r = pl_load_rules(l, v);
		} else {
			r = pl_unknown_key(l, k, "at the top level", "version, "
			    "token, jwks, audit, session, include, rules");
		}
		if (r < 0)
			goto out;
	}
	if (token == NULL) {
		pl_fail(l, root, "token is required (with token.audience and "
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
		return pl_fail(l, root, "an included file must be a mapping "
		    "holding rules:, not %s", pl_kind_name(root));
	for (i = 0; i + 1 < root->n; i += 2) {
		const struct node *k = root->kids[i], *v = root->kids[i + 1];
		char b[160];

		if (!pl_key_is(k, "rules"))
			return pl_fail(l, k, "unknown key %s in an included file "
			    "(it may hold only rules)", pl_q(b, sizeof(b), k));
		if (pl_load_rules(l, v) < 0)
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
		return pl_oom(l, NULL);
	}
	k->v = v;
	v[k->n].data = buf;
	v[k->n].len = len;
	if ((v[k->n].path = strdup(l->file)) == NULL) {
		free(buf);
		return pl_oom(l, NULL);
	}
	k->n++;
	return 0;
}

int
pl_load_file(struct loader *l)
{
	struct arena a = { NULL };
	struct node *root = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (read_file(l, l->file, &buf, &len) < 0)
		return -1;
	rc = pl_parse_tree(l, &a, buf, len, &root);
	if (keep_source(l, buf, len) < 0)
		rc = -1;
	if (rc == 0)
		rc = l->include ? load_included(l, root) : load_main(l, root);
	pl_arena_free(&a);
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
		return pl_fail(l, inc, "include %s: cannot read a directory",
		    quoted);
	memcpy(dir, pattern, (size_t)(slash - pattern));
	dir[slash - pattern] = '\0';
	if (dir[0] == '\0')
		strcpy(dir, "/");
	pb_quote(d, sizeof(d), dir, strlen(dir), 128);
	if (stat(dir, &st) != 0)
		return pl_fail(l, inc, "include %s: directory %s: %s", quoted, d,
		    strerror(errno));
	return pl_fail(l, inc, "include %s: cannot read a directory on the "
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
	/* GLOB_ERR: an unreadable directory must pl_fail the load rather than
	 * silently drop the rules it holds */
	rc = glob(pattern, GLOB_ERR, NULL, &g);
	if (rc == GLOB_NOMATCH) {
		globfree(&g);
		return pl_fail(l, inc, "include %s matches no file", b);
	}
	if (rc != 0) {
		globfree(&g);
		if (rc == GLOB_NOSPACE)
			return pl_oom(l, inc);
		return include_dir_fail(l, inc, pattern, b);
	}
	if (g.gl_pathc > MAX_INCLUDES) {
		globfree(&g);
		return pl_fail(l, inc, "include %s matches more than %d files",
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
		rc = pl_load_file(&sub);
		free(sub.dir);
	}
	globfree(&g);
	return rc;
}
