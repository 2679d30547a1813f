#!/bin/sh
# test_installed.sh - the installed package, end to end, the way the
# README sets it up: the module from Debian's PAM module directory named
# by its bare name in the example PAM service file, the installed admin
# tool, the example pg_hba.conf lines (hostssl) on a real PostgreSQL
# server with TLS, an example policy, keys fetched over HTTPS into the
# package's cache directory by a backend running as the PostgreSQL
# service user, and a pamtester smoke test as in the example pipeline.
#
# Run as root after installing libpam-buildkite (tests/run.sh does, after
# building the package). The build tree (top_builddir, default
# build-plain) supplies only test helpers: the token minter and the
# syslog capture shim. /etc/pam.d is not touched: pam_wrapper reads the
# service file from a private directory, and libpam still finds the
# module in the system's module directory.
#
# PB_MODULE and PB_TOOL override the installed paths; PB_EXAMPLES the
# installed examples directory.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
: "${top_builddir:=$top_srcdir/build-plain}"
export top_srcdir top_builddir

triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
	gcc -print-multiarch 2>/dev/null)
PB_MODULE=${PB_MODULE:-/lib/$triplet/security/pam_buildkite.so}
PB_TOOL=${PB_TOOL:-/usr/bin/pam-buildkite}
export PB_MODULE PB_TOOL
. "$top_srcdir/tests/lib.sh"
# The installed example policy is used as shipped, with the default
# max_lifetime of 15 minutes: tokens live that long, the most it accepts,
# which leaves this test (a minute on a loaded machine) a wide margin.
TOKEN_LIFETIME=900
EX=${PB_EXAMPLES:-/usr/share/doc/libpam-buildkite/examples}
CACHE=/var/cache/pam_buildkite

[ "$(id -u)" = 0 ] || skip_all "must run as root (installs nothing, but runs PostgreSQL as postgres)"
dpkg-query -W -f '${Status}' libpam-buildkite 2>/dev/null | grep -q 'ok installed' ||
	skip_all "libpam-buildkite is not installed"
[ -x "$MINT" ] && [ -f "$SHIM" ] && [ -f "$CONFDIR_SHIM" ] || skip_all "test helpers not built in $top_builddir"
require_postgres
[ -n "$PAMTESTER" ] && [ -x "$PAMTESTER" ] || skip_all "pamtester not installed"
[ -n "$PAM_WRAPPER_LIB" ] && [ -f "$PAM_WRAPPER_LIB" ] ||
	skip_all "libpam-wrapper not installed"
getent passwd postgres >/dev/null || skip_all "no postgres user"

# ------------------------------------------------------ the files

files=$(dpkg-query -L libpam-buildkite)
[ -f "$PB_MODULE" ] && echo "$files" | grep -qx "/lib/$triplet/security/pam_buildkite.so"
ok $? "the module is installed in Debian's PAM module directory /lib/$triplet/security"
[ "$(stat -c '%U %a' "$PB_MODULE")" = "root 644" ]
ok $? "... owned by root, mode 644"
syms=$(nm -D --defined-only "$PB_MODULE" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ')
[ "$syms" = "pam_sm_acct_mgmt pam_sm_authenticate pam_sm_setcred " ]
ok $? "... exporting only pam_sm_* ($syms)"
echo "$files" | grep -q '\.la$'
ok "$([ $? -ne 0 ]; echo $?)" "no libtool .la file is installed"
echo "$files" | grep -q '^/etc/pam\.d'
ok "$([ $? -ne 0 ]; echo $?)" "no file in /etc/pam.d is installed"
[ -x "$PB_TOOL" ] && "$PB_TOOL" --version >/dev/null 2>&1
ok $? "the admin tool is installed and runs"
for m in man8/pam_buildkite.8 man1/pam-buildkite.1 man5/pam_buildkite.yaml.5; do
	[ -f "/usr/share/man/$m.gz" ]
	ok $? "man page $m is installed"
done
for e in pg_hba.conf pam.d/postgresql-buildkite pipeline.yml \
	policy-small-team.yaml policy-staging-production.yaml \
	policy.d/50-analytics.yaml systemd/pam-buildkite-jwks.timer; do
	[ -f "$EX/$e" ] || [ -f "$EX/$e.gz" ]
	ok $? "example $e is installed"
done
[ "$(stat -c '%U:%G %a' "$CACHE")" = "postgres:postgres 755" ]
ok $? "the cache directory $CACHE is postgres:postgres 755 ($(stat -c '%U:%G %a' "$CACHE"))"
REPLAY=/var/lib/pam_buildkite/replay
[ "$(stat -c '%U:%G %a' "$REPLAY")" = "postgres:postgres 700" ]
ok $? "the replay store $REPLAY is postgres:postgres 700 ($(stat -c '%U:%G %a' "$REPLAY" 2>&1))"

# ------------------------------------------- the policy and its keys

for p in policy-small-team.yaml policy-staging-production.yaml; do
	f="$EX/$p"
	[ -f "$f" ] || { gunzip -c "$f.gz" >"$TMP/$p"; f="$TMP/$p"; }
	out=$("$PB_TOOL" check -c "$f" 2>&1)
	ok $? "the installed tool accepts the installed $p"
	[ -n "$out" ] && echo "$out" | sed "s/^/# /"
done

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
mkdir -p "$TMP/issuer" "$TMP/etc"
cp "$TMP/jwks.json" "$TMP/issuer/jwks.json"
jwks_server_start "$TMP/issuer" || { echo "Bail out! no JWKS server"; exit 1; }
# The small team's policy as shipped, with the keys of the local issuer
# standing in for Buildkite's; the cache is the package's directory, and
# the backends write it (jwks.writer: module, the default).
POLICY="$TMP/etc/policy.yaml"
cp "$EX/policy-small-team.yaml" "$POLICY"
cat >>"$POLICY" <<EOF
jwks:
  url: $JWKS_URL
  ca_file: $TMP/issuer/ca.pem
  cache: $CACHE
audit:
  format: json
EOF
chown root:postgres "$POLICY"
chmod 640 "$POLICY"
ls "$CACHE" >"$TMP/cache-before"
cleanup="$cleanup for f in \$(ls '$CACHE'); do grep -qxF \"\$f\" '$TMP/cache-before' || rm -f '$CACHE'/\"\$f\"; done;"

# The example PAM service file, as installed, with the policy path
# pointing at the test's: the module is named pam_buildkite.so, so libpam
# loads the installed one.
mkdir -p "$TMP/pam.d"
sed "s|config=/etc/pam_buildkite/policy.yaml|config=$POLICY|" \
	"$EX/pam.d/postgresql-buildkite" >"$TMP/pam.d/postgresql-buildkite"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$TMP/pam.d/other"
grep -q '^auth *required *pam_buildkite\.so ' "$TMP/pam.d/postgresql-buildkite"
ok $? "the example service file names the module by its bare name"

# ------------------------------------------------- PostgreSQL with TLS

mkdir -p "$TMP/pg" "$TMP/lib"
chown postgres "$TMP/pg"
# The build tree may sit where postgres cannot read (a clone under /root):
# the server preloads its own copy of the syslog capture.
cp "$SHIM" "$CONFDIR_SHIM" "$TMP/lib/"
SHIM="$TMP/lib/$(basename "$SHIM")"
CONFDIR_SHIM="$TMP/lib/$(basename "$CONFDIR_SHIM")"
chmod -R a+rX "$TMP"
DATA="$TMP/pg/data"
PB_SYSLOG="$TMP/pg/syslog"
: >"$PB_SYSLOG"
chmod 666 "$PB_SYSLOG"
runuser -u postgres -- "$PG_BINDIR/initdb" -D "$DATA" -U admin --auth=trust \
	--no-sync -E UTF8 >"$TMP/pg/initdb.log" 2>&1 ||
	{ cat "$TMP/pg/initdb.log"; echo "Bail out! initdb failed"; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$DATA/server.key" \
	-out "$DATA/server.crt" >/dev/null 2>&1
cp "$DATA/server.crt" "$TMP/root.crt"
chown postgres "$DATA/server.key" "$DATA/server.crt"
chmod 600 "$DATA/server.key"
PORT=$((20000 + ($$ + 7) % 20000))
cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$TMP/pg'
fsync = off
ssl = on
authentication_timeout = 10s
shared_preload_libraries = 'pg_buildkite'
CONF
# The example pg_hba.conf lines, with the agents' networks replaced by
# this host, below a line for the test's own administrator.
{
	echo "local all admin trust"
	grep -v -E '^[[:space:]]*(#|$)' "$EX/pg_hba.conf" |
		sed -e 's|10\.0\.0\.0/8|127.0.0.1/32|' -e 's|2001:db8::/32|::1/128|'
} >"$DATA/pg_hba.conf"
cleanup="$cleanup runuser -u postgres -- '$PG_BINDIR/pg_ctl' -D '$DATA' -m immediate stop >/dev/null 2>&1;"
runuser -u postgres -- env \
	LD_PRELOAD="$CONFDIR_SHIM $SHIM" \
	PB_PAM_CONFDIR="$TMP/pam.d" PB_SYSLOG_CAPTURE="$PB_SYSLOG" \
	"$PG_BINDIR/pg_ctl" -D "$DATA" -l "$TMP/pg/server.log" -w -t 30 \
	start >/dev/null 2>&1 ||
	{ cat "$TMP/pg/server.log"; echo "Bail out! PostgreSQL did not start"; exit 1; }
ok 0 "PostgreSQL starts with ssl = on and the example pg_hba.conf lines"
psql -h "$TMP/pg" -p "$PORT" -U admin -d postgres -q -v ON_ERROR_STOP=1 -c \
	"create role buildkite nologin; create role api_migrator login;
	 create role ci_reader login; create role ci_billing login in role buildkite;
	 create extension pg_buildkite; grant pg_read_all_stats to api_migrator;" \
	>/dev/null || { echo "Bail out! cannot create roles and the extension"; exit 1; }
ext=$(dpkg-query -L postgresql-15-buildkite 2>/dev/null)
echo "$ext" | grep -qx /usr/lib/postgresql/15/lib/pg_buildkite.so &&
	echo "$ext" | grep -qx /usr/share/postgresql/15/extension/pg_buildkite.control
ok $? "postgresql-15-buildkite installs the extension where PostgreSQL 15 looks"
grep -q "/security/pam_buildkite.so" "/proc/$(head -1 "$DATA/postmaster.pid")/maps"
ok $? "... and, preloaded, the postmaster maps the installed module (pg_buildkite.pam_module's default)"

LOG="$PB_SYSLOG"
login() { # login ROLE TOKEN [SSLMODE]
	: >"$LOG"
	out=$(PGPASSWORD=$2 PGCONNECT_TIMEOUT=20 psql -X -w -At \
		"host=127.0.0.1 port=$PORT user=$1 dbname=postgres sslmode=${3:-verify-full} sslrootcert=$TMP/root.crt" \
		-c "select current_user || ' ' || (select ssl from pg_stat_ssl where pid = pg_backend_pid())" 2>&1)
	rc=$?
}

# exmint [mint options] : a token for the example policies: their
# audience and the organization_id they pin.
exmint() {
	mint --key "$TMP/rsa.pem" --kid rsa-1 --aud postgres://db.example.com \
		--set 'organization_id="0190b2c4-0000-7000-8000-00000000ac3e"' "$@"
}

# The small team's policy: pipeline api, step migrate on main may become
# api_migrator unless the build was started in the UI.
mig=$(exmint \
	--set build_source='"webhook"')
login api_migrator "$mig"
ok "$([ $rc -eq 0 ] && [ "$out" = "api_migrator true" ]; echo $?)" \
	"psql over TLS (verify-full) with a migrate token gets a session as api_migrator ($out)"
grep -q '"result":"allow","reason":"ok","role":"api_migrator","service":"postgresql-buildkite","rhost":"127.0.0.1"' "$LOG" &&
	grep -q '"rule":"api migrations from main"' "$LOG"
ok $? "... audited as one JSON object with the rule"
[ "$(grep -c 'pam_buildkite(' "$LOG")" -eq 1 ]
ok $? "... in exactly one line"
grep 'pam_buildkite(' "$LOG" | sed 's/^[^{]*//' |
	/usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' 2>/dev/null
ok $? "... which parses as JSON"
ok "$([ "$(requests "$TMP/issuer")" -eq 1 ]; echo $?)" "... after one fetch of the JWKS over HTTPS"
f=$(ls "$CACHE"/jwks-*.json 2>/dev/null | grep -v -x -F -f "$TMP/cache-before" | head -1)
[ -n "$f" ] && [ "$(stat -c %U "$f")" = postgres ]
ok $? "... written to the package's cache by the backend, as postgres"

login api_migrator "$mig"
ok "$([ $rc -eq 0 ] && [ "$(requests "$TMP/issuer")" -eq 1 ]; echo $?)" \
	"a second login uses the cache and makes no request"

ui=$(exmint \
	--set build_source='"ui"')
login api_migrator "$ui"
ok "$([ $rc -ne 0 ]; echo $?)" "a migrate token from a build started in the UI is refused"
grep -q '"result":"deny","reason":"denied","role":"api_migrator"' "$LOG"
ok $? "... audited as reason denied"

test=$(exmint \
	--set step_key='"test"' --set build_branch='"feature/x"' --set build_source='"webhook"')
login ci_reader "$test"
ok "$([ $rc -eq 0 ] && [ "$out" = "ci_reader true" ]; echo $?)" \
	"a test step's token gets a session as ci_reader"
login api_migrator "$test"
ok "$([ $rc -ne 0 ]; echo $?)" "... but not as api_migrator"
grep -q '"result":"deny","reason":"no_rule","role":"api_migrator"' "$LOG"
ok $? "... audited as reason no_rule"

billing=$(exmint \
	--set pipeline_slug='"billing"' --set step_key='"deploy"' --set build_source='"webhook"')
login ci_billing "$billing"
ok "$([ $rc -eq 0 ] && [ "$out" = "ci_billing true" ]; echo $?)" \
	"a member of the +buildkite group role logs in through the same lines"

# The policy compiled by root, as the example path unit does: the
# backends (postgres) read the snapshot and decide as from the YAML.
out=$("$PB_TOOL" compile -c "$POLICY" 2>&1)
ok $? "the installed tool compiles the policy as root"
echo "$out" | grep -q "$POLICY.compiled: up to date; logins use it"
ok $? "... and says logins use the snapshot"
login ci_reader "$test"
ok "$([ $rc -eq 0 ] && [ "$out" = "ci_reader true" ]; echo $?)" \
	"with the snapshot, the test step's token still gets ci_reader"
login api_migrator "$test"
grep -q '"result":"deny","reason":"no_rule","role":"api_migrator"' "$LOG"
ok $? "... and api_migrator is still refused with reason no_rule"
rm -f "$POLICY.compiled"

out=$(PGPASSWORD=$mig psql -X -w -At "host=127.0.0.1 port=$PORT user=api_migrator dbname=postgres sslmode=verify-full sslrootcert=$TMP/root.crt" \
	-c "select role, pipeline, step, rule, current_setting('buildkite.pipeline') from buildkite.sessions where pid = pg_backend_pid()" 2>&1)
ok "$([ "$out" = "api_migrator|api|migrate|api migrations from main|api" ]; echo $?)" \
	"the installed extension shows the token session in buildkite.sessions ($out)"

login ci_reader "$test" disable
ok "$([ $rc -ne 0 ]; echo $?)" "without TLS the example pg_hba.conf rejects the login"
echo "$out" | grep -q 'rejects connection'
ok $? "... with PostgreSQL's reject, before the token is ever checked"
[ ! -s "$LOG" ]
ok $? "... so no audit line"

other=$(exmint \
	--org evil-corp --set build_source='"webhook"')
login api_migrator "$other"
ok "$([ $rc -ne 0 ]; echo $?)" "a token of another Buildkite organization is refused"
grep -q '"reason":"organization"' "$LOG"
ok $? "... audited as reason organization"

# ------------------------------------- the example pipeline's smoke test

: >"$LOG"
out=$(printf '%s\n' "$test" | runuser -u postgres -- env \
	LD_PRELOAD="$PAM_WRAPPER_LIB $SHIM" \
	PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d" \
	PAM_WRAPPER_USE_SYSLOG=1 PB_SYSLOG_CAPTURE="$LOG" \
	"$PAMTESTER" -v postgresql-buildkite ci_reader authenticate acct_mgmt 2>&1)
rc=$?
ok $rc "pamtester -v postgresql-buildkite ci_reader authenticate acct_mgmt succeeds"
echo "$out" | grep -q 'successfully authenticated' &&
	echo "$out" | grep -q 'account management done'
ok $? "... through both the auth and the account line"

grep -E -q 'terminated by signal|was terminated' "$TMP/pg/server.log"
ok "$([ $? -ne 0 ]; echo $?)" "no backend crashed"

done_testing
