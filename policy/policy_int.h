/*
 * policy_int.h - the policy backend's private structures.
 *
 * Shared by policy_load.c, which builds them from YAML, and
 * policy_match.c, which compiles patterns and answers the decision.
 * Nothing outside policy/ includes this file.
 */
#ifndef PB_POLICY_INT_H
#define PB_POLICY_INT_H

#include <regex.h>
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
	bool re_ok;             /* re holds a compiled regex to free */
	regex_t re;
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
};

struct pb_policy {
	struct pb_config cfg;
	struct pb_rule *rules;
	size_t n_rules;
	size_t cap_rules;
};

/* policy_match.c: compilation helpers the loader calls. Each returns 0,
 * or -1 with a plain-words reason in msg (which says "out of memory"
 * when that was the cause). */
int pb_pattern_add(struct pb_pattern *p, const char *item, size_t len,
    char *msg, size_t msglen);
void pb_pattern_free(struct pb_pattern *p);
int pb_cidr_parse(const char *s, struct pb_cidr *out, char *msg,
    size_t msglen);
int pb_role_check(const char *s, size_t len, bool *tmpl, char *msg,
    size_t msglen);
bool pb_claim_known(const char *name, size_t len);
void pb_rule_free(struct pb_rule *r);

/* Writes s (len bytes) into buf as a double-quoted string with control
 * characters, quotes and backslashes escaped, cut short with "..." when
 * it does not fit in max bytes of input. Always NUL-terminates. */
void pb_quote(char *buf, size_t buflen, const char *s, size_t len,
    size_t max);

#endif
