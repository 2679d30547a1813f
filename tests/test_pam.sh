#!/bin/sh
# test_pam.sh - the module as PAM applications see it: pamtester under
# pam_wrapper with a private service directory, asserting exit codes, the
# PAM error each failure maps to, and the audit line in syslog.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
[ -n "$PAMTESTER" ] && [ -x "$PAMTESTER" ] || skip_all "pamtester not installed"
[ -n "$PAM_WRAPPER_LIB" ] && [ -f "$PAM_WRAPPER_LIB" ] ||
	skip_all "libpam-wrapper not installed"

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
write_policy "$TMP/policy.yaml"
mkdir "$TMP/pam.d"
svc() { # svc NAME MODULE-ARGS...
	name=$1
	shift
	printf 'auth required %s %s\naccount required %s %s\n' \
		"$MODULE" "$*" "$MODULE" "$*" >"$TMP/pam.d/$name"
}
svc buildkite "config=$TMP/policy.yaml"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$TMP/pam.d/other"
svc nopolicy "config=$TMP/missing.yaml"
svc badarg "config=$TMP/policy.yaml" frobnicate
svc relative "config=policy.yaml"
LOG="$TMP/syslog"
SERVICE=buildkite

good=$(mint --key "$TMP/rsa.pem" --kid rsa-1)
diag "token length: ${#good} bytes"

pt "$good" api_migrator -I rhost=10.1.2.3
ok $rc "a valid RS256 token from api/main/migrate logs in as api_migrator"
audit_has "$LOG" '^authpriv\.notice <85> pam_buildkite\(buildkite:auth\): result=allow reason=ok role=api_migrator service=buildkite rhost=10\.1\.2\.3 org=acme-inc pipeline=api branch=main step=migrate build=42 '
ok $? "allow is audited at authpriv.notice with role, rhost and claims"
audit_has "$LOG" 'rule="api migrations from main" pid=[0-9]+$'
ok $? "the audit line names the rule that allowed"
[ "$(grep -c 'pam_buildkite(' "$LOG")" -eq 1 ]
ok $? "exactly one audit line for one authentication"
grep -q -F "$good" "$LOG"
ok "$([ $? -ne 0 ]; echo $?)" "the token itself is never logged"

ec=$(mint --key "$TMP/ec.pem" --kid ec-1)
pt "$ec" ci_reader
ok $rc "a valid ES256 token logs in as ci_reader"

pt "$good" ci_api
ok $rc "a role template ci_{pipeline_slug} gives ci_api"

pt "$good" postgres
ok "$([ $rc -ne 0 ]; echo $?)" "a role outside the policy is refused"
echo "$out" | grep -q "Authentication failure"
ok $? "... with PAM_AUTH_ERR"
audit_has "$LOG" '^authpriv\.warning <84> pam_buildkite\(buildkite:auth\): result=deny reason=no_rule role=postgres '
ok $? "... audited as reason=no_rule at authpriv.warning"

pt "$good" api_admin
ok "$([ $rc -ne 0 ]; echo $?)" "a deny rule wins over a matching allow rule"
audit_has "$LOG" 'result=deny reason=denied role=api_admin .*rule="never from UI builds"'
ok $? "... audited as reason=denied naming the deny rule"

api=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --set 'build_source="webhook"')
pt "$api" api_admin
ok $rc "the same role from a webhook build is allowed"

pt "$good" ops_vpn -I rhost=10.9.8.7
ok $rc "a from: 10.0.0.0/8 rule admits rhost 10.9.8.7"
audit_has "$LOG" 'result=allow reason=ok role=ops_vpn service=buildkite rhost=10\.9\.8\.7 .*rule="ops over the vpn"'
ok $? "... audited with the rhost and the rule"
pt "$good" ops_vpn -I rhost=192.168.1.1
ok "$([ $rc -ne 0 ]; echo $?)" "... and refuses rhost 192.168.1.1"
pt "$good" ops_vpn
ok "$([ $rc -ne 0 ]; echo $?)" "... and refuses a login without rhost (Unix socket)"
pt "$good" ops_local -I rhost=::ffff:127.0.0.1
ok $rc "an IPv4-mapped IPv6 rhost matches an IPv4 CIDR"

forged=$(mint --key "$TMP/evil.pem" --kid rsa-1)
pt "$forged" api_migrator
ok "$([ $rc -ne 0 ]; echo $?)" "a token signed by another key is refused"
audit_has "$LOG" 'result=deny reason=signature role=api_migrator service=buildkite kid=rsa-1 detail='
ok $? "... audited as reason=signature, with no unverified claims"

expired=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --expired)
pt "$expired" api_migrator
ok "$([ $rc -ne 0 ]; echo $?)" "an expired token is refused"
audit_has "$LOG" 'result=deny reason=expired role=api_migrator .*pipeline=api'
ok $? "... audited as reason=expired"

hs=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --alg HS256 --hmac-public-pem)
pt "$hs" api_migrator
ok "$([ $rc -ne 0 ]; echo $?)" "HS256 keyed with the RSA public key is refused"
audit_has "$LOG" 'reason=algorithm'
ok $? "... audited as reason=algorithm"

other_org=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --org evil-corp)
pt "$other_org" api_migrator
ok "$([ $rc -ne 0 ]; echo $?)" "a token of another Buildkite organization is refused"
audit_has "$LOG" 'reason=organization .*org=evil-corp'
ok $? "... audited as reason=organization"

pt "not-a-token" api_migrator
ok "$([ $rc -ne 0 ]; echo $?)" "garbage is refused"
audit_has "$LOG" 'reason=malformed'
ok $? "... audited as reason=malformed"

pt "   $good   " api_migrator
ok $rc "surrounding whitespace is trimmed"

SERVICE=nopolicy; pt "$good" api_migrator; SERVICE=buildkite
ok "$([ $rc -ne 0 ]; echo $?)" "a missing policy denies everyone"
echo "$out" | grep -q "Error in service module"
ok $? "... with PAM_SERVICE_ERR"
audit_has "$LOG" 'result=deny reason=config .*detail="policy not loaded: .*missing\.yaml'
ok $? "... audited as reason=config saying why"

SERVICE=badarg; pt "$good" api_migrator; SERVICE=buildkite
ok "$([ $rc -ne 0 ]; echo $?)" "an unknown module argument denies"
audit_has "$LOG" 'reason=config .*unknown module argument'
ok $? "... audited as reason=config naming it"

# from the policy's own directory, so that only the argument is wrong
SERVICE=relative; pt_dir=$(pwd); cd "$TMP" && pt "$good" api_migrator
cd "$pt_dir"; SERVICE=buildkite
ok "$([ $rc -ne 0 ]; echo $?)" "a relative config= path denies, even where it would resolve"
audit_has "$LOG" 'reason=config .*config= must be an absolute path, not \\"policy\.yaml\\"'
ok $? "... audited as reason=config saying why"

mv "$TMP/jwks.json" "$TMP/jwks.moved"
pt "$good" api_migrator
ok "$([ $rc -ne 0 ]; echo $?)" "no readable key set denies"
echo "$out" | grep -q "Authentication service cannot retrieve authentication info"
ok $? "... with PAM_AUTHINFO_UNAVAIL"
audit_has "$LOG" 'reason=jwks_unavailable'
ok $? "... audited as reason=jwks_unavailable"
mv "$TMP/jwks.moved" "$TMP/jwks.json"

sed 's|^token:|token:\n  single_use: true\n  replay_dir: /nonexistent|' \
	"$TMP/policy.yaml" >"$TMP/single.yaml"
svc single "config=$TMP/single.yaml"
SERVICE=single; pt "$good" api_migrator; SERVICE=buildkite
ok "$([ $rc -ne 0 ]; echo $?)" "token.single_use with a missing replay_dir denies rather than skip replay checks"
audit_has "$LOG" 'reason=config .*single_use'
ok $? "... audited as reason=config naming single_use"

cat >>"$TMP/policy.yaml" <<'EOF2'
  - name: typo
    pipeline: api
    branchs: main
    roles: [x]
EOF2
pt "$good" api_migrator
ok "$([ $rc -ne 0 ]; echo $?)" "a policy with an unknown key denies everyone"
audit_has "$LOG" "reason=config .*policy\\.yaml:[0-9]+:[0-9]+: "
ok $? "... and the audit line gives file:line:column"

# --- token.single_use (replay store)
# A token logs in once per host: the second login with it is refused as
# replay. An attempt the policy refuses does not use the token up, explain
# only looks, and an unusable replay_dir refuses logins (fail closed).
mkdir "$TMP/replay"
chmod 700 "$TMP/replay"
write_policy "$TMP/replay.yaml"
sed -i "s|^token:|token:\n  single_use: true\n  replay_dir: $TMP/replay|" \
	"$TMP/replay.yaml"
svc replay "config=$TMP/replay.yaml"
SERVICE=replay
# tokens minted within one second share mint-token's default jti
once=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --set "jti=\"pam-once-$$\"")
pt "$once" postgres
audit_has "$LOG" 'result=deny reason=no_rule role=postgres '
ok $? "single_use: a token the policy refuses is audited as no_rule ..."
printf '%s\n' "$once" >"$TMP/once.jwt"
"$TOOL" explain -c "$TMP/replay.yaml" --role api_migrator \
	--token-file "$TMP/once.jwt" >"$TMP/explain.out" 2>&1
erc=$?
grep -q '^  \[pass\] single_use: jti not used on this host yet; a login would record it' "$TMP/explain.out"
ok $(( erc + $? )) "... explain says a login would record its jti (exit 0)"
pt "$once" api_migrator
ok $rc "... and the token still logs in once"
audit_has "$LOG" "result=allow reason=ok role=api_migrator .* jti=pam-once-$$ "
ok $? "... audited as allowed with its jti"
[ "$(find "$TMP/replay" -type f | wc -l)" -eq 1 ]
ok $? "... which is now the one entry of the replay store"
pt "$once" api_migrator
ok "$([ $rc -ne 0 ]; echo $?)" "the same token a second time is refused"
echo "$out" | grep -q "Authentication failure"
ok $? "... with PAM_AUTH_ERR"
audit_has "$LOG" "^authpriv\\.warning <84> pam_buildkite\\(replay:auth\\): result=deny reason=replay role=api_migrator .*jti=pam-once-$$ .*detail=\"jti already used on this host at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"
ok $? "... audited as reason=replay, saying when it was used"
[ "$(grep -c 'pam_buildkite(' "$LOG")" -eq 1 ]
ok $? "... in exactly one audit line"
"$TOOL" explain -c "$TMP/replay.yaml" --role api_migrator \
	--token-file "$TMP/once.jwt" >"$TMP/explain.out" 2>&1
erc=$?
[ $erc -eq 1 ] && grep -q '^  \[FAIL\] single_use: jti already used on this host at ' "$TMP/explain.out" &&
	grep -q '^decision: deny (reason: replay' "$TMP/explain.out"
ok $? "explain then says the jti is used: deny, reason replay (exit $erc)"
nojti=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --unset jti)
pt "$nojti" api_migrator
audit_has "$LOG" 'result=deny reason=replay role=api_migrator .*detail="token has no jti'
ok $? "a token without jti is refused as replay"
chmod 770 "$TMP/replay"
fresh=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --set "jti=\"pam-fresh-$$\"")
pt "$fresh" api_migrator
echo "$out" | grep -q "Error in service module"
ok $? "a group-writable replay_dir refuses logins with PAM_SERVICE_ERR"
audit_has "$LOG" "result=deny reason=config role=api_migrator .*detail=\"token\\.single_use: replay directory $TMP/replay: group- or world-writable \\(mode 0770\\)"
ok $? "... audited as reason=config naming the directory"
chmod 700 "$TMP/replay"
pt "$fresh" api_migrator
ok $rc "... and once fixed, that token logs in"
SERVICE=buildkite

# A compiled policy: logins take the rules from the snapshot while the
# YAML is what it was compiled from, and from the YAML once it is not.
write_policy "$TMP/compiled.yaml"
svc compiled "config=$TMP/compiled.yaml"
SERVICE=compiled
"$TOOL" compile -c "$TMP/compiled.yaml" >"$TMP/compile.out" 2>&1
rc=$?
[ $rc -eq 0 ] || sed "s/^/# /" "$TMP/compile.out"
[ $rc -eq 0 ]
ok $? "pam-buildkite compile writes the snapshot"
pt "$good" api_migrator -I rhost=10.1.2.3
ok $rc "with the snapshot, the valid token logs in as api_migrator"
audit_has "$LOG" 'result=allow reason=ok role=api_migrator service=compiled .*rule="api migrations from main" pid=[0-9]+$'
ok $? "... audited exactly as from the YAML"
pt "$good" api_admin
audit_has "$LOG" 'result=deny reason=denied role=api_admin .*rule="never from UI builds"'
ok $? "... and the deny rule still wins"
# ld.so names each file it maps under LD_DEBUG=files.
PT_ENV=LD_DEBUG=files
pt "$good" api_migrator
[ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'file=.*pam_buildkite' &&
	! printf '%s\n' "$out" | grep -q 'file=libyaml'
ok $? "a login from the snapshot never loads libyaml"
# the snapshot says ci_reader is allowed; the edited YAML says nobody is
sed -i 's/roles: \[ci_reader, "ci_{pipeline_slug}"\]/roles: [nobody_at_all]/' "$TMP/compiled.yaml"
pt "$ec" ci_reader
audit_has "$LOG" 'result=deny reason=no_rule role=ci_reader service=compiled '
ok $? "an edit the snapshot predates takes effect at the next login"
printf '%s\n' "$out" | grep -q 'file=libyaml-0\.so\.2 .*dynamically loaded'
ok $? "... read from the YAML, with libyaml loaded for it"
PT_ENV=
SERVICE=buildkite

done_testing
