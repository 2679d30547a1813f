#!/bin/sh
# test_pgbouncer.sh - examples/pgbouncer/ as shipped, in front of a real
# PostgreSQL: PgBouncer (auth_type = pam, TLS required) runs PAM with the
# example service file and the example policy (jwks.writer: tool, the
# cache filled by pam-buildkite jwks fetch), and psql logs in through it.
#
# The example files are copied with sed changing only ports, paths, the
# policy's audience and lifetime, and the system user PgBouncer runs as,
# so that what is tested is what the package ships. PgBouncer runs as
# nobody with the pam_confdir and syslog_capture shims, as the server of
# test_postgres.sh does: /etc/pam.d is never touched.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

EX="$top_srcdir/examples/pgbouncer"
[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
[ -x "$TOOL" ] || skip_all "pam-buildkite not built"
require_postgres
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$PGBOUNCER" ] || skip_all "pgbouncer not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
# jwks.writer: tool needs a cache PgBouncer's user cannot write: root's.
[ "$(id -u)" = 0 ] ||
	skip_all "needs root (the JWKS cache of jwks.writer: tool is root's, PgBouncer runs as nobody)"

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
mkdir -p "$TMP/issuer" "$TMP/cache" "$TMP/replay" "$TMP/bouncer" &&
	cp "$TMP/jwks.json" "$TMP/issuer/" ||
	{ echo "Bail out! cannot make directories"; exit 1; }
jwks_server_start "$TMP/issuer" ||
	{ echo "Bail out! the JWKS issuer did not start"; exit 1; }

# The example policy: the test issuer instead of Buildkite's, private
# directories, and the test tokens' audience and day-long lifetime.
POLICY="$TMP/policy.yaml"
sed -e "s|postgres://db.example.com|postgres://db.test|" \
	-e "s|max_lifetime: 10m|max_lifetime: 1d|" \
	-e "s|/var/lib/pam_buildkite/replay|$TMP/replay|" \
	-e "s|https://agent.buildkite.com/.well-known/jwks|$JWKS_URL\\
  ca_file: $TMP/issuer/ca.pem|" \
	-e "s|/var/cache/pam_buildkite|$TMP/cache|" \
	"$EX/policy.yaml" >"$POLICY"
grep -q "url: $JWKS_URL" "$POLICY" && grep -q 'writer: tool' "$POLICY" &&
	grep -q 'login_fetch: false' "$POLICY" ||
	{ echo "Bail out! examples/pgbouncer/policy.yaml changed shape"; exit 1; }

# --------------------------------------------------------- the servers

# The server: the example's pg_hba.conf line (plus app_owner, a role the
# policy does not grant, so that only PAM can refuse it) and its
# pg_ident.conf map for nobody, the user PgBouncer runs as here.
PG_HBA_EXTRA=$(sed -e '/^#/d' -e '/^$/d' \
	-e 's/ci_reader,api_migrator/ci_reader,api_migrator,app_owner/' \
	"$EX/pg_hba.conf")
pg_start "$POLICY" || { echo "Bail out! PostgreSQL did not start"; exit 1; }
{
	sed -e '/^#/d' -e '/^$/d' -e 's/ postgres / nobody /' "$EX/pg_ident.conf"
	echo "pgbouncer nobody app_owner"
} >>"$DATA/pg_ident.conf"
admin() {
	psql -X -w -At -h "$TMP/pg" -p "$PORT" -U admin -d postgres -c "$1" 2>&1
}
admin "create role api_migrator login; create role ci_reader login;
	create role app_owner login; select pg_reload_conf();" >/dev/null ||
	{ echo "Bail out! cannot create roles"; exit 1; }

# The cache, written by root as the example's timer does.
chmod 755 "$TMP/cache"
chown nobody "$TMP/replay" && chmod 700 "$TMP/replay"
out=$("$TOOL" jwks fetch -c "$POLICY" 2>&1) ||
	{ echo "Bail out! pam-buildkite jwks fetch: $out"; exit 1; }

# PgBouncer: the example ini, PAM service file and a throwaway
# certificate.
B="$TMP/bouncer"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-keyout "$B/pgbouncer.key" -out "$B/pgbouncer.crt" >/dev/null 2>&1 ||
	{ echo "Bail out! openssl cannot make a certificate"; exit 1; }
sed -e "s|pam_buildkite.so|$TMP/lib/pam_buildkite.so|" \
	-e "s|/etc/pam_buildkite/policy.yaml|$POLICY|" \
	"$EX/pam.d/pgbouncer" >"$TMP/pam.d/pgbouncer"
LOG="$B/syslog"
: >"$LOG"
chmod 666 "$LOG"
chown -R nobody "$B"
chmod -R a+rX "$TMP"

# bouncer_start : PgBouncer on 127.0.0.1:$BPORT as nobody; stopped on
# exit. The port comes from the pid; when another test holds it, the
# next few are tried.
bouncer_start() {
	try=0
	while :; do
		BPORT=$((40000 + ($$ + try * 7919) % 20000))
		sed -e "s|host=/var/run/postgresql port=5432 dbname=app|host=$TMP/pg port=$PORT dbname=postgres|" \
			-e "s|^listen_addr = \*|listen_addr = 127.0.0.1|" \
			-e "s|^listen_port = 6432|listen_port = $BPORT|" \
			-e "s|/var/run/postgresql|$B|" \
			-e "s|/var/log/postgresql|$B|" \
			-e "s|/etc/pgbouncer|$B|" \
			"$EX/pgbouncer.ini" >"$B/pgbouncer.ini"
		: >"$B/pgbouncer.log"
		chown nobody "$B/pgbouncer.ini" "$B/pgbouncer.log"
		as_server env \
			LD_PRELOAD="$TMP/lib/pam_confdir.so $TMP/lib/syslog_capture.so" \
			PB_PAM_CONFDIR="$TMP/pam.d" PB_SYSLOG_CAPTURE="$LOG" \
			"$PGBOUNCER" -d -q "$B/pgbouncer.ini" >"$B/start.err" 2>&1
		for _ in $(seq 50); do
			grep -q 'process up' "$B/pgbouncer.log" && break
			grep -q 'FATAL' "$B/pgbouncer.log" && break
			sleep 0.1
		done
		if grep -q 'process up' "$B/pgbouncer.log"; then
			cleanup="$cleanup kill \$(cat '$B/pgbouncer.pid') 2>/dev/null;"
			return 0
		fi
		try=$((try + 1))
		[ $try -lt 5 ] && grep -q 'Address already in use' "$B/pgbouncer.log" ||
			{ cat "$B/start.err" "$B/pgbouncer.log"; return 1; }
	done
}
bouncer_start || { echo "Bail out! PgBouncer did not start"; exit 1; }

# bl ROLE TOKEN [sslmode] : psql through PgBouncer with the token as
# password; sets rc and out (current_user and how the server session
# came in, or the error).
bl() {
	: >"$LOG"
	out=$(PGPASSWORD=$2 PGCONNECT_TIMEOUT=20 psql -X -w -At -F' ' \
		"host=127.0.0.1 port=$BPORT user=$1 dbname=app sslmode=${3:-require}" \
		-c "select current_user, coalesce(inet_client_addr()::text, 'socket')" 2>&1)
	rc=$?
}

# tok N [mint options] : a token with its own jti (tokens minted in one
# second would share the default one) and the organization_id the
# example policy pins; rtok N ...: the same from a test step, which the
# policy lets read.
tok() {
	n=$1
	shift
	mint --key "$TMP/rsa.pem" --kid rsa-1 --set "jti=\"pgb-$$-$n\"" \
		--set 'organization_id="0190b2c4-0000-7000-8000-00000000ac3e"' "$@"
}
rtok() {
	n=$1
	shift
	tok "$n" --set 'step_key="test"' "$@"
}

# ------------------------------------------------------------- logins

good=$(tok 1)
bl api_migrator "$good"
ok "$([ $rc -eq 0 ] && [ "$out" = "api_migrator socket" ]; echo $?)" \
	"a valid token through PgBouncer: a server session as api_migrator, over PgBouncer's socket ($out)"
audit_has "$LOG" '^authpriv\.notice <85> pam_buildkite\(pgbouncer:auth\): result=allow reason=ok role=api_migrator service=pgbouncer rhost=127\.0\.0\.1 .*rule="api migrations from main"'
ok $? "... audited as result=allow with service=pgbouncer and the client's address"
[ "$(grep -c 'pam_buildkite(' "$LOG")" -eq 1 ]
ok $? "... in exactly one audit line"

bl api_migrator "$good"
ok "$([ $rc -ne 0 ]; echo $?)" "the same token again is refused (token.single_use: one PAM call per client login)"
audit_has "$LOG" 'result=deny reason=replay role=api_migrator service=pgbouncer '
ok $? "... audited as reason=replay"

forged=$(mint --key "$TMP/evil.pem" --kid rsa-1 --set 'jti="pgb-forged"')
bl api_migrator "$forged"
ok "$([ $rc -ne 0 ]; echo $?)" "a token signed with a key not in the JWKS is refused"
echo "$out" | grep -q 'FATAL: *PAM authentication failed$'
ok $? "... the client reads PgBouncer's \"PAM authentication failed\" (no user name)"
audit_has "$LOG" 'result=deny reason=signature role=api_migrator service=pgbouncer rhost=127\.0\.0\.1 '
ok $? "... audited as reason=signature"

bl app_owner "$(tok 2)"
ok "$([ $rc -ne 0 ]; echo $?)" "a valid token for a role the policy does not grant is refused"
audit_has "$LOG" 'result=deny reason=no_rule role=app_owner service=pgbouncer '
ok $? "... audited as reason=no_rule"

ci=$(rtok 3 --set 'build_branch="feature/x"')
bl ci_reader "$ci"
ok "$([ $rc -eq 0 ] && [ "$out" = "ci_reader socket" ]; echo $?)" \
	"another role of the policy gets its own server role (ci_reader)"

# --- 32 clients at once, each with its own token
for i in $(seq 32); do
	rtok "p$i" >"$TMP/par.$i.tok"
done
: >"$LOG"
pids=""
for i in $(seq 32); do
	(PGPASSWORD=$(cat "$TMP/par.$i.tok") PGCONNECT_TIMEOUT=60 psql -X -w -At \
		"host=127.0.0.1 port=$BPORT user=ci_reader dbname=app sslmode=require" \
		-c "select current_user" >"$TMP/par.$i.out" 2>&1
	echo $? >"$TMP/par.$i.rc") &
	pids="$pids $!"
done
# Only the clients: a bare wait would wait for the JWKS issuer too.
wait $pids
n_ok=0
for i in $(seq 32); do
	[ "$(cat "$TMP/par.$i.rc")" = 0 ] &&
		[ "$(cat "$TMP/par.$i.out")" = ci_reader ] && n_ok=$((n_ok + 1))
done
got="$n_ok of 32 logged in; $(cat "$TMP/par.1.out" | head -n 1)"
ok "$([ "$n_ok" -eq 32 ]; echo $?)" "32 parallel logins with distinct tokens all get a session"
n_allow=$(grep -c 'result=allow reason=ok role=ci_reader service=pgbouncer ' "$LOG")
got="$n_allow allow lines"
ok "$([ "$n_allow" -eq 32 ]; echo $?)" "... with one result=allow audit line each"

# --- PgBouncer cuts passwords at 2,047 bytes without a word
long=$(tok 4 --set "pad=\"$(head -c 1200 /dev/zero | tr '\0' x)\"")
got="a token of ${#long} bytes"
ok "$([ ${#long} -ge 2048 ] && [ ${#long} -lt 4000 ]; echo $?)" \
	"a padded token is 2,048 bytes or more (${#long})"
bl api_migrator "$long"
ok "$([ $rc -ne 0 ]; echo $?)" "... and is refused through PgBouncer"
audit_has "$LOG" 'result=deny reason=[a-z_]+ role=api_migrator service=pgbouncer .*detail="[^"]*a pooler may have cut the token"'
ok $? "... its audit line's detail says a pooler may have cut the token"

# A password packet larger than PgBouncer's packet buffer (pkt_buf,
# 4 KiB) never reaches PAM.
huge=$(tok 7 --set "pad=\"$(head -c 4000 /dev/zero | tr '\0' x)\"")
bl api_migrator "$huge"
ok "$([ $rc -ne 0 ] && [ ! -s "$LOG" ]; echo $?)" \
	"a token of ${#huge} bytes is refused by PgBouncer itself, with no audit line"
grep -q 'client sent partial pkt in startup phase' "$B/pgbouncer.log"
ok $? "... PgBouncer's log says the client sent a partial packet"

# --- no TLS, no token on the wire
bl api_migrator "$(tok 5)" disable
ok "$([ $rc -ne 0 ]; echo $?)" "a client without TLS is refused"
echo "$out" | grep -q 'SSL required'
ok $? "... with PgBouncer's \"SSL required\""
[ ! -s "$LOG" ]
ok $? "... before PAM runs (no audit line)"

# --- the documented set-up never waits on the network
echo hang >"$TMP/issuer/mode"
before=$(requests "$TMP/issuer")
bl api_migrator "$(tok 6)"
ok "$([ $rc -eq 0 ] && [ "$out" = "api_migrator socket" ]; echo $?)" \
	"with jwks.url hanging, a login through PgBouncer still succeeds (jwks.writer: tool reads the cache)"
got="$before requests before, $(requests "$TMP/issuer") after"
ok "$([ "$(requests "$TMP/issuer")" = "$before" ]; echo $?)" "... and the issuer was not asked"

# A made-up kid, once the cache is older than the 60 s after which a
# login with jwks.login_fetch true would refetch for it: anyone can send
# one, so it must not make a login wait.
for f in "$TMP/cache"/jwks-*.json; do
	python3 -c 'import json, sys, time
d = json.load(open(sys.argv[1])); d["fetched_at"] = int(time.time()) - 120
open(sys.argv[1], "w").write(json.dumps(d))' "$f"
done
bl api_migrator "$(mint --key "$TMP/evil.pem" --kid made-up --set 'jti="pgb-kid"')"
ok "$([ $rc -ne 0 ]; echo $?)" "a token naming a kid the cache lacks is refused"
audit_has "$LOG" 'result=deny reason=unknown_key role=api_migrator .*detail="[^"]*jwks.login_fetch: false: no refetch on a login'
ok $? "... as unknown_key, without a refetch (jwks.login_fetch: false)"
got="$before requests before, $(requests "$TMP/issuer") after"
ok "$([ "$(requests "$TMP/issuer")" = "$before" ]; echo $?)" "... and the issuer was not asked"
bl api_migrator "$(tok 7)"
ok "$([ $rc -eq 0 ]; echo $?)" "... while a valid token still logs in from the 120 s old cache"
echo ok >"$TMP/issuer/mode"

# --- the check of the example policy for a pooler
out=$("$TOOL" check -c "$POLICY" --user nobody --pooler --strict 2>&1)
rc=$?
ok "$([ $rc -eq 0 ] && ! echo "$out" | grep -q 'warning: --pooler'; echo $?)" \
	"pam-buildkite check --pooler --strict finds nothing to warn about in the example policy"
out=$("$TOOL" test -c "$POLICY" "$EX/policy.tests.yaml" 2>&1)
ok "$([ $? -eq 0 ] && echo "$out" | tail -1 | grep -q '^[1-9][0-9]* passed, 0 failed$'; echo $?)" \
	"... and its cases file passes: $(echo "$out" | tail -1)"

grep -q 'pam_authenticate() failed: Authentication failure' "$B/pgbouncer.log"
ok $? "PgBouncer's log shows pam_authenticate() failed for refused tokens"
grep -q 'closing because: SSL required' "$B/pgbouncer.log"
ok $? "PgBouncer's log shows why the client without TLS was closed"

done_testing
