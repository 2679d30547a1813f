/*
 * policy_snapshot_write.c - a loaded policy encoded as a snapshot
 * (format in policy_snapshot.h): the files it came from with their
 * SHA-256, the settings, then the rules as the loader built them.
 */
#include "config.h"
#include "sha256.h"

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "policy_snapshot.h"


static void
put_u8(struct pb_buf *w, unsigned v)
{
	unsigned char c = (unsigned char)v;

	pb_buf_put(w, &c, 1);
}

static void
put_u32(struct pb_buf *w, size_t v)
{
	uint32_t u = (uint32_t)v;

	if (v > UINT32_MAX)
		w->oom = true;
	pb_buf_put(w, &u, sizeof(u));
}

static void
put_i64(struct pb_buf *w, long long v)
{
	int64_t i = v;

	pb_buf_put(w, &i, sizeof(i));
}

static void
put_strn(struct pb_buf *w, const char *s, size_t len)
{
	put_u32(w, len);
	pb_buf_put(w, s, len);
	put_u8(w, 0);
}

static void
put_str(struct pb_buf *w, const char *s)
{
	put_strn(w, s, strlen(s));
}

static void
put_opt(struct pb_buf *w, const char *s)
{
	put_u8(w, s != NULL);
	if (s != NULL)
		put_str(w, s);
}

static void
put_config(struct pb_buf *w, const struct pb_config *c)
{
	size_t i;

	put_str(w, c->token.issuer);
	put_u32(w, c->token.n_audiences);
	for (i = 0; i < c->token.n_audiences; i++)
		put_str(w, c->token.audiences[i]);
	put_str(w, c->token.organization);
	put_opt(w, c->token.organization_id);
	put_u32(w, c->token.algorithms);
	put_i64(w, c->token.leeway);
	put_i64(w, c->token.max_lifetime);
	put_u8(w, c->token.single_use);
	put_opt(w, c->token.replay_dir);
	put_opt(w, c->jwks.url);
	put_opt(w, c->jwks.file);
	put_opt(w, c->jwks.cache);
	put_i64(w, c->jwks.refresh);
	put_i64(w, c->jwks.max_stale);
	put_i64(w, c->jwks.timeout);
	put_opt(w, c->jwks.ca_file);
	put_u8(w, c->jwks.writer == PB_WRITER_TOOL);
	put_u8(w, c->jwks.login_fetch);
	put_u8(w, c->audit.format == PB_AUDIT_JSON);
	put_i64(w, c->audit.facility);
	put_i64(w, c->session.lifetime);
}

static void
put_rules(struct pb_buf *w, const struct pb_policy *pol)
{
	size_t i, j, k, conds = 0, items = 0, cidrs = 0, roles = 0;

	for (i = 0; i < pol->n_rules; i++) {
		const struct pb_rule *r = &pol->rules[i];

		conds += r->n_conds;
		for (j = 0; j < r->n_conds; j++)
			items += r->conds[j].pat.n;
		cidrs += r->n_from;
		roles += r->n_roles;
	}
	put_u32(w, pol->n_rules);
	put_u32(w, conds);
	put_u32(w, items);
	put_u32(w, cidrs);
	put_u32(w, roles);
	for (i = 0; i < pol->n_rules; i++) {
		const struct pb_rule *r = &pol->rules[i];

		put_str(w, r->name);
		put_u8(w, r->deny);
		put_u32(w, r->n_conds);
		for (j = 0; j < r->n_conds; j++) {
			const struct pb_cond *c = &r->conds[j];

			put_str(w, c->claim);
			put_str(w, c->label);
			put_str(w, c->pat.display);
			put_u32(w, c->pat.n);
			for (k = 0; k < c->pat.n; k++) {
				put_u8(w, c->pat.items[k].neg);
				put_u8(w, c->pat.items[k].is_re);
				put_strn(w, c->pat.items[k].text,
				    c->pat.items[k].len);
			}
		}
		put_u32(w, r->n_from);
		for (j = 0; j < r->n_from; j++) {
			put_u8(w, r->from[j].family == AF_INET6 ? 6 : 4);
			pb_buf_put(w, r->from[j].addr, sizeof(r->from[j].addr));
			put_u32(w, r->from[j].prefix);
		}
		put_opt(w, r->from_display);
		put_u32(w, r->n_roles);
		for (j = 0; j < r->n_roles; j++)
			put_strn(w, r->roles[j].text, r->roles[j].len);
		put_i64(w, r->session_lifetime);
	}
}

int
pb_snapshot_encode(const struct pb_sources *src, const struct pb_policy *pol,
    struct pb_buf *w)
{
	uint64_t size = 0;
	size_t i;

	pb_buf_put(w, PB_SNAP_MAGIC, sizeof(PB_SNAP_MAGIC));
	put_u32(w, PB_SNAP_ORDER);
	pb_buf_put(w, &size, sizeof(size));     /* the total, set below */
	put_u32(w, src->n);
	put_opt(w, src->include);
	for (i = 0; i < src->n; i++) {
		unsigned char md[32];
		uint64_t len = src->v[i].len;

		if (pb_sha256(src->v[i].data, src->v[i].len, md) != 0)
			w->oom = true;
		put_str(w, src->v[i].path);
		pb_buf_put(w, &len, sizeof(len));
		pb_buf_put(w, md, sizeof(md));
	}
	put_config(w, &pol->cfg);
	put_rules(w, pol);
	if (w->oom || w->len > PB_SNAP_MAX)
		return -1;
	size = w->len;
	memcpy(w->p + sizeof(PB_SNAP_MAGIC) + 4, &size, sizeof(size));
	return 0;
}
