#!/bin/sh
# test_plugin_e2e.sh - a job as Buildkite runs it with the Buildkite
# plugin (postgres-login-buildkite-plugin): its environment hook, then
# the step's command, psql, logging in through pam_buildkite to a real
# PostgreSQL over TLS (verify-full), then its pre-exit hook. The agent is
# the plugin tests' stand-in, minting with pam-buildkite dry-run's
# issuer, which the server's policy names. What the job printed, its
# login and the audit line naming the job are in the log (diag).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

PLUGIN="$top_srcdir/postgres-login-buildkite-plugin"
[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$TOOL" ] || skip_all "pam-buildkite not built"
command -v bash >/dev/null || skip_all "bash not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
require_postgres

mkdir -p "$TMP/dry" && "$TOOL" dry-run key "$TMP/dry" >/dev/null ||
	{ echo "Bail out! pam-buildkite dry-run key failed"; exit 1; }
cat >"$TMP/policy.yaml" <<EOF
version: 1
token:
  issuer: https://pam-buildkite.invalid/dry-run
  audience: postgres://localhost
  organization: acme-inc
jwks:
  file: $TMP/dry/dry-run.jwks.json
rules:
  - name: no privileged logins from builds started by hand
    effect: deny
    pipeline: "*"
    source: [ui, api]
    roles: [api_migrator]
  - name: api migrations from main
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator]
EOF
PG_TLS=1 pg_start "$TMP/policy.yaml" || { echo "Bail out! PostgreSQL did not start"; exit 1; }
psql -X -q -h "$TMP/pg" -p "$PORT" -U admin -d postgres \
	-c "create role api_migrator login" >/dev/null ||
	{ echo "Bail out! cannot create the role"; exit 1; }

# job STEP SOURCE : the hooks and the command of a job of step STEP of
# pipeline api on main, started by SOURCE; sets rc and out (what the job
# printed), and job_id to the job the token names.
job() {
	mkdir -p "$TMP/stub" "$TMP/jobtmp"
	out=$(env -i PATH="$PLUGIN/tests/stub:$PATH" HOME="$TMP" \
		TMPDIR="$TMP/jobtmp" STUB_DIR="$TMP/stub" \
		STUB_MINT="'$TOOL' dry-run token --key '$TMP/dry/dry-run.key' --aud \"\$AUDIENCE\" --org acme-inc --pipeline api --branch main --step $1 --source $2 --lifetime \"\$LIFETIME\" 2>/dev/null" \
		BUILDKITE_PLUGIN_POSTGRES_LOGIN_AUDIENCE=postgres://localhost \
		BUILDKITE_PLUGIN_POSTGRES_LOGIN_USER=api_migrator \
		BUILDKITE_PLUGIN_POSTGRES_LOGIN_HOST=localhost \
		BUILDKITE_PLUGIN_POSTGRES_LOGIN_PORT="$PORT" \
		BUILDKITE_PLUGIN_POSTGRES_LOGIN_DATABASE=postgres \
		BUILDKITE_PLUGIN_POSTGRES_LOGIN_SSLROOTCERT="$PG_CA" \
		bash -c '
		set -e
		. "$0/hooks/environment"
		echo "+ psql -c \"select current_user, ssl from pg_stat_ssl ...\""
		rc=0
		psql -X -w -At -c "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()" 2>&1 || rc=$?
		echo "psql exit $rc"
		"$0/hooks/pre-exit"
		ls -A "$TMPDIR"
		' "$PLUGIN" 2>&1)
	rc=$?
}

: >"$PB_SYSLOG"
job migrate webhook
printf '%s\n' "$out" | sed 's/^/job: /' | while IFS= read -r l; do diag "$l"; done
line=$(grep 'pam_buildkite(' "$PB_SYSLOG")
diag "audit: $line"
ok "$([ $rc -eq 0 ] && echo "$out" | grep -qx 'api_migrator|t' &&
	echo "$out" | grep -qx 'psql exit 0'; echo $?)" \
	"the migrate step's job logs in as api_migrator over TLS with the plugin's token, psql given no password"
echo "$line" | grep -Eq 'result=allow reason=ok role=api_migrator service=pbtest rhost=127\.0\.0\.1 org=acme-inc pipeline=api branch=main tag=null step=migrate build=1 job=[0-9a-f-]{36} agent=[0-9a-f-]{36} source=webhook .*rule="api migrations from main"'
ok $? "... and the audit line names the job, its pipeline, branch and step"
[ -z "$(ls -A "$TMP/jobtmp")" ]
ok $? "... and after pre-exit no pass file is left"
t=$(cat "$TMP/stub/redacted" 2>/dev/null)
[ -n "$t" ] && ! echo "$out" | grep -qF "$t" && ! grep -qF "$t" "$TMP/pg/server.log"
ok $? "... the token was given to the redactor, and neither the job nor the server printed it"

: >"$PB_SYSLOG"
job migrate ui
ok "$([ $rc -eq 0 ] && echo "$out" | grep -q 'FATAL: *PAM authentication failed for user "api_migrator"' &&
	grep -q 'result=deny reason=denied role=api_migrator .*source=ui ' "$PB_SYSLOG"; echo $?)" \
	"the same step started in the UI: the token is refused by the policy (reason=denied)"

done_testing
