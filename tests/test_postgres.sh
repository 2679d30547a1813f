#!/bin/sh
# test_postgres.sh - real logins through a real PostgreSQL server.
#
# Starts a throwaway PostgreSQL as an unprivileged user with a pg_hba
# "pam" line whose service (in a private directory, so /etc/pam.d is not
# touched) loads the freshly built module, then logs in with psql and
# PGPASSWORD=token, and checks the audit line of each attempt.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
require_postgres

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
write_policy "$TMP/policy.yaml"
pg_start "$TMP/policy.yaml" || { echo "Bail out! PostgreSQL did not start"; exit 1; }
LOG="$PB_SYSLOG"
psql -h "$TMP/pg" -p "$PORT" -U admin -d postgres -q -v ON_ERROR_STOP=1 -c \
	"create role api_migrator login; create role ci_reader login;
	 create role ci_api login; create role api_admin login;
	 create role app_owner login; create role ops_local login;
	 create role ops_vpn login;" >/dev/null ||
	{ echo "Bail out! cannot create roles"; exit 1; }

# login ROLE TOKEN : psql over TCP with the token as password; sets rc
# and out (the role the session runs as, or the error).
login() {
	: >"$LOG"
	out=$(PGPASSWORD=$2 PGCONNECT_TIMEOUT=20 psql -X -w -At \
		"host=127.0.0.1 port=$PORT user=$1 dbname=postgres" \
		-c "select current_user" 2>&1)
	rc=$?
}

good=$(mint --key "$TMP/rsa.pem" --kid rsa-1)
login api_migrator "$good"
ok "$([ $rc -eq 0 ] && [ "$out" = api_migrator ]; echo $?)" \
	"psql with a valid token gets a session as api_migrator ($out)"
audit_has "$LOG" '^authpriv\.notice <85> pam_buildkite\(pbtest:auth\): result=allow reason=ok role=api_migrator service=pbtest rhost=127\.0\.0\.1 org=acme-inc pipeline=api branch=main tag=null step=migrate .*rule="api migrations from main"'
ok $? "... and the allow is audited with rhost, claims and rule"
[ "$(grep -c 'pam_buildkite(' "$LOG")" -eq 1 ]
ok $? "... in exactly one audit line"

# The audit line names the backend that ran the login, as PostgreSQL's
# own log (%p) and pg_stat_activity do.
: >"$LOG"
bpid=$(PGPASSWORD=$good psql -X -w -At \
	"host=127.0.0.1 port=$PORT user=api_migrator dbname=postgres" \
	-c "select pg_backend_pid()" 2>&1)
apid=$(sed -n 's/.*pam_buildkite(pbtest:auth): result=allow .* pid=\([0-9]*\)$/\1/p' "$LOG")
got="backend $bpid, audit pid=${apid:-none}"
ok "$([ -n "$apid" ] && [ "$apid" = "$bpid" ]; echo $?)" \
	"... the audit line's pid= is the session's pg_backend_pid() ($bpid)"

ec=$(mint --key "$TMP/ec.pem" --kid ec-1)
login ci_reader "$ec"
ok "$([ $rc -eq 0 ] && [ "$out" = ci_reader ]; echo $?)" \
	"an ES256 token gets a session as ci_reader"

login ci_api "$good"
ok "$([ $rc -eq 0 ] && [ "$out" = ci_api ]; echo $?)" \
	"the role template ci_{pipeline_slug} gets a session as ci_api"

login app_owner "$good"
ok "$([ $rc -ne 0 ]; echo $?)" "a role outside the policy is refused"
echo "$out" | grep -q 'PAM authentication failed for user "app_owner"'
ok $? "... with PostgreSQL's PAM authentication failure"
audit_has "$LOG" '^authpriv\.warning <84> pam_buildkite\(pbtest:auth\): result=deny reason=no_rule role=app_owner service=pbtest rhost=127\.0\.0\.1 '
ok $? "... audited as reason=no_rule"

login api_admin "$good"
ok "$([ $rc -ne 0 ]; echo $?)" "a deny rule refuses api_admin from a UI build"
audit_has "$LOG" 'result=deny reason=denied role=api_admin .*rule="never from UI builds"'
ok $? "... audited as reason=denied"

login ops_local "$good"
ok "$([ $rc -eq 0 ] && [ "$out" = ops_local ]; echo $?)" \
	"a from: 127.0.0.0/8 rule admits a login from 127.0.0.1"
audit_has "$LOG" 'result=allow reason=ok role=ops_local service=pbtest rhost=127\.0\.0\.1 .*rule="ops on this host"'
ok $? "... audited with the rule"
login ops_vpn "$good"
ok "$([ $rc -ne 0 ]; echo $?)" "a from: 10.0.0.0/8 rule refuses a login from 127.0.0.1"
audit_has "$LOG" 'result=deny reason=no_rule role=ops_vpn service=pbtest rhost=127\.0\.0\.1 '
ok $? "... audited as reason=no_rule"

forged=$(mint --key "$TMP/evil.pem" --kid rsa-1)
login api_migrator "$forged"
ok "$([ $rc -ne 0 ]; echo $?)" "a forged token is refused"
audit_has "$LOG" 'result=deny reason=signature role=api_migrator service=pbtest rhost=127\.0\.0\.1 kid=rsa-1 '
ok $? "... audited as reason=signature without unverified claims"

expired=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --expired)
login api_migrator "$expired"
ok "$([ $rc -ne 0 ]; echo $?)" "an expired token is refused"
audit_has "$LOG" 'result=deny reason=expired role=api_migrator '
ok $? "... audited as reason=expired"

none=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --alg none)
login api_migrator "$none"
ok "$([ $rc -ne 0 ]; echo $?)" "an alg none token is refused"
audit_has "$LOG" 'reason=algorithm'
ok $? "... audited as reason=algorithm"

login api_migrator "$good"
ok "$([ $rc -eq 0 ] && [ "$out" = api_migrator ]; echo $?)" \
	"the server still accepts valid logins after the refusals"

grep -E -q 'terminated by signal|server process .* was terminated|terminating any other active server processes' \
	"$TMP/pg/server.log"
ok "$([ $? -ne 0 ]; echo $?)" "no backend crashed during the test"
grep -q 'pam_authenticate failed: Authentication failure' "$TMP/pg/server.log"
ok $? "the server log shows PAM_AUTH_ERR for refused tokens"

done_testing
