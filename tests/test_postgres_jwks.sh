#!/bin/sh
# test_postgres_jwks.sh - keys from a live HTTPS JWKS through real
# PostgreSQL logins: the shared cache, its refresh under 32 concurrent
# logins, outages, key rotation, a hanging issuer, and that a login with
# a fresh cache never maps libcurl into the backend.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
require_postgres
command -v openssl >/dev/null || skip_all "openssl not installed"
[ -x /usr/bin/python3 ] || skip_all "python3 not installed"

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
mkdir -p "$TMP/issuer" "$TMP/cache"
cp "$TMP/jwks.json" "$TMP/issuer/jwks.json"
jwks_server_start "$TMP/issuer" || { echo "Bail out! no JWKS server"; exit 1; }
[ "$(id -u)" = 0 ] && chown nobody "$TMP/cache"

write_policy "$TMP/policy.yaml"
sed -i "s|^  file: .*|  url: $JWKS_URL\\
  ca_file: $TMP/issuer/ca.pem\\
  cache: $TMP/cache\\
  refresh: 1h\\
  max_stale: 1d\\
  timeout: 2s|" "$TMP/policy.yaml"
pg_start "$TMP/policy.yaml" || { echo "Bail out! PostgreSQL did not start"; exit 1; }
LOG="$PB_SYSLOG"
psql -h "$TMP/pg" -p "$PORT" -U admin -d postgres -q -c \
	"create role api_migrator login; create role ci_reader login;
	 grant pg_read_server_files to api_migrator;
	 grant execute on function pg_read_file(text) to api_migrator;" >/dev/null

login() { # login ROLE TOKEN [SQL]
	out=$(PGPASSWORD=$2 PGCONNECT_TIMEOUT=30 psql -X -w -At \
		"host=127.0.0.1 port=$PORT user=$1 dbname=postgres" \
		-c "${3:-select current_user}" 2>&1)
	rc=$?
}
cache_file() { ls "$TMP"/cache/jwks-*.json 2>/dev/null | head -1; }
# age_cache SECONDS : make the cache look fetched SECONDS ago.
age_cache() {
	f=$(cache_file)
	now=$(date +%s)
	sed -i "s/\"fetched_at\": *[0-9]*/\"fetched_at\":$((now - $1))/" "$f"
}

good=$(mint --key "$TMP/rsa.pem" --kid rsa-1)

login api_migrator "$good"
ok "$([ $rc -eq 0 ] && [ "$out" = api_migrator ]; echo $?)" \
	"the first login fetches the JWKS over HTTPS and succeeds ($out)"
ok "$([ "$(requests "$TMP/issuer")" -eq 1 ]; echo $?)" "... with one request to the issuer"
f=$(cache_file)
ok "$([ -n "$f" ] && [ "$(stat -c %a "$f")" = 644 ]; echo $?)" \
	"... and writes the shared cache file, mode 644"
ok "$([ "$(ls "$TMP/cache" | grep -c -v -E '\.(json|lock|attempt)$')" -eq 0 ]; echo $?)" \
	"... leaving no temporary files behind"

# A fresh cache: no network, and libcurl never mapped into the backend
# (the session reads its own /proc/self/maps).
login api_migrator "$good" "select pg_read_file('/proc/self/maps')"
ok "$([ $rc -eq 0 ] && [ "$(requests "$TMP/issuer")" -eq 1 ]; echo $?)" \
	"a login with a fresh cache makes no request"
echo "$out" | grep -q 'libpam'
ok $? "... its backend's memory map is readable (libpam is there)"
echo "$out" | grep -q 'libcurl'
ok "$([ $? -ne 0 ]; echo $?)" "... and libcurl was never mapped into it"

echo hang >"$TMP/issuer/mode"
login api_migrator "$good"
ok "$([ $rc -eq 0 ]; echo $?)" "with the issuer hanging, a fresh cache still logs in"

# Stale cache + hanging issuer: the login uses the stale keys within
# max_stale, after at most jwks.timeout.
age_cache 7200
login api_migrator "$good"
ok "$([ $rc -eq 0 ]; echo $?)" "a stale cache within max_stale carries logins through an outage"
audit_has "$LOG" 'result=allow reason=ok role=api_migrator .*detail="keys: .*stale cache \(age [0-9]+s'
ok $? "... audited as allowed, saying the keys were stale and why"

# Beyond max_stale with the issuer hanging: refused within the timeout.
age_cache 200000
start=$(date +%s)
login api_migrator "$good"
took=$(( $(date +%s) - start ))
ok "$([ $rc -ne 0 ]; echo $?)" "beyond max_stale with the issuer down, logins are refused"
ok "$([ $took -le 5 ]; echo $?)" "... within jwks.timeout (took ${took}s, authentication_timeout is 10s)"
audit_has "$LOG" 'reason=jwks_unavailable'
ok $? "... audited as reason=jwks_unavailable"

# 32 concurrent logins against an expired cache: one fetch, all succeed.
echo "slow:0.5" >"$TMP/issuer/mode"
age_cache 7200
before=$(requests "$TMP/issuer")
: >"$LOG"
pids=""
for i in $(seq 32); do
	(PGPASSWORD=$good psql -X -w -At \
		"host=127.0.0.1 port=$PORT user=api_migrator dbname=postgres" \
		-c "select current_user" >"$TMP/c$i.out" 2>&1; echo $? >"$TMP/c$i.rc") &
	pids="$pids $!"
done
# Only the logins: the issuer also runs in the background.
wait $pids
okcount=0
for i in $(seq 32); do
	[ "$(cat "$TMP/c$i.rc")" = 0 ] && okcount=$((okcount + 1))
done
fetches=$(( $(requests "$TMP/issuer") - before ))
ok "$([ $okcount -eq 32 ]; echo $?)" "32 concurrent logins against an expired cache all succeed ($okcount)"
ok "$([ $fetches -eq 1 ]; echo $?)" "... and the issuer sees exactly one fetch ($fetches)"
ok "$([ "$(grep -c 'result=allow' "$LOG")" -eq 32 ]; echo $?)" "... with 32 audit lines"
diag "concurrency: $okcount/32 logins, $fetches fetch(es)"

# Key rotation: the issuer now signs with a new key.
echo ok >"$TMP/issuer/mode"
"$MINT" genkey rsa2048 "$TMP/new.pem"
"$MINT" jwks "$TMP/new.pem" rsa-2 "$TMP/rsa.pem" rsa-1 >"$TMP/issuer/jwks.json"
before=$(requests "$TMP/issuer")
rotated=$(mint --key "$TMP/new.pem" --kid rsa-2)
login api_migrator "$rotated"
ok "$([ $rc -eq 0 ] && [ "$out" = api_migrator ]; echo $?)" \
	"after key rotation a token with the new kid logs in"
ok "$([ $(( $(requests "$TMP/issuer") - before )) -eq 1 ]; echo $?)" \
	"... after exactly one refetch"
unknown=$(mint --key "$TMP/evil.pem" --kid rsa-9)
before=$(requests "$TMP/issuer")
login api_migrator "$unknown"
ok "$([ $rc -ne 0 ]; echo $?)" "an unknown kid is refused"
ok "$([ $(( $(requests "$TMP/issuer") - before )) -eq 0 ]; echo $?)" \
	"... without a second refetch within 60 s"
audit_has "$LOG" 'reason=unknown_key .*kid=rsa-9'
ok $? "... audited as reason=unknown_key"

# Provisioning: the tool fills a new cache and hands it to the server user.
if [ "$(id -u)" = 0 ]; then
	sed "s|  cache: .*|  cache: $TMP/cache2|" "$TMP/policy.yaml" >"$TMP/p2.yaml"
	out=$("$top_builddir/pam-buildkite" jwks fetch -c "$TMP/p2.yaml" --owner nobody 2>&1)
	ok $? "pam-buildkite jwks fetch --owner nobody fills a new cache ($out)"
	owners=$(stat -c %U "$TMP/cache2" "$TMP"/cache2/jwks-* | sort -u)
	ok "$([ "$owners" = nobody ]; echo $?)" "... the directory and its files belong to nobody"
fi

grep -E -q 'terminated by signal|terminating any other active server processes' \
	"$TMP/pg/server.log"
ok "$([ $? -ne 0 ]; echo $?)" "no backend crashed"

done_testing
