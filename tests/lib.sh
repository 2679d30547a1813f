# lib.sh - shared helpers of the shell tests: TAP output, paths, fixtures.
#
# Sourced by tests/test_*.sh, which automake runs with top_srcdir,
# top_builddir, PAMTESTER, PAM_WRAPPER_LIB, PG_BINDIR and SAN_CFLAGS set.

set -u

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
: "${PAMTESTER:=$(command -v pamtester || true)}"
: "${PAM_WRAPPER_LIB:=}"
: "${SAN_CFLAGS:=}"
: "${CC:=cc}"
if [ -z "${PG_BINDIR:-}" ]; then
	for v in 17 16 15 14; do
		[ -x "/usr/lib/postgresql/$v/bin/initdb" ] &&
			{ PG_BINDIR=/usr/lib/postgresql/$v/bin; break; }
	done
fi
: "${PG_BINDIR:=}"
[ -n "$PAM_WRAPPER_LIB" ] ||
	PAM_WRAPPER_LIB=$(pkg-config --libs pam_wrapper 2>/dev/null | tr -d ' ')

# PB_MODULE and PB_TOOL point the tests at other copies of the module
# and the admin tool (tests/test_installed.sh: the installed package's).
MODULE="${PB_MODULE:-$top_builddir/.libs/pam_buildkite.so}"
TOOL="${PB_TOOL:-$top_builddir/pam-buildkite}"
MINT="$top_builddir/tests/mint-token"
SHIM="$top_builddir/tests/.libs/syslog_capture.so"
CONFDIR_SHIM="$top_builddir/tests/.libs/pam_confdir.so"
PGEXT="$top_builddir/.libs/pg_buildkite.so"

tap_n=0
tap_failed=0

# ok STATUS DESCRIPTION : the description says what is expected. A
# failure also says what happened: $got when the test set it, else what
# the last command run (pt, psql, the tool) left in rc, out, err and the
# captured syslog $LOG.
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
		what_happened
	fi
	got=""
}
got=""

what_happened() {
	if [ -n "$got" ]; then
		diag "  got: $got"
		return
	fi
	[ -n "${rc:-}" ] && diag "  got (last command): exit status $rc"
	printf '%s\n' "${out:-}" | head -n 5 | sed -n 's/^\(..*\)$/#   output: \1/p'
	printf '%s\n' "${err:-}" | head -n 5 | sed -n 's/^\(..*\)$/#   stderr: \1/p'
	if [ -n "${LOG:-}" ] && [ -s "$LOG" ]; then
		tail -n 3 "$LOG" | sed 's/^/#   syslog: /'
	fi
}

diag() { printf '# %s\n' "$*"; }

# Fails the whole file when the suite must run everything (CI sets
# PB_REQUIRE_ALL=1); otherwise the file is skipped.
skip_all() {
	if [ "${PB_REQUIRE_ALL:-0}" = 1 ]; then
		echo "Bail out! required test prerequisite missing: $*"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 0
}

# The tools every real-server test needs: skips (or, in CI, fails) the
# file when one is missing.
require_postgres() {
	[ -n "$PG_BINDIR" ] && [ -x "$PG_BINDIR/initdb" ] ||
		skip_all "PostgreSQL server (postgresql-15) not installed"
	command -v psql >/dev/null || skip_all "psql not installed"
	[ -f "$CONFDIR_SHIM" ] || skip_all "tests/pam_confdir.la not built"
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# The sanitizer runtime must be the first library of any process that
# loads a sanitized module; leaks of the host programs are not ours.
san_preload() {
	case "$SAN_CFLAGS" in
	*address*) "$CC" -print-file-name=libasan.so ;;
	esac
}
if [ -n "$SAN_CFLAGS" ]; then
	export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
fi

# A private directory removed on exit (kept with PB_KEEP_TMP=1, to read
# a failed run's logs); tests register more cleanups by adding to the
# cleanup variable.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pbtest.XXXXXX")
chmod 755 "$TMP"
cleanup=""
trap 'eval "$cleanup"; [ -n "${PB_KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

# Fixture keys and key sets: an RSA and an EC signing key in the JWKS,
# and an attacker's key that is not.
make_keys() {
	"$MINT" genkey rsa2048 "$TMP/rsa.pem" &&
	"$MINT" genkey ec256 "$TMP/ec.pem" &&
	"$MINT" genkey rsa2048 "$TMP/evil.pem" &&
	"$MINT" jwks "$TMP/rsa.pem" rsa-1 "$TMP/ec.pem" ec-1 >"$TMP/jwks.json"
}

# write_policy FILE [extra rules YAML appended]
write_policy() {
	cat >"$1" <<POLICY
version: 1
token:
  audience: postgres://db.test
  organization: acme-inc
  algorithms: [RS256, ES256]
  max_lifetime: 1d
jwks:
  file: $TMP/jwks.json
rules:
  - name: api migrations from main
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator]
  - name: tests read anything
    pipeline: "*"
    branch: "*"
    roles: [ci_reader, "ci_{pipeline_slug}"]
  - name: never from UI builds
    effect: deny
    pipeline: "*"
    source: ui
    roles: [api_admin]
  - name: admins from main
    pipeline: api
    branch: main
    roles: [api_admin]
  - name: ops on this host
    pipeline: "*"
    from: [127.0.0.0/8, "::1"]
    roles: [ops_local]
  - name: ops over the vpn
    pipeline: "*"
    from: 10.0.0.0/8
    roles: [ops_vpn]
POLICY
}

# mint ARGS... : a token for the fixture audience and organization.
# Test tokens live a day (TOKEN_LIFETIME), and the policies of the tests
# accept that (write_policy's max_lifetime: 1d): a token minted at the
# start of a test must not expire because a loaded machine ran the test
# slowly. --lifetime or --expired given by the caller win.
TOKEN_LIFETIME=86400
mint() {
	case " $* " in
	*" --lifetime "* | *" --expired "*) ;;
	*) set -- --lifetime "$TOKEN_LIFETIME" "$@" ;;
	esac
	"$MINT" sign --aud postgres://db.test --org acme-inc "$@"
}

# pt TOKEN ROLE [pamtester options] : authenticate + acct_mgmt of
# pamtester under pam_wrapper, through service $SERVICE of $TMP/pam.d,
# with TOKEN on stdin, PT_ENV (NAME=VALUE) in its environment if set and
# syslog captured into $LOG; given up after 10 s, so that a stalled
# login fails (rc 124) instead of hanging the test. Sets rc and out.
pt() {
	tok=$1 role=$2
	shift 2
	: >"$LOG"
	out=$(printf '%s\n' "$tok" | timeout 10 env ${PT_ENV:-} \
		LD_PRELOAD="$(san_preload) $PAM_WRAPPER_LIB $SHIM" \
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d" \
		PAM_WRAPPER_USE_SYSLOG=1 PB_SYSLOG_CAPTURE="$LOG" \
		"$PAMTESTER" -v "$@" "$SERVICE" "$role" \
		authenticate acct_mgmt 2>&1)
	rc=$?
}

# audit_has FILE PATTERN : a captured syslog line matches (grep -E).
audit_has() {
	grep -E -q -- "$2" "$1"
}

# PostgreSQL refuses to run as root: then the server runs as nobody, and
# everything it reads is copied where nobody can read it.
if [ "$(id -u)" = 0 ]; then
	as_server() { runuser -u nobody -- "$@"; }
else
	as_server() { "$@"; }
fi

# pg_tls_files DIR : a throwaway CA (DIR/ca.pem) and a server certificate
# it signed for localhost and 127.0.0.1 (DIR/server.pem, DIR/server.key).
pg_tls_files() {
	mkdir -p "$1" &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		-subj "/CN=pam_buildkite test CA" -keyout "$1/ca.key" \
		-out "$1/ca.pem" >/dev/null 2>&1 &&
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
		-keyout "$1/server.key" -out "$1/server.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$1/san.ext" &&
	openssl x509 -req -in "$1/server.csr" -CA "$1/ca.pem" \
		-CAkey "$1/ca.key" -CAcreateserial -days 2 \
		-extfile "$1/san.ext" -out "$1/server.pem" >/dev/null 2>&1
}

# pg_start POLICY : a throwaway PostgreSQL on 127.0.0.1:$PORT whose pg_hba
# (PG_HBA_EXTRA's lines first) sends every role but admin through the
# pam service "pbtest", which loads
# a copy of the built module with config=POLICY. The pam_confdir shim
# points the server's pam_start at a private service directory, so
# /etc/pam.d is never touched; syslog(3) is captured into $PB_SYSLOG. The
# server is stopped on exit.
# With PG_TLS=1 the set-up is the recommended one: ssl = on with a
# certificate for localhost from a throwaway CA ($PG_CA: clients connect
# with host=localhost sslmode=verify-full sslrootcert=$PG_CA), the pam
# line is hostssl and a hostnossl line rejects the same roles without TLS.
pg_start() {
	mkdir -p "$TMP/lib" "$TMP/pam.d" "$TMP/pg" || return 1
	cp "$MODULE" "$SHIM" "$CONFDIR_SHIM" "$TMP/lib/" || return 1
	printf 'auth required %s config=%s\naccount required %s config=%s\n' \
		"$TMP/lib/pam_buildkite.so" "$1" \
		"$TMP/lib/pam_buildkite.so" "$1" >"$TMP/pam.d/pbtest"
	# libpam complains on every handle when "other" is missing.
	printf 'auth required pam_deny.so\naccount required pam_deny.so\n' \
		>"$TMP/pam.d/other"
	chmod -R a+rX "$TMP"
	PB_SYSLOG="$TMP/pg/syslog"
	: >"$PB_SYSLOG"
	chmod 666 "$PB_SYSLOG"
	[ "$(id -u)" = 0 ] && chown nobody "$TMP/pg"
	DATA="$TMP/pg/data"
	as_server "$PG_BINDIR/initdb" -D "$DATA" -U admin --auth=trust \
		--no-sync -E UTF8 >"$TMP/pg/initdb.log" 2>&1 ||
		{ cat "$TMP/pg/initdb.log"; return 1; }
	pam_line="host all all 127.0.0.1/32 pam pamservice=pbtest"
	tls_conf=""
	if [ "${PG_TLS:-0}" = 1 ]; then
		pg_tls_files "$TMP/pg/tls" ||
			{ echo "cannot make the TLS certificates" >&2; return 1; }
		# The server reads its key only if no one else can.
		[ "$(id -u)" = 0 ] && chown nobody "$TMP/pg/tls/server.key"
		chmod 600 "$TMP/pg/tls/server.key"
		PG_CA="$TMP/pg/tls/ca.pem"
		tls_conf="ssl = on
ssl_cert_file = '$TMP/pg/tls/server.pem'
ssl_key_file = '$TMP/pg/tls/server.key'"
		pam_line="hostnossl all all 127.0.0.1/32 reject
hostssl all all 127.0.0.1/32 pam pamservice=pbtest"
	fi
	cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP/pg'
fsync = off
log_connections = on
authentication_timeout = 10s
$tls_conf
${PG_EXTRA_CONF:-}
CONF
	cat >"$DATA/pg_hba.conf" <<HBA
local all admin trust
host all admin 127.0.0.1/32 trust
${PG_HBA_EXTRA:-}
$pam_line
HBA
	PG_CTL=${PG_CTL:-$PG_BINDIR/pg_ctl}
	cleanup="$cleanup as_server '$PG_CTL' -D '$DATA' -m immediate stop >/dev/null 2>&1;"
	# The port comes from the pid; when another test's server holds it,
	# try the next few.
	try=0
	while :; do
		PORT=$((20000 + ($$ + try * 7919) % 20000))
		pg_run && return 0
		try=$((try + 1))
		[ $try -lt 5 ] && grep -q 'could not bind' "$TMP/pg/server.log" ||
			{ cat "$TMP/pg/server.log"; return 1; }
	done
}

# pg_run : starts pg_start's server on $PORT.
pg_run() {
	as_server env \
		LD_PRELOAD="$(san_preload) $TMP/lib/pam_confdir.so $TMP/lib/syslog_capture.so" \
		PB_PAM_CONFDIR="$TMP/pam.d" PB_SYSLOG_CAPTURE="$PB_SYSLOG" \
		"$PG_CTL" -D "$DATA" -l "$TMP/pg/server.log" \
		-o "-p $PORT" -w -t 30 start >/dev/null 2>&1
}

# pg_restart : pg_start's server again, with its postgresql.conf as
# changed since.
pg_restart() {
	as_server "$PG_CTL" -D "$DATA" -m fast stop >/dev/null 2>&1
	pg_run || { cat "$TMP/pg/server.log"; return 1; }
}

# pg_tree : a private copy of the server's layout in $TMP/pgtree with the
# built pg_buildkite extension in it, so that CREATE EXTENSION finds it
# without a file written to the system's directories. postgres finds its
# library and share directories relative to its own (resolved) path, so
# postgres and pg_ctl are copied and everything else is linked. Sets
# PG_CTL for pg_start.
pg_tree() {
	set -- "$("$PG_BINDIR/pg_config" --bindir)" \
		"$("$PG_BINDIR/pg_config" --pkglibdir)" \
		"$("$PG_BINDIR/pg_config" --sharedir)"
	root=$(python3 -c 'import os,sys; print(os.path.commonpath(sys.argv[1:]))' "$@")
	tree="$TMP/pgtree"
	mkdir -p "$tree${1#"$root"}" "$tree${2#"$root"}" \
		"$tree${3#"$root"}/extension" || return 1
	cp "$1/postgres" "$1/pg_ctl" "$tree${1#"$root"}/" || return 1
	for f in "$2"/* "$3"/* "$3"/extension/*; do
		t="$tree${f#"$root"}"
		[ -e "$t" ] || ln -s "$f" "$t" || return 1
	done
	cp "$PGEXT" "$tree${2#"$root"}/" &&
	cp "$top_srcdir/pg_buildkite/pg_buildkite.control" \
		"$top_srcdir"/pg_buildkite/pg_buildkite--*.sql \
		"$tree${3#"$root"}/extension/" || return 1
	chmod -R a+rX "$tree"
	PG_CTL="$tree${1#"$root"}/pg_ctl"
}

# jwks_server_start DIR : the local HTTPS issuer of tests/jwks_server.py
# serving DIR/jwks.json with a certificate of its own (DIR/ca.pem is the
# CA file to trust); sets JWKS_PORT and JWKS_URL. Stopped on exit.
jwks_server_start() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$1/key.pem" \
		-out "$1/ca.pem" >/dev/null 2>&1 || return 1
	chmod 644 "$1/ca.pem"
	rm -f "$1/ready" "$1/port"
	/usr/bin/python3 "$top_srcdir/tests/jwks_server.py" --port 0 \
		--cert "$1/ca.pem" --key "$1/key.pem" --dir "$1" 2>"$1/server.err" &
	cleanup="$cleanup kill $! 2>/dev/null;"
	for _ in $(seq 50); do
		if [ -f "$1/ready" ]; then
			JWKS_PORT=$(cat "$1/port")
			JWKS_URL="https://127.0.0.1:$JWKS_PORT/.well-known/jwks"
			return 0
		fi
		sleep 0.1
	done
	cat "$1/server.err"
	return 1
}

# requests DIR : how many requests the issuer has answered.
requests() { cat "$1/count" 2>/dev/null || echo 0; }
