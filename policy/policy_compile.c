/*
 * policy_compile.c - "parse, then write": the policy loaded in full from
 * its YAML files and its snapshot written beside it (policy_snapshot.h),
 * for `pam-buildkite compile`.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "policy.h"
#include "policy_snapshot.h"
#include "write_file.h"

int
pb_policy_compile(const char *path, char *msg, size_t msglen)
{
	struct pb_sources src = { NULL, 0, NULL };
	struct pb_policy *pol = NULL;
	struct pb_error err;
	struct pb_buf w = { NULL, 0, 0, false };
	char out[PATH_MAX], why[PB_MSG_MAX];
	int rc = -1;

	if (path == NULL || path[0] != '/') {
		pb_msg(msg, msglen, "give the policy's absolute path, as the "
		    "PAM service file names it");
		return -1;
	}
	if ((size_t)snprintf(out, sizeof(out), "%s%s", path,
	    PB_SNAPSHOT_SUFFIX) >= sizeof(out)) {
		pb_msg(msg, msglen, "%s: path too long", path);
		return -1;
	}
	if (pb_policy_parse_keep(path, geteuid(), &src, &pol, &err) < 0) {
		pb_msg(msg, msglen, "%s", err.text);
		goto out;
	}
	if (pb_snapshot_encode(&src, pol, &w) != 0) {
		pb_msg(msg, msglen, "%s: the snapshot would exceed %u bytes "
		    "(or out of memory)", path, PB_SNAP_MAX);
		goto out;
	}
	/* A login reads the old snapshot or the new one, never half. */
	if ((rc = pb_write_atomic_path(out, w.p, w.len, 0644, why,
	    sizeof(why))) != 0)
		pb_msg(msg, msglen, "%s: %s", out, why);
	else
		pb_msg(msg, msglen, "%s: %zu rules from %zu file%s, %zu bytes",
		    out, pol->n_rules, src.n, src.n == 1 ? "" : "s", w.len);
out:
	free(w.p);
	pb_policy_free(pol);
	pb_sources_free(&src);
	return rc;
}
