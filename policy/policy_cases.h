/*
 * policy_cases.h - a policy's test cases ("pam-buildkite test"): the
 * cases file read into plain structures, each field with the place it
 * was written, so whoever runs the cases can point at them.
 *
 *   tests:
 *     - name: migrations only from main's migrate step
 *       role: api_migrator
 *       claims: {pipeline_slug: api, build_branch: main}
 *       rhost: 10.0.0.7            # optional
 *       expect: allow              # allow | deny
 *       rule: api migrations from main   # optional
 *       reason: no_rule            # optional, with deny
 *
 * A claim's value is a scalar (a plain integer becomes a JSON integer,
 * null a JSON null, anything else a string) or a list of scalars.
 */
#ifndef PB_POLICY_CASES_H
#define PB_POLICY_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "policy.h"

#define PB_CASES_MAX    10000
#define PB_WHERE_MAX    300     /* "file:line:column" */

struct pb_case {
	char *name, *role, *rhost;      /* rhost NULL: a Unix socket */
	json_t *claims;                 /* an object, as written */
	bool expect_allow;
	char *rule;                     /* NULL: any rule */
	char *reason;                   /* NULL: any reason */
	char where[PB_WHERE_MAX];       /* of the case */
	unsigned line;                  /* of the case */
	char reason_where[PB_WHERE_MAX];
};

struct pb_cases {
	struct pb_case *v;
	size_t n;
};

/* Reads the cases file at path. Returns 0 and fills out, or -1 with err
 * ("file:line:column: message"). Names are unique; a reason needs
 * expect: deny. The reason's name is not checked here (reasons belong to
 * the module): reason_where says where it was written. */
int pb_cases_load(const char *path, struct pb_cases *out,
    struct pb_error *err);
void pb_cases_free(struct pb_cases *c);

#endif
