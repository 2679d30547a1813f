#!/bin/sh
# test_valgrind.sh - the module under valgrind memcheck, as PAM
# applications load it: pamtester under pam_wrapper (like test_pam.sh)
# and tests/test_pam_stack (libpam with pam_start_confdir), for allowed,
# refused, forged, malformed and config-error logins and for keys fetched
# from a local HTTPS issuer into the shared cache (libcurl and OpenSSL
# loaded by the module).
#
# Each run must exit as it would without valgrind, with no memcheck error
# and no definitely or indirectly lost block. "Still reachable" and
# "possibly lost" blocks are not errors: libpam, pam_wrapper, libcurl and
# OpenSSL keep one-time allocations until exit. No suppression is needed
# on Debian 12: nothing in the stack loses a block.
#
# Runs in the plain build only: valgrind cannot run code built with
# AddressSanitizer.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

case "$SAN_CFLAGS" in
*sanitize=address*) skip_all "valgrind cannot run an AddressSanitizer build" ;;
esac
[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
command -v valgrind >/dev/null || skip_all "valgrind not installed"
[ -n "$PAMTESTER" ] && [ -x "$PAMTESTER" ] || skip_all "pamtester not installed"
[ -n "$PAM_WRAPPER_LIB" ] && [ -f "$PAM_WRAPPER_LIB" ] ||
	skip_all "libpam-wrapper not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
[ -x /usr/bin/python3 ] || skip_all "python3 not installed"
STACK="$top_builddir/tests/test_pam_stack"
[ -x "$STACK" ] || skip_all "tests/test_pam_stack not built"

# --keep-debuginfo: pam_end unloads the module before the leak check, and
# a leak inside it must still be reported with its function names.
VALGRIND="valgrind --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect --track-fds=no --keep-debuginfo=yes
	--num-callers=30"

# vg_clean LOG : the memcheck log reports no error and no definitely or
# indirectly lost byte; otherwise its report goes to the TAP log.
vg_clean() {
	if grep -q 'ERROR SUMMARY: 0 errors' "$1" && {
		grep -q 'All heap blocks were freed' "$1" || {
			grep -q 'definitely lost: 0 bytes' "$1" &&
			grep -q 'indirectly lost: 0 bytes' "$1"
		}
	}; then
		return 0
	fi
	sed 's/^==[0-9]*== */# /' "$1" | grep -v '^# $' | head -n 80
	return 1
}

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
write_policy "$TMP/policy.yaml"
mkdir "$TMP/pam.d"
svc() { # svc NAME MODULE-ARGS...
	name=$1
	shift
	printf 'auth required %s %s\naccount required %s %s\n' \
		"$MODULE" "$*" "$MODULE" "$*" >"$TMP/pam.d/$name"
}
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$TMP/pam.d/other"
svc buildkite "config=$TMP/policy.yaml"
svc nopolicy "config=$TMP/missing.yaml"
sed 's/^    branch: main$/    branchs: main/' "$TMP/policy.yaml" >"$TMP/typo.yaml"
svc typo "config=$TMP/typo.yaml"
LOG="$TMP/syslog"

# vpt NAME WANT SERVICE TOKEN ROLE REASON : pamtester (authenticate and
# acct_mgmt) under memcheck must exit WANT (0 or 1) with an audit line
# of REASON and a clean memcheck log.
runs=0
vpt() {
	name=$1 want=$2 service=$3 tok=$4 role=$5 reason=$6
	runs=$((runs + 1))
	: >"$LOG"
	vlog="$TMP/vg.$runs.log"
	# shellcheck disable=SC2086 # $VALGRIND is a command with options
	out=$(printf '%s\n' "$tok" | env \
		LD_PRELOAD="$PAM_WRAPPER_LIB $SHIM" \
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d" \
		PAM_WRAPPER_USE_SYSLOG=1 PB_SYSLOG_CAPTURE="$LOG" \
		$VALGRIND --log-file="$vlog" \
		"$PAMTESTER" -v "$service" "$role" authenticate acct_mgmt 2>&1)
	rc=$?
	ok "$([ $rc -eq "$want" ]; echo $?)" \
		"$name: pamtester under memcheck exits $want (got $rc)"
	[ $rc -eq "$want" ] || echo "$out" | sed 's/^/# /' | head -n 10
	audit_has "$LOG" "pam_buildkite\\($service:auth\\): result=[a-z]+ reason=$reason role=$role "
	ok $? "... audited as reason=$reason"
	vg_clean "$vlog"
	ok $? "... no memcheck error and no definitely or indirectly lost block"
}

good=$(mint --key "$TMP/rsa.pem" --kid rsa-1)
start=$(date +%s)

# The check itself must be able to fail: a PAM module that loses 77 bytes
# in front of ours must make memcheck fail the run and name the leak's
# function, although pam_end unloaded the module before the leak check.
cat >"$TMP/leaky.c" <<'EOF2'
#include <stdlib.h>
#include <security/pam_modules.h>
static void *volatile sink;
int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v)
{ (void)h; (void)f; (void)c; (void)v; sink = malloc(77); sink = NULL; return PAM_IGNORE; }
int pam_sm_setcred(pam_handle_t *h, int f, int c, const char **v)
{ (void)h; (void)f; (void)c; (void)v; return PAM_IGNORE; }
EOF2
if "$CC" -g -O0 -shared -fPIC -o "$TMP/leaky.so" "$TMP/leaky.c" 2>"$TMP/leaky.err"; then
	printf 'auth optional %s\n' "$TMP/leaky.so" >"$TMP/pam.d/leaky"
	cat "$TMP/pam.d/buildkite" >>"$TMP/pam.d/leaky"
	# shellcheck disable=SC2086
	printf '%s\n' "$good" | env LD_PRELOAD="$PAM_WRAPPER_LIB $SHIM" \
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d" \
		PAM_WRAPPER_USE_SYSLOG=1 PB_SYSLOG_CAPTURE="$LOG" \
		$VALGRIND --log-file="$TMP/vg.leaky.log" \
		"$PAMTESTER" leaky api_migrator authenticate >/dev/null 2>&1
	rc=$?
	ok "$([ $rc -eq 99 ] && grep -q 'definitely lost: 77 bytes' "$TMP/vg.leaky.log" &&
		grep -q 'pam_sm_authenticate (leaky.c' "$TMP/vg.leaky.log"; echo $?)" \
		"a module losing 77 bytes fails the run (exit $rc) and memcheck names it"
else
	sed 's/^/# /' "$TMP/leaky.err"
	ok 1 "cannot build the leaking module of the self-check"
fi

ec=$(mint --key "$TMP/ec.pem" --kid ec-1)
forged=$(mint --key "$TMP/evil.pem" --kid rsa-1)
expired=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --expired)

vpt "allowed (RS256)" 0 buildkite "$good" api_migrator ok
vpt "allowed (ES256)" 0 buildkite "$ec" ci_reader ok
vpt "refused by no rule" 1 buildkite "$good" postgres no_rule
vpt "refused by a deny rule" 1 buildkite "$good" api_admin denied
vpt "forged signature" 1 buildkite "$forged" api_migrator signature
vpt "expired token" 1 buildkite "$expired" api_migrator expired
vpt "not a token" 1 buildkite "not-a-token" api_migrator malformed
vpt "config error: no policy file" 1 nopolicy "$good" api_migrator config
vpt "config error: unknown policy key" 1 typo "$good" api_migrator config

# Keys from jwks.url: the first login fetches over HTTPS into an empty
# cache (the module dlopens libcurl), the second reads the cache, and an
# unknown kid makes the module fetch again. The timeout leaves room for
# TLS under valgrind.
mkdir -p "$TMP/issuer" "$TMP/cache"
cp "$TMP/jwks.json" "$TMP/issuer/jwks.json"
jwks_server_start "$TMP/issuer" || { echo "Bail out! no JWKS server"; exit 1; }
sed "s|^  file: .*|  url: $JWKS_URL\\
  ca_file: $TMP/issuer/ca.pem\\
  cache: $TMP/cache\\
  timeout: 30s|" "$TMP/policy.yaml" >"$TMP/url.yaml"
svc url "config=$TMP/url.yaml"
vpt "jwks.url: first login fetches" 0 url "$good" api_migrator ok
diag "after a fetch with libcurl, at exit: $(grep -E 'in use at exit' "$vlog" | sed 's/^==[0-9]*== *//')"
ok "$([ "$(requests "$TMP/issuer")" -eq 1 ]; echo $?)" \
	"... with one request to the issuer, into the cache"
vpt "jwks.url: a fresh cache" 0 url "$ec" ci_reader ok
ok "$([ "$(requests "$TMP/issuer")" -eq 1 ]; echo $?)" \
	"... and no request"
unknown=$(mint --key "$TMP/evil.pem" --kid rsa-9)
vpt "jwks.url: an unknown kid refetches" 1 url "$unknown" api_migrator unknown_key
ok "$([ "$(requests "$TMP/issuer")" -eq 2 ]; echo $?)" \
	"... with one more request"
echo malformed >"$TMP/issuer/mode"
sed -i 's/"fetched_at": *[0-9]*/"fetched_at":0/' "$TMP"/cache/jwks-*.json
vpt "jwks.url: an expired cache and a broken issuer" 1 url "$good" api_migrator jwks_unavailable

# test_pam_stack: acct_mgmt after authenticate, use_first_pass, two
# interleaved handles, a large token, all in one process.
vlog="$TMP/vg.stack.log"
# shellcheck disable=SC2086
$VALGRIND --log-file="$vlog" "$STACK" >"$TMP/stack.out" 2>&1
rc=$?
ok "$([ $rc -eq 0 ]; echo $?)" "test_pam_stack under memcheck passes (exit $rc)"
[ $rc -eq 0 ] || grep -E '^(not ok|Bail out)' "$TMP/stack.out" | sed 's/^/# /'
n=$(grep -c '^ok ' "$TMP/stack.out")
ok "$([ "$n" -gt 10 ] && ! grep -q '^not ok' "$TMP/stack.out"; echo $?)" \
	"... all of its $n checks pass"
vg_clean "$vlog"
ok $? "... no memcheck error and no definitely or indirectly lost block"

diag "$((runs + 2)) processes under memcheck in $(( $(date +%s) - start ))s"
done_testing
