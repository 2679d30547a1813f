#!/bin/sh
# demo.sh - pam_buildkite end to end on this machine.
#
# Installs what is missing (as root), builds the module, starts a local
# PostgreSQL whose pg_hba sends logins through the module, plays the part
# of Buildkite's token issuer with a key of its own, and shows allowed and
# denied logins with the audit line each one leaves in syslog.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

sh tests/install-deps.sh
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p build-demo
(cd build-demo && { [ -f Makefile ] || "$top/configure" -q; } &&
	make -s -j"$(nproc)" >/dev/null && make -s tests/mint-token \
	tests/syslog_capture.la tests/pam_confdir.la >/dev/null)

top_builddir=$top/build-demo
top_srcdir=$top
. "$top/tests/lib.sh"

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. The issuer: a signing key and its JWKS (standing in for agent.buildkite.com)"
make_keys >/dev/null
cp examples/demo-policy.yaml "$TMP/policy.yaml"
echo "   JWKS with kids rsa-1 and ec-1 written beside the policy"

say "2. PostgreSQL with: host all all 127.0.0.1/32 pam pamservice=pbtest"
pg_start "$TMP/policy.yaml" || { echo "PostgreSQL did not start" >&2; exit 1; }
psql -h "$TMP/pg" -p "$PORT" -U admin -d postgres -q -c \
	"create role api_migrator login; create role ci_reader login;
	 create role app_owner login;" >/dev/null
echo "   listening on 127.0.0.1:$PORT; policy: examples/demo-policy.yaml"

# try TITLE ROLE MINT-ARGS... : one login, its result and its audit line.
try() {
	title=$1 role=$2
	shift 2
	say "$title"
	tok=$("$MINT" sign --key "$TMP/rsa.pem" --kid rsa-1 \
		--aud postgres://db.demo --org acme-inc "$@")
	echo "   \$ PGPASSWORD=<${#tok}-byte token> psql \"host=127.0.0.1 user=$role\" -c 'select current_user'"
	: >"$PB_SYSLOG"
	if out=$(PGPASSWORD=$tok psql -X -w -At \
		"host=127.0.0.1 port=$PORT user=$role dbname=postgres" \
		-c "select 'logged in as ' || current_user" 2>&1); then
		echo "   ALLOWED: $out"
	else
		echo "   REFUSED: $out"
	fi
	echo "   syslog: $(grep -h 'pam_buildkite(' "$PB_SYSLOG" | sed 's/^[^ ]* <[0-9]*> //')"
}

try "3. The migrate step of api on main asks for api_migrator" api_migrator
try "4. The same job asks for app_owner" app_owner
try "5. A feature branch asks for api_migrator" api_migrator \
	--set 'build_branch="feature/x"'
try "6. Any pipeline's tests ask for ci_reader" ci_reader \
	--set 'pipeline_slug="web"' --set 'step_key=null'
try "7. A release tag built from a webhook asks for app_owner" app_owner \
	--set 'build_tag="v1.4.0"' --set 'build_source="webhook"'
try "8. The same release started by hand in the UI" app_owner \
	--set 'build_tag="v1.4.0"' --set 'build_source="ui"'
try "9. Another Buildkite customer's genuine token" api_migrator \
	--org evil-corp
try "10. An expired token" api_migrator --expired
say "11. A token signed with a key that is not in the JWKS"
"$MINT" sign --key "$TMP/evil.pem" --kid rsa-1 --aud postgres://db.demo \
	>"$TMP/forged"
: >"$PB_SYSLOG"
PGPASSWORD=$(cat "$TMP/forged") psql -X -w -At \
	"host=127.0.0.1 port=$PORT user=api_migrator dbname=postgres" \
	-c "select 1" >/dev/null 2>&1 && echo "   ALLOWED (this is a bug)" ||
	echo "   REFUSED"
echo "   syslog: $(grep -h 'pam_buildkite(' "$PB_SYSLOG" | sed 's/^[^ ]* <[0-9]*> //')"
say "Done: the server is stopped and its files removed."
