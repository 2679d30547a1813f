/*
 * policy_snapshot_read.c - a login's use of the compiled policy: the
 * snapshot (format in policy_snapshot.h) is read only when it is
 * trusted as the policy is and the YAML files hash to what it was made
 * from; then only the rules that can cover the role asked for are built.
 */
#include "config.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "policy_snapshot.h"
#include "read_file.h"
#include "trusted_file.h"

/* A cursor over the snapshot. Every read is bounds-checked; the first
 * failure sets bad and every later read returns zeros, so the parser
 * checks once per record rather than after each field. */
struct rd {
	char *p, *end;
	bool bad;
};

static bool
take(struct rd *r, void *v, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(v, 0, n);
		return false;
	}
	memcpy(v, r->p, n);
	r->p += n;
	return true;
}

static unsigned
get_u8(struct rd *r)
{
	unsigned char c;

	take(r, &c, 1);
	return c;
}

static size_t
get_u32(struct rd *r)
{
	uint32_t u;

	take(r, &u, sizeof(u));
	return u;
}

static long long
get_i64(struct rd *r)
{
	int64_t i;

	take(r, &i, sizeof(i));
	return i;
}

static bool
get_bool(struct rd *r)
{
	unsigned v = get_u8(r);

	if (v > 1)
		r->bad = true;
	return v == 1;
}

/* A string in place, its terminating NUL checked. A NUL inside would
 * only shorten it where it is used as a C string; where that could
 * matter (pattern items, roles) their own checks refuse it. */
static char *
get_strn(struct rd *r, size_t *lenp)
{
	size_t len = get_u32(r);
	char *s = r->p;

	if (r->bad || (size_t)(r->end - r->p) <= len || s[len] != '\0') {
		r->bad = true;
		if (lenp != NULL)
			*lenp = 0;
		return NULL;
	}
	r->p += len + 1;
	if (lenp != NULL)
		*lenp = len;
	return s;
}

static char *
get_str(struct rd *r)
{
	return get_strn(r, NULL);
}

static char *
get_opt(struct rd *r)
{
	return get_bool(r) ? get_str(r) : NULL;
}

/* The config's strings are copied: config_free frees them either way. */
static char *
dup_str(struct rd *r, char *s)
{
	if (s != NULL && (s = strdup(s)) == NULL)
		r->bad = true;
	return s;
}

/* A count of records that each take at least min bytes: bounded by
 * what is left, so a forged count cannot make us allocate gigabytes. */
static size_t
get_count(struct rd *r, size_t min)
{
	size_t n = get_u32(r);

	if (n > (size_t)(r->end - r->p) / min)
		r->bad = true;
	return r->bad ? 0 : n;
}

/* A lifetime the loader could have written (pl_set_lifetime); unset
 * only for a rule, and set only on an allow rule's. */
static bool
lifetime_ok(long long v, bool in_rule)
{
	if (v == PB_LIFETIME_UNSET)
		return in_rule;
	return v == PB_LIFETIME_UNLIMITED || v == PB_LIFETIME_TOKEN ||
	    (v >= 1 && v <= PB_LIFETIME_MAX);
}

static void
get_config(struct rd *r, struct pb_config *c)
{
	size_t i, n;
	long long fac;

	c->token.issuer = dup_str(r, get_str(r));
	n = get_count(r, 5);
	c->token.audiences = calloc(n ? n : 1, sizeof(char *));
	if (c->token.audiences == NULL)
		r->bad = true;
	for (i = 0; i < n && !r->bad; i++) {
		char *aud = dup_str(r, get_str(r));

		if (aud != NULL)
			c->token.audiences[c->token.n_audiences++] = aud;
		if (aud == NULL || aud[0] == '\0')
			r->bad = true;
	}
	c->token.organization = dup_str(r, get_str(r));
	c->token.organization_id = dup_str(r, get_opt(r));
	c->token.algorithms = (unsigned)get_u32(r);
	c->token.leeway = get_i64(r);
	c->token.max_lifetime = get_i64(r);
	c->token.single_use = get_bool(r);
	c->token.replay_dir = dup_str(r, get_opt(r));
	c->jwks.url = dup_str(r, get_opt(r));
	c->jwks.file = dup_str(r, get_opt(r));
	c->jwks.cache = dup_str(r, get_opt(r));
	c->jwks.refresh = get_i64(r);
	c->jwks.max_stale = get_i64(r);
	c->jwks.timeout = get_i64(r);
	c->jwks.ca_file = dup_str(r, get_opt(r));
	c->jwks.writer = get_bool(r) ? PB_WRITER_TOOL : PB_WRITER_MODULE;
	c->jwks.login_fetch = get_bool(r);
	c->audit.format = get_bool(r) ? PB_AUDIT_JSON : PB_AUDIT_LOGFMT;
	fac = get_i64(r);
	c->audit.facility = (int)fac;
	c->session.lifetime = get_i64(r);
	/* what the loader guarantees and the module relies on */
	if (c->token.issuer == NULL || n == 0 ||
	    c->token.organization == NULL || c->jwks.cache == NULL ||
	    c->token.algorithms == 0 || (c->token.algorithms & ~0x1fu) ||
	    (c->jwks.url == NULL) == (c->jwks.file == NULL) ||
	    c->token.leeway < 0 || c->token.leeway > 300 ||
	    c->token.max_lifetime < 1 || c->token.max_lifetime > 86400 ||
	    c->jwks.refresh < 1 || c->jwks.refresh > 7 * 86400 ||
	    c->jwks.max_stale < 0 || c->jwks.max_stale > 30 * 86400 ||
	    c->jwks.timeout < 1 || c->jwks.timeout > 60 || fac < 0 ||
	    fac > (23 << 3) || (fac & 7) != 0 ||
	    (c->token.single_use && c->token.replay_dir == NULL) ||
	    (!c->jwks.login_fetch && c->jwks.writer != PB_WRITER_TOOL) ||
	    !lifetime_ok(c->session.lifetime, false))
		r->bad = true;
}

/* One rule's record, only read: its counts, and whether it bears on role
 * (NULL: every rule does). A rule bears on the roles it lists, on every
 * role when it lists none (a deny rule) or when one of its roles is a
 * template, which may expand to anything: the same rules that
 * rule_covers (policy_decide.c) could find covering the role, and more. */
static bool
skim_rule(struct rd *r, const char *role, size_t rolelen, size_t n[4])
{
	size_t i, j, k, len;
	bool bears = role == NULL;
	char *text;

	(void)get_str(r);
	(void)get_u8(r);
	n[0] = get_u32(r);
	n[1] = 0;
	for (i = 0; i < n[0] && !r->bad; i++) {
		(void)get_str(r);
		(void)get_str(r);
		(void)get_str(r);
		k = get_u32(r);
		for (j = 0; j < k && !r->bad; j++) {
			(void)get_u8(r);
			(void)get_u8(r);
			(void)get_str(r);
		}
		n[1] += k;
	}
	n[2] = get_u32(r);
	for (i = 0; i < n[2] && !r->bad; i++) {
		unsigned char addr[16];

		(void)get_u8(r);
		take(r, addr, sizeof(addr));
		(void)get_u32(r);
	}
	(void)get_opt(r);
	n[3] = get_u32(r);
	if (n[3] == 0)
		bears = true;
	for (i = 0; i < n[3] && !r->bad; i++) {
		text = get_strn(r, &len);
		if (text != NULL && (memchr(text, '{', len) != NULL ||
		    (role != NULL && len == rolelen &&
		    memcmp(text, role, len) == 0)))
			bears = true;
	}
	(void)get_i64(r);
	return bears && !r->bad;
}

/* Decodes one rule's record into ru, its arrays the next slices of m's;
 * at[] are the slices used so far and n[] the arrays' sizes. */
static void
get_rule(struct rd *r, struct pb_rule *ru, struct pb_snapmem *m,
    size_t at[4], const size_t n[4])
{
	char msg[PB_MSG_MAX];
	size_t j, k;

	ru->name = get_str(r);
	/* where only serves the YAML load's duplicate-name check */
	ru->where = ru->name;
	ru->deny = get_bool(r);
	ru->n_conds = get_u32(r);
	if (ru->n_conds > n[0] - at[0])
		goto bad;
	ru->conds = &m->conds[at[0]];
	at[0] += ru->n_conds;
	for (j = 0; j < ru->n_conds && !r->bad; j++) {
		struct pb_cond *c = &ru->conds[j];

		c->claim = get_str(r);
		c->label = get_str(r);
		c->pat.display = get_str(r);
		c->pat.n = get_u32(r);
		if (c->pat.n == 0 || c->pat.n > n[1] - at[1] ||
		    c->claim == NULL || c->claim[0] == '\0')
			goto bad;
		c->pat.items = &m->items[at[1]];
		at[1] += c->pat.n;
		for (k = 0; k < c->pat.n && !r->bad; k++) {
			bool neg = get_bool(r), re = get_bool(r);
			size_t len;
			char *text = get_strn(r, &len);

			if (text == NULL || pb_item_init(&c->pat.items[k],
			    text, len, neg, re, false, msg, sizeof(msg)) < 0)
				goto bad;
		}
	}
	ru->n_from = get_u32(r);
	if (ru->n_from > n[2] - at[2])
		goto bad;
	ru->from = &m->cidrs[at[2]];
	at[2] += ru->n_from;
	for (j = 0; j < ru->n_from && !r->bad; j++) {
		struct pb_cidr *f = &ru->from[j];
		unsigned fam = get_u8(r);

		f->family = fam == 6 ? AF_INET6 : AF_INET;
		take(r, f->addr, sizeof(f->addr));
		f->prefix = (unsigned)get_u32(r);
		if ((fam != 4 && fam != 6) ||
		    f->prefix > (fam == 6 ? 128u : 32u))
			goto bad;
	}
	ru->from_display = get_opt(r);
	ru->n_roles = get_u32(r);
	if (ru->n_roles > n[3] - at[3])
		goto bad;
	ru->roles = &m->roles[at[3]];
	at[3] += ru->n_roles;
	for (j = 0; j < ru->n_roles && !r->bad; j++) {
		struct pb_role *ro = &ru->roles[j];

		ro->text = get_strn(r, &ro->len);
		if (ro->text == NULL || pb_role_check(ro->text, ro->len,
		    &ro->tmpl, msg, sizeof(msg)) < 0)
			goto bad;
	}
	ru->session_lifetime = get_i64(r);
	/* an allow rule without roles would cover every role; the loader
	 * only lets a deny rule go without, and a lifetime only on an allow
	 * rule */
	if (ru->name != NULL && (ru->deny || ru->n_roles > 0) &&
	    (ru->deny ? ru->session_lifetime == PB_LIFETIME_UNSET :
	    lifetime_ok(ru->session_lifetime, true)))
		return;
bad:
	r->bad = true;
}

/* The rules, in two passes: the first only reads every record, checks
 * the file's totals and keeps the rules that bear on role (all of them
 * when role is NULL); the second decodes those into arrays of their own
 * size. A decision for one role looks only at the rules that can cover
 * it, so a login with a 10,000-rule policy builds a handful of rules,
 * not 10,000 (pb_policy_decide refuses any other role). */
static void
get_rules(struct rd *r, struct pb_policy *pol, struct pb_snapmem *m,
    const char *role)
{
	size_t total[4], sum[4] = { 0, 0, 0, 0 }, n[4] = { 0, 0, 0, 0 };
	size_t at[4] = { 0, 0, 0, 0 }, one[4], i, j, rules, kept = 0;
	size_t rolelen = role != NULL ? strlen(role) : 0;
	char **start = NULL, *end;

	/* each record takes a few bytes at least, which bounds the counts */
	rules = get_count(r, 8);
	total[0] = get_count(r, 8);
	total[1] = get_count(r, 4);
	total[2] = get_count(r, 8);
	total[3] = get_count(r, 4);
	if (r->bad || rules > PB_MAX_RULES ||
	    (start = calloc(rules ? rules : 1, sizeof(*start))) == NULL)
		goto bad;
	for (i = 0; i < rules && !r->bad; i++) {
		char *at_rule = r->p;

		if (skim_rule(r, role, rolelen, one)) {
			start[kept++] = at_rule;
			for (j = 0; j < 4; j++)
				n[j] += one[j];
		}
		for (j = 0; j < 4; j++)
			sum[j] += one[j];
	}
	/* every record counted exactly */
	for (j = 0; j < 4; j++)
		if (sum[j] != total[j])
			goto bad;
	if (r->bad)
		goto bad;
	end = r->p;
	pol->rules = calloc(kept ? kept : 1, sizeof(*pol->rules));
	m->conds = calloc(n[0] ? n[0] : 1, sizeof(*m->conds));
	m->items = calloc(n[1] ? n[1] : 1, sizeof(*m->items));
	m->cidrs = calloc(n[2] ? n[2] : 1, sizeof(*m->cidrs));
	m->roles = calloc(n[3] ? n[3] : 1, sizeof(*m->roles));
	if (!pol->rules || !m->conds || !m->items || !m->cidrs || !m->roles)
		goto bad;
	for (i = 0; i < kept && !r->bad; i++) {
		r->p = start[i];
		get_rule(r, &pol->rules[pol->n_rules++], m, at, n);
	}
	for (j = 0; j < 4; j++)
		if (at[j] != n[j])
			goto bad;
	r->p = end;
	free(start);
	return;
bad:
	free(start);
	r->bad = true;
}

/* The bytes of the snapshot, a regular file of at most max bytes, not a
 * symlink, trusted as the policy is (trusted_file.h): a buffer of *len
 * bytes (NUL-terminated), or NULL with why and errno. */
static char *
slurp(const char *path, uid_t uid, size_t max, struct stat *st, size_t *len,
    char *why, size_t whylen)
{
	char *buf = NULL, w[PB_MSG_MAX], eb[128];
	int fd, e;

	fd = pb_trusted_open(path, PB_TRUST_NOFOLLOW, uid, st, w, sizeof(w));
	if (fd < 0)
		e = errno;
	else if ((unsigned long long)st->st_size > max)
		e = EFBIG;
	else
		e = pb_read_fd(fd, st, max, &buf, len) == 0 ? 0 : errno;
	if (fd >= 0)
		close(fd);
	if (buf == NULL)
		pb_msg(why, whylen, "%s: %s", path, fd < 0 ? w :
		    pb_errstr(e, eb, sizeof(eb)));
	errno = e;
	return buf;
}

/* Does the file at path hold size bytes hashing to md? Read through a
 * small buffer: a large policy is not copied into fresh memory only to
 * be compared. Files the YAML load would refuse (not regular, not
 * trusted) never match, so the load falls back and says why. */
static bool
same_file(const char *path, uid_t uid, uint64_t size,
    const unsigned char *md, struct stat *st)
{
	unsigned char buf[16384], got[32];
	SHA256_CTX ctx;
	uint64_t total = 0;
	ssize_t n = -1;
	bool ok = false;
	int fd;

	fd = pb_trusted_open(path, 0, uid, st, NULL, 0);
	if (fd < 0)
		return false;
	if ((uint64_t)st->st_size != size || SHA256_Init(&ctx) != 1)
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || SHA256_Update(&ctx, buf, (size_t)n) != 1)
			goto out;
		total += (uint64_t)n;
		/* the size fstat gave, read: no read for the 0 at the end */
		if (total == size && (size_t)n < sizeof(buf))
			break;
	}
	ok = total == size && SHA256_Final(got, &ctx) == 1 &&
	    memcmp(got, md, sizeof(got)) == 0;
out:
	close(fd);
	return ok;
}

/* Are the policy's files the ones the snapshot was made from? The
 * include pattern is expanded again and each match compared. */
static bool
sources_match(struct rd *r, const char *path, uid_t uid,
    struct stat *main_st, char *why, size_t whylen)
{
	unsigned char md[32];
	size_t i, n;
	uint64_t size;
	char *include, *p;
	glob_t g;
	bool ok = false;

	n = get_count(r, 45);
	include = get_opt(r);
	p = get_str(r);
	take(r, &size, sizeof(size));
	take(r, md, sizeof(md));
	if (r->bad || n == 0 || (include == NULL) != (n == 1)) {
		r->bad = true;
		return false;
	}
	if (strcmp(p, path) != 0) {
		pb_msg(why, whylen, "made for %s", p);
		return false;
	}
	if (!same_file(path, uid, size, md, main_st)) {
		pb_msg(why, whylen, "%s changed since it was compiled", path);
		return false;
	}
	if (include == NULL)
		return true;
	memset(&g, 0, sizeof(g));
	if (glob(include, GLOB_ERR, NULL, &g) != 0 || g.gl_pathc != n - 1) {
		pb_msg(why, whylen, "the files %s matches changed", include);
		goto out;
	}
	for (i = 1; i < n; i++) {
		struct stat st;

		p = get_str(r);
		take(r, &size, sizeof(size));
		take(r, md, sizeof(md));
		if (r->bad)
			goto out;
		if (strcmp(p, g.gl_pathv[i - 1]) != 0) {
			pb_msg(why, whylen, "the files %s matches changed",
			    include);
			goto out;
		}
		if (!same_file(p, uid, size, md, &st)) {
			pb_msg(why, whylen, "%s changed since it was compiled",
			    p);
			goto out;
		}
	}
	ok = true;
out:
	globfree(&g);
	return ok;
}

int
pb_snapshot_load(const char *path, uid_t uid, const char *role,
    struct pb_policy **out, char *why, size_t whylen)
{
	struct pb_snapmem *m = NULL;
	struct pb_policy *pol = NULL;
	char snap[PATH_MAX], head[sizeof(PB_SNAP_MAGIC)];
	struct stat st, main_st;
	struct rd r;
	uint64_t size;
	size_t len;
	char *buf;

	*out = NULL;
	if (path[0] != '/' || (size_t)snprintf(snap, sizeof(snap), "%s%s",
	    path, PB_SNAPSHOT_SUFFIX) >= sizeof(snap)) {
		pb_msg(why, whylen, "only a policy named by its absolute path "
		    "is compiled");
		return -1;
	}
	buf = slurp(snap, uid, PB_SNAP_MAX, &st, &len, why, whylen);
	if (buf == NULL)
		return errno == ENOENT ? 1 : -1;
	r.p = buf;
	r.end = buf + len;
	r.bad = false;
	take(&r, head, sizeof(head));
	if (r.bad || memcmp(head, PB_SNAP_MAGIC, sizeof(head)) != 0 ||
	    get_u32(&r) != PB_SNAP_ORDER || !take(&r, &size, sizeof(size)) ||
	    size != len) {
		pb_msg(why, whylen, "%s: not a snapshot this version reads",
		    snap);
		goto fail;
	}
	if (!sources_match(&r, path, uid, &main_st, why, whylen)) {
		if (r.bad)
			goto corrupt;
		goto fail;
	}
	if (st.st_uid != main_st.st_uid ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		pb_msg(why, whylen, "%s: not owned by the policy's owner or "
		    "writable by others: ignored", snap);
		goto fail;
	}
	pol = calloc(1, sizeof(*pol));
	m = calloc(1, sizeof(*m));
	if (pol == NULL || m == NULL) {
		pb_msg(why, whylen, "out of memory");
		free(m);
		goto fail;
	}
	m->buf = buf;
	pol->snap = m;
	buf = NULL;
	get_config(&r, &pol->cfg);
	get_rules(&r, pol, m, role);
	if (role != NULL && !r.bad && (pol->for_role = strdup(role)) == NULL) {
		pb_msg(why, whylen, "out of memory");
		goto fail;
	}
	if (r.bad || r.p != r.end)
		goto corrupt;
	*out = pol;
	return 0;
corrupt:
	pb_msg(why, whylen, "%s: corrupt: ignored", snap);
fail:
	pb_policy_free(pol);
	free(buf);
	return -1;
}
