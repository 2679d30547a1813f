#!/bin/sh
# pooler_stall.sh - how long PgBouncer's other clients wait while one
# login waits on the network. PgBouncer 1.18 runs PAM in one thread, so a
# login whose module fetches the JWKS holds up every login behind it.
#
# A PostgreSQL server, the JWKS issuer of tests/jwks_server.py in its
# "hang" mode (it accepts the connection and never answers), and
# PgBouncer with examples/pgbouncer/ as the test test_pgbouncer.sh uses
# it. In each set-up one client logs in first; BENCH_CLIENTS (20) other
# clients start 0.2 s later, all at once, each with its own valid token,
# and the time each takes to log in and run "select 1" is reported
# (median, max, failures):
#
#   a  the documented set-up: jwks.writer: tool, jwks.login_fetch: false,
#      the cache fresh (filled by pam-buildkite jwks fetch); the first
#      client has a valid token.
#   b  jwks.writer: module, the cache 2 h old (older than jwks.refresh,
#      within jwks.max_stale): each login in turn takes the lock, fetches
#      and waits jwks.timeout (BENCH_TIMEOUT, default the policy's 3s),
#      then logs in with the stale keys.
#   c  jwks.writer: tool with login_fetch: true, the cache 120 s old
#      (older than the 60 s after which an unknown kid is refetched); the
#      first client's token names a kid the cache lacks, which any client
#      can send.
#   d  the documented set-up with c's cache and first token.
#
# Run on demand as root from a configured build directory (never in make
# check): env top_srcdir=SRC top_builddir=. sh SRC/tests/bench/pooler_stall.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

N=${BENCH_CLIENTS:-20}
# bmint ARGS... : a token of a test step (ci_reader, for the example
# policy) of the organization_id it pins.
bmint() {
	mint "$@" --set 'organization_id="0190b2c4-0000-7000-8000-00000000ac3e"' \
		--set 'step_key="test"'
}
TIMEOUT=${BENCH_TIMEOUT:-3s}
EX="$top_srcdir/examples/pgbouncer"
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
[ -x "$PGBOUNCER" ] || { echo "pgbouncer not installed" >&2; exit 2; }
require_postgres

make_keys || exit 1
mkdir -p "$TMP/issuer" "$TMP/replay" "$TMP/bouncer" &&
	cp "$TMP/jwks.json" "$TMP/issuer/" || exit 1
chown nobody "$TMP/replay" && chmod 700 "$TMP/replay"
jwks_server_start "$TMP/issuer" || exit 1

# policy NAME WRITER LOGIN-FETCH : the example policy, for the local
# issuer, in $TMP/NAME.yaml with its own cache directory.
policy() {
	mkdir -p "$TMP/cache-$1" && chmod 755 "$TMP/cache-$1"
	sed -e "s|postgres://db.example.com|postgres://db.test|" \
		-e "s|max_lifetime: 10m|max_lifetime: 1d|" \
		-e "s|/var/lib/pam_buildkite/replay|$TMP/replay|" \
		-e "s|https://agent.buildkite.com/.well-known/jwks|$JWKS_URL\\
  ca_file: $TMP/issuer/ca.pem\\
  timeout: $TIMEOUT|" \
		-e "s|/var/cache/pam_buildkite|$TMP/cache-$1|" \
		-e "s|writer: tool|writer: $2|" \
		-e "s|login_fetch: false|login_fetch: $3|" \
		"$EX/policy.yaml" >"$TMP/$1.yaml"
}
policy a tool false
policy b module true
policy c tool true
policy d tool false

PG_HBA_EXTRA=$(sed -e '/^#/d' -e '/^$/d' "$EX/pg_hba.conf")
pg_start "$TMP/a.yaml" || exit 1
sed -e '/^#/d' -e '/^$/d' -e 's/ postgres / nobody /' "$EX/pg_ident.conf" \
	>>"$DATA/pg_ident.conf"
psql -X -q -h "$TMP/pg" -p "$PORT" -U admin -d postgres -c \
	"create role api_migrator login; create role ci_reader login;
	 select pg_reload_conf();" >/dev/null || exit 1

"$TOOL" jwks fetch -c "$TMP/a.yaml" >/dev/null || exit 1
"$TOOL" jwks fetch -c "$TMP/b.yaml" --owner nobody >/dev/null || exit 1
"$TOOL" jwks fetch -c "$TMP/c.yaml" >/dev/null || exit 1
"$TOOL" jwks fetch -c "$TMP/d.yaml" >/dev/null || exit 1
# age DIR SECONDS : the cache in DIR as its writer left it SECONDS ago.
age() {
	for f in "$1"/jwks-*.json; do
		python3 -c 'import json,sys,time
d = json.load(open(sys.argv[1])); d["fetched_at"] = int(time.time()) - int(sys.argv[2])
open(sys.argv[1], "w").write(json.dumps(d))' "$f" "$2"
	done
}
age "$TMP/cache-b" 7200
age "$TMP/cache-c" 120
age "$TMP/cache-d" 120
echo hang >"$TMP/issuer/mode"

B="$TMP/bouncer"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-keyout "$B/pgbouncer.key" -out "$B/pgbouncer.crt" >/dev/null 2>&1 || exit 1
LOG="$B/syslog"
: >"$LOG"
chmod 666 "$LOG"
chown -R nobody "$B"
chmod -R a+rX "$TMP"
BPORT=$((40000 + $$ % 20000))
sed -e "s|host=/var/run/postgresql port=5432 dbname=app|host=$TMP/pg port=$PORT dbname=postgres|" \
	-e "s|^listen_addr = \*|listen_addr = 127.0.0.1|" \
	-e "s|^listen_port = 6432|listen_port = $BPORT|" \
	-e "s|/var/run/postgresql|$B|" -e "s|/var/log/postgresql|$B|" \
	-e "s|/etc/pgbouncer|$B|" "$EX/pgbouncer.ini" >"$B/pgbouncer.ini"
chown nobody "$B/pgbouncer.ini"

# run NAME FIRST-TOKEN : PgBouncer with policy NAME; FIRST-TOKEN logs in,
# then N clients at once; prints the figures.
run() {
	sed -e "s|pam_buildkite.so|$TMP/lib/pam_buildkite.so|" \
		-e "s|/etc/pam_buildkite/policy.yaml|$TMP/$1.yaml|" \
		"$EX/pam.d/pgbouncer" >"$TMP/pam.d/pgbouncer"
	: >"$B/pgbouncer.log"
	chown nobody "$B/pgbouncer.log"
	mkdir -p "$TMP/res-$1"
	as_server env \
		LD_PRELOAD="$TMP/lib/pam_confdir.so $TMP/lib/syslog_capture.so" \
		PB_PAM_CONFDIR="$TMP/pam.d" PB_SYSLOG_CAPTURE="$LOG" \
		"$PGBOUNCER" -d -q "$B/pgbouncer.ini" || return 1
	for _ in $(seq 50); do
		grep -q 'process up' "$B/pgbouncer.log" && break
		sleep 0.1
	done
	grep -q 'process up' "$B/pgbouncer.log" ||
		{ cat "$B/pgbouncer.log"; return 1; }
	cleanup="$cleanup kill \$(cat '$B/pgbouncer.pid' 2>/dev/null) 2>/dev/null;"
	pids=""
	(PGPASSWORD=$2 psql -X -w -At "host=127.0.0.1 port=$BPORT user=ci_reader dbname=app sslmode=require" \
		-c 'select 1' >/dev/null 2>&1) &
	pids="$pids $!"
	sleep 0.2
	for i in $(seq "$N"); do
		t=$(bmint --key "$TMP/rsa.pem" --kid rsa-1 --set "jti=\"$1-$i\"")
		(s=$(date +%s.%N)
		PGPASSWORD=$t psql -X -w -At "host=127.0.0.1 port=$BPORT user=ci_reader dbname=app sslmode=require" \
			-c 'select 1' >/dev/null 2>&1
		r=$?
		echo "$r $(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')" \
			>"$TMP/res-$1/$i") &
		pids="$pids $!"
	done
	wait $pids
	kill "$(cat "$B/pgbouncer.pid")"
	while [ -f "$B/pgbouncer.pid" ]; do sleep 0.1; done
	cat "$TMP/res-$1"/* | sort -k2 -n | awk -v name="$1" '
		{ t[NR] = $2; if ($1 != 0) bad++ }
		END { printf "%s: %d logins: median %.3f s, max %.3f s, failed %d\n",
		    name, NR, (NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2),
		    t[NR], bad + 0 }'
}

first=$(bmint --key "$TMP/rsa.pem" --kid rsa-1 --set 'jti="first-a"')
run a "$first" || exit 1
first=$(bmint --key "$TMP/rsa.pem" --kid rsa-1 --set 'jti="first-b"')
run b "$first" || exit 1
first=$(bmint --key "$TMP/evil.pem" --kid unknown-kid --set 'jti="first-c"')
run c "$first" || exit 1
first=$(bmint --key "$TMP/evil.pem" --kid unknown-kid --set 'jti="first-d"')
run d "$first" || exit 1
echo "issuer requests (all hung): $(requests "$TMP/issuer")"
