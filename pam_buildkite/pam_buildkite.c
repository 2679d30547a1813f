/*
 * pam_buildkite.c - PAM entry points: the module glue.
 *
 * PostgreSQL's "pam" auth method runs this in every connecting backend:
 * pam_sm_authenticate verifies the Buildkite OIDC token given as the
 * password, asks the policy whether the job may become the requested role
 * and writes one audit event; pam_sm_acct_mgmt, which PostgreSQL always
 * calls next, repeats that verdict for the same handle. Everything a call
 * needs lives on its stack or in pam_set_data, and every path that is not
 * a verified allow denies.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "audit.h"
#include "authn.h"
#include "policy.h"
#include "reason.h"
#include "session.h"

/* Key of the verdict handed from authenticate to acct_mgmt; prefixed
 * because the pam_set_data namespace is shared by the whole stack. */
#define RESULT_KEY "pam_buildkite.result"

/* PostgreSQL accepts passwords up to 64 KiB. The verifier refuses a
 * token over PB_TOKEN_MAX_BYTES after trimming whitespace; a password
 * longer than this (room for some whitespace) is refused before it, so
 * the verifier never sees a password cut short: a valid token, enough
 * spaces and then anything must not pass as that token. */
#define AUTHTOK_SCAN_MAX (PB_TOKEN_MAX_BYTES + 1024)

struct options {
	const char *config;
	bool debug;
	bool use_first_pass;
};

struct auth_result {
	bool allowed;
	char user[];
};

static void
cleanup_result(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

/* Returns 0, or -1 with the offending argument named in detail. */
static int
parse_args(int argc, const char **argv, struct options *opt, char *detail,
    size_t detail_len)
{
	int i;

	opt->config = PB_POLICY_DEFAULT_PATH;
	opt->debug = false;
	opt->use_first_pass = false;
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "config=", 7) == 0 && argv[i][7] != '\0')
			opt->config = argv[i] + 7;
		else if (strcmp(argv[i], "debug") == 0)
			opt->debug = true;
		else if (strcmp(argv[i], "use_first_pass") == 0)
			opt->use_first_pass = true;
		else if (strcmp(argv[i], "try_first_pass") == 0)
			opt->use_first_pass = false;
		else {
			snprintf(detail, detail_len,
			    "unknown module argument \"%.64s\"", argv[i]);
			return -1;
		}
	}
	/* A relative path would be looked up from the application's
	 * current directory: PostgreSQL's data directory, which its own
	 * user and database superusers can write. */
	if (opt->config[0] != '/') {
		snprintf(detail, detail_len, "config= must be an absolute "
		    "path, not \"%.64s\"", opt->config);
		return -1;
	}
	return 0;
}

/* The token, asked through the conversation only when no earlier module
 * set one, and only once: PostgreSQL asks the client again on every
 * prompt. */
static const char *
get_token(pam_handle_t *pamh, const struct options *opt, char *detail,
    size_t detail_len)
{
	const void *item = NULL;
	const char *tok = NULL;
	int rc;

	if (opt->use_first_pass) {
		if (pam_get_item(pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS ||
		    item == NULL) {
			snprintf(detail, detail_len, "use_first_pass set but "
			    "no earlier module supplied a token");
			return NULL;
		}
		return item;
	}
	rc = pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL);
	if (rc != PAM_SUCCESS || tok == NULL) {
		snprintf(detail, detail_len, "no token: %s",
		    pam_strerror(pamh, rc));
		return NULL;
	}
	return tok;
}

/* Ends detail with "; " PB_POOLER_CUT_NOTE (reason.h). The audit cuts a
 * value at PB_AUDIT_MAX_VALUE bytes, so the detail before the note is
 * cut first where both would not fit: the note is what the line must
 * end with. */
static void
add_pooler_note(char *detail, size_t detail_len)
{
	static const char note[] = "; " PB_POOLER_CUT_NOTE;
	size_t keep = PB_AUDIT_MAX_VALUE - (sizeof(note) - 1);
	size_t used = strnlen(detail, detail_len);

	if (used > keep) {
		/* Back to the start of a UTF-8 sequence, room for "...". */
		used = keep - 3;
		while (used > 0 && ((unsigned char)detail[used] & 0xc0) ==
		    0x80)
			used--;
		memcpy(detail + used, "...", 3);
		used += 3;
	}
	if (used == 0)
		snprintf(detail, detail_len, "%s", note + 2);
	else
		snprintf(detail + used, detail_len - used, "%s", note);
}

static int
pam_code(enum pb_reason reason)
{
	switch (reason) {
	case PB_OK:
		return PAM_SUCCESS;
	case PB_CONFIG:
		return PAM_SERVICE_ERR;
	case PB_JWKS_UNAVAILABLE:
		return PAM_AUTHINFO_UNAVAIL;
	default:
		return PAM_AUTH_ERR;
	}
}

static void
remember(pam_handle_t *pamh, const char *user, bool allowed)
{
	size_t len = user ? strlen(user) : 0;
	struct auth_result *res = malloc(sizeof(*res) + len + 1);

	/* Without the record acct_mgmt answers PAM_IGNORE, and a stack
	 * where every module ignores is denied: still fail-closed. */
	if (res == NULL)
		return;
	res->allowed = allowed;
	memcpy(res->user, user ? user : "", len + 1);
	if (pam_set_data(pamh, RESULT_KEY, res, cleanup_result) != PAM_SUCCESS)
		free(res);
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	struct pb_audit_event ev = { .reason = PB_CONFIG };
	struct pb_authn res = { .rule = NULL };
	enum pb_audit_format format = PB_AUDIT_LOGFMT;
	int facility = LOG_AUTHPRIV;
	struct pb_policy *pol = NULL;
	const void *service = NULL, *rhost = NULL;
	struct options opt;
	struct pb_error err;
	const char *user = NULL, *tok;
	pb_session_entry_fn session;
	long long now;
	size_t len;
	char detail[sizeof(res.detail) + sizeof(res.keys_note) + 16] = "";

	(void)flags;
	(void)pam_get_item(pamh, PAM_SERVICE, &service);
	(void)pam_get_item(pamh, PAM_RHOST, &rhost);
	ev.service = service;
	ev.rhost = rhost;
	/* The backend's process id: the audit line joins PostgreSQL's log
	 * (%p) and pg_stat_activity. */
	ev.pid = (long)getpid();

	if (parse_args(argc, argv, &opt, detail, sizeof(detail)) != 0)
		goto done;
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    user[0] == '\0') {
		snprintf(detail, sizeof(detail), "no user (role) given");
		user = NULL;
		ev.reason = PB_MALFORMED;
		goto done;
	}
	ev.role = user;
	if (pb_policy_load_for(opt.config, user, &pol, &err) != 0) {
		snprintf(detail, sizeof(detail), "policy not loaded: %s",
		    err.text);
		goto done;
	}
	format = pb_policy_config(pol)->audit.format;
	facility = pb_policy_config(pol)->audit.facility;
	if ((tok = get_token(pamh, &opt, detail, sizeof(detail))) == NULL) {
		ev.reason = PB_MALFORMED;
		goto done;
	}
	if ((len = strnlen(tok, AUTHTOK_SCAN_MAX + 1)) > AUTHTOK_SCAN_MAX) {
		snprintf(detail, sizeof(detail), "password longer than %d "
		    "bytes", AUTHTOK_SCAN_MAX);
		ev.reason = PB_MALFORMED;
		goto done;
	}
	/* In a PostgreSQL backend with pg_buildkite loaded, the session
	 * this login opens is handed to it, which can end it. */
	session = pb_session_entry();
	now = (long long)time(NULL);
	ev.reason = pb_authn_run(pol, tok, len, user, rhost, now,
	    session != NULL, NULL, NULL, &res);
	if (ev.reason == PB_OK && session != NULL)
		ev.reason = pb_session_handoff(session, pol, &res, user,
		    service, rhost, now, res.detail, sizeof(res.detail));
	ev.kid = res.info.kid;
	ev.claims = res.info.claims;
	ev.rule = res.rule;
	/* A login that worked on stale keys, or past a broken cache, says so
	 * too: that is what the host's operator must hear about. */
	if (res.keys_note[0] == '\0')
		snprintf(detail, sizeof(detail), "%s", res.detail);
	else if (ev.reason == PB_OK)
		snprintf(detail, sizeof(detail), "keys: %s", res.keys_note);
	else
		snprintf(detail, sizeof(detail), "%s (keys: %s)", res.detail,
		    res.keys_note);
	/* A token PgBouncer cut fails as malformed or by its signature,
	 * which sends the reader the wrong way: say where to look. The
	 * reason stays what the verifier found. */
	if (pb_pooler_may_have_cut(ev.reason, len))
		add_pooler_note(detail, sizeof(detail));
done:
	if (detail[0] != '\0')
		ev.detail = detail;
	if (opt.debug && ev.reason != PB_OK)
		pam_syslog(pamh, LOG_DEBUG, "denied (%s): %s",
		    pb_reason_name(ev.reason), detail);
	pb_audit_emit(&ev, format, facility);
	remember(pamh, user, ev.reason == PB_OK);
	pb_authn_clear(&res);
	pb_policy_free(pol);
	return pam_code(ev.reason);
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const struct auth_result *res = NULL;
	const void *data = NULL;
	const char *user = NULL;

	(void)flags;
	(void)argc;
	(void)argv;
	if (pam_get_data(pamh, RESULT_KEY, &data) != PAM_SUCCESS ||
	    data == NULL)
		return PAM_IGNORE;
	res = data;
	if (!res->allowed)
		return PAM_PERM_DENIED;
	/* The verdict was for one role; a user changed since then is not
	 * covered by it. */
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    strcmp(user, res->user) != 0)
		return PAM_PERM_DENIED;
	return PAM_SUCCESS;
}
