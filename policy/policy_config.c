/*
 * policy_config.c - the settings schema: the token:, jwks:, audit: and
 * session: mappings of the main policy file, read into struct pb_config
 * (policy_config.h) with their defaults and limits.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "msg.h"
#include "policy_load.h"

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

	if (pl_want_string(l, n, "token.algorithms", true) < 0)
		return -1;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (pl_key_is(n, algs[i].name)) {
			*mask |= algs[i].bit;
			return 0;
		}
	}
	if (strcasecmp(n->str, "none") == 0 ||
	    strcasecmp(n->str, "HS256") == 0 ||
	    strcasecmp(n->str, "HS384") == 0 ||
	    strcasecmp(n->str, "HS512") == 0)
		return pl_fail(l, n, "token.algorithms: %s is never allowed "
		    "(anyone could forge such a token)", pl_q(b, sizeof(b), n));
	return pl_fail(l, n, "token.algorithms: unknown algorithm %s (expected "
	    "RS256, RS384, RS512, ES256 or ES384)", pl_q(b, sizeof(b), n));
}

static int
add_audience(struct loader *l, const struct node *n)
{
	struct pb_config *c = &l->pol->cfg;
	char **a, *s;

	if (pl_want_string(l, n, "token.audience", true) < 0)
		return -1;
	s = strdup(n->str);
	if (s == NULL)
		return pl_oom(l, n);
	a = reallocarray(c->token.audiences, c->token.n_audiences + 1,
	    sizeof(*a));
	if (a == NULL) {
		free(s);
		return pl_oom(l, n);
	}
	c->token.audiences = a;
	a[c->token.n_audiences++] = s;
	return 0;
}

int
pl_load_token(struct loader *l, const struct node *m)
{
	struct pb_config *c = &l->pol->cfg;
	const struct node *aud = NULL, *org = NULL, *single = NULL;
	size_t i, j;

	if (pl_want_map(l, m, "token") < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];
		int rc;

		if (pl_key_is(k, "issuer")) {
			rc = pl_set_string(l, v, "token.issuer", &c->token.issuer);
		} else if (pl_key_is(k, "audience")) {
			aud = v;
			if (v->kind == N_SEQ) {
				if (v->n == 0)
					return pl_fail(l, v, "token.audience "
					    "must not be an empty list");
				for (j = 0; j < v->n; j++)
					if (add_audience(l, v->kids[j]) < 0)
						return -1;
				rc = 0;
			} else {
				rc = add_audience(l, v);
			}
		} else if (pl_key_is(k, "organization")) {
			org = v;
			rc = pl_set_string(l, v, "token.organization",
			    &c->token.organization);
		} else if (pl_key_is(k, "organization_id")) {
			rc = pl_set_string(l, v, "token.organization_id",
			    &c->token.organization_id);
		} else if (pl_key_is(k, "algorithms")) {
			unsigned mask = 0;

			if (v->kind == N_SEQ) {
				if (v->n == 0)
					return pl_fail(l, v, "token.algorithms "
					    "must not be an empty list");
				for (j = 0; j < v->n; j++)
					if (add_alg(l, v->kids[j], &mask) < 0)
						return -1;
			} else if (add_alg(l, v, &mask) < 0) {
				return -1;
			}
			c->token.algorithms = mask;
			rc = 0;
		} else if (pl_key_is(k, "leeway")) {
			rc = pl_set_duration(l, v, "token.leeway", 0, 300,
			    &c->token.leeway);
		} else if (pl_key_is(k, "max_lifetime")) {
			rc = pl_set_duration(l, v, "token.max_lifetime", 1, 86400,
			    &c->token.max_lifetime);
		} else if (pl_key_is(k, "single_use")) {
			single = v;
			rc = pl_set_bool(l, v, "token.single_use",
			    &c->token.single_use);
		} else if (pl_key_is(k, "replay_dir")) {
			rc = pl_set_path(l, v, "token.replay_dir",
			    &c->token.replay_dir);
		} else {
			rc = pl_unknown_key(l, k, "in token", "issuer, audience, "
			    "organization, organization_id, algorithms, "
			    "leeway, max_lifetime, single_use, replay_dir");
		}
		if (rc < 0)
			return -1;
	}
	if (aud == NULL)
		return pl_fail(l, m, "token.audience is required");
	if (org == NULL)
		return pl_fail(l, m, "token.organization is required (tokens of "
		    "every Buildkite organization share one issuer)");
	if (c->token.single_use && c->token.replay_dir == NULL)
		return pl_fail(l, single, "token.single_use needs "
		    "token.replay_dir");
	return 0;
}

int
pl_load_jwks(struct loader *l, const struct node *m)
{
	static const char *const writers[] = { "module", "tool", NULL };
	struct pb_config *c = &l->pol->cfg;
	const struct node *url = NULL, *file = NULL, *no_fetch = NULL;
	size_t i, j;
	int w;

	if (pl_want_map(l, m, "jwks") < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];
		int rc;

		if (pl_key_is(k, "url")) {
			url = k;
			if (pl_set_string(l, v, "jwks.url", &c->jwks.url) < 0)
				return -1;
			if (strncmp(v->str, "https://", 8) != 0 ||
			    v->len == 8)
				return pl_fail(l, v, "jwks.url must be an "
				    "https:// URL");
			for (j = 0; j < v->len; j++)
				if ((unsigned char)v->str[j] <= 0x20 ||
				    v->str[j] == 0x7f)
					return pl_fail(l, v, "jwks.url must not "
					    "contain spaces or control "
					    "characters");
			rc = 0;
		} else if (pl_key_is(k, "file")) {
			file = k;
			rc = pl_set_path(l, v, "jwks.file", &c->jwks.file);
		} else if (pl_key_is(k, "cache")) {
			rc = pl_set_path(l, v, "jwks.cache", &c->jwks.cache);
		} else if (pl_key_is(k, "refresh")) {
			rc = pl_set_duration(l, v, "jwks.refresh", 1, 7 * 86400,
			    &c->jwks.refresh);
		} else if (pl_key_is(k, "max_stale")) {
			rc = pl_set_duration(l, v, "jwks.max_stale", 0,
			    30 * 86400, &c->jwks.max_stale);
		} else if (pl_key_is(k, "timeout")) {
			rc = pl_set_duration(l, v, "jwks.timeout", 1, 60,
			    &c->jwks.timeout);
		} else if (pl_key_is(k, "ca_file")) {
			rc = pl_set_path(l, v, "jwks.ca_file", &c->jwks.ca_file);
		} else if (pl_key_is(k, "writer")) {
			w = pl_set_enum(l, v, "jwks.writer", writers,
			    "module or tool");
			if (w < 0)
				return -1;
			c->jwks.writer = w == 0 ? PB_WRITER_MODULE :
			    PB_WRITER_TOOL;
			rc = 0;
		} else if (pl_key_is(k, "login_fetch")) {
			rc = pl_set_bool(l, v, "jwks.login_fetch",
			    &c->jwks.login_fetch);
			no_fetch = v;
		} else {
			rc = pl_unknown_key(l, k, "in jwks", "url, file, cache, "
			    "refresh, max_stale, timeout, ca_file, writer, "
			    "login_fetch");
		}
		if (rc < 0)
			return -1;
	}
	if (url != NULL && file != NULL) {
		const struct node *later = url->line > file->line ||
		    (url->line == file->line && url->col > file->col) ?
		    url : file;

		return pl_fail(l, later, "jwks.url and jwks.file are mutually "
		    "exclusive");
	}
	/* With writer: module, logins are what refresh the cache. */
	if (!c->jwks.login_fetch && c->jwks.writer != PB_WRITER_TOOL)
		return pl_fail(l, no_fetch, "jwks.login_fetch: false needs "
		    "jwks.writer: tool: with writer: module nothing but the "
		    "logins would refresh the cache");
	if (file != NULL) {
		free(c->jwks.url);
		c->jwks.url = NULL;
	}
	return 0;
}

int
pl_load_audit(struct loader *l, const struct node *m)
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

	if (pl_want_map(l, m, "audit") < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];

		if (pl_key_is(k, "format")) {
			x = pl_set_enum(l, v, "audit.format", formats,
			    "logfmt or json");
			if (x < 0)
				return -1;
			c->audit.format = x == 0 ? PB_AUDIT_LOGFMT :
			    PB_AUDIT_JSON;
		} else if (pl_key_is(k, "facility")) {
			x = pl_set_enum(l, v, "audit.facility", facnames,
			    "auth, authpriv, daemon, user or local0 to "
			    "local7");
			if (x < 0)
				return -1;
			c->audit.facility = facs[x];
		} else {
			return pl_unknown_key(l, k, "in audit",
			    "format, facility");
		}
	}
	return 0;
}

int
pl_set_lifetime(struct loader *l, const struct node *n, const char *what,
    long long *dst)
{
	if (n->kind == N_SCALAR && pl_key_is(n, "unlimited")) {
		*dst = PB_LIFETIME_UNLIMITED;
		return 0;
	}
	if (n->kind == N_SCALAR && pl_key_is(n, "token")) {
		*dst = PB_LIFETIME_TOKEN;
		return 0;
	}
	if (n->kind == N_SCALAR && n->len > 0 && (n->str[0] < '0' ||
	    n->str[0] > '9'))
		return pl_fail(l, n, "%s must be unlimited, token or a duration "
		    "(like 90s, 15m or 1h)", what);
	return pl_set_duration(l, n, what, 1, PB_LIFETIME_MAX, dst);
}

int
pl_load_session(struct loader *l, const struct node *m)
{
	size_t i;

	if (pl_want_map(l, m, "session") < 0)
		return -1;
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];

		if (!pl_key_is(k, "lifetime"))
			return pl_unknown_key(l, k, "in session", "lifetime");
		if (pl_set_lifetime(l, v, "session.lifetime",
		    &l->pol->cfg.session.lifetime) < 0)
			return -1;
	}
	return 0;
}
