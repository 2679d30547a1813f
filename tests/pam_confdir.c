/*
 * pam_confdir.c - LD_PRELOAD shim of the PostgreSQL tests: the server's
 * pam_start reads its service files from $PB_PAM_CONFDIR instead of
 * /etc/pam.d (pam_start_confdir, Linux-PAM 1.4), so a test needs neither
 * root nor a file in /etc/pam.d.
 *
 * pam_wrapper does this for pamtester, but it copies the service
 * directory into one of 36 /tmp/pam.X directories per process: 64
 * concurrent backends run out of them or share one that another
 * backend's exit removes, and such a login fails before any module runs.
 * This shim keeps no state and makes no files.
 */
#include <stdlib.h>

#include <security/pam_appl.h>

int pam_start(const char *service, const char *user,
    const struct pam_conv *conv, pam_handle_t **pamh);

int
pam_start(const char *service, const char *user,
    const struct pam_conv *conv, pam_handle_t **pamh)
{
	/* NULL (unset) is libpam's own default */
	return pam_start_confdir(service, user, conv,
	    getenv("PB_PAM_CONFDIR"), pamh);
}
