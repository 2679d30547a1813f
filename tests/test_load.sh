#!/bin/sh
# test_load.sh - many concurrent psql logins through a real PostgreSQL.
#
# LOAD_CLIENTS (default 64) clients log in over and over for LOAD_SECONDS
# (default 60) seconds, each cycling through seven kinds of attempt:
#   valid    a good token for ci_reader, and one for api_migrator
#   invalid  a forged signature, an expired token, a wrong audience
#   denied   a good token for a role no rule grants, and one a deny rule
#            refuses
# Every attempt must get its right answer (a session as the role, or
# PostgreSQL's PAM authentication failure), the syslog capture must hold
# exactly one audit line per attempt with the result and reason of its
# kind, and the server log must show no backend killed by a signal.
#
# The server and the clients run at a lower CPU priority, so that tests
# running next to this one under make -j are not starved.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
require_postgres

: "${LOAD_SECONDS:=60}"
: "${LOAD_CLIENTS:=64}"
case "$LOAD_SECONDS$LOAD_CLIENTS" in
*[!0-9]*) echo "Bail out! LOAD_SECONDS and LOAD_CLIENTS must be integers"; exit 1 ;;
esac

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
write_policy "$TMP/policy.yaml"

# Connections for the clients plus a few for the checks below; lib.sh's
# pg_start appends PG_EXTRA_CONF to postgresql.conf.
PG_EXTRA_CONF="max_connections = $((LOAD_CLIENTS + 40))"
export PG_EXTRA_CONF
pg_start "$TMP/policy.yaml" || { echo "Bail out! PostgreSQL did not start"; exit 1; }
LOG="$PB_SYSLOG"
admin() {
	psql -X -h "$TMP/pg" -p "$PORT" -U admin -d postgres -q -At \
		-v ON_ERROR_STOP=1 -c "$1"
}
admin "create role api_migrator login; create role ci_reader login;
	create role api_admin login; create role app_owner login;" >/dev/null ||
	{ echo "Bail out! cannot create roles"; exit 1; }
maxconn=$(admin "show max_connections")
ok "$([ "${maxconn:-0}" -ge $((LOAD_CLIENTS + 10)) ]; echo $?)" \
	"max_connections ($maxconn) leaves room for $LOAD_CLIENTS clients"

# Backends inherit the postmaster's priority.
renice -n 10 -p "$(head -1 "$DATA/postmaster.pid")" >/dev/null 2>&1 ||
	diag "could not lower the server's priority"

# Tokens outlive the run: a day (lib.sh's mint and write_policy).
good=$(mint --key "$TMP/rsa.pem" --kid rsa-1)
forged=$(mint --key "$TMP/evil.pem" --kid rsa-1)
expired=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --expired)
wrongaud=$("$MINT" sign --aud postgres://other.test --org acme-inc \
	--key "$TMP/rsa.pem" --kid rsa-1 --lifetime "$TOKEN_LIFETIME")
[ -n "$good" ] && [ -n "$forged" ] && [ -n "$expired" ] && [ -n "$wrongaud" ] ||
	{ echo "Bail out! cannot mint tokens"; exit 1; }

# The kinds of attempt, and for each (pick KIND) the role and token it
# logs in with.
kinds="reader migrator forged expired audience norule denyrule"
pick() {
	tok=$good
	case $1 in
	reader) role=ci_reader ;;
	migrator) role=api_migrator ;;
	forged) role=api_migrator tok=$forged ;;
	expired) role=api_migrator tok=$expired ;;
	audience) role=api_migrator tok=$wrongaud ;;
	norule) role=app_owner ;;
	denyrule) role=api_admin ;;
	esac
}
# kind_audit KIND : the audit line each attempt of KIND must leave.
kind_audit() {
	case $1 in
	reader) echo 'result=allow reason=ok role=ci_reader .*rule="tests read anything"' ;;
	migrator) echo 'result=allow reason=ok role=api_migrator .*rule="api migrations from main"' ;;
	forged) echo 'result=deny reason=signature role=api_migrator service=pbtest rhost=127\.0\.0\.1 kid=rsa-1 ' ;;
	expired) echo 'result=deny reason=expired role=api_migrator ' ;;
	audience) echo 'result=deny reason=audience role=api_migrator ' ;;
	norule) echo 'result=deny reason=no_rule role=app_owner ' ;;
	denyrule) echo 'result=deny reason=denied role=api_admin .*rule="never from UI builds"' ;;
	esac
}
kind_allowed() { case $1 in reader | migrator) return 0 ;; esac; return 1; }

# answered_right KIND : psql's exit code $rc and output $out are what a
# login of KIND as $role must get: a session as the role, or PostgreSQL's
# PAM authentication failure (not a timeout or a full server).
answered_right() {
	if kind_allowed "$1"; then
		[ "$rc" -eq 0 ] && [ "$out" = "$role" ]
	else
		[ "$rc" -ne 0 ] && case $out in
		*"PAM authentication failed for user \"$role\""*) true ;;
		*) false ;;
		esac
	fi
}

# client N : logs in until $TMP/stop appears, starting at kind N mod 7
# so the clients spread over the kinds; appends "KIND right" or
# "KIND wrong OUTPUT" per attempt to $TMP/client.N.
client() {
	id=$1 i=$1
	while [ ! -e "$TMP/stop" ]; do
		set -- $kinds
		shift $((i % 7))
		kind=$1
		pick "$kind"
		out=$(PGPASSWORD=$tok PGCONNECT_TIMEOUT=30 psql -X -w -At \
			"host=127.0.0.1 port=$PORT user=$role dbname=postgres \
			sslmode=disable gssencmode=disable" \
			-c "select current_user" 2>&1)
		rc=$?
		if answered_right "$kind"; then
			echo "$kind right"
		else
			echo "$kind wrong $(echo "$out" | tr '\n' ' ')"
		fi
		i=$((i + 1))
	done >"$TMP/client.$id"
}

: >"$LOG"
start=$(date +%s)
pids=""
n=0
while [ $n -lt "$LOAD_CLIENTS" ]; do
	client $n &
	pids="$pids $!"
	n=$((n + 1))
done
renice -n 10 -p $pids >/dev/null 2>&1
sleep "$LOAD_SECONDS"
: >"$TMP/stop"
wait $pids
took=$(( $(date +%s) - start ))
cat "$TMP"/client.* >"$TMP/attempts"
total=$(wc -l <"$TMP/attempts")
diag "$LOAD_CLIENTS clients, ${took}s: $total attempts, $((total / (took > 0 ? took : 1))) per second"

# Every attempt got the right answer.
audited=$(grep -c 'pam_buildkite(' "$LOG")
allowed=0
refused=0
for kind in $kinds; do
	tries=$(grep -c "^$kind " "$TMP/attempts")
	right=$(grep -c "^$kind right\$" "$TMP/attempts")
	lines=$(grep -E -c "^authpriv\\.[a-z]+ <8[45]> pam_buildkite\\(pbtest:auth\\): $(kind_audit "$kind")" "$LOG")
	if kind_allowed "$kind"; then
		what="logged in"
		allowed=$((allowed + tries))
	else
		what="refused"
		refused=$((refused + tries))
	fi
	pick "$kind"
	diag "$kind ($role): $tries attempts, $right $what, $lines audit lines"
	ok "$([ "$tries" -gt 0 ] && [ "$right" -eq "$tries" ]; echo $?)" \
		"$kind: every attempt $what ($right of $tries)"
	[ "$right" -eq "$tries" ] ||
		grep "^$kind wrong " "$TMP/attempts" | sort | uniq -c | sort -rn |
		head -5 | sed 's/^/# /'
	ok "$([ "$lines" -eq "$tries" ]; echo $?)" \
		"$kind: one audit line with its result and reason per attempt ($lines)"
done
diag "valid: $allowed, invalid and denied: $refused, audit lines: $audited"
ok "$([ "$audited" -eq "$total" ]; echo $?)" \
	"exactly one audit line per attempt ($audited for $total)"
notice=$(grep -c '^authpriv\.notice <85> pam_buildkite(pbtest:auth): result=allow reason=ok ' "$LOG")
warning=$(grep -c '^authpriv\.warning <84> pam_buildkite(pbtest:auth): result=deny reason=' "$LOG")
ok "$([ "$notice" -eq "$allowed" ] && [ "$warning" -eq "$refused" ]; echo $?)" \
	"allows at authpriv.notice ($notice), denials at authpriv.warning ($warning)"

# The server's view: a session per valid attempt, a PAM failure per
# refused one, nothing turned away for lack of connections, no crash.
SLOG="$TMP/pg/server.log"
sessions=$(grep -E -c 'connection authorized: user=(ci_reader|api_migrator) ' "$SLOG")
failures=$(grep -c 'FATAL:  PAM authentication failed for user' "$SLOG")
ok "$([ "$sessions" -eq "$allowed" ] && [ "$failures" -eq "$refused" ]; echo $?)" \
	"the server log shows $sessions sessions and $failures PAM failures"
grep -q 'too many clients' "$SLOG"
ok "$([ $? -ne 0 ]; echo $?)" "no connection was turned away"
grep -E 'terminated by signal|server process .* was terminated|terminating any other active server processes' \
	"$SLOG" | head -5 | sed 's/^/# /'
grep -E -q 'terminated by signal|server process .* was terminated|terminating any other active server processes' \
	"$SLOG"
ok "$([ $? -ne 0 ]; echo $?)" "no backend was terminated by a signal"

done_testing
