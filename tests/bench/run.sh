#!/bin/sh
# run.sh - how much a token login costs: PostgreSQL connection times for
# trust, pam + pam_permit, scram-sha-256 and pam + pam_buildkite side by
# side, then the module's whole authentication in one process against a
# bare RS256 verification, its growth with the policy's size, and a leak
# run; the connection times again with the pg_buildkite extension
# preloaded. Run through "make bench" in a build directory; see README.md
# here.
#
# Knobs (environment): BENCH_ROUNDS (pgbench rounds per method and client
# count, default 5), BENCH_SECONDS (per pgbench run, default 2),
# BENCH_ITERS (in-process logins for the 20-rule policy, default 2000),
# BENCH_LEAK_ITERS (default 10000), BENCH_SSL (the server's ssl setting,
# default off), BENCH_CONNECT (0: skip the PostgreSQL figures).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-2}
ITERS=${BENCH_ITERS:-2000}
LEAK_ITERS=${BENCH_LEAK_ITERS:-10000}
SSL=${BENCH_SSL:-off}
CONNECT=${BENCH_CONNECT:-1}
BENCH="$top_builddir/tests/bench/bench_auth"
TOOL="$top_builddir/pam-buildkite"
PGBENCH="$PG_BINDIR/pgbench"
ASKPASS="$top_builddir/tests/bench/.libs/pam_askpass.so"

need() { [ "$1" ] || { echo "bench: $2" >&2; exit 1; }; }
need "$([ -f "$MODULE" ] && echo y)" "module not built"
need "$([ -x "$MINT" ] && [ -x "$BENCH" ] && [ -x "$TOOL" ] && echo y)" \
	"run it as make bench (mint-token, bench_auth, pam-buildkite)"
need "$([ -x "$PGBENCH" ] && echo y)" "pgbench (postgresql-15) not found"
need "$([ -f "$CONFDIR_SHIM" ] && [ -f "$ASKPASS" ] && echo y)" \
	"run it as make bench (tests/pam_confdir.la, tests/bench/pam_askpass.la)"
need "$(command -v openssl)" "openssl not installed"
need "$([ -x /usr/bin/python3 ] && echo y)" "python3 not installed"
case "$SAN_CFLAGS" in
?*) echo "bench: run it from a build without sanitizers" >&2; exit 1 ;;
esac

# gen_policy RULES FILE : RULES rules of every kind of condition (exact
# and glob patterns, regexes, claims, deny rules, CIDRs) of which only the
# last lets the bench's token in, so every rule is looked at; keys from
# the shared cache of the local issuer.
gen_policy() {
	cat >"$2" <<POLICY
version: 1
token:
  audience: postgres://db.test
  organization: acme-inc
  max_lifetime: 2h
jwks:
  url: $JWKS_URL
  ca_file: $TMP/issuer/ca.pem
  cache: $TMP/cache
  refresh: 1h
  max_stale: 1d
  timeout: 2s
rules:
POLICY
	awk -v n="$1" 'BEGIN {
	for (i = 1; i < n; i++) {
		printf "  - name: rule %d\n", i
		k = i % 4
		if (k == 0) {
			printf "    pipeline: svc-%d\n", i
			printf "    branch: \"main release/*\"\n"
		} else if (k == 1) {
			printf "    pipeline: \"*\"\n"
			printf "    branch: /release-[0-9]+\\.%d/\n", i
		} else if (k == 2) {
			printf "    pipeline: api\n    step: deploy-%d\n", i
			printf "    claims:\n      queue_key: q-%d\n", i
		} else {
			printf "    effect: deny\n    pipeline: legacy-%d\n", i
			printf "    source: \"ui api\"\n"
		}
		printf "    roles: [role_%d]\n", i
	}
	print "  - name: bench logins"
	print "    pipeline: api"
	print "    branch: \"main !wip/*\""
	print "    from: [127.0.0.0/8, \"::1\"]"
	print "    roles: [bench_bk, bench_bky, \"ci_{pipeline_slug}\"]"
	}' >>"$2"
}

echo "# pam_buildkite bench: $(nproc) cores, $(uname -m), $("$PG_BINDIR/postgres" --version)"

make_keys || { echo "bench: cannot make keys" >&2; exit 1; }
mkdir -p "$TMP/issuer" "$TMP/cache"
cp "$TMP/jwks.json" "$TMP/issuer/jwks.json"
jwks_server_start "$TMP/issuer" || { echo "bench: no JWKS server" >&2; exit 1; }
# Each policy twice: compiled (pam-buildkite compile, as an
# administrator runs it after each change) and as YAML alone (a copy
# under another name, which has no snapshot).
for n in 20 1000 10000; do
	gen_policy $n "$TMP/policy$n.yaml"
	cp "$TMP/policy$n.yaml" "$TMP/yaml$n.yaml"
	"$TOOL" compile -c "$TMP/policy$n.yaml" >"$TMP/compile.out" 2>&1 ||
		{ cat "$TMP/compile.out" >&2; echo "bench: compile failed" >&2; exit 1; }
done
# A fresh shared cache, filled the way a root timer keeps it fresh.
owner=""
[ "$(id -u)" = 0 ] && owner="--owner nobody"
# shellcheck disable=SC2086
"$TOOL" jwks fetch -c "$TMP/policy20.yaml" $owner >/dev/null ||
	{ echo "bench: jwks fetch failed" >&2; exit 1; }
mint --key "$TMP/rsa.pem" --kid rsa-1 --lifetime 3600 >"$TMP/token"
chmod 644 "$TMP/token"

# ------------------------------------------------------------ 1. pgbench
if [ "$CONNECT" != 0 ]; then
PG_TREE_OK=""
[ -f "$PGEXT" ] && pg_tree && PG_TREE_OK=1
pg_start "$TMP/policy20.yaml" || { echo "bench: PostgreSQL did not start" >&2; exit 1; }
printf 'auth required pam_permit.so\naccount required pam_permit.so\n' \
	>"$TMP/pam.d/permit"
# The floor for any module that takes a password: pam_askpass prompts,
# then allows, so it pays the prompt's round trip that pam_permit skips.
cp "$ASKPASS" "$TMP/lib/pam_askpass.so"
printf 'auth required %s\naccount required %s\n' "$TMP/lib/pam_askpass.so" \
	"$TMP/lib/pam_askpass.so" >"$TMP/pam.d/askpass"
# the same module and policy, parsed from YAML at every login
sed "s|$TMP/policy20.yaml|$TMP/yaml20.yaml|g" "$TMP/pam.d/pbtest" >"$TMP/pam.d/pbyaml"
# pam_buildkite loaded but never called: libpam loads every module of the
# service at pam_start, and pam_permit "sufficient" ends each stack before
# it. Against pam_permit, what loading the module and its libraries into
# a fresh backend costs, apart from its work.
sed 's/^\(auth\|account\) .*/\1 sufficient pam_permit.so\n&/' \
	"$TMP/pam.d/pbtest" >"$TMP/pam.d/pbload"
chmod 644 "$TMP/pam.d/permit" "$TMP/pam.d/askpass" "$TMP/pam.d/pbyaml" \
	"$TMP/pam.d/pbload"
chmod 755 "$TMP/lib/pam_askpass.so"
cat >"$DATA/pg_hba.conf" <<HBA
local all admin trust
host all admin 127.0.0.1/32 trust
host all bench_trust 127.0.0.1/32 trust
host all bench_permit 127.0.0.1/32 pam pamservice=permit
host all bench_ask 127.0.0.1/32 pam pamservice=askpass
host all bench_scram 127.0.0.1/32 scram-sha-256
host all bench_bk 127.0.0.1/32 pam pamservice=pbtest
host all bench_bky 127.0.0.1/32 pam pamservice=pbyaml
host all bench_bkl 127.0.0.1/32 pam pamservice=pbload
HBA
# Per-connection log lines would be the same cost for every method; off,
# the figures show the methods' own differences better.
echo "log_connections = off" >>"$DATA/postgresql.conf"
# BENCH_SSL=on runs the server as one taking tokens must run, with
# ssl = on (its postmaster then has OpenSSL initialized and a key loaded
# before it forks); pgbench connects with sslmode=disable, so no method
# pays a TLS handshake. Measured here, it made every method about 0.3 ms
# slower and left the module's extra cost as it was, so the default is
# off.
if [ "$SSL" = on ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
		-keyout "$DATA/server.key" -out "$DATA/server.crt" \
		>/dev/null 2>&1 || { echo "bench: no server certificate" >&2; exit 1; }
	[ "$(id -u)" = 0 ] && chown nobody "$DATA/server.key" "$DATA/server.crt"
	chmod 600 "$DATA/server.key"
	echo "ssl = on" >>"$DATA/postgresql.conf"
fi
as_server "$PG_CTL" -D "$DATA" reload >/dev/null
sleep 1
psql -X -q -h "$TMP/pg" -p "$PORT" -U admin -d postgres -c \
	"create role bench_trust login; create role bench_permit login;
	 create role bench_ask login;
	 set password_encryption = 'scram-sha-256';
	 create role bench_scram login password 'bench-scram-password';
	 create role bench_bk login; create role bench_bky login;
	 create role bench_bkl login;" >/dev/null ||
	{ echo "bench: cannot create roles" >&2; exit 1; }
[ "$(psql -X -At -h "$TMP/pg" -p "$PORT" -U admin -d postgres -c 'show ssl')" = "$SSL" ] ||
	{ echo "bench: the server's ssl is not $SSL" >&2; cat "$TMP/pg/server.log" >&2; exit 1; }
echo 'SELECT 1;' >"$TMP/select1.sql"

pass_for() {
	case $1 in
	scram) echo bench-scram-password ;;
	ask|bk|bky) cat "$TMP/token" ;;
	*) echo unused ;;
	esac
}
# pgbench_once METHOD CLIENTS : average connection time in ms.
pgbench_once() {
	PGSSLMODE=disable PGPASSWORD=$(pass_for "$1") "$PGBENCH" -n -C -c "$2" -j "$2" \
		-T "$SECS" -f "$TMP/select1.sql" -h 127.0.0.1 -p "$PORT" \
		-U "bench_$1" postgres 2>"$TMP/pgbench.err" |
		sed -n 's/^average connection time = \([0-9.]*\) ms$/\1/p'
}
med() { sort -n | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "nan"; exit }
	print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# connect_table LABEL METHODS : section 1's table for METHODS on the
# running server.
connect_table() {
	label=$1
	shift
	methods=$*
	echo
	echo "## 1$label. connection time (pgbench -C, SELECT 1, median of $ROUNDS rounds of ${SECS}s, methods alternating; server ssl = $SSL, clients sslmode=disable)"
	for c in 1 16; do
		: >"$TMP/conn$c"
		r=0
		while [ $r -lt "$ROUNDS" ]; do
			# Each round starts with a different method, so none
			# always runs first after the previous client count.
			order=$(echo $methods | tr ' ' '\n' | awk -v r=$r \
				'{ m[NR - 1] = $0 } END { for (i = 0; i < NR; i++) print m[(i + r) % NR] }')
			for m in $order; do
				v=$(pgbench_once "$m" "$c")
				[ -n "$v" ] || { echo "bench: pgbench $m failed:" >&2;
					cat "$TMP/pgbench.err" >&2; exit 1; }
				echo "$m $v" >>"$TMP/conn$c"
			done
			r=$((r + 1))
		done
		for m in trust permit ask scram bk bky bkl; do
			eval "med_$m=\$(awk -v m=$m '\$1 == m { print \$2 }' \"\$TMP/conn$c\" | med)"
		done
		printf 'clients=%-2s trust=%.3f ms  pam_permit=%.3f ms  pam_askpass=%.3f ms  scram=%.3f ms  pam_buildkite=%.3f ms' \
			"$c" "$med_trust" "$med_permit" "$med_ask" "$med_scram" "$med_bk"
		[ "$med_bky" = nan ] || printf '  (policy parsed from YAML: %.3f ms; loaded, never called: %.3f ms)' \
			"$med_bky" "$med_bkl"
		echo
		awk -v b="$med_bk" -v p="$med_permit" -v s="$med_scram" -v a="$med_ask" \
		    -v l="$med_bkl" -v c="$c" 'BEGIN {
			printf "clients=%-2s pam_buildkite/pam_permit=%.3f (target <= 1.10)  pam_buildkite/scram=%.3f (target <= 0.85)\n",
			    c, b / p, b / s
			printf "clients=%-2s the prompt alone: pam_askpass/pam_permit=%.3f  pam_buildkite/pam_askpass=%.3f (target with pg_buildkite <= 1.05)\n",
			    c, a / p, b / a
			if (l != "nan")
				printf "clients=%-2s loading alone: pam_buildkite loaded, never called/pam_permit=%.3f\n",
				    c, l / p }'
	done
}
connect_table "" trust permit ask scram bk bky bkl
# 1b. The same server with pg_buildkite preloaded: the postmaster maps
# the module once (pg_buildkite.pam_module), and every token session is
# handed to the extension.
if [ -n "$PG_TREE_OK" ]; then
	cat >>"$DATA/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_buildkite'
pg_buildkite.pam_module = '$TMP/lib/pam_buildkite.so'
CONF
	pg_restart >&2 || { echo "bench: PostgreSQL with pg_buildkite did not start" >&2; exit 1; }
	connect_table "b, pg_buildkite preloaded" trust permit ask scram bk
else
	echo
	echo "## 1b. skipped: the pg_buildkite extension is not built"
fi
echo "issuer requests during the whole bench so far: $(requests "$TMP/issuer") (the fetch that filled the cache)"
grep -c 'result=allow' "$PB_SYSLOG" | sed 's/^/pam_buildkite audit lines (allow): /'
as_server "$PG_CTL" -D "$DATA" -m fast stop >/dev/null 2>&1
fi

# ------------------------------------------------- 2, 3. in one process
# As the server's user, like a backend: the cache's owner rules (section
# 5 of the contract) would otherwise send every login to the issuer.
mkdir -p "$TMP/lib"
cp "$MODULE" "$SHIM" "$TMP/lib/"
chmod -R a+rX "$TMP"
cp "$BENCH" "$TMP/lib/bench_auth"
cp "$TMP/rsa.pem" "$TMP/lib/rsa.pem"
: >"$TMP/inproc.syslog"
chmod 644 "$TMP/lib/rsa.pem"
chmod 666 "$TMP/inproc.syslog"
inproc() { # inproc ITERS [-B] LABEL=POLICY...
	n=$1
	shift
	as_server env PB_SYSLOG_CAPTURE="$TMP/inproc.syslog" \
		LD_PRELOAD="$TMP/lib/syslog_capture.so" "$TMP/lib/bench_auth" \
		-M "$TMP/lib/pam_buildkite.so" -k "$TMP/lib/rsa.pem" \
		-t "$TMP/token" -u bench_bk -n "$n" "$@"
}
echo
echo "## 2. whole authentication in one process vs one bare RS256 verification (medians)"
# libpam's own share of a login (its audit messages, reading the service
# file, the conversation), the same for every module, is pam_permit's:
# bench_auth -P times a pam_permit login in turn with each module login,
# and the module's cost is the median of the differences.
permit=$(find /lib /usr/lib -name pam_permit.so -path '*security*' 2>/dev/null | head -n 1)
[ -n "$permit" ] || { echo "bench: pam_permit.so not found" >&2; exit 1; }
# Each figure from its own process: one run's heap would otherwise shape
# the next (measured: the YAML figure rose by 40% after the snapshot's).
{ inproc "$ITERS" -P "$permit" rules20="$TMP/policy20.yaml" &&
	inproc "$ITERS" -P "$permit" -B yaml20="$TMP/yaml20.yaml"; } |
	grep -v peak_rss || exit 1
# Each connection is a fresh backend: the whole login in a fresh process
# (fork, login, exit) against pam_permit's is the module's extra cost per
# connection, without the server's noise.
echo
echo "### a login in a fresh process each (fork, pam_start to pam_end, exit), medians"
# "loaded": the module loaded at pam_start and never called (-O), what
# loading it and its libraries costs apart from its work.
fresh=$((ITERS / 4))
{ inproc "$fresh" -P "$permit" -F rules20="$TMP/policy20.yaml" &&
	inproc "$fresh" -P "$permit" -F -O loaded="$TMP/policy20.yaml" &&
	inproc "$fresh" -P "$permit" -F yaml20="$TMP/yaml20.yaml"; } |
	grep -v peak_rss || exit 1
echo
echo "## 3. growth with the policy's size (rulesN: compiled, yamlN: parsed at every login)"
inproc $((ITERS / 4)) -B rules1000="$TMP/policy1000.yaml" |
	grep -v peak_rss || exit 1
inproc $((ITERS / 4)) -B yaml1000="$TMP/yaml1000.yaml" |
	grep -v peak_rss || exit 1
inproc $((ITERS / 10)) -B rules10000="$TMP/policy10000.yaml" |
	grep -v peak_rss || exit 1
inproc $((ITERS / 40 + 5)) -B yaml10000="$TMP/yaml10000.yaml" |
	grep -v peak_rss || exit 1
echo "(target: 10,000 rules <= 5000 us)"
echo "issuer requests after the in-process runs: $(requests "$TMP/issuer") (1: no login went to the network)"

# --------------------------------------------------------------- 4. leaks
echo
echo "## 4. $LEAK_ITERS authentications in one process"
inproc "$LEAK_ITERS" -B rules20="$TMP/policy20.yaml" | sed 's/^auth /native: auth /'
if command -v valgrind >/dev/null; then
	: >"$TMP/vg.log"
	chmod 666 "$TMP/vg.log"
	as_server env PB_SYSLOG_CAPTURE="$TMP/inproc.syslog" valgrind \
		--leak-check=full --show-leak-kinds=all \
		--log-file="$TMP/vg.log" "$TMP/lib/bench_auth" \
		-M "$TMP/lib/pam_buildkite.so" -t "$TMP/token" -u bench_bk -B -L \
		-n "$LEAK_ITERS" rules20="$TMP/policy20.yaml" >/dev/null
	echo "valgrind memcheck: $(grep -E 'in use at exit' "$TMP/vg.log" | sed 's/^==[0-9]*== *//')"
	grep -E 'definitely lost:|indirectly lost:|possibly lost:|still reachable:|ERROR SUMMARY' \
		"$TMP/vg.log" | sed 's/^==[0-9]*== */valgrind memcheck: /'
else
	echo "valgrind not installed: no leak figure"
fi
