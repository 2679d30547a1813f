/*
 * policy_lint.c - warnings about a policy that loads but may not do what
 * its author means, for "pam-buildkite check".
 */
#include "config.h"

#include <stdio.h>

#include "policy_int.h"

int
pb_policy_lint(const struct pb_policy *pol, pb_lint_fn fn, void *ctx)
{
	char msg[PB_MSG_MAX];
	size_t i;
	int n = 0;

	for (i = 0; pol != NULL && i < pol->n_rules; i++) {
		const struct pb_rule *r = &pol->rules[i];

		/* PostgreSQL passes a host name as PAM_RHOST with
		 * pam_use_hostname=1, and "[local]" for a Unix socket:
		 * neither is in or out of a CIDR, so the rule applies. */
		if (r->deny && r->n_from > 0) {
			snprintf(msg, sizeof(msg), "a deny rule with from: %s "
			    "cannot be decided for a login whose client "
			    "address is a host name (pg_hba.conf's "
			    "pam_use_hostname=1) or none (a Unix socket): it "
			    "then denies every login it covers",
			    r->from_display);
			fn(ctx, r->name, r->where, msg);
			n++;
		}
	}
	return n;
}
