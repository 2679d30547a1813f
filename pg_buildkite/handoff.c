/*
 * handoff.c - the session the module hands over (session_handoff.h):
 * taken while the client authenticates, opened once PostgreSQL has
 * accepted the login - its settings set, its row filled - and dropped
 * when PostgreSQL refuses it.
 */
#include "postgres.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "libpq/auth.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"

#include "pg_buildkite.h"
#include "policy_config.h"
#include "session_handoff.h"

int pg_buildkite_session_v1(const struct pb_session_facts *f, char *msg,
    size_t msglen);

static ClientAuthentication_hook_type prev_client_auth;

/* This backend's login: at most one is handed over, and none after
 * authentication ended (authenticated tells which). Plain memory: the
 * entry runs inside libpam, where a PostgreSQL error must not be
 * raised. */
static struct pgbk_session *pending;
static bool authenticated;

static void
free_session(struct pgbk_session *s)
{
	char **strs[] = { &s->role, &s->service, &s->rhost, &s->org,
	    &s->pipeline, &s->branch, &s->tag, &s->step, &s->job_id,
	    &s->agent_id, &s->source, &s->sub, &s->jti, &s->kid, &s->rule };
	size_t i;

	for (i = 0; i < lengthof(strs); i++)
		free(*strs[i]);
	free(s);
}

/* The facts' strings into s: 0, or -1 when out of memory. */
static int
copy_strings(struct pgbk_session *s, const struct pb_session_facts *f)
{
	const struct {
		const char *from;
		char **to;
	} strs[] = {
		{ f->role, &s->role }, { f->service, &s->service },
		{ f->rhost, &s->rhost }, { f->org, &s->org },
		{ f->pipeline, &s->pipeline }, { f->branch, &s->branch },
		{ f->tag, &s->tag }, { f->step, &s->step },
		{ f->job_id, &s->job_id }, { f->agent_id, &s->agent_id },
		{ f->source, &s->source }, { f->sub, &s->sub },
		{ f->jti, &s->jti }, { f->kid, &s->kid }, { f->rule, &s->rule },
	};
	size_t i;

	for (i = 0; i < lengthof(strs); i++)
		if (strs[i].from != NULL &&
		    (*strs[i].to = strdup(strs[i].from)) == NULL)
			return -1;
	return 0;
}

/* Copies the facts; NULL when out of memory. */
static struct pgbk_session *
copy_facts(const struct pb_session_facts *f)
{
	struct pgbk_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (copy_strings(s, f) < 0) {
		free_session(s);
		return NULL;
	}
	s->build_number = f->build_number;
	s->authenticated_at = f->authenticated_at;
	s->token_exp = f->token_exp;
	s->lifetime = f->lifetime;
	s->deadline = f->deadline;
	s->audit_format = f->audit_format;
	s->audit_facility = f->audit_facility;
	return s;
}

/* The module's entry (session_handoff.h). Only while this backend's
 * client authenticates: nothing that runs later - a function, another
 * library - can hand in a session of its own. */
int
pg_buildkite_session_v1(const struct pb_session_facts *f, char *msg,
    size_t msglen)
{
	/* Outside authentication nothing is touched, not even msg: the
	 * caller is not the module. */
	if (!ClientAuthInProgress || authenticated || MyProcPort == NULL)
		return -1;
	if (pending != NULL) {
		snprintf(msg, msglen, "this login already handed over a "
		    "session");
		return -1;
	}
	if (f == NULL || f->role == NULL || f->rule == NULL ||
	    f->deadline < 0) {
		snprintf(msg, msglen, "incomplete session facts");
		return -1;
	}
	if (f->deadline != 0 && !pgbk_sweeper_running()) {
		snprintf(msg, msglen, "the session lifetime cannot be enforced: "
		    "the pg_buildkite sweeper is not running (see the server "
		    "log; max_worker_processes?)");
		return -1;
	}
	if ((pending = copy_facts(f)) == NULL) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	return 0;
}

static void
set_fact(const char *name, const char *value)
{
	SetConfigOption(name, value != NULL ? value : "", PGC_INTERNAL,
	    PGC_S_OVERRIDE);
}

static void
open_session(Port *port, struct pgbk_session *s)
{
	char build[24] = "";

	/* the module allowed the role PAM was asked for, which is this
	 * login's; anything else is not this login's session */
	if (port->user_name == NULL || strcmp(s->role, port->user_name) != 0)
		ereport(FATAL, (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
		    errmsg("pg_buildkite: the session handed over is for role "
		    "\"%s\", not \"%s\"", s->role, port->user_name)));
	if (s->build_number >= 0)
		snprintf(build, sizeof(build), "%lld", s->build_number);
	set_fact("buildkite.pipeline", s->pipeline);
	set_fact("buildkite.branch", s->branch);
	set_fact("buildkite.step", s->step);
	set_fact("buildkite.build_number", build);
	set_fact("buildkite.job_id", s->job_id);
	set_fact("buildkite.rule", s->rule);
	pgbk_slot_fill(s);
	pgbk_expiry_init(s);
	/* a token lifetime accepted within the leeway may end before the
	 * session begins */
	if (s->deadline != 0 && s->deadline <= (long long)time(NULL))
		pgbk_expiry_fatal(s);
}

static void
client_auth(Port *port, int status)
{
	struct pgbk_session *s = pending;

	if (prev_client_auth)
		prev_client_auth(port, status);
	authenticated = true;
	if (s == NULL)
		return;
	if (status != STATUS_OK) {
		pending = NULL;
		free_session(s);
		return;
	}
	open_session(port, s);
}

void
pgbk_handoff_init(void)
{
	prev_client_auth = ClientAuthentication_hook;
	ClientAuthentication_hook = client_auth;
}
