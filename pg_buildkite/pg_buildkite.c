/*
 * pg_buildkite.c - the PostgreSQL extension's entry: loaded by the
 * postmaster (shared_preload_libraries = 'pg_buildkite'), it defines the
 * session's settings, asks for its shared memory and its sweeper, and
 * maps pam_buildkite.so once so that no backend pays to load it.
 */
#include "postgres.h"

#include <dlfcn.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "pg_buildkite.h"

PG_MODULE_MAGIC;

void _PG_init(void);

/* What the session's settings hold: set once, at login, and only by
 * handoff.c. PostgreSQL's GUC machinery owns them, as every module's. */
static char *pgbk_pipeline, *pgbk_branch, *pgbk_step, *pgbk_build,
	*pgbk_job, *pgbk_rule;
static char *pgbk_pam_module;
static bool preloaded;

static shmem_request_hook_type prev_shmem_request;
static shmem_startup_hook_type prev_shmem_startup;

static void
shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	pgbk_slots_request();
}

static void
shmem_startup(void)
{
	if (prev_shmem_startup)
		prev_shmem_startup();
	pgbk_slots_startup();
}

/* PGC_INTERNAL: SET, set_config(), ALTER ROLE/DATABASE ... SET, ALTER
 * SYSTEM, postgresql.conf and a startup packet's options all fail with
 * "cannot be changed"; only this library, at login, sets them. */
static void
define_fact(const char *name, const char *what, char **var)
{
	DefineCustomStringVariable(name, what, "Set at login by pg_buildkite "
	    "from the verified Buildkite token; empty for other sessions.",
	    var, "", PGC_INTERNAL, GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
	    NULL, NULL, NULL);
}

/* The postmaster maps the module and its libraries once; a backend's
 * pam_start then finds them loaded (dlopen matches the file) instead of
 * reading and relocating them on every connection. A module that cannot
 * be mapped costs only that saving, never a login. */
static void
preload_pam_module(void)
{
	if (pgbk_pam_module == NULL || pgbk_pam_module[0] == '\0')
		return;
	if (dlopen(pgbk_pam_module, RTLD_NOW | RTLD_LOCAL) == NULL)
		ereport(WARNING, (errmsg("pg_buildkite: could not preload "
		    "\"%s\": %s", pgbk_pam_module, dlerror()),
		    errhint("Set pg_buildkite.pam_module to the path "
		    "/etc/pam.d names, or to '' to preload nothing.")));
}

void
_PG_init(void)
{
	define_fact("buildkite.pipeline", "The Buildkite pipeline (slug) of "
	    "the job that opened this session.", &pgbk_pipeline);
	define_fact("buildkite.branch", "The branch of that job's build.",
	    &pgbk_branch);
	define_fact("buildkite.step", "The key of that job's step.",
	    &pgbk_step);
	define_fact("buildkite.build_number", "The number of that job's "
	    "build.", &pgbk_build);
	define_fact("buildkite.job_id", "The id of that job.", &pgbk_job);
	define_fact("buildkite.rule", "The policy rule that allowed the "
	    "login.", &pgbk_rule);
	MarkGUCPrefixReserved("buildkite");
	/* Everything else needs the postmaster: without it no module can
	 * hand over a session, and CREATE EXTENSION says so. */
	if (!process_shared_preload_libraries_in_progress)
		return;
	preloaded = true;
	DefineCustomStringVariable("pg_buildkite.pam_module",
	    "The PAM module the postmaster maps for every backend.", NULL,
	    &pgbk_pam_module, PB_PAM_MODULE_PATH, PGC_POSTMASTER, 0,
	    NULL, NULL, NULL);
	MarkGUCPrefixReserved("pg_buildkite");
	preload_pam_module();
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	pgbk_handoff_init();
	pgbk_sweeper_register();
}

PG_FUNCTION_INFO_V1(pg_buildkite_preloaded);

/* Called by CREATE EXTENSION: the view and the settings mean something
 * only when every backend has the library from the postmaster. */
Datum
pg_buildkite_preloaded(PG_FUNCTION_ARGS)
{
	if (!preloaded)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		    errmsg("pg_buildkite must be loaded by the postmaster"),
		    errhint("Add 'pg_buildkite' to shared_preload_libraries "
		    "and restart PostgreSQL.")));
	PG_RETURN_VOID();
}
