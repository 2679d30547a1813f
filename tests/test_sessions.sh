#!/bin/sh
# test_sessions.sh - the pg_buildkite extension in a real PostgreSQL:
# the session's facts in buildkite.sessions and in its settings, that
# nobody can set them, lifetimes that end sessions (busy, idle, in an
# aborted transaction, at the token's exp), and a lifetime refused where
# no extension can enforce it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
[ -f "$PGEXT" ] || skip_all "pg_buildkite extension not built (postgresql-server-dev-15)"
[ -x "$MINT" ] || skip_all "mint-token not built"
require_postgres

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
pg_tree || { echo "Bail out! cannot make the server tree"; exit 1; }
POLICY="$TMP/policy.yaml"
cat >"$POLICY" <<POLICY
version: 1
token:
  audience: postgres://db.test
  organization: acme-inc
  max_lifetime: 1d
jwks:
  file: $TMP/jwks.json
rules:
  - name: api migrations from main
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator, ci_reader]
  - name: five seconds
    pipeline: api
    roles: [ci_short]
    session_lifetime: 5s
  - name: while the token lives
    pipeline: api
    roles: [ci_token]
    session_lifetime: token
POLICY

# login ROLE TOKEN SQL [conninfo] : psql over TCP with the token as
# password; sets rc and out.
login() {
	: >"$LOG"
	out=$(PGPASSWORD=$2 PGCONNECT_TIMEOUT=20 psql -X -w -At -v ON_ERROR_STOP=1 \
		"host=127.0.0.1 port=$PORT user=$1 dbname=postgres ${4:-}" \
		-c "$3" 2>&1)
	rc=$?
}
admin() {
	psql -X -w -At -h "$TMP/pg" -p "$PORT" -U admin -d postgres -c "$1" 2>&1
}
roles="create role api_migrator login; create role ci_reader login;
	create role ci_short login; create role ci_token login;
	grant pg_read_all_stats to api_migrator, ci_token;"
tok=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --set 'job_id="job-1"' \
	--set 'agent_id="agent-7"' --set 'jti="jti-1"')

# --- without the extension: a lifetime nobody enforces is refused
pg_start "$POLICY" || { echo "Bail out! PostgreSQL did not start"; exit 1; }
LOG="$PB_SYSLOG"
admin "$roles" >/dev/null || { echo "Bail out! cannot create roles"; exit 1; }
login ci_short "$tok" "select 1"
ok "$([ $rc -ne 0 ]; echo $?)" "without pg_buildkite, a rule with a session lifetime refuses the login"
audit_has "$LOG" 'result=deny reason=config role=ci_short .*rule="five seconds" detail="rule \\"five seconds\\" limits the session \(lifetime 5s\) but no pg_buildkite extension is loaded in this process'
ok $? "... audited as reason=config, saying what is missing"
login api_migrator "$tok" "select current_setting('buildkite.pipeline', true) is null"
ok "$([ $rc -eq 0 ] && [ "$out" = t ]; echo $?)" "... an unlimited rule logs in as before, with no session settings ($out)"
out=$(admin "create extension pg_buildkite")
echo "$out" | grep -q 'pg_buildkite must be loaded by the postmaster'
ok $? "CREATE EXTENSION refuses a server that did not preload it ($out)"
as_server "$PG_CTL" -D "$DATA" -m fast stop >/dev/null 2>&1
rm -rf "$TMP/pg"

# --- with the extension preloaded
PG_EXTRA_CONF="shared_preload_libraries = 'pg_buildkite'
pg_buildkite.pam_module = '$TMP/lib/pam_buildkite.so'"
pg_start "$POLICY" || { echo "Bail out! PostgreSQL with pg_buildkite did not start"; exit 1; }
LOG="$PB_SYSLOG"
admin "$roles create extension pg_buildkite;" >/dev/null ||
	{ echo "Bail out! cannot create roles and the extension"; exit 1; }
pm=$(head -1 "$DATA/postmaster.pid")
started=$(admin "select pg_postmaster_start_time()")
grep -q "$TMP/lib/pam_buildkite.so" "/proc/$pm/maps"
ok $? "the postmaster maps pam_buildkite.so (pg_buildkite.pam_module)"
# the postmaster's children's titles, from /proc (no ps in a minimal chroot)
got=$(for st in /proc/[0-9]*/stat; do
	[ "$(cut -d' ' -f4 "$st" 2>/dev/null)" = "$pm" ] &&
		tr '\0' ' ' <"${st%stat}cmdline" && echo
done 2>/dev/null)
echo "$got" | grep -q '^postgres: pg_buildkite session sweeper'
ok $? "the session sweeper runs"

login api_migrator "$tok" "select pid = pg_backend_pid(), role, pipeline, branch, step, build_number, job_id, agent_id, rule, jti, organization, authenticated_at <= now(), token_expires_at > now(), session_ends_at is null, a.usename from buildkite.sessions s join pg_stat_activity a using (pid) where pid = pg_backend_pid()"
got=$out
ok "$([ $rc -eq 0 ] && [ "$out" = "t|api_migrator|api|main|migrate|42|job-1|agent-7|api migrations from main|jti-1|acme-inc|t|t|t|api_migrator" ]; echo $?)" \
	"a token session has its row in buildkite.sessions, joined with pg_stat_activity"
audit_has "$LOG" 'result=allow reason=ok role=api_migrator .*job=job-1 .*rule="api migrations from main" pid=[0-9]+$'
ok $? "... and the login's audit line as before"
n=0
while [ $n -lt 20 ] && [ "$(admin "select count(*) from buildkite.sessions where role = 'api_migrator'")" != 0 ]; do
	sleep 0.5; n=$((n + 1))
done
got="rows left: $(admin "select count(*) from buildkite.sessions")"
ok "$([ "$(admin "select count(*) from buildkite.sessions")" = 0 ]; echo $?)" "... which goes when the session ends"

login api_migrator "$tok" "select current_setting('buildkite.pipeline', true), current_setting('buildkite.branch', true), current_setting('buildkite.step', true), current_setting('buildkite.build_number', true), current_setting('buildkite.job_id', true), current_setting('buildkite.rule', true)"
ok "$([ $rc -eq 0 ] && [ "$out" = "api|main|migrate|42|job-1|api migrations from main" ]; echo $?)" \
	"the session reads its facts with current_setting ($out)"
ok "$([ "$(admin "select current_setting('buildkite.pipeline', true) = '' and current_setting('buildkite.rule') = ''")" = t ]; echo $?)" \
	"... a session not opened by a token reads them empty"

# nobody can set them
for sql in "set buildkite.pipeline = 'web'" "set local buildkite.pipeline = 'web'" \
	"select set_config('buildkite.pipeline', 'web', false)" "reset buildkite.pipeline"; do
	login api_migrator "$tok" "$sql"
	got=$out
	ok "$([ $rc -ne 0 ] && echo "$out" | grep -q 'parameter "buildkite.pipeline" cannot be changed'; echo $?)" \
		"the token session cannot run: $sql"
done
for sql in "alter role ci_reader set buildkite.pipeline = 'api'" \
	"alter database postgres set buildkite.rule = 'x'" \
	"alter system set buildkite.pipeline = 'api'" \
	"set buildkite.job_id = 'x'"; do
	got=$(admin "$sql")
	ok "$(echo "$got" | grep -q 'cannot be changed'; echo $?)" "a superuser cannot run: $sql"
done
login ci_reader "$tok" "select 1" "options='-c buildkite.pipeline=web'"
got=$out
ok "$([ $rc -ne 0 ] && echo "$out" | grep -q 'cannot be changed'; echo $?)" \
	"a startup option setting buildkite.pipeline refuses the connection"
login ci_reader "$tok" "select 1" "options='-c buildkite.nonsense=1'"
got=$out
ok "$([ $rc -ne 0 ] && echo "$out" | grep -q 'buildkite'; echo $?)" \
	"... and so does an unknown buildkite.* setting (the prefix is reserved)"

# The entry point cannot be made a SQL function (it has no function
# information), so not even a superuser can hand in a session.
got=$(admin "create function fake_handoff() returns int as 'pg_buildkite', 'pg_buildkite_session_v1' language c")
echo "$got" | grep -q 'could not find function information for function "pg_buildkite_session_v1"'
ok $? "the handoff's entry point cannot be called from SQL"

login ci_reader "$tok" "select count(*) from buildkite.sessions"
got=$out
ok "$([ $rc -ne 0 ] && echo "$out" | grep -q 'permission denied'; echo $?)" \
	"a role without pg_read_all_stats cannot read buildkite.sessions"
login ci_reader "$tok" "select count(*) from buildkite.sessions()"
got=$out
ok "$([ $rc -ne 0 ] && echo "$out" | grep -q 'permission denied'; echo $?)" \
	"... nor call the function behind it"
admin "grant execute on function buildkite.sessions() to public" >/dev/null
login ci_reader "$tok" "select count(*) from buildkite.sessions()"
got=$out
ok "$([ $rc -ne 0 ] && echo "$out" | grep -q 'permission denied'; echo $?)" \
	"... not even when EXECUTE is granted to PUBLIC"

# a 5-second lifetime ends a busy session with a FATAL that says why
t0=$(date +%s)
login ci_short "$tok" "select pg_sleep(30)"
t1=$(date +%s)
got="rc $rc after $((t1 - t0))s: $out"
ok "$([ $rc -ne 0 ] && [ $((t1 - t0)) -lt 28 ]; echo $?)" \
	"session_lifetime: 5s ends pg_sleep(30) early ($((t1 - t0))s)"
echo "$out" | grep -q 'FATAL:  terminating connection because its Buildkite session expired'
ok $? "... with a FATAL message that says why"
n=0
while [ $n -lt 20 ] && ! audit_has "$LOG" 'reason=session_expired'; do sleep 0.5; n=$((n + 1)); done
[ "$(grep -c 'reason=session_expired' "$LOG")" -eq 1 ]
ok $? "... and exactly one session_expired audit line"
audit_has "$LOG" 'pam_buildkite\(pbtest:session\): result=end reason=session_expired role=ci_short service=pbtest rhost=127\.0\.0\.1 org=acme-inc pipeline=api branch=main step=migrate build=42 job=job-1 agent=agent-7 .*jti=jti-1 kid=rsa-1 rule="five seconds" detail="session lifetime 5s reached" duration=[0-9]+ pid=[0-9]+$'
ok $? "... with the login's fields, how long it lasted and its pid"
d=$(sed -n 's/.*reason=session_expired.* duration=\([0-9]*\) .*/\1/p' "$LOG")
got="duration=$d"
ok "$([ "${d:-0}" -ge 5 ] && [ "$d" -lt 28 ]; echo $?)" "... which is at least the lifetime ($d s)"

# idle in an aborted transaction: a backend that recovered from errors
# still ends (its own timers would have been dropped)
: >"$LOG"
# psql waits on a FIFO between its statements, so the session idles
# until the test lets it go on.
mkfifo "$TMP/go"
printf 'begin;\nselect 1/0;\nselect 1;\n\\! read x <%s\nselect 2;\n' "$TMP/go" |
	PGPASSWORD=$tok psql -X -w -At "host=127.0.0.1 port=$PORT user=ci_short dbname=postgres" \
	>"$TMP/idle.out" 2>&1 &
idle=$!
n=0
while [ $n -lt 60 ] && ! audit_has "$LOG" 'reason=session_expired role=ci_short'; do sleep 0.5; n=$((n + 1)); done
audit_has "$LOG" 'reason=session_expired role=ci_short'
ok $? "a session idle in an aborted transaction ends at its deadline too ($((n / 2))s)"
echo >"$TMP/go"
wait $idle
grep -q 'Buildkite session expired' "$TMP/idle.out"
ok $? "... and its client reads why when it goes on"

# token: the session ends at exp. The token lives 10 s; on a machine too
# slow to log in within that, a longer one is tried.
for life in 10 30 90; do
	short=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --lifetime $life)
	exp=$(( $(date +%s) + life ))
	login ci_token "$short" "select extract(epoch from session_ends_at)::bigint = extract(epoch from token_expires_at)::bigint from buildkite.sessions where pid = pg_backend_pid() union all select pg_sleep(200) is null"
	t1=$(date +%s)
	echo "$out" | grep -q 'Buildkite session expired' && break
done
got="rc $rc at $t1, exp about $exp: $out"
ok "$([ $rc -ne 0 ] && echo "$out" | grep -q 'Buildkite session expired' && [ "$t1" -ge $((exp - 1)) ] && [ "$t1" -lt $((exp + 60)) ]; echo $?)" \
	"session_lifetime: token ends the session at the token's exp"
audit_has "$LOG" 'reason=session_expired role=ci_token .*detail="session lifetime token reached"'
ok $? "... audited as session_expired"

# unlimited: a session outlives its token
for life in 3 10 30; do
	short=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --lifetime $life)
	login api_migrator "$short" "select pg_sleep($life + 2), session_ends_at is null from buildkite.sessions where pid = pg_backend_pid()"
	[ $rc -eq 0 ] && break
done
ok "$([ $rc -eq 0 ] && [ "$out" = "|t" ]; echo $?)" "an unlimited session outlives its token ($out)"

# An error inside the extension ends that one login: a token lifetime
# whose exp passed within the leeway is over before the session begins.
now=$(date +%s)
late=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --now $((now - 20)) --lifetime 10)
login ci_token "$late" "select 1"
got=$out
ok "$([ $rc -ne 0 ] && echo "$out" | grep -q 'Buildkite session expired'; echo $?)" \
	"a session whose token lifetime is already over ends at login, with the FATAL"
n=0
while [ $n -lt 20 ] && ! audit_has "$LOG" 'reason=session_expired role=ci_token .*duration=0'; do sleep 0.5; n=$((n + 1)); done
audit_has "$LOG" 'reason=session_expired role=ci_token .*duration=0'
ok $? "... audited as session_expired after 0 s"
login api_migrator "$tok" "select 1"
ok "$([ $rc -eq 0 ] && [ "$out" = 1 ]; echo $?)" "the server still takes logins"
ok "$([ "$(admin "select pg_postmaster_start_time()")" = "$started" ]; echo $?)" \
	"... and was never restarted"
grep -E -q 'terminated by signal|was terminated|terminating any other active server processes' \
	"$TMP/pg/server.log"
ok "$([ $? -ne 0 ]; echo $?)" "no backend crashed"

# Without its sweeper (no worker slot for it) the extension cannot end a
# session, and refuses to take one that must end.
echo "max_worker_processes = 0" >>"$DATA/postgresql.conf"
pg_restart >/dev/null || { echo "Bail out! PostgreSQL did not restart"; exit 1; }
login ci_short "$tok" "select 1"
ok "$([ $rc -ne 0 ]; echo $?)" "without the sweeper, a lifetime rule refuses the login"
audit_has "$LOG" 'result=deny reason=config role=ci_short .*the pg_buildkite extension refused the session: the session lifetime cannot be enforced: the pg_buildkite sweeper is not running'
ok $? "... audited as reason=config, saying why"
login api_migrator "$tok" "select pipeline from buildkite.sessions where pid = pg_backend_pid()"
ok "$([ $rc -eq 0 ] && [ "$out" = api ]; echo $?)" "... while an unlimited rule still opens its session ($out)"

done_testing
