/*
 * policy_int.h - the policy backend's private structures.
 *
 * Built by the loader (policy_load.c and the schema files) or the
 * snapshot reader, compiled and matched by policy_pattern.c,
 * policy_roles.c and policy_cidr.c, judged by policy_decide.c.
 * Nothing outside policy/ includes this file.
 */
#ifndef PB_POLICY_INT_H
#define PB_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

#define PB_MAX_RULES      100000
#define PB_ROLE_MAX       63     /* PostgreSQL's NAMEDATALEN - 1 */
#define PB_MSG_MAX        512    /* one error or trace message */

/* One item of a pattern: a glob, or a /regex/, possibly negated. */
struct pb_item {
	char *text;             /* the glob, or the regex between slashes */
	size_t len;
	bool neg;
	bool is_re;
	struct pb_regex *re;    /* compiled, or NULL: compiled when used
				   (a snapshot's) */
	/* regex items: a literal every matching value contains, the bytes
	 * text[must_off .. must_off + must_len) of the regex itself, so a
	 * value without it skips the regex engine; must_len 0: none */
	size_t must_off, must_len;
};

struct pb_pattern {
	struct pb_item *items;
	size_t n;
	char *display;          /* as written, for traces */
};

/* A condition on one claim: pipeline, branch, ... or one of claims:. */
struct pb_cond {
	char *claim;            /* claim name in the JWT payload */
	const char *label;      /* condition name for traces: a string
				   literal, or claim itself */
	struct pb_pattern pat;
};

struct pb_cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

struct pb_role {
	char *text;
	size_t len;
	bool tmpl;              /* holds {claim} placeholders */
};

struct pb_rule {
	char *name;
	char *where;            /* "file:line:column" of the rule */
	bool deny;
	struct pb_cond *conds;
	size_t n_conds;
	struct pb_cidr *from;
	size_t n_from;
	char *from_display;
	struct pb_role *roles;  /* n_roles == 0: deny every role */
	size_t n_roles;
	long long session_lifetime;     /* PB_LIFETIME_UNSET: the policy's */
};

/* A policy read from a snapshot (policy_snapshot.c): its rules' strings
 * point into buf and their arrays are slices of these four. */
struct pb_snapmem {
	char *buf;
	struct pb_cond *conds;
	struct pb_item *items;
	struct pb_cidr *cidrs;
	struct pb_role *roles;
};

struct pb_policy {
	struct pb_config cfg;
	struct pb_rule *rules;
	size_t n_rules;
	size_t cap_rules;
	struct pb_snapmem *snap;        /* NULL: loaded from YAML */
	char *for_role;                 /* non-NULL: only the rules that bear
					   on this role were loaded */
};

/* The files a load read, kept for pb_policy_compile: the policy first,
 * then the include pattern's matches in glob order. */
struct pb_source {
	char *path;
	char *data;
	size_t len;
};

struct pb_sources {
	struct pb_source *v;
	size_t n;
	char *include;          /* the pattern, NULL without include: */
};

/* policy_load.c: pb_policy_parse_as, keeping the files read in keep (the
 * caller frees them with pb_sources_free). */
int pb_policy_parse_keep(const char *path, uid_t uid, struct pb_sources *keep,
    struct pb_policy **out, struct pb_error *err);
void pb_sources_free(struct pb_sources *s);

/* policy_pattern.c: a condition's truth for one login. PB_UNDECIDED: this
 * login cannot tell (policy_decide.c says what follows from that). */
enum pb_truth { PB_FALSE, PB_TRUE, PB_UNDECIDED };

/* Glob p (plen bytes) against s (slen bytes): the byte star matches any
 * run of bytes, everything else itself. */
bool pb_glob_star(const char *p, size_t plen, const char *s, size_t slen,
    char star);

/* Against v (len bytes, NUL-terminated, no other NUL): a pb_truth, or -1
 * when a regex cannot be compiled now. msg says why for PB_UNDECIDED and
 * -1. */
int pb_pattern_match(const struct pb_pattern *p, const char *v, size_t len,
    char *msg, size_t msglen);

enum pb_claim_state { PB_CLAIM_OK, PB_CLAIM_ABSENT, PB_CLAIM_NULL,
	PB_CLAIM_TYPE, PB_CLAIM_NUL };

/* A claim's value as text: strings as they are, integers in decimal
 * (numbuf holds at least 24 bytes); anything else is not PB_CLAIM_OK. */
enum pb_claim_state pb_claim_text(const json_t *claims, const char *name,
    char *numbuf, size_t numlen, const char **v, size_t *len);
/* "absent", "null", ... for messages */
const char *pb_claim_state_text(enum pb_claim_state st);

/* Does r give role (rolelen bytes)? A pb_truth: PB_UNDECIDED when r is a
 * template naming a claim that is absent or of another type (why says
 * which) and the rest of it leaves role possible. */
int pb_role_gives(const struct pb_role *r, const json_t *claims,
    const char *role, size_t rolelen, char *why, size_t whylen);

/* A client address. IPv4 ones, also when reported in the mapped form
 * ::ffff:a.b.c.d, are v4 with the address in a[0..3]: IPv4 and mapped
 * CIDRs match them, other IPv6 CIDRs do not. */
struct pb_addr {
	bool known;             /* rhost was a numeric address */
	bool v4;
	unsigned char a[16];
};

/* Parses rhost (NULL: none); false when it is no numeric address. */
bool pb_addr_parse(const char *rhost, struct pb_addr *a);
bool pb_cidr_contains(const struct pb_cidr *c, const struct pb_addr *a);

/* Compilation helpers the loader calls (policy_pattern.c,
 * policy_cidr.c, policy_roles.c, policy_claims.c). Each returns 0,
 * or -1 with a plain-words reason in msg (which says "out of memory"
 * when that was the cause). */
int pb_pattern_add(struct pb_pattern *p, const char *item, size_t len,
    char *msg, size_t msglen);
/* Fills it for the item text (len bytes, NUL-terminated, kept by
 * reference): checks it as pb_pattern_add does, and compiles a regex
 * only when compile is set (else item_match compiles it when used). */
int pb_item_init(struct pb_item *it, char *text, size_t len, bool neg,
    bool is_re, bool compile, char *msg, size_t msglen);
void pb_pattern_free(struct pb_pattern *p);
int pb_cidr_parse(const char *s, struct pb_cidr *out, char *msg,
    size_t msglen);
int pb_role_check(const char *s, size_t len, bool *tmpl, char *msg,
    size_t msglen);
bool pb_claim_known(const char *name, size_t len);

/* policy_lint.c: does r hold (an allow rule) or apply (a deny rule, for
 * which an absent claim leaves a condition undecided, and so applying)
 * for every login? Only when each condition is "*" (of a claim every
 * verified token has, for an allow rule) and there is no from:. */
bool pb_rule_always(const struct pb_rule *r);
void pb_rule_free(struct pb_rule *r);

/* policy_regex.c: a compiled /regex/ item, anchored to the whole value.
 * pb_regex_build returns 0, or -1 with why in msg (a regex the loader
 * refuses, or "out of memory"). pb_regex_exec takes v (len bytes,
 * NUL-terminated, no other NUL) and returns 1 when the regex matches the
 * whole value, 0 when not, -1 when the engine could not decide (why in
 * msg). */
struct pb_regex;
int pb_regex_build(const char *text, size_t len, struct pb_regex **out,
    char *msg, size_t msglen);
int pb_regex_exec(const struct pb_regex *re, const char *v, size_t len,
    char *msg, size_t msglen);
void pb_regex_free(struct pb_regex *re);

/* policy_ere.c: checks the POSIX ERE re (len bytes) and writes the PCRE2
 * pattern that means the same into out (cap bytes, at least
 * pb_ere_max_out(len) + 1), its length in *outlen; -1 with why in msg
 * when the regex is refused. Groups nest at most PB_ERE_MAX_DEPTH deep
 * (a policy has no use for deeper ones). */
#define PB_ERE_MAX_DEPTH 16
size_t pb_ere_max_out(size_t len);
int pb_ere_translate(const char *re, size_t len, char *out, size_t cap,
    size_t *outlen, char *msg, size_t msglen);

/* Sets text[*off .. *off + *mlen) of the regex re (len bytes) to a
 * literal that every value matching "^(" re ")$" contains; *mlen is 0
 * when there is none to be sure of. */
void pb_regex_must(const char *re, size_t len, size_t *off, size_t *mlen);


#endif
