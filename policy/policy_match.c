/*
 * policy_match.c - patterns, CIDRs, role templates and the decision.
 *
 * Patterns follow Buildkite's branch-filter syntax: glob items where '*'
 * matches any run of bytes (slashes included), "!item" exclusions and
 * "/regex/" items anchored to the whole value. Everything the decision
 * needs is compiled at load time, so pb_policy_decide() only reads the
 * policy and allocates nothing: it is safe to share one loaded policy
 * between threads.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy_int.h"
#include "msg.h"

/* Claims a role template may name (SPEC.md section 2), besides
 * agent_tag:NAME. */
static const char *const known_claims[] = {
	"iss", "sub", "aud", "jti", "organization_slug", "organization_id",
	"pipeline_slug", "pipeline_id", "build_number", "build_branch",
	"build_tag", "build_commit", "build_id", "build_source", "step_key",
	"job_id", "agent_id", "cluster_id", "cluster_name", "queue_id",
	"queue_key", "runner_environment",
};

#define AGENT_TAG_PREFIX "agent_tag:"

void
pb_quote(char *buf, size_t buflen, const char *s, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i, cut = len;
	bool truncated = false;

	if (buflen == 0)
		return;
	if (cut > max) {
		cut = max;
		/* do not end in the middle of a UTF-8 sequence */
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
		truncated = true;
	}
	/* room for the closing quote, "..." and the NUL */
	if (buflen < 6) {
		buf[0] = '\0';
		return;
	}
	buf[o++] = '"';
	for (i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[5];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 0xf];
			n = 4;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n + 5 > buflen) {
			truncated = true;
			break;
		}
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	if (truncated) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

/* pb_quote's result for a message: called only on the way to an error,
 * so loading a policy does not quote what it accepts. */
static const char *
qt(char q[160], const char *s, size_t len)
{
	pb_quote(q, 160, s, len, 64);
	return q;
}

bool
pb_claim_known(const char *name, size_t len)
{
	size_t i, plen = sizeof(AGENT_TAG_PREFIX) - 1;

	for (i = 0; i < sizeof(known_claims) / sizeof(known_claims[0]); i++)
		if (strlen(known_claims[i]) == len &&
		    memcmp(known_claims[i], name, len) == 0)
			return true;
	return len > plen && memcmp(name, AGENT_TAG_PREFIX, plen) == 0;
}

/* ------------------------------------------------------------ patterns */


int
pb_item_init(struct pb_item *it, char *text, size_t len, bool neg,
    bool is_re, bool compile, char *msg, size_t msglen)
{
	memset(it, 0, sizeof(*it));
	if (len == 0 && !is_re) {
		pb_msg(msg, msglen, "empty pattern item");
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		pb_msg(msg, msglen, "NUL byte in pattern");
		return -1;
	}
	it->text = text;
	it->len = len;
	it->neg = neg;
	it->is_re = is_re;
	if (!is_re)
		return 0;
	if (len == 0) {
		pb_msg(msg, msglen, "empty regex //");
		return -1;
	}
	pb_regex_must(text, len, &it->must_off, &it->must_len);
	if (compile)
		return pb_regex_build(text, len, &it->re, msg, msglen);
	return 0;
}

int
pb_pattern_add(struct pb_pattern *p, const char *item, size_t len,
    char *msg, size_t msglen)
{
	struct pb_item it;
	bool neg = false, is_re = false;
	char *text;

	if (len == 0) {
		pb_msg(msg, msglen, "empty pattern item");
		return -1;
	}
	if (memchr(item, '\0', len) != NULL) {
		pb_msg(msg, msglen, "NUL byte in pattern");
		return -1;
	}
	if (item[0] == '!') {
		neg = true;
		item++;
		len--;
		if (len == 0) {
			pb_msg(msg, msglen, "a lone \"!\" excludes nothing");
			return -1;
		}
	}
	if (len >= 2 && item[0] == '/' && item[len - 1] == '/') {
		is_re = true;
		item++;
		len -= 2;
	}
	text = strndup(item, len);
	if (text == NULL) {
		pb_msg(msg, msglen, "out of memory");
		return -1;
	}
	/* a policy parsed from YAML compiles every regex: that validates
	 * them, and the parse costs more than the compiling anyway */
	if (pb_item_init(&it, text, len, neg, is_re, true, msg, msglen) < 0) {
		free(text);
		return -1;
	}

	/* grow to the next power of two: no separate capacity field */
	if (p->n == 0 || (p->n & (p->n - 1)) == 0) {
		size_t cap = p->n ? p->n * 2 : 1;
		struct pb_item *n = reallocarray(p->items, cap, sizeof(*n));

		if (n == NULL) {
			pb_regex_free(it.re);
			free(it.text);
			pb_msg(msg, msglen, "out of memory");
			return -1;
		}
		p->items = n;
	}
	p->items[p->n++] = it;
	return 0;
}

void
pb_pattern_free(struct pb_pattern *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		pb_regex_free(p->items[i].re);
		free(p->items[i].text);
	}
	free(p->items);
	free(p->display);
	memset(p, 0, sizeof(*p));
}

/* Iterative glob: '*' matches any run of bytes, everything else itself.
 * Backtracking only to the last star keeps it O(len(p) * len(s)). */
static bool
glob_match(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

/* 1 when the item matches the whole value, 0 when not, -1 when its
 * regex cannot be compiled now (why in msg). A snapshot's regexes are
 * compiled here, only those a login reaches, and only once the value
 * holds their literal. */
static int
item_match(const struct pb_item *it, const char *v, size_t len, char *msg,
    size_t msglen)
{
	struct pb_regex *local = NULL;
	int rc;

	if (!it->is_re)
		return glob_match(it->text, it->len, v, len);
	if (it->must_len > 0 &&
	    memmem(v, len, it->text + it->must_off, it->must_len) == NULL)
		return 0;
	if (it->re == NULL &&
	    pb_regex_build(it->text, it->len, &local, msg, msglen) < 0)
		return -1;
	rc = pb_regex_exec(it->re != NULL ? it->re : local, v, len, msg,
	    msglen);
	pb_regex_free(local);
	return rc;
}

/* v is NUL-terminated and holds no other NUL (regexec needs that).
 * 1 match, 0 not, -1 a regex that cannot be compiled (why in msg). */
static int
pattern_match(const struct pb_pattern *p, const char *v, size_t len,
    char *msg, size_t msglen)
{
	bool has_pos = false, pos_hit = false;
	size_t i;
	int m;

	for (i = 0; i < p->n; i++) {
		const struct pb_item *it = &p->items[i];

		if (!it->neg && pos_hit)
			continue;
		if ((m = item_match(it, v, len, msg, msglen)) < 0)
			return -1;
		if (it->neg && m)
			return 0;
		if (!it->neg) {
			has_pos = true;
			pos_hit = m;
		}
	}
	return !has_pos || pos_hit;
}

/* -------------------------------------------------------------- claims */

enum claim_state { CLAIM_OK, CLAIM_ABSENT, CLAIM_NULL, CLAIM_TYPE,
	CLAIM_NUL };

/* A claim's value as text: strings as they are, integers in decimal
 * (numbuf holds at least 24 bytes); anything else never matches. */
static enum claim_state
claim_text(const json_t *claims, const char *name, char *numbuf,
    size_t numlen, const char **v, size_t *len)
{
	json_t *j;

	if (claims == NULL || !json_is_object(claims))
		return CLAIM_ABSENT;
	j = json_object_get(claims, name);
	if (j == NULL)
		return CLAIM_ABSENT;
	if (json_is_null(j))
		return CLAIM_NULL;
	if (json_is_string(j)) {
		*v = json_string_value(j);
		*len = json_string_length(j);
		if (memchr(*v, '\0', *len) != NULL)
			return CLAIM_NUL;
		return CLAIM_OK;
	}
	if (json_is_integer(j)) {
		int n = snprintf(numbuf, numlen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(j));

		if (n < 0 || (size_t)n >= numlen)
			return CLAIM_TYPE;
		*v = numbuf;
		*len = (size_t)n;
		return CLAIM_OK;
	}
	return CLAIM_TYPE;
}

/* ----------------------------------------------------------------- roles */

int
pb_role_check(const char *s, size_t len, bool *tmpl, char *msg,
    size_t msglen)
{
	char q[160];
	size_t i, literal = 0;

	*tmpl = false;
	if (len == 0) {
		pb_msg(msg, msglen, "empty role name");
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			pb_msg(msg, msglen, "role %s contains a control "
			    "character", qt(q, s, len));
			return -1;
		}
		if (c == '}') {
			pb_msg(msg, msglen, "role %s has unbalanced braces",
			    qt(q, s, len));
			return -1;
		}
		if (c == '{') {
			const char *name = s + i + 1;
			size_t j = i + 1;
			char cq[96];

			while (j < len && s[j] != '}' && s[j] != '{')
				j++;
			if (j >= len || s[j] != '}') {
				pb_msg(msg, msglen, "role %s has unbalanced "
				    "braces", qt(q, s, len));
				return -1;
			}
			if (!pb_claim_known(name, j - i - 1)) {
				pb_quote(cq, sizeof(cq), name, j - i - 1, 64);
				pb_msg(msg, msglen, "role %s names an unknown "
				    "claim %s (expected one of: iss, sub, aud, "
				    "jti, organization_slug, organization_id, "
				    "pipeline_slug, pipeline_id, build_number, "
				    "build_branch, build_tag, build_commit, "
				    "build_id, build_source, step_key, job_id, "
				    "agent_id, cluster_id, cluster_name, "
				    "queue_id, queue_key, runner_environment, "
				    "agent_tag:NAME)", qt(q, s, len), cq);
				return -1;
			}
			*tmpl = true;
			i = j;
			continue;
		}
		literal++;
	}
	if (literal > PB_ROLE_MAX) {
		pb_msg(msg, msglen, "role %s is longer than %d bytes",
		    qt(q, s, len), PB_ROLE_MAX);
		return -1;
	}
	return 0;
}

/* Expands a template into out (PB_ROLE_MAX + 1 bytes). Returns false
 * when it yields no role: a claim absent, null or of another type, or a
 * result that could not be a role name. */
static bool
role_expand(const struct pb_role *r, const json_t *claims, char *out,
    size_t *outlen)
{
	size_t i, o = 0;

	for (i = 0; i < r->len; i++) {
		char name[PB_MSG_MAX], num[32];
		const char *v = NULL;
		size_t j, vlen = 0, k;

		if (r->text[i] != '{') {
			if (o >= PB_ROLE_MAX)
				return false;
			out[o++] = r->text[i];
			continue;
		}
		j = i + 1;
		while (j < r->len && r->text[j] != '}')
			j++;
		if (j - i - 1 >= sizeof(name))
			return false;
		memcpy(name, r->text + i + 1, j - i - 1);
		name[j - i - 1] = '\0';
		if (claim_text(claims, name, num, sizeof(num), &v, &vlen) !=
		    CLAIM_OK)
			return false;
		if (vlen > PB_ROLE_MAX - o)
			return false;
		for (k = 0; k < vlen; k++) {
			unsigned char c = (unsigned char)v[k];

			if (c < 0x20 || c == 0x7f)
				return false;
		}
		memcpy(out + o, v, vlen);
		o += vlen;
		i = j;
	}
	if (o == 0)
		return false;
	out[o] = '\0';
	*outlen = o;
	return true;
}

/* ------------------------------------------------------------------ CIDR */

int
pb_cidr_parse(const char *s, struct pb_cidr *out, char *msg, size_t msglen)
{
	char buf[INET6_ADDRSTRLEN + 8], q[96];
	const char *slash;
	size_t alen, len = strlen(s), max, i, nbytes;
	unsigned prefix;

	memset(out, 0, sizeof(*out));
	pb_quote(q, sizeof(q), s, len, 64);
	slash = memchr(s, '/', len);
	alen = slash ? (size_t)(slash - s) : len;
	if (alen == 0 || alen >= INET6_ADDRSTRLEN) {
		pb_msg(msg, msglen, "invalid CIDR %s", q);
		return -1;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		pb_msg(msg, msglen, "invalid CIDR %s: %s is not an IPv4 or "
		    "IPv6 address", q, buf);
		return -1;
	}
	prefix = (unsigned)max;
	if (slash != NULL) {
		const char *d = slash + 1;
		size_t dlen = len - alen - 1;

		if (dlen == 0 || dlen > 3 || (dlen > 1 && d[0] == '0')) {
			pb_msg(msg, msglen, "invalid CIDR %s: bad prefix "
			    "length", q);
			return -1;
		}
		prefix = 0;
		for (i = 0; i < dlen; i++) {
			if (d[i] < '0' || d[i] > '9') {
				pb_msg(msg, msglen, "invalid CIDR %s: bad "
				    "prefix length", q);
				return -1;
			}
			prefix = prefix * 10 + (unsigned)(d[i] - '0');
		}
		if (prefix > max) {
			pb_msg(msg, msglen, "invalid CIDR %s: prefix longer "
			    "than %zu bits", q, max);
			return -1;
		}
	}
	/* "10.1.2.3/8" is most likely a typo for a host or for 10.0.0.0/8:
	 * make the author say which */
	nbytes = max / 8;
	for (i = 0; i < nbytes; i++) {
		unsigned bits = prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
		unsigned char mask = bits >= 8 ? 0xff :
		    (unsigned char)(0xff00u >> bits);

		if (out->addr[i] & (unsigned char)~mask) {
			pb_msg(msg, msglen, "invalid CIDR %s: address bits set "
			    "beyond the /%u prefix", q, prefix);
			return -1;
		}
	}
	out->prefix = prefix;
	return 0;
}

struct rhost_addr {
	bool v4, v6;
	unsigned char a4[4];
	unsigned char a6[16];
};

static void
rhost_parse(const char *rhost, struct rhost_addr *a)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	memset(a, 0, sizeof(*a));
	if (rhost == NULL)
		return;
	if (inet_pton(AF_INET, rhost, a->a4) == 1) {
		a->v4 = true;
	} else if (inet_pton(AF_INET6, rhost, a->a6) == 1) {
		a->v6 = true;
		/* ::ffff:a.b.c.d is how a dual-stack socket reports an
		 * IPv4 client: let it match IPv4 CIDRs too */
		if (memcmp(a->a6, mapped, sizeof(mapped)) == 0) {
			memcpy(a->a4, a->a6 + 12, 4);
			a->v4 = true;
		}
	}
}

static bool
prefix_eq(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (unsigned char)(0xff00u >> rest)) == 0;
}

static bool
cidr_match(const struct pb_cidr *c, const struct rhost_addr *a)
{
	if (c->family == AF_INET)
		return a->v4 && prefix_eq(c->addr, a->a4, c->prefix);
	return a->v6 && prefix_eq(c->addr, a->a6, c->prefix);
}

/* -------------------------------------------------------------- decision */

/* Do all of the rule's conditions hold? why (may be NULL) says which
 * failed first. */
/* 1 when every condition holds, 0 when one does not (why), -1 when a
 * regex cannot be compiled (the error in err). */
static int
conds_hold(const struct pb_rule *r, const json_t *claims, const char *rhost,
    const struct rhost_addr *a, char *why, size_t whylen, char *err,
    size_t errlen)
{
	size_t i;

	for (i = 0; i < r->n_conds; i++) {
		const struct pb_cond *c = &r->conds[i];
		char num[32], qv[160], qp[160];
		const char *v = NULL;
		size_t len = 0;

		switch (claim_text(claims, c->claim, num, sizeof(num), &v,
		    &len)) {
		case CLAIM_OK:
			break;
		case CLAIM_ABSENT:
			pb_msg(why, whylen, "%s is absent", c->claim);
			return 0;
		case CLAIM_NULL:
			pb_msg(why, whylen, "%s is null", c->claim);
			return 0;
		case CLAIM_TYPE:
			pb_msg(why, whylen, "%s is not a string or an integer",
			    c->claim);
			return 0;
		case CLAIM_NUL:
			pb_msg(why, whylen, "%s contains a NUL byte", c->claim);
			return 0;
		}
		switch (pattern_match(&c->pat, v, len, err, errlen)) {
		case 1:
			continue;
		case -1:
			return -1;
		}
		if (why != NULL) {
			pb_quote(qv, sizeof(qv), v, len, 64);
			pb_quote(qp, sizeof(qp), c->pat.display,
			    strlen(c->pat.display), 64);
			pb_msg(why, whylen, "%s %s does not match %s",
			    c->label, qv, qp);
		}
		return 0;
	}
	if (r->n_from > 0) {
		char qh[160];

		if (rhost == NULL) {
			pb_msg(why, whylen, "no rhost (a Unix-socket "
			    "connection) and the rule requires from %s",
			    r->from_display);
			return 0;
		}
		if (!a->v4 && !a->v6) {
			if (why != NULL) {
				pb_quote(qh, sizeof(qh), rhost, strlen(rhost),
				    64);
				pb_msg(why, whylen, "rhost %s is not a numeric "
				    "address", qh);
			}
			return 0;
		}
		for (i = 0; i < r->n_from; i++)
			if (cidr_match(&r->from[i], a))
				break;
		if (i == r->n_from) {
			pb_msg(why, whylen, "rhost %s is not in %s", rhost,
			    r->from_display);
			return 0;
		}
	}
	return 1;
}

/* Does the rule (whose conditions hold) cover role? */
static bool
rule_covers(const struct pb_rule *r, const json_t *claims, const char *role,
    size_t rolelen, char *why, size_t whylen)
{
	char qr[160], qt[160], buf[PB_ROLE_MAX + 1];
	size_t i, blen;

	if (r->n_roles == 0) {
		pb_msg(why, whylen, "all conditions hold; denies every role");
		return true;
	}
	for (i = 0; role != NULL && i < r->n_roles; i++) {
		const struct pb_role *ro = &r->roles[i];

		if (!ro->tmpl) {
			if (ro->len == rolelen &&
			    memcmp(ro->text, role, rolelen) == 0) {
				if (why != NULL) {
					pb_quote(qr, sizeof(qr), role,
					    rolelen, 64);
					pb_msg(why, whylen, "all conditions "
					    "hold; lists role %s", qr);
				}
				return true;
			}
			continue;
		}
		if (role_expand(ro, claims, buf, &blen) && blen == rolelen &&
		    memcmp(buf, role, rolelen) == 0) {
			if (why != NULL) {
				pb_quote(qr, sizeof(qr), role, rolelen, 64);
				pb_quote(qt, sizeof(qt), ro->text, ro->len,
				    64);
				pb_msg(why, whylen, "all conditions hold; lists "
				    "role %s (from %s)", qr, qt);
			}
			return true;
		}
	}
	if (why != NULL) {
		if (role != NULL)
			pb_quote(qr, sizeof(qr), role, rolelen, 64);
		else
			snprintf(qr, sizeof(qr), "(none)");
		pb_msg(why, whylen, "all conditions hold but the rule does not "
		    "list role %s", qr);
	}
	return false;
}

int
pb_policy_decide(const struct pb_policy *pol, const json_t *claims,
    const char *role, const char *rhost, struct pb_decision *out,
    pb_trace_fn trace, void *trace_ctx)
{
	const struct pb_rule *allow = NULL, *deny = NULL;
	struct rhost_addr addr;
	size_t i, rolelen;

	if (out == NULL)
		return -1;
	out->verdict = PB_VERDICT_NO_RULE;
	out->rule = NULL;
	snprintf(out->error, sizeof(out->error), "out of memory");
	if (pol == NULL)
		return -1;
	/* loaded with only the rules that bear on another role */
	if (pol->for_role != NULL &&
	    (role == NULL || strcmp(role, pol->for_role) != 0)) {
		snprintf(out->error, sizeof(out->error), "the policy was "
		    "loaded for another role");
		return -1;
	}
	rolelen = role != NULL ? strlen(role) : 0;
	rhost_parse(rhost, &addr);

	for (i = 0; i < pol->n_rules; i++) {
		const struct pb_rule *r = &pol->rules[i];
		char why[PB_MSG_MAX];
		char *w = trace != NULL ? why : NULL;
		bool matched;
		int held;

		why[0] = '\0';
		held = conds_hold(r, claims, rhost, &addr, w, sizeof(why),
		    out->error, sizeof(out->error));
		if (held < 0) {
			if (trace != NULL)
				trace(trace_ctx, r->name, false, out->error);
			return -1;
		}
		matched = held &&
		    rule_covers(r, claims, role, rolelen, w, sizeof(why));
		if (matched) {
			if (r->deny && deny == NULL)
				deny = r;
			else if (!r->deny && allow == NULL)
				allow = r;
		}
		if (trace != NULL)
			trace(trace_ctx, r->name, matched, why);
		else if (deny != NULL)
			break;  /* nothing can overturn a deny */
	}
	if (deny != NULL) {
		out->verdict = PB_VERDICT_DENIED;
		out->rule = deny->name;
	} else if (allow != NULL) {
		out->verdict = PB_VERDICT_ALLOW;
		out->rule = allow->name;
	}
	return 0;
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
