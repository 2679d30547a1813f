/*
 * policy_match.c - what one condition of a rule asks: patterns against
 * claim values, role names and templates, client addresses and CIDRs.
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

/* Iterative glob: the byte star matches any run of bytes, everything
 * else itself. Backtracking only to the last star keeps it
 * O(len(p) * len(s)). */
static bool
glob_star(const char *p, size_t plen, const char *s, size_t slen, char star)
{
	size_t pi = 0, si = 0, last = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == star) {
			last = pi++;
			mark = si;
		} else if (pi < plen && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (last != SIZE_MAX) {
			pi = last + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == star)
		pi++;
	return pi == plen;
}

/* PB_TRUE when the item matches the whole value, PB_FALSE when not,
 * PB_UNDECIDED when the regex engine could not tell (why in msg), -1 when
 * its regex cannot be compiled now (why in msg). A snapshot's regexes are
 * compiled here, only those a login reaches, and only once the value
 * holds their literal. */
static int
item_match(const struct pb_item *it, const char *v, size_t len, char *msg,
    size_t msglen)
{
	struct pb_regex *local = NULL;
	int rc;

	if (!it->is_re)
		return glob_star(it->text, it->len, v, len, '*') ? PB_TRUE :
		    PB_FALSE;
	if (it->must_len > 0 &&
	    memmem(v, len, it->text + it->must_off, it->must_len) == NULL)
		return PB_FALSE;
	if (it->re == NULL &&
	    pb_regex_build(it->text, it->len, &local, msg, msglen) < 0)
		return -1;
	rc = pb_regex_exec(it->re != NULL ? it->re : local, v, len, msg,
	    msglen);
	pb_regex_free(local);
	return rc < 0 ? PB_UNDECIDED : rc ? PB_TRUE : PB_FALSE;
}

/*
 * The positive items are alternatives and the "!" items exclusions: the
 * value must match one positive item (any value, when there are none)
 * and no exclusion. An item the engine could not decide may be either,
 * so the pattern is undecided unless the decided items settle it anyway
 * (Kleene's three-valued or and and).
 */
int
pb_pattern_match(const struct pb_pattern *p, const char *v, size_t len,
    char *msg, size_t msglen)
{
	int pos = PB_FALSE, neg = PB_FALSE, m;
	bool has_pos = false;
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct pb_item *it = &p->items[i];

		if (!it->neg)
			has_pos = true;
		if (!it->neg && pos == PB_TRUE)
			continue;
		if ((m = item_match(it, v, len, msg, msglen)) < 0)
			return -1;
		if (it->neg) {
			if (m == PB_TRUE)
				return PB_FALSE;
			if (m == PB_UNDECIDED)
				neg = PB_UNDECIDED;
		} else if (m == PB_TRUE || (m == PB_UNDECIDED &&
		    pos == PB_FALSE)) {
			pos = m;
		}
	}
	if (!has_pos)
		pos = PB_TRUE;
	if (pos == PB_FALSE)
		return PB_FALSE;
	return pos == PB_TRUE && neg == PB_FALSE ? PB_TRUE : PB_UNDECIDED;
}

/* -------------------------------------------------------------- claims */

enum pb_claim_state
pb_claim_text(const json_t *claims, const char *name, char *numbuf,
    size_t numlen, const char **v, size_t *len)
{
	json_t *j;

	if (claims == NULL || !json_is_object(claims))
		return PB_CLAIM_ABSENT;
	j = json_object_get(claims, name);
	if (j == NULL)
		return PB_CLAIM_ABSENT;
	if (json_is_null(j))
		return PB_CLAIM_NULL;
	if (json_is_string(j)) {
		*v = json_string_value(j);
		*len = json_string_length(j);
		if (memchr(*v, '\0', *len) != NULL)
			return PB_CLAIM_NUL;
		return PB_CLAIM_OK;
	}
	if (json_is_integer(j)) {
		int n = snprintf(numbuf, numlen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(j));

		if (n < 0 || (size_t)n >= numlen)
			return PB_CLAIM_TYPE;
		*v = numbuf;
		*len = (size_t)n;
		return PB_CLAIM_OK;
	}
	return PB_CLAIM_TYPE;
}

const char *
pb_claim_state_text(enum pb_claim_state st)
{
	switch (st) {
	case PB_CLAIM_OK:
		return "present";
	case PB_CLAIM_ABSENT:
		return "absent";
	case PB_CLAIM_NULL:
		return "null";
	case PB_CLAIM_TYPE:
		return "not a string or an integer";
	default:
		return "a string holding a NUL byte";
	}
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

/* Stands for a claim a template names but the token lacks: a byte
 * pb_role_check refuses in templates and role_expand in claim values. */
#define UNKNOWN_PART '\x01'

/*
 * Could the template give role? PB_TRUE when it expands to role, PB_FALSE
 * when it cannot (another name, none a role could have, or a claim it
 * names is null), PB_UNDECIDED when a claim it names is absent or of
 * another type and the parts it has leave role possible (why names that
 * claim).
 */
static int
template_gives(const struct pb_role *r, const json_t *claims,
    const char *role, size_t rolelen, char *why, size_t whylen)
{
	/* literals and values at most PB_ROLE_MAX, one unknown part
	 * between any two of them */
	char out[2 * (PB_ROLE_MAX + 1)];
	size_t i, o = 0, used = 0;
	bool unknown = false;

	for (i = 0; i < r->len; i++) {
		char name[PB_MSG_MAX], num[32];
		const char *v = NULL;
		size_t j, vlen = 0, k;
		enum pb_claim_state st;

		if (r->text[i] != '{') {
			if (used++ >= PB_ROLE_MAX)
				return PB_FALSE;
			out[o++] = r->text[i];
			continue;
		}
		j = i + 1;
		while (j < r->len && r->text[j] != '}')
			j++;
		if (j - i - 1 >= sizeof(name))
			return PB_FALSE;
		memcpy(name, r->text + i + 1, j - i - 1);
		name[j - i - 1] = '\0';
		i = j;
		st = pb_claim_text(claims, name, num, sizeof(num), &v, &vlen);
		/* null: Buildkite's "no value", which names no role */
		if (st == PB_CLAIM_NULL)
			return PB_FALSE;
		if (st != PB_CLAIM_OK) {
			if (!unknown)
				pb_msg(why, whylen, "role template {%s}: %s is "
				    "%s", name, name, pb_claim_state_text(st));
			unknown = true;
			if (o == 0 || out[o - 1] != UNKNOWN_PART)
				out[o++] = UNKNOWN_PART;
			continue;
		}
		if (vlen > PB_ROLE_MAX - used)
			return PB_FALSE;
		for (k = 0; k < vlen; k++) {
			unsigned char c = (unsigned char)v[k];

			if (c < 0x20 || c == 0x7f)
				return PB_FALSE;
		}
		memcpy(out + o, v, vlen);
		o += vlen;
		used += vlen;
	}
	if (unknown)
		return rolelen > 0 && glob_star(out, o, role, rolelen,
		    UNKNOWN_PART) ? PB_UNDECIDED : PB_FALSE;
	return o > 0 && o == rolelen && memcmp(out, role, o) == 0 ?
	    PB_TRUE : PB_FALSE;
}

int
pb_role_gives(const struct pb_role *r, const json_t *claims,
    const char *role, size_t rolelen, char *why, size_t whylen)
{
	if (r->tmpl)
		return template_gives(r, claims, role, rolelen, why, whylen);
	return r->len == rolelen && memcmp(r->text, role, rolelen) == 0 ?
	    PB_TRUE : PB_FALSE;
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

/*
 * One address model: an IPv4 client is an IPv4 address whichever way it
 * is reported (a dual-stack socket reports it as ::ffff:a.b.c.d), and a
 * CIDR written in that mapped form (::ffff:a.b.c.d/n, n >= 96) is the
 * IPv4 CIDR a.b.c.d/(n - 96). So both spellings of a client match the
 * same rules, whichever way a rule is written. Other IPv6 CIDRs, ::/0
 * among them, hold IPv6 clients only, as 0.0.0.0/0 holds IPv4 ones only.
 */
static const unsigned char v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool
pb_addr_parse(const char *rhost, struct pb_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (rhost == NULL)
		return false;
	if (inet_pton(AF_INET, rhost, a->a) == 1) {
		a->v4 = true;
	} else if (inet_pton(AF_INET6, rhost, a->a) == 1) {
		if (memcmp(a->a, v4_mapped, sizeof(v4_mapped)) == 0) {
			memmove(a->a, a->a + 12, 4);
			memset(a->a + 4, 0, 12);
			a->v4 = true;
		}
	} else {
		return false;
	}
	a->known = true;
	return true;
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

bool
pb_cidr_contains(const struct pb_cidr *c, const struct pb_addr *a)
{
	if (!a->known)
		return false;
	if (c->family == AF_INET)
		return a->v4 && prefix_eq(c->addr, a->a, c->prefix);
	if (c->prefix >= 96 && memcmp(c->addr, v4_mapped,
	    sizeof(v4_mapped)) == 0)
		return a->v4 && prefix_eq(c->addr + 12, a->a, c->prefix - 96);
	return !a->v4 && prefix_eq(c->addr, a->a, c->prefix);
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
