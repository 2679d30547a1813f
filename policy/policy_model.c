/*
 * policy_model.c - the loaded policy's settings defaults and its free:
 * the bottom of policy/, which both the YAML load and the snapshot
 * build on.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "policy_load.h"

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

int
pl_config_defaults(struct pb_config *c)
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
	c->jwks.login_fetch = true;
	c->audit.format = PB_AUDIT_LOGFMT;
	c->audit.facility = LOG_AUTHPRIV;
	c->session.lifetime = PB_LIFETIME_UNLIMITED;
	return c->token.issuer && c->jwks.url && c->jwks.cache ? 0 : -1;
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

void
pb_rule_free(struct pb_rule *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->name);
	free(r->where);
	for (i = 0; i < r->n_conds; i++) {
		free(r->conds[i].claim);
		pb_pattern_free(&r->conds[i].pat);
	}
	free(r->conds);
	free(r->from);
	free(r->from_display);
	for (i = 0; i < r->n_roles; i++)
		free(r->roles[i].text);
	free(r->roles);
	memset(r, 0, sizeof(*r));
}
