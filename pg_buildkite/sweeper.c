/*
 * sweeper.c - the background worker that ends token sessions at their
 * deadline: once a second it signals every backend whose row
 * (slots.c) is past its session_ends_at. A backend cannot time itself:
 * PostgreSQL drops a backend's timers on every error it recovers from,
 * and a session that makes one would outlive its token.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

#include "pg_buildkite.h"

void pg_buildkite_sweeper_main(Datum arg) pg_attribute_noreturn();

#define SWEEP_MS 1000L

void
pgbk_sweeper_register(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS;
	w.bgw_start_time = BgWorkerStart_PostmasterStart;
	w.bgw_restart_time = 1;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "pg_buildkite");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "pg_buildkite_sweeper_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "pg_buildkite session sweeper");
	snprintf(w.bgw_type, BGW_MAXLEN, "pg_buildkite session sweeper");
	RegisterBackgroundWorker(&w);
}

static void
sweeper_gone(int code, Datum arg)
{
	(void)code;
	(void)arg;
	pgbk_sweeper_set(0);
}

void
pg_buildkite_sweeper_main(Datum arg)
{
	(void)arg;
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgbk_sweeper_set(MyProcPid);
	on_shmem_exit(sweeper_gone, (Datum)0);
	for (;;) {
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT |
		    WL_EXIT_ON_PM_DEATH, SWEEP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		pgbk_slots_sweep(GetCurrentTimestamp());
	}
}
