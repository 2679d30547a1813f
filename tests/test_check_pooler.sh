#!/bin/sh
# test_check_pooler.sh - "pam-buildkite check --pooler": the warnings for
# a policy used behind a connection pooler (PgBouncer runs PAM in one
# thread), and none without the option or for a policy that never
# fetches.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -x "$TOOL" ] || skip_all "pam-buildkite not built"

mkdir -p "$TMP/cache" && chmod 755 "$TMP/cache"
echo '{"keys": []}' >"$TMP/jwks.json"
# policy FILE JWKS-LINES [SESSION-LINES] : a valid policy of one rule.
policy() {
	cat >"$1" <<POLICY
version: 1
token:
  audience: postgres://db.test
  organization: acme-inc
jwks:
$2
${3:-}
rules:
  - name: api
    pipeline: api
    roles: [api_migrator]
POLICY
	chmod 640 "$1"
}
# chk ARGS... : check as the user running the test; sets rc and out
# (standard output and error together).
chk() {
	out=$("$TOOL" check "$@" 2>&1)
	rc=$?
}

policy "$TMP/module.yaml" "  url: https://127.0.0.1:9/jwks
  cache: $TMP/cache
  timeout: 2s"
chk -c "$TMP/module.yaml" --pooler
ok "$([ $rc -eq 0 ]; echo $?)" "check --pooler: a valid policy still exits 0"
echo "$out" | grep -q '^warning: --pooler: jwks.writer: module: a login fetches jwks.url itself .*for up to jwks.timeout (2s); a pooler runs PAM in a single thread, so every client.s login stalls during that fetch; set jwks.writer: tool .*pam-buildkite-jwks.timer.*or use jwks.file$'
ok $? "... jwks.url with writer: module: a warning that every client stalls, and what to set"
chk -c "$TMP/module.yaml"
ok "$([ $rc -eq 0 ] && ! echo "$out" | grep -q pooler; echo $?)" \
	"... without --pooler no such warning"

policy "$TMP/default.yaml" "  cache: $TMP/cache"
chk -c "$TMP/default.yaml" --pooler
echo "$out" | grep -q '^warning: --pooler: jwks.writer: module: '
ok $? "the default (Buildkite's jwks.url, writer: module) is warned about too"

# writer: tool trusts a cache only root (or another user) can write: as
# root, the cache is root's and the module's user is nobody.
if [ "$(id -u)" = 0 ]; then
	policy "$TMP/tool.yaml" "  url: https://127.0.0.1:9/jwks
  cache: $TMP/cache
  writer: tool"
	chk -c "$TMP/tool.yaml" --pooler --user nobody
	ok "$([ $rc -eq 0 ]; echo $?)" "writer: tool: check still exits 0"
	echo "$out" | grep -q '^warning: --pooler: jwks.login_fetch is true: a login fetches jwks.url, for up to jwks.timeout (3s) while every other client waits, when the cache is older than jwks.max_stale .*for a token whose kid it lacks, which any client can make up; set jwks.login_fetch: false$'
	ok $? "writer: tool, login_fetch left true: the two cases where a login still fetches, warned"

	policy "$TMP/nofetch.yaml" "  url: https://127.0.0.1:9/jwks
  cache: $TMP/cache
  writer: tool
  login_fetch: false"
	chk -c "$TMP/nofetch.yaml" --pooler --user nobody
	ok "$([ $rc -eq 0 ] && ! echo "$out" | grep -q '^warning: --pooler'; echo $?)" \
		"writer: tool, login_fetch: false, a cache only root can write: no pooler warning"
	echo "$out" | grep -q '^note: --pooler: no login waits on the network: .*refused (jwks_unavailable) once it is older than jwks.max_stale .*(unknown_key) until the next fetch'
	ok $? "... a note of what is refused instead"

	chown nobody "$TMP/cache"
	chk -c "$TMP/tool.yaml" --pooler --user nobody
	echo "$out" | grep -q '^warning: --pooler: cache directory .* writable by uid [0-9]*, which jwks.writer: tool forbids, so every login fetches jwks.url itself'
	ok $? "writer: tool with a cache the module's user could write: every login fetches, warned"
	chk -c "$TMP/nofetch.yaml" --pooler --user nobody
	echo "$out" | grep -q '^warning: --pooler: cache directory .* writable by uid [0-9]*, .*with jwks.login_fetch: false every login is refused (reason=jwks_unavailable)'
	ok $? "... and with login_fetch: false, every login refused, warned"
	chown root "$TMP/cache"
fi

policy "$TMP/badfetch.yaml" "  url: https://127.0.0.1:9/jwks
  cache: $TMP/cache
  login_fetch: false"
chk -c "$TMP/badfetch.yaml"
echo "$out" | grep -q 'badfetch.yaml:[0-9]*:[0-9]*: jwks.login_fetch: false needs jwks.writer: tool'
ok "$([ $? -eq 0 ] && [ $rc -ne 0 ]; echo $?)" \
	"login_fetch: false with writer: module refused at its line: nothing would refresh the cache"

policy "$TMP/file.yaml" "  file: $TMP/jwks.json"
chk -c "$TMP/file.yaml" --pooler
ok "$([ $rc -eq 0 ] && ! echo "$out" | grep -q -- '--pooler'; echo $?)" \
	"jwks.file: nothing to say for a pooler"

policy "$TMP/life.yaml" "  file: $TMP/jwks.json" "session:
  lifetime: 30m"
chk -c "$TMP/life.yaml" --pooler
echo "$out" | grep -q '^warning: --pooler: session.lifetime is 1800s: .*every login this policy allows is refused (reason=config)'
ok $? "session.lifetime: every login would be refused behind a pooler, warned"

chk --pooler=yes -c "$TMP/file.yaml"
ok "$([ $rc -eq 2 ]; echo $?)" "--pooler takes no value (usage error, exit 2)"
chk --help
echo "$out" | grep -q 'check   \[-c policy.yaml\] \[--user USER\] \[--pooler\]'
ok $? "the usage shows --pooler"

done_testing
