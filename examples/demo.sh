#!/bin/sh
# demo.sh - pam_buildkite end to end on this machine, set up as the README
# recommends.
#
# Installs what is missing (as root; tests/install-deps.sh demo), builds
# the module, starts a local PostgreSQL with TLS whose pg_hba sends logins
# through the module on hostssl lines and rejects them without TLS, plays
# the part of Buildkite's token issuer with a key of its own, and shows
# allowed and refused logins with the audit line each one leaves in
# syslog.
#
# PB_DEMO_BUILDDIR=DIR runs it from a build tree made already (the test
# suite's, where make check built tests/mint-token and the shims): then
# nothing is installed or built.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

if [ -n "${PB_DEMO_BUILDDIR:-}" ]; then
	top_builddir=$(cd "$PB_DEMO_BUILDDIR" && pwd)
else
	sh tests/install-deps.sh demo
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1
	mkdir -p build-demo
	# The demo does not use the pg_buildkite extension, and its set of
	# packages leaves out the server headers it needs.
	(cd build-demo && { [ -f Makefile ] ||
		"$top/configure" -q --without-pg-config; } &&
		make -s -j"$(nproc)" >/dev/null && make -s tests/mint-token \
		tests/syslog_capture.la tests/pam_confdir.la >/dev/null)
	top_builddir=$top/build-demo
fi
top_srcdir=$top
. "$top/tests/lib.sh"

# Bold titles on a terminal only: a log or a pipe gets plain text.
if [ -t 1 ]; then
	bold=$(printf '\033[1m') plain=$(printf '\033[0m')
else
	bold="" plain=""
fi
say() { printf '\n%s%s%s\n' "$bold" "$*" "$plain"; }

# The module's audit line of the last login, without syslog's prefix.
audit_line() {
	line=$(grep -h 'pam_buildkite(' "$PB_SYSLOG" | sed 's/^[^ ]* <[0-9]*> //')
	echo "   syslog: ${line:-(none: the module was not asked)}"
}

say "1. The issuer: a signing key and its JWKS (standing in for agent.buildkite.com)"
make_keys >/dev/null
cp examples/demo-policy.yaml "$TMP/policy.yaml"
echo "   JWKS with kids rsa-1 and ec-1 written beside the policy"

say "2. PostgreSQL with TLS: hostssl ... pam pamservice=pbtest, hostnossl ... reject"
PG_TLS=1
pg_start "$TMP/policy.yaml" || { echo "PostgreSQL did not start" >&2; exit 1; }
psql -h "$TMP/pg" -p "$PORT" -U admin -d postgres -q -c \
	"create role api_migrator login; create role ci_reader login;
	 create role app_owner login;" >/dev/null
echo "   listening on 127.0.0.1:$PORT with a certificate for localhost from"
echo "   a throwaway CA; policy: examples/demo-policy.yaml"

# login ROLE SSLMODE TOKEN : one psql login to localhost, checking the
# server's certificate against the demo's CA; says ALLOWED or REFUSED.
login() {
	: >"$PB_SYSLOG"
	if out=$(PGPASSWORD=$3 psql -X -w -At \
		"host=localhost hostaddr=127.0.0.1 port=$PORT sslmode=$2 sslrootcert=$PG_CA user=$1 dbname=postgres" \
		-c "select 'logged in as ' || current_user" 2>&1); then
		echo "   ALLOWED: $out"
	else
		echo "   REFUSED: $(printf '%s' "$out" | tr -s '\n\t ' '   ')"
	fi
}

# try TITLE ROLE MINT-ARGS... : one login with a token from a build that
# a push started (a webhook) unless MINT-ARGS say otherwise; its result
# and its audit line. Every token has a fresh jti and a sub that agrees
# with its claims.
try() {
	title=$1 role=$2
	shift 2
	say "$title"
	tok=$("$MINT" sign --key "$TMP/rsa.pem" --kid rsa-1 \
		--aud postgres://db.demo --org acme-inc \
		--set 'organization_id="0190b2c4-0000-7000-8000-00000000ac3e"' \
		--set 'build_source="webhook"' "$@")
	echo "   \$ PGPASSWORD=<${#tok}-byte token> psql \"host=localhost sslmode=verify-full sslrootcert=ca.pem user=$role\""
	login "$role" verify-full "$tok"
	audit_line
}

try "3. The migrate step of api on main, started by a push, asks for api_migrator" \
	api_migrator
try "4. The same job, started by hand in the UI, asks for api_migrator" \
	api_migrator --set 'build_source="ui"'
try "5. The same job asks for app_owner" app_owner
try "6. A feature branch asks for api_migrator" api_migrator \
	--set 'build_branch="feature/x"'
try "7. Any pipeline's tests ask for ci_reader" ci_reader \
	--set 'pipeline_slug="web"' --set 'step_key="test"'
try "8. A release tag built from a push asks for app_owner" app_owner \
	--set 'build_tag="v1.4.0"'
try "9. The same release started by hand in the UI" app_owner \
	--set 'build_tag="v1.4.0"' --set 'build_source="ui"'
try "10. Another Buildkite customer's genuine token" api_migrator \
	--org evil-corp
try "11. An expired token" api_migrator --expired
try "12. A token signed with a key that is not in the JWKS" api_migrator \
	--key "$TMP/evil.pem"

say "13. A client without TLS, with a good token"
tok=$("$MINT" sign --key "$TMP/rsa.pem" --kid rsa-1 --aud postgres://db.demo \
	--org acme-inc --set 'organization_id="0190b2c4-0000-7000-8000-00000000ac3e"' \
	--set 'build_source="webhook"')
echo "   \$ PGPASSWORD=<${#tok}-byte token> psql \"host=localhost sslmode=disable user=api_migrator\""
login api_migrator disable "$tok"
audit_line

say "Done: the server is stopped and its files removed."
echo "Next: README.md \"Install\", then \"The policy, step by step\", then \"pamtester: check the PAM stack without a database\" for a dry run on your server."
