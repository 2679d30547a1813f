#!/bin/sh
# test_tool.sh - the admin tool pam-buildkite: check, explain, decode and
# jwks fetch as a sysadmin runs them, their exit codes and their exact
# words, and that explain decides what the module decides.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

TOOL="$top_builddir/pam-buildkite"
[ -x "$TOOL" ] || skip_all "pam-buildkite not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "/usr/bin/python3 not installed"

make_keys || { echo "Bail out! cannot make keys"; exit 1; }

# Under the sanitizers the tool is ours, so its leaks count (lib.sh
# turns leak detection off for the host programs of the PAM tests).
pbk() {
	if [ -n "$SAN_CFLAGS" ]; then
		ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" "$TOOL" "$@"
	else
		"$TOOL" "$@"
	fi
}

# run ARGS... : runs the tool with stdin from $IN (default /dev/null);
# sets rc, out (stdout) and err (stderr), and keeps every output in
# $ALL for the check that no token ever shows.
ALL="$TMP/all-output"
: >"$ALL"
IN=/dev/null
run() {
	pbk "$@" <"$IN" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	out=$(cat "$TMP/out")
	err=$(cat "$TMP/err")
	cat "$TMP/out" "$TMP/err" >>"$ALL"
	IN=/dev/null
}

has() { # has TEXT FIXED-STRING
	printf '%s\n' "$1" | grep -q -F -- "$2"
}
has_re() { # has_re TEXT EXTENDED-REGEX
	printf '%s\n' "$1" | grep -q -E -- "$2"
}
not() { # not COMMAND... : 0 when the command fails
	if "$@"; then echo 1; else echo 0; fi
}
# js JSON-TEXT PYTHON-EXPR : prints the expression over the parsed
# object j (None prints as None).
js() {
	printf '%s' "$1" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print('"$2"')'
}

P="$TMP/policy.yaml"
write_policy "$P"
cat >>"$P" <<'POLICY'
  - name: fork branches read
    pipeline: "*"
    branch: "*:*"
    roles: [fork_reader]
  - name: keyed steps
    pipeline: "*"
    step: "*"
    roles: [keyed_step]
POLICY
chmod 600 "$P"
RULES="api migrations from main|tests read anything|never from UI builds|admins from main|ops on this host|ops over the vpn|fork branches read|keyed steps"

T0=1700000000
good=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --now $T0 --lifetime 300)
printf '%s\n' "$good" >"$TMP/good.jwt"
ui_admin=$good  # the fixture token's build_source is ui
webhook=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --now $T0 --lifetime 300 --set 'build_source="webhook"')
forged=$(mint --key "$TMP/evil.pem" --kid rsa-1 --now $T0 --lifetime 300)
printf '%s\n' "$forged" >"$TMP/forged.jwt"
hs=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --alg HS256 --hmac-public-pem --now $T0 --lifetime 300)
TOKENS="$good $webhook $forged $hs"

# ------------------------------------------------------------------ check

run check -c "$P"
ok $rc "check: a valid policy exits 0"
[ "$out" = "$P: ok (8 rules)" ]
ok $? "check: says ok and counts the rules"
! has_re "$err" "readable|writable"
ok $? "check: mode 0600 draws no warning about the file"

chmod 644 "$P"
run check -c "$P"
ok $rc "check: a world-readable policy still exits 0"
has "$err" "warning: $P is readable by everyone (mode 0644)"
ok $? "check: ... but warns that everyone can read it"
chmod 640 "$P"
run check -c "$P"
[ $rc -eq 0 ] && ! has_re "$err" "readable|writable"
ok $? "check: mode 0640 (root and the service user's group) draws no warning about the file"
chmod 660 "$P"
run check -c "$P"
[ $rc -eq 1 ] && has "$err" "$P: group- or world-writable (mode 0660)" && [ -z "$out" ]
ok $? "check: a group-writable policy is refused, as a login refuses it (exit 1)"
chmod 600 "$P"

if [ "$(id -u)" = 0 ]; then
	cp "$P" "$TMP/theirs.yaml"
	chown nobody "$TMP/theirs.yaml"
	run check -c "$TMP/theirs.yaml"
	[ $rc -eq 1 ] && has "$err" "$TMP/theirs.yaml: owned by uid $(id -u nobody), not root or uid 0"
	ok $? "check: a policy owned by another user is refused (exit 1)"
	run check -c "$TMP/theirs.yaml" --user nobody
	[ $rc -eq 0 ] && has "$err" "warning: $TMP/theirs.yaml is owned by nobody (uid $(id -u nobody)), not root: its owner can decide who logs in"
	ok $? "check --user nobody: ... accepted for the user it belongs to, with a warning"
	run check -c "$TMP/theirs.yaml" --user "$(id -u nobody)"
	[ $rc -eq 0 ]
	ok $? "check --user UID: a number names the user too"
	run check -c "$P" --user no-such-user-here
	[ $rc -eq 2 ] && has "$err" "check: no such user no-such-user-here"
	ok $? "check --user: an unknown user is a usage error (exit 2)"
else
	diag "not root: a policy owned by another user is not tried"
fi

cp "$P" "$TMP/ww.yaml"
chmod 666 "$TMP/ww.yaml"
run check -c "$TMP/ww.yaml"
[ $rc -eq 1 ] && has "$err" "$TMP/ww.yaml: group- or world-writable (mode 0666)"
ok $? "check: a world-writable policy is refused (exit 1)"

cat >"$TMP/bad.yaml" <<'BAD'
version: 1
token:
  audience: postgres://db.test
  organization: acme-inc
jwks:
  file: /nonexistent/jwks.json
rules:
  - name: typo
    pipeline: api
    branchs: main
    roles: [x]
BAD
run check -c "$TMP/bad.yaml"
ok "$([ $rc -eq 1 ]; echo $?)" "check: an invalid policy exits 1"
has "$err" "$TMP/bad.yaml:10:5: unknown key \"branchs\""
ok $? "check: ... naming file:line:column and the unknown key"
[ -z "$out" ]
ok $? "check: ... and prints nothing on stdout"

run check -c "$TMP/missing.yaml"
[ $rc -eq 1 ] && has "$err" "$TMP/missing.yaml"
ok $? "check: a missing policy exits 1 naming the file"

# ---------------------------------------------------------------- explain

IN="$TMP/good.jwt"
run explain -c "$P" --role api_migrator --now $((T0 + 10))
ok $rc "explain: a valid token for an allowed role exits 0"
good_text=$out
for s in "input: 1219 bytes from standard input" \
	"keys: 2 keys from jwks.file $TMP/jwks.json" \
	"size: 1218 bytes (1 of surrounding whitespace trimmed)" \
	"segments: three base64url parts" \
	"header: alg RS256, kid \"rsa-1\"; no crit" \
	"algorithm: RS256 is allowed by token.algorithms" \
	"key: kid \"rsa-1\" found among 2 keys: RSA key of 2048 bits, fits RS256" \
	"signature: RS256 signature verifies" \
	"claims: payload is a JSON object and every claim has its type" \
	"issuer: iss \"https://agent.buildkite.com\" is the configured issuer" \
	"audience: aud holds \"postgres://db.test\", a configured audience" \
	"organization: organization_slug \"acme-inc\" is the configured organization" \
	"exp: exp 1700000300 (2023-11-14T22:18:20Z) is in 290s; leeway 30s" \
	"nbf: nbf 1700000000 (2023-11-14T22:13:20Z) is 10s ago; leeway 30s" \
	"iat: iat 1700000000 (2023-11-14T22:13:20Z) is 10s ago; leeway 30s" \
	"lifetime: exp - iat is 300s, within max_lifetime 86400s"; do
	has "$good_text" "  [pass] $s"
	ok $? "explain: step ${s%%:*} is shown passed"
done
[ "$(printf '%s\n' "$good_text" | grep -c '^  \[pass\] ')" -eq 16 ] &&
	! has "$good_text" "[FAIL]"
ok $? "explain: 16 steps, none failed"
old_ifs=$IFS
IFS='|'
for r in $RULES; do
	IFS=$old_ifs
	has_re "$good_text" "^  \[(match|no match)\] \"$r\": "
	ok $? "explain: rule \"$r\" is listed with its verdict"
done
IFS=$old_ifs
has "$good_text" '  [match] "api migrations from main": all conditions hold; lists role "api_migrator"'
ok $? "explain: the allowing rule matched and says why"
has "$good_text" '  [no match] "keyed steps": all conditions hold but the rule does not list role "api_migrator"'
ok $? "explain: a rule that does not list the role says so"
has "$good_text" '  [no match] "ops over the vpn": from 10.0.0.0/8: no client address (a Unix-socket connection), and the rule does not list role "api_migrator"'
ok $? "explain: a from: rule without rhost says there is no client address"
[ "$(printf '%s\n' "$good_text" | tail -n 1)" = 'decision: allow (rule "api migrations from main")' ]
ok $? "explain: the last line is the decision naming the rule"
has "$good_text" '"pipeline_slug": "api",'
ok $? "explain: the verified claims are shown"
has "$good_text" "now: 1700000010 (2023-11-14T22:13:30Z), from --now"
ok $? "explain: says which time it judged at"

run explain -c "$P" --role api_migrator --now $((T0 + 10)) --token-file "$TMP/good.jwt"
[ $rc -eq 0 ] &&
	[ "$(printf '%s\n' "$out" | grep -v '^  \[pass\] input: ')" = \
	  "$(printf '%s\n' "$good_text" | grep -v '^  \[pass\] input: ')" ]
ok $? "explain: --token-file gives what standard input gives"
has "$out" "input: 1219 bytes from the token file"
ok $? "explain: ... and says where the token came from"

IN="$TMP/good.jwt"
run explain -c "$P" --role api_migrator --now $((T0 + 10))
[ "$out" = "$good_text" ]
ok $? "explain: the output is deterministic"

run explain -c "$P" --role postgres --now $((T0 + 10)) --token-file "$TMP/good.jwt"
ok "$([ $rc -eq 1 ]; echo $?)" "explain: a role no rule lists exits 1"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "decision: deny (reason: no_rule; no allow rule matches and lists the role)" ]
ok $? "explain: ... with reason no_rule"

IN="$TMP/good.jwt"
run explain -c "$P" --role api_admin --now $((T0 + 10))
ok "$([ $rc -eq 1 ]; echo $?)" "explain: a role a matching deny rule lists exits 1"
[ "$(printf '%s\n' "$out" | tail -n 1)" = 'decision: deny (reason: denied; rule "never from UI builds"; a matching deny rule covers the role)' ]
ok $? "explain: ... with reason denied, naming the deny rule"
has "$out" '  [match] "admins from main": all conditions hold; lists role "api_admin"'
ok $? "explain: ... while showing the allow rule it overrules"
printf '%s\n' "$webhook" >"$TMP/webhook.jwt"
run explain -c "$P" --role api_admin --now $((T0 + 10)) --token-file "$TMP/webhook.jwt"
[ $rc -eq 0 ] && has "$out" '  [no match] "never from UI builds": source "webhook" does not match "ui"'
ok $? "explain: the same role from a webhook build is allowed, the deny rule says why not"

run explain -c "$P" --role api_migrator --now $((T0 + 1000)) --token-file "$TMP/good.jwt"
ok "$([ $rc -eq 1 ]; echo $?)" "explain: an expired token exits 1"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "decision: deny (reason: expired; token expired 700s ago (exp 1700000300, leeway 30s))" ]
ok $? "explain: ... with reason expired, saying how long ago"
has "$out" "  [FAIL] exp: token expired 700s ago" && has "$out" "rules: not consulted, the token was refused"
ok $? "explain: ... the exp step failed and the rules were not consulted"
expired=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --expired)
TOKENS="$TOKENS $expired"
IN=$TMP/expired.jwt
printf '%s\n' "$expired" >"$IN"
run explain -c "$P" --role api_migrator
[ $rc -eq 1 ] && has_re "$out" '^decision: deny \(reason: expired; token expired 30[0-9]s ago '
ok $? "explain: a token minted expired is expired at the current time"

run explain -c "$P" --role api_migrator --now $((T0 + 320)) --token-file "$TMP/good.jwt"
[ $rc -eq 0 ] && has "$out" "exp: exp 1700000300 (2023-11-14T22:18:20Z) is 20s ago; leeway 30s"
ok $? "explain: --now within the leeway after exp still allows, and says so"
run explain -c "$P" --role api_migrator --now $((T0 - 1000)) --token-file "$TMP/good.jwt"
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = "decision: deny (reason: not_yet_valid; token not valid for another 1000s (nbf 1700000000, leeway 30s))" ]
ok $? "explain: --now before nbf gives not_yet_valid"

run explain -c "$P" --role api_migrator --now $((T0 + 10)) --token-file "$TMP/forged.jwt"
ok "$([ $rc -eq 1 ]; echo $?)" "explain: a token signed by another key exits 1"
has "$out" "  [FAIL] signature: signature does not verify" &&
	[ "$(printf '%s\n' "$out" | tail -n 1)" = "decision: deny (reason: signature; signature does not verify)" ]
ok $? "explain: ... the signature step failed, reason signature"
! has "$out" "pipeline_slug" && ! has "$out" "claims ("
ok $? "explain: ... and no unverified claim is shown"

IN=$TMP/hs.jwt
printf '%s\n' "$hs" >"$IN"
run explain -c "$P" --role api_migrator --now $((T0 + 10))
[ $rc -eq 1 ] && has "$out" "  [pass] header: alg HS256, kid \"rsa-1\"" &&
	has "$out" "  [FAIL] algorithm: algorithm HS256 is never accepted"
ok $? "explain: HS256 fails at the algorithm step"

IN=$TMP/garbage
printf 'not-a-token\n' >"$IN"
run explain -c "$P" --role api_migrator --now $((T0 + 10))
[ $rc -eq 1 ] && has "$out" "  [FAIL] segments: token is not three dot-separated parts" &&
	has "$out" "decision: deny (reason: malformed; "
ok $? "explain: garbage fails at the segments step, reason malformed"

IN=$TMP/big
head -c 20000 /dev/zero | tr '\0' a >"$IN"
run explain -c "$P" --role api_migrator --now $((T0 + 10))
[ $rc -eq 1 ] && has "$out" "  [FAIL] size: token longer than 16384 bytes"
ok $? "explain: a token over 16 KiB fails at the size step"
IN=$TMP/huge
head -c 70000 /dev/zero | tr '\0' a >"$IN"
run explain -c "$P" --role api_migrator --now $((T0 + 10))
[ $rc -eq 2 ] && has "$err" "longer than 64 KiB"
ok $? "explain: input over 64 KiB is refused (exit 2)"

run explain -c "$P" --role ops_vpn --rhost 10.1.2.3 --now $((T0 + 10)) --token-file "$TMP/good.jwt"
[ $rc -eq 0 ] && has "$out" 'decision: allow (rule "ops over the vpn")' &&
	has "$out" "rhost: 10.1.2.3"
ok $? "explain: --rhost inside the from: CIDR allows"
run explain -c "$P" --role ops_vpn --rhost 192.168.1.1 --now $((T0 + 10)) --token-file "$TMP/good.jwt"
[ $rc -eq 1 ] && has "$out" '  [no match] "ops over the vpn": rhost 192.168.1.1 is not in 10.0.0.0/8' &&
	has "$out" "decision: deny (reason: no_rule; "
ok $? "explain: --rhost outside the from: CIDR denies and says why"
run explain -c "$P" --role ops_vpn --now $((T0 + 10)) --token-file "$TMP/good.jwt"
ok "$([ $rc -eq 1 ]; echo $?)" "explain: a from: rule without --rhost denies"

# ------------------------------------------------------- explain --claims

cat >"$TMP/claims.json" <<'JSON'
{"iss": "https://agent.buildkite.com", "organization_slug": "acme-inc",
 "pipeline_slug": "web", "build_branch": "alice:main", "step_key": null,
 "build_number": 7, "build_source": "webhook"}
JSON
run explain -c "$P" --role fork_reader --claims "$TMP/claims.json"
ok $rc "explain --claims: a branch with a colon matches \"*:*\""
has "$out" "  [pass] claims: claims given: token verification skipped" &&
	[ "$(printf '%s\n' "$out" | grep -c '^  \[')" -eq 9 ]
ok $? "explain --claims: says verification was skipped, and nothing else is verified"
[ "$(printf '%s\n' "$out" | tail -n 1)" = 'decision: allow (rule "fork branches read")' ]
ok $? "explain --claims: ... decision names the rule"
has "$out" "claims (given, not verified):"
ok $? "explain --claims: the claims are labelled as not verified"
run explain -c "$P" --role keyed_step --claims "$TMP/claims.json"
[ $rc -eq 1 ] && has "$out" '  [no match] "keyed steps": step_key is null'
ok $? "explain --claims: a null step_key satisfies no step condition, not even \"*\""
run explain -c "$P" --role ci_web --claims "$TMP/claims.json"
[ $rc -eq 0 ] && has "$out" 'lists role "ci_web" (from "ci_{pipeline_slug}")'
ok $? "explain --claims: a role template is expanded and shown"
run explain -c "$P" --role api_admin --claims "$TMP/claims.json" --json
[ $rc -eq 1 ] && [ "$(js "$out" 'j["reason"], j["claims"]["build_branch"], j["claims"]["step_key"], "now" in j')" = "no_rule alice:main None False" ]
ok $? "explain --claims --json: reason and the given claims"

# A rule's session lifetime is part of the decision explain shows.
sed 's/^rules:$/session:\n  lifetime: token\nrules:/' "$P" >"$TMP/life.yaml"
cat >>"$TMP/life.yaml" <<'YAML'
  - name: five seconds
    pipeline: web
    roles: [ci_short]
    session_lifetime: 5s
YAML
chmod 600 "$TMP/life.yaml"
run explain -c "$TMP/life.yaml" --role ci_short --claims "$TMP/claims.json"
[ $rc -eq 0 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = 'decision: allow (rule "five seconds"; session lifetime 5s, ended by the pg_buildkite extension, refused where it is not loaded)' ]
ok $? "explain: an allow says the rule's session lifetime"
run explain -c "$TMP/life.yaml" --role ci_web --claims "$TMP/claims.json" --json
[ $rc -eq 0 ] && [ "$(js "$out" 'j["session_lifetime"]')" = token ]
ok $? "explain --json: ... and the policy's, for a rule without one"

printf '{"pipeline_slug": "a",\n "pipeline_slug": "b"}\n' >"$TMP/dup.json"
run explain -c "$P" --role x --claims "$TMP/dup.json"
[ $rc -eq 2 ] && has_re "$err" "dup\\.json:2:[0-9]+: duplicate object key"
ok $? "explain --claims: duplicate members are refused with file:line:column (exit 2)"
printf '["not", "an", "object"]\n' >"$TMP/arr.json"
run explain -c "$P" --role x --claims "$TMP/arr.json"
[ $rc -eq 2 ] && has "$err" "claims must be a JSON object"
ok $? "explain --claims: a non-object is refused (exit 2)"

# ---------------------------------------------------------- explain --json

IN="$TMP/good.jwt"
run explain -c "$P" --role api_migrator --now $((T0 + 10)) --json
ok $rc "explain --json: allowed exits 0"
[ "$(js "$out" 'j["decision"], j["reason"], j["rule"], j["detail"]')" = "allow ok api migrations from main None" ]
ok $? "explain --json: decision, reason, rule and detail"
[ "$(js "$out" 'len(j["steps"]), all(s["passed"] for s in j["steps"]), [s["step"] for s in j["steps"]]')" = \
  "16 True ['input', 'keys', 'size', 'segments', 'header', 'algorithm', 'key', 'signature', 'claims', 'issuer', 'audience', 'organization', 'exp', 'nbf', 'iat', 'lifetime']" ]
ok $? "explain --json: every step, in order, passed"
[ "$(js "$out" '"|".join(r["rule"] for r in j["rules"]), [r["matched"] for r in j["rules"]]')" = \
  "$RULES [True, False, False, False, False, False, False, False]" ]
ok $? "explain --json: every rule with its verdict"
[ "$(js "$out" 'j["rules"][0]["why"]')" = 'all conditions hold; lists role "api_migrator"' ]
ok $? "explain --json: rules say why"
[ "$(js "$out" 'j["claims"]["pipeline_slug"], j["claims"]["build_number"], j["now"], j["role"], j["rhost"]')" = "api 42 1700000010 api_migrator None" ]
ok $? "explain --json: the verified claims, the time and the role"
# The text and JSON forms are the same trail.
[ "$(js "$out" '"\n".join("  [%s] %s: %s" % ("pass" if s["passed"] else "FAIL", s["step"], s["what"]) for s in j["steps"])')" = \
  "$(printf '%s\n' "$good_text" | grep '^  \[pass\]')" ]
ok $? "explain --json: the steps read as the text output's"

run explain -c "$P" --role api_admin --now $((T0 + 10)) --json --token-file "$TMP/good.jwt"
[ $rc -eq 1 ] && [ "$(js "$out" 'j["decision"], j["reason"], j["rule"], j["detail"]')" = "deny denied never from UI builds a matching deny rule covers the role" ]
ok $? "explain --json: a deny rule is named"
run explain -c "$P" --role api_migrator --now $((T0 + 10)) --json --token-file "$TMP/forged.jwt"
[ $rc -eq 1 ] && [ "$(js "$out" 'j["reason"], j["steps"][-1]["step"], j["steps"][-1]["passed"], j["rules"], "claims" in j')" = "signature signature False [] False" ]
ok $? "explain --json: a forged token: failed signature step, no rules, no claims"
run explain -c "$P" --role api_migrator --now $((T0 + 1000)) --json --token-file "$TMP/good.jwt"
[ $rc -eq 1 ] && [ "$(js "$out" 'j["reason"], j["steps"][-1]["step"], j["claims"]["exp"]')" = "expired exp 1700000300" ]
ok $? "explain --json: an expired token: the exp step failed, the signed claims shown"

run explain -c "$P" --role "$(printf 'r\377')" --rhost "$(printf '\377x')" --json --now $((T0 + 10)) --token-file "$TMP/good.jwt"
[ $rc -eq 1 ] && [ "$(js "$out" 'j["role"], j["rhost"], j["reason"]')" = "r? ?x no_rule" ]
ok $? "explain --json: a role or rhost that is not UTF-8 still gives valid JSON"

# --------------------------------------------------------- usage, config

run
[ $rc -eq 2 ] && has "$err" "usage: pam-buildkite check"
ok $? "no command: exit 2 with the usage on stderr"
run frobnicate
[ $rc -eq 2 ] && has "$err" "unknown command frobnicate"
ok $? "an unknown command: exit 2"
for h in help --help -h; do
	run $h
	[ $rc -eq 0 ] && has "$out" "usage: pam-buildkite check" && [ -z "$err" ]
	ok $? "$h: usage on stdout, exit 0"
done
run explain --help
[ $rc -eq 0 ] && has "$out" "usage:"
ok $? "explain --help: exit 0"
run explain -c "$P" --now 1
[ $rc -eq 2 ] && has "$err" "explain: --role is required"
ok $? "explain without --role: exit 2"
run explain -c "$P" --role x --now yesterday
[ $rc -eq 2 ] && has "$err" "--now needs Unix seconds"
ok $? "explain --now with a non-number: exit 2"
run explain -c "$P" --role x --bogus
[ $rc -eq 2 ] && has "$err" "explain: bad option --bogus" && has "$err" "usage:"
ok $? "an unknown option: exit 2 naming it, with the usage"
run explain -c "$P" --role
[ $rc -eq 2 ] && has "$err" "explain: --role needs a value"
ok $? "an option without its value: exit 2"
run explain -c "$P" --role x extra
[ $rc -eq 2 ] && has "$err" "unexpected argument extra"
ok $? "a stray argument: exit 2"
run explain -c "$P" --role x --token-file "$TMP/good.jwt" --claims "$TMP/claims.json"
[ $rc -eq 2 ] && has "$err" "exclude each other"
ok $? "--token-file with --claims: exit 2"
run explain -c "$P" --role x --token-file "$TMP/nonexistent.jwt"
[ $rc -eq 2 ] && has "$err" "cannot open $TMP/nonexistent.jwt" && [ -z "$out" ]
ok $? "a missing token file: exit 2"
run explain -c "$TMP/missing.yaml" --role api_migrator --token-file "$TMP/good.jwt"
[ $rc -eq 2 ] && has "$err" "$TMP/missing.yaml" && [ -z "$out" ]
ok $? "explain with a missing policy: exit 2 naming it"
run explain -c "$TMP/bad.yaml" --role api_migrator --token-file "$TMP/good.jwt"
[ $rc -eq 2 ] && has "$err" "bad.yaml:10:5: "
ok $? "explain with an invalid policy: exit 2 with file:line:column"
run check -c "$P" extra
ok "$([ $rc -eq 2 ]; echo $?)" "check with a stray argument: exit 2"
run jwks fetch -c "$P"
[ $rc -eq 2 ] && [ "$err" = "jwks fetch: the policy uses jwks.file $TMP/jwks.json: nothing to fetch" ]
ok $? "jwks fetch with a jwks.file policy: nothing to fetch, exit 2"
run jwks
ok "$([ $rc -eq 2 ]; echo $?)" "jwks without fetch: exit 2"

# ----------------------------------------------------------------- decode

IN="$TMP/good.jwt"
run decode
ok $rc "decode: a token exits 0"
[ "$err" = "# not verified: decoded only" ]
ok $? "decode: says on stderr that nothing was verified"
[ "$(js "$out" 'j["header"]["alg"], j["header"]["kid"], j["claims"]["pipeline_slug"], j["claims"]["step_key"], list(j)')" = "RS256 rsa-1 api migrate ['header', 'claims']" ]
ok $? "decode: header alg and kid, and the claims"
has "$out" '    "kid": "rsa-1",' && has "$out" '    "iss": "https://agent.buildkite.com",'
ok $? "decode: pretty JSON, members in token order"
run decode --token-file "$TMP/forged.jwt"
[ $rc -eq 0 ] && [ "$(js "$out" 'j["claims"]["organization_slug"]')" = acme-inc ]
ok $? "decode: a forged token decodes too: nothing is verified"
IN=$TMP/garbage
run decode
[ $rc -eq 1 ] && has "$err" "three dot-separated parts" && [ -z "$out" ]
ok $? "decode: not a token exits 1 saying why"
IN=$TMP/pad
printf '%s=.e30.x\n' "$(printf '%s' "$good" | cut -d. -f1)" >"$IN"
run decode
[ $rc -eq 1 ] && has "$err" "header is not strict unpadded base64url"
ok $? "decode: padded base64 is refused, strictly"
IN=$TMP/arr
printf 'W10.e30.x\n' >"$IN"
run decode
[ $rc -eq 1 ] && has "$err" "header is not a JSON object"
ok $? "decode: a header that is not an object exits 1"
IN=/dev/null
run decode
[ $rc -eq 1 ] && has "$err" "no token"
ok $? "decode: empty input exits 1"

# ------------------------------------------------------ tokens never shown

leaked=0
for t in $TOKENS; do
	grep -q -F -- "$t" "$ALL" && leaked=1
	grep -q -F -- "${t##*.}" "$ALL" && leaked=1
done
ok $leaked "no output ever held a token or its signature"

# ------------------------------------------------- the module agrees

if [ -f "$MODULE" ] && [ -n "$PAMTESTER" ] && [ -x "$PAMTESTER" ] &&
	[ -n "$PAM_WRAPPER_LIB" ] && [ -f "$PAM_WRAPPER_LIB" ]; then
	mkdir "$TMP/pam.d"
	printf 'auth required %s config=%s\naccount required %s config=%s\n' \
		"$MODULE" "$P" "$MODULE" "$P" >"$TMP/pam.d/buildkite"
	printf 'auth required pam_deny.so\naccount required pam_deny.so\n' \
		>"$TMP/pam.d/other"
	now_good=$(mint --key "$TMP/rsa.pem" --kid rsa-1)
	now_forged=$(mint --key "$TMP/evil.pem" --kid rsa-1)
	TOKENS="$TOKENS $now_good $now_forged"
	agree=0
	for c in "$now_good api_migrator" "$now_good postgres" \
		"$now_good api_admin" "$now_forged api_migrator" \
		"$expired api_migrator" "$now_good ops_vpn 10.9.8.7" \
		"$now_good ops_vpn 192.168.0.1"; do
		set -- $c
		: >"$TMP/syslog"
		printf '%s\n' "$1" | env \
			LD_PRELOAD="$(san_preload) $PAM_WRAPPER_LIB $SHIM" \
			PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d" \
			PAM_WRAPPER_USE_SYSLOG=1 PB_SYSLOG_CAPTURE="$TMP/syslog" \
			"$PAMTESTER" ${3:+-I rhost=$3} buildkite "$2" \
			authenticate >/dev/null 2>&1
		prc=$?
		mod=$(sed -n 's/.* reason=\([a-z_]*\) .*/\1/p' "$TMP/syslog")
		printf '%s\n' "$1" >"$TMP/tok"
		IN="$TMP/tok"
		run explain -c "$P" --role "$2" ${3:+--rhost "$3"} --json
		mine=$(js "$out" 'j["reason"]')
		diag "role $2${3:+ from $3}: module reason=$mod rc=$prc, explain reason=$mine rc=$rc"
		if [ "$mod" != "$mine" ] ||
			{ [ $prc -eq 0 ] && [ $rc -ne 0 ]; } ||
			{ [ $prc -ne 0 ] && [ $rc -eq 0 ]; }; then
			agree=1
		fi
	done
	ok $agree "explain decides as the module does (pamtester, 7 cases)"
	leaked=0
	for t in $now_good $now_forged; do
		grep -q -F -- "$t" "$ALL" && leaked=1
	done
	ok $leaked "... and shows none of those tokens either"
else
	diag "pamtester or pam_wrapper missing: explain not compared with the module"
fi

# --- token.single_use (replay store)
# explain only looks in the replay store: it says whether a login would
# record the jti or refuse it as used, and never records anything.
R="$TMP/replay"
mkdir "$R"
chmod 700 "$R"
write_policy "$TMP/single.yaml"
sed -i "s|^token:|token:\n  single_use: true\n  replay_dir: $R|" "$TMP/single.yaml"
su_tok=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --set "jti=\"tool-once-$$\"")
printf '%s\n' "$su_tok" >"$TMP/su.jwt"
run explain -c "$TMP/single.yaml" --role api_migrator --json --token-file "$TMP/su.jwt"
[ $rc -eq 0 ] && [ "$(js "$out" 'j["decision"], j["steps"][-1]["step"], j["steps"][-1]["passed"], "a login would record it as" in j["steps"][-1]["what"]')" = "allow single_use True True" ]
ok $? "single_use: explain --json of a fresh token: allow, last step single_use would record the jti"
run explain -c "$TMP/single.yaml" --role api_migrator --token-file "$TMP/su.jwt"
[ $rc -eq 0 ] && [ -z "$(find "$R" -type f)" ]
ok $? "... explaining it twice still allows it, and the store stays empty"
# The entry a login makes: <replay_dir>/<hh>/<hex SHA-256(iss NUL jti)>.
h=$(printf 'https://agent.buildkite.com\000tool-once-%s' $$ | sha256sum | cut -c1-64)
hh=$(printf '%s' "$h" | cut -c1-2)
mkdir -m 700 "$R/$hh"
: >"$R/$hh/$h"
run explain -c "$TMP/single.yaml" --role api_migrator --token-file "$TMP/su.jwt"
[ $rc -eq 1 ] && has "$out" "[FAIL] single_use: jti already used on this host at " &&
	has "$out" "decision: deny (reason: replay; rule \"api migrations from main\"; jti already used"
ok $? "... once its entry exists, explain says: deny, reason replay (exit 1)"
[ "$(find "$R" -type f | wc -l)" -eq 1 ]
ok $? "... and still records nothing"
run explain -c "$TMP/single.yaml" --role postgres --token-file "$TMP/su.jwt"
[ $rc -eq 1 ] && has "$out" "reason: no_rule" && ! has "$out" "single_use:"
ok $? "a role the policy refuses stops before single_use (reason no_rule)"
nojti=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --unset jti)
printf '%s\n' "$nojti" >"$TMP/nojti.jwt"
run explain -c "$TMP/single.yaml" --role api_migrator --json --token-file "$TMP/nojti.jwt"
[ $rc -eq 1 ] && [ "$(js "$out" 'j["reason"], j["detail"].startswith("token has no jti")')" = "replay True" ]
ok $? "a token without jti: deny, reason replay"
chmod 777 "$R"
run explain -c "$TMP/single.yaml" --role api_migrator --json --token-file "$TMP/su.jwt"
[ $rc -eq 2 ] && [ "$(js "$out" 'j["reason"], ": group- or world-writable (mode 0777)" in j["detail"]')" = "config True" ]
ok $? "a world-writable replay_dir: reason config, exit 2"
chmod 700 "$R"
leaked=0
for t in $su_tok $nojti; do
	grep -q -F -- "$t" "$ALL" && leaked=1
done
ok $leaked "... and no single_use token shows in any output"

# ---------------------------------------------------------------- compile
C="$TMP/compiled.yaml"
cp "$P" "$C"
run check -c "$C"
[ $rc -eq 0 ] && ! has "$out$err" "up to date" && ! has "$out$err" "since it was"
ok $? "check: no word about a snapshot while there is none"
run compile -c "$C"
[ $rc -eq 0 ] && has "$out" "wrote $C.compiled: " && has "$out" " rules from 1 file, " &&
	has "$out" "$C.compiled: up to date; logins use it"
ok $? "compile: writes POLICY.compiled and says logins use it"
[ "$(stat -c %a "$C.compiled")" = 644 ] && [ "$(stat -c %u "$C.compiled")" = "$(id -u)" ]
ok $? "compile: the snapshot is 0644, owned by whoever compiled it"
run check -c "$C"
[ $rc -eq 0 ] && has "$out" "$C.compiled: up to date; logins use it"
ok $? "check: reports the snapshot up to date"
run explain -c "$C" --role api_migrator --now $((T0 + 10)) --token-file "$TMP/good.jwt"
[ $rc -eq 0 ] && has "$out" 'decision: allow'
ok $? "explain: decides from the snapshot as from the YAML (allow)"
run explain -c "$C" --role postgres --now $((T0 + 10)) --token-file "$TMP/good.jwt"
[ $rc -eq 1 ] && has "$out" 'reason: no_rule'
ok $? "explain: ... and no_rule for a role outside it"
echo "# edited" >>"$C"
run check -c "$C"
[ $rc -eq 0 ] && has "$err" "warning: $C changed since it was compiled; logins parse the YAML instead (run pam-buildkite compile as the policy's owner)"
ok $? "check: warns when the policy changed since it was compiled"
run compile -c "$C"
[ $rc -eq 0 ] && has "$out" "up to date"
ok $? "compile: again, and it is up to date"
chmod 666 "$C.compiled"
run check -c "$C"
[ $rc -eq 0 ] && has "$err" "warning: $C.compiled: group- or world-writable (mode 0666); logins parse the YAML instead"
ok $? "check: warns that a snapshot others may write is ignored"
printf 'version: 1\nrules: [\n' >"$TMP/broken.yaml"
run compile -c "$TMP/broken.yaml"
[ $rc -eq 1 ] && has "$err" "$TMP/broken.yaml:" && [ ! -e "$TMP/broken.yaml.compiled" ]
ok $? "compile: an invalid policy exits 1 with file:line:column, writes nothing"
run compile -c compiled.yaml
[ $rc -eq 1 ] && has "$err" "absolute path"
ok $? "compile: a relative path is refused (the module would not look for it)"

# ------------------------------------------------- a token a pooler cut
# PgBouncer 1.17 to 1.25 keeps 2,047 bytes of a password. explain notes
# a token of that length (a token file's newline not counted) that is
# refused as malformed or by its signature, decode any token of that
# length (it checks no signature); neither notes one byte less.
CUT_NOTE='the password is 2047 bytes, where PgBouncer cuts passwords: a pooler may have cut the token'
# long PAD : the fixture token with an agent tag PAD bytes long.
long() {
	mint --key "$TMP/rsa.pem" --kid rsa-1 --now $T0 --lifetime 300 \
		--set "agent_tag:padding=\"$(printf "%0${1}d" 0 | tr 0 p)\""
}
# The first PAD from 500 up whose token is exactly 2,047 bytes; then a
# longer one, cut to 2,047 and 2,046 bytes, each written with a newline.
pad=500
exact=$(long $pad)
while [ ${#exact} -lt 2047 ] && [ $pad -lt 700 ]; do
	pad=$((pad + 1))
	exact=$(long $pad)
done
longer=$(long $((pad + 100)))
printf '%s\n' "$exact" >"$TMP/exact.jwt"
printf '%s' "$longer" | head -c 2047 >"$TMP/cut2047.jwt"
echo >>"$TMP/cut2047.jwt"
printf '%s' "$longer" | head -c 2046 >"$TMP/cut2046.jwt"
echo >>"$TMP/cut2046.jwt"
[ ${#exact} -eq 2047 ] && [ ${#longer} -gt 2047 ] &&
	[ "$(wc -c <"$TMP/cut2047.jwt")" -eq 2048 ] &&
	[ "$(wc -c <"$TMP/cut2046.jwt")" -eq 2047 ]
st=$?
got="tokens of ${#exact} and ${#longer} bytes"
ok $st "minted a token of exactly 2,047 bytes and a longer one ($got)"

run explain -c "$P" --role api_migrator --now $((T0 + 10)) --token-file "$TMP/cut2047.jwt"
[ $rc -eq 1 ] && has "$out" "note: $CUT_NOTE" &&
	has_re "$out" '^decision: deny \(reason: (malformed|signature); '
ok $? "explain: the longer token cut to 2,047 bytes (and a newline): deny, with the note"
run explain -c "$P" --role api_migrator --now $((T0 + 10)) --json --token-file "$TMP/cut2047.jwt"
[ $rc -eq 1 ] && [ "$(js "$out" 'j["reason"] in ("malformed", "signature"), j["note"]')" = "True $CUT_NOTE" ]
ok $? "explain --json: ... and the note as the member \"note\""
run explain -c "$P" --role api_migrator --now $((T0 + 10)) --token-file "$TMP/cut2046.jwt"
[ $rc -eq 1 ] && has "$out" "decision: deny (reason: " && ! has "$out$err" "a pooler may have cut the token"
ok $? "explain: cut to 2,046 bytes: deny, without the note"
run explain -c "$P" --role api_migrator --now $((T0 + 10)) --json --token-file "$TMP/cut2046.jwt"
[ $rc -eq 1 ] && [ "$(js "$out" '"note" in j')" = False ]
ok $? "explain --json: ... and without the member \"note\""
run explain -c "$P" --role api_migrator --now $((T0 + 10)) --token-file "$TMP/exact.jwt"
[ $rc -eq 0 ] && has "$out" "decision: allow" && ! has "$out$err" "a pooler may have cut the token"
ok $? "explain: a whole token of exactly 2,047 bytes is allowed, without the note"
run explain -c "$P" --role postgres --now $((T0 + 10)) --token-file "$TMP/exact.jwt"
[ $rc -eq 1 ] && has "$out" "reason: no_rule" && ! has "$out$err" "a pooler may have cut the token"
ok $? "explain: ... and the policy's refusal of it has no note"

run decode --token-file "$TMP/cut2047.jwt"
has "$err" "pam-buildkite: note: $CUT_NOTE"
ok $? "decode: the token cut to 2,047 bytes (and a newline): the note on stderr"
IN="$TMP/cut2046.jwt"
run decode
! has "$out$err" "a pooler may have cut the token"
ok $? "decode: cut to 2,046 bytes: no note"
printf '%s' "$exact" >"$TMP/exact-nonl.jwt"
IN="$TMP/exact-nonl.jwt"
run decode
[ $rc -eq 0 ] && has "$err" "pam-buildkite: note: $CUT_NOTE"
ok $? "decode: any 2,047-byte token decodes with the note: decode checks no signature"
leaked=0
for t in "$exact" "$longer"; do
	grep -q -F -- "$(printf '%s' "$t" | head -c 2046)" "$ALL" && leaked=1
done
ok $leaked "... and none of these tokens shows in any output"

done_testing
