/*
 * pam_askpass.c - the bench's floor for a PAM module that takes a
 * password: it asks for one, then allows.
 *
 * pam_permit never prompts, so a PostgreSQL login through it skips the
 * round trip every password method pays: the server's request for the
 * password, the client's answer, the backend reading it. This module
 * pays exactly that and nothing more, so the bench can say how much of
 * pam_buildkite's distance from pam_permit is the prompt and how much
 * is the module's own work. Benchmark code only; never installed.
 */
#include <stddef.h>

#include <security/pam_modules.h>
#include <security/pam_ext.h>

int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	const char *tok = NULL;

	(void)flags;
	(void)argc;
	(void)argv;
	if (pam_get_authtok(pamh, PAM_AUTHTOK, &tok, NULL) != PAM_SUCCESS ||
	    tok == NULL)
		return PAM_AUTH_ERR;
	return PAM_SUCCESS;
}

int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}
