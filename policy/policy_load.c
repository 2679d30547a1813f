/*
 * policy_load.c - the entry points that load a policy: from its compiled
 * snapshot when that still stands for the YAML (policy_snapshot_read.c),
 * otherwise from the YAML itself (policy_include.c and below).
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "policy_load.h"
#include "policy_snapshot.h"

int
pb_policy_parse_keep(const char *path, uid_t uid, struct pb_sources *keep,
    struct pb_policy **out, struct pb_error *err)
{
	struct pb_error scratch;
	struct yaml_api yaml;
	struct pb_policy *pol;
	struct loader l;
	int rc;

	if (err == NULL)
		err = &scratch;
	err->text[0] = '\0';
	if (out == NULL)
		return -1;
	*out = NULL;
	if (path == NULL || path[0] == '\0') {
		snprintf(err->text, sizeof(err->text), "no policy file given");
		return -1;
	}
	pol = calloc(1, sizeof(*pol));
	if (pol == NULL || pl_config_defaults(&pol->cfg) < 0) {
		snprintf(err->text, sizeof(err->text), "%s: out of memory",
		    path);
		pb_policy_free(pol);
		return -1;
	}
	memset(&l, 0, sizeof(l));
	memset(&yaml, 0, sizeof(yaml));
	l.err = err;
	l.yaml = &yaml;
	l.pol = pol;
	l.file = path;
	l.keep = keep;
	l.uid = uid;
	rc = pl_load_file(&l);
	free(l.dir);
	if (yaml.lib != NULL)
		dlclose(yaml.lib);
	if (rc == 0)
		rc = pl_check_names(pol, err);
	if (rc < 0) {
		if (err->text[0] == '\0')
			snprintf(err->text, sizeof(err->text), "%s: invalid "
			    "policy", path);
		pb_policy_free(pol);
		return -1;
	}
	*out = pol;
	return 0;
}

int
pb_policy_parse(const char *path, struct pb_policy **out,
    struct pb_error *err)
{
	return pb_policy_parse_keep(path, geteuid(), NULL, out, err);
}

int
pb_policy_parse_as(const char *path, uid_t uid, struct pb_policy **out,
    struct pb_error *err)
{
	return pb_policy_parse_keep(path, uid, NULL, out, err);
}

int
pb_policy_load(const char *path, struct pb_policy **out,
    struct pb_error *err)
{
	return pb_policy_load_for(path, NULL, out, err);
}

int
pb_policy_load_for(const char *path, const char *role,
    struct pb_policy **out, struct pb_error *err)
{
	/* a snapshot is looked for only beside a policy named by its
	 * absolute path, as the PAM service file names it */
	if (path != NULL && path[0] == '/' && out != NULL &&
	    pb_snapshot_load(path, geteuid(), role, out, NULL, 0) == 0) {
		if (err != NULL)
			err->text[0] = '\0';
		return 0;
	}
	return pb_policy_parse_keep(path, geteuid(), NULL, out, err);
}

int
pb_policy_snapshot_state(const char *path, char *msg, size_t msglen)
{
	return pb_policy_snapshot_state_as(path, geteuid(), msg, msglen);
}

int
pb_policy_snapshot_state_as(const char *path, uid_t uid, char *msg,
    size_t msglen)
{
	struct pb_policy *pol = NULL;
	int rc;

	if (path == NULL)
		return -1;
	rc = pb_snapshot_load(path, uid, NULL, &pol, msg, msglen);
	pb_policy_free(pol);
	return rc;
}
