#!/bin/sh
# test_dry_run.sh - pam-buildkite dry-run, the README's dry run without
# Buildkite: its key and JWKS, its tokens through the PAM stack
# (pamtester): refused by a policy with Buildkite's issuer (the default),
# allowed by a dry-run policy that names the stand-in issuer.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$TOOL" ] || skip_all "pam-buildkite not built"
[ -n "$PAMTESTER" ] && [ -x "$PAMTESTER" ] || skip_all "pamtester not installed"
[ -n "$PAM_WRAPPER_LIB" ] && [ -f "$PAM_WRAPPER_LIB" ] ||
	skip_all "libpam-wrapper not installed"

ISSUER=https://pam-buildkite.invalid/dry-run
mkdir "$TMP/dry" "$TMP/pam.d"
out=$("$TOOL" dry-run key "$TMP/dry" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -s "$TMP/dry/dry-run.jwks.json" ] &&
	[ "$(stat -c %a "$TMP/dry/dry-run.key")" = 600 ] &&
	printf '%s\n' "$out" | grep -q "for dry runs only, never in production" &&
	printf '%s\n' "$out" | grep -q "issuer: $ISSUER"
ok $? "dry-run key writes a private key (0600) and its JWKS, and says what for"

policy() { # policy FILE [token.issuer]
	{
		printf 'version: 1\ntoken:\n  audience: postgres://db.test\n'
		printf '  organization: acme-inc\n'
		[ -n "${2:-}" ] && printf '  issuer: %s\n' "$2"
		printf 'jwks:\n  file: %s\n' "$TMP/dry/dry-run.jwks.json"
		cat <<'RULES'
rules:
  - name: no migrations from builds started by hand
    effect: deny
    pipeline: "*"
    source: [ui, api]
    roles: [api_migrator]
  - name: api migrations from main
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator]
RULES
	} >"$1"
}
policy "$TMP/real.yaml"
policy "$TMP/dry.yaml" "$ISSUER"
for p in real dry; do
	printf 'auth required %s config=%s\naccount required %s config=%s\n' \
		"$MODULE" "$TMP/$p.yaml" "$MODULE" "$TMP/$p.yaml" >"$TMP/pam.d/$p"
done
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$TMP/pam.d/other"
LOG="$TMP/syslog"

dtok=$("$TOOL" dry-run token --key "$TMP/dry/dry-run.key" \
	--aud postgres://db.test --org acme-inc --pipeline api --branch main \
	--step migrate 2>"$TMP/token.err")
rc=$?
[ $rc -eq 0 ] && [ -n "$dtok" ] &&
	grep -q "never in production" "$TMP/token.err"
ok $? "dry-run token prints a token, and a warning on stderr"
out=$(printf '%s\n' "$dtok" | "$TOOL" decode 2>&1)
printf '%s\n' "$out" | grep -q "\"iss\": \"$ISSUER\"" &&
	printf '%s\n' "$out" | grep -q '"sub": "organization:acme-inc:pipeline:api:ref:refs/heads/main:commit:0\{40\}:step:migrate"' &&
	printf '%s\n' "$out" | grep -q '"build_source": "webhook"'
ok $? "its issuer is the stand-in's, its sub agrees with its claims"

SERVICE=real
pt "$dtok" api_migrator
[ $rc -ne 0 ] && audit_has "$LOG" "result=deny reason=issuer role=api_migrator "
ok $? "a policy with Buildkite's issuer (the default) refuses it: reason issuer"

SERVICE=dry
pt "$dtok" api_migrator
[ $rc -eq 0 ] && audit_has "$LOG" 'result=allow reason=ok role=api_migrator .*rule="api migrations from main"'
ok $? "a dry-run policy naming the stand-in issuer allows it"

ui=$("$TOOL" dry-run token --key "$TMP/dry/dry-run.key" \
	--aud postgres://db.test --org acme-inc --pipeline api --branch main \
	--step migrate --source ui 2>/dev/null)
pt "$ui" api_migrator
[ $rc -ne 0 ] && audit_has "$LOG" 'result=deny reason=denied role=api_migrator .*source=ui'
ok $? "the same job started in the UI: the dry run shows the deny rule"

a=$(printf '%s\n' "$dtok" | "$TOOL" decode 2>&1 | grep '"jti"')
b=$(printf '%s\n' "$ui" | "$TOOL" decode 2>&1 | grep '"jti"')
got="$a / $b"
[ -n "$a" ] && [ "$a" != "$b" ]
ok $? "every token has its own jti"

out=$("$TOOL" dry-run token --key "$TMP/dry/dry-run.key" --aud x 2>&1)
rc=$?
[ $rc -eq 2 ] && printf '%s\n' "$out" | grep -q "org are required"
ok $? "dry-run token without --org: usage error (exit 2)"
out=$("$TOOL" --help)
printf '%s\n' "$out" | grep -q "dry-run token --key" &&
	printf '%s\n' "$out" | grep -q "never in production"
ok $? "--help shows dry-run and what it is for"
done_testing
