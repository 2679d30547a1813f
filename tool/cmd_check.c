/*
 * cmd_check.c - "pam-buildkite check": validates a policy file the way
 * the module loads it, judging its includes as the module's user would,
 * prints its lint warnings, judges every other file a login reads
 * (check_files.c), and says whether logins use the compiled snapshot.
 * With --pooler it also says where a login behind a connection pooler
 * would wait on the network or be refused (pooler_warnings). Exit 0
 * valid, 1 invalid, a file logins would refuse, or (--strict) a warning
 * about the rules (policy_lint.c), 2 usage.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "check_files.h"
#include "jwks_cache.h"
#include "policy.h"
#include "tool.h"
#include "trusted_file.h"

/* A lint warning: of a rule, at its file:line:column, or of the whole
 * policy (rule NULL), at the policy's path (*ctx). */
static void
lint_warning(void *ctx, const char *rule, const char *where,
    const char *warning)
{
	fputs("warning: ", stderr);
	put_text(stderr, where != NULL ? where : *(const char **)ctx);
	if (rule != NULL) {
		fputs(": rule ", stderr);
		put_quoted(stderr, rule);
	}
	fputs(": ", stderr);
	put_text(stderr, warning);
	fputc('\n', stderr);
}

/*
 * PgBouncer runs every PAM conversation in one worker thread: while one
 * login waits on the network, no other client of the pooler logs in. A
 * login waits on the network when the module fetches the JWKS itself,
 * which jwks_cache.c does for jwks.url with writer: module whenever the
 * cache is stale, with writer: tool when the cache is unusable, older
 * than max_stale, or lacks a token's kid once the cache is
 * PB_JWKS_REFETCH_INTERVAL old (any client can make up a kid), and never
 * with jwks.login_fetch: false or jwks.file. Warnings only: the exit
 * status does not change.
 */
static void
pooler_warnings(const struct pb_config *cfg, uid_t uid)
{
	char why[PB_TRUST_WHY_MAX], life[32];

	if (cfg->session.lifetime != PB_LIFETIME_UNLIMITED)
		fprintf(stderr, "warning: --pooler: session.lifetime is %s: "
		    "behind a pooler no pg_buildkite extension can end the "
		    "session, so every login this policy allows is refused "
		    "(reason=config); set session.lifetime: unlimited, and "
		    "give the pooler's rules no session_lifetime\n",
		    pb_lifetime_text(cfg->session.lifetime, life,
		    sizeof(life)));
	if (cfg->jwks.file != NULL || cfg->jwks.url == NULL)
		return;
	if (cfg->jwks.writer == PB_WRITER_MODULE) {
		fprintf(stderr, "warning: --pooler: jwks.writer: module: a "
		    "login fetches jwks.url itself whenever the cache is "
		    "older than jwks.refresh (%llds), for up to jwks.timeout "
		    "(%llds); a pooler runs PAM in a single thread, so every "
		    "client's login stalls during that fetch; set "
		    "jwks.writer: tool and refresh the cache from a timer "
		    "(pam-buildkite jwks fetch, pam-buildkite-jwks.timer), "
		    "or use jwks.file\n", cfg->jwks.refresh,
		    cfg->jwks.timeout);
		return;
	}
	if (pb_cache_dir_judge(cfg, uid, why, sizeof(why)) != 0) {
		if (cfg->jwks.login_fetch)
			fprintf(stderr, "warning: --pooler: %s, so every login "
			    "fetches jwks.url itself, for up to jwks.timeout "
			    "(%llds); a pooler runs PAM in a single thread, so "
			    "every client's login stalls during that fetch; ",
			    why, cfg->jwks.timeout);
		else
			fprintf(stderr, "warning: --pooler: %s, and with "
			    "jwks.login_fetch: false every login is refused "
			    "(reason=jwks_unavailable); ", why);
		fprintf(stderr, "make the cache directory root's (root:root "
		    "0755) and fill it with pam-buildkite jwks fetch\n");
		return;
	}
	if (cfg->jwks.login_fetch) {
		fprintf(stderr, "warning: --pooler: jwks.login_fetch is true: "
		    "a login fetches jwks.url, for up to jwks.timeout (%llds) "
		    "while every other client waits, when the cache is older "
		    "than jwks.max_stale (%llds) or, once the cache is %ds "
		    "old, for a token whose kid it lacks, which any client "
		    "can make up; set jwks.login_fetch: false\n",
		    cfg->jwks.timeout, cfg->jwks.max_stale,
		    PB_JWKS_REFETCH_INTERVAL);
		return;
	}
	printf("note: --pooler: no login waits on the network: logins read "
	    "the cache pam-buildkite jwks fetch keeps and are refused "
	    "(jwks_unavailable) once it is older than jwks.max_stale "
	    "(%llds), and a token of a new key (unknown_key) until the next "
	    "fetch: run the timer more often than jwks.refresh (%llds)\n",
	    cfg->jwks.max_stale, cfg->jwks.refresh);
}

int
cmd_check(int argc, char **argv)
{
	struct check_flags flags;
	struct pb_policy *pol;
	const char *path;
	uid_t uid;
	size_t n;
	int rc, lint;

	if ((rc = check_options(argc, argv, &path, &uid, &flags)) >= 0)
		return rc;
	if ((pol = load_policy(path, true, uid)) == NULL)
		return 1;
	permission_warnings(path);
	lint = pb_policy_lint(pol, lint_warning, &path);
	rc = check_files(pb_policy_config(pol), uid);
	if (flags.pooler)
		pooler_warnings(pb_policy_config(pol), uid);
	if (flags.strict && lint > 0) {
		fprintf(stderr, PROG ": %s: %d warning%s about the policy "
		    "(--strict)\n", path, lint, lint == 1 ? "" : "s");
		rc = 1;
	}
	if (rc != 0) {
		pb_policy_free(pol);
		return 1;
	}
	if (count_rules(pol, &n) == 0)
		printf("%s: ok (%zu rule%s)\n", path, n, n == 1 ? "" : "s");
	else
		printf("%s: ok\n", path);
	pb_policy_free(pol);
	snapshot_note(path, uid);
	return 0;
}
