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
audit_has "$LOG" '^authpriv\.notice <85> pam_buildkite\(buildkite:auth\): result=allow reason=ok role=api_migrator service=buildkite rhost=10\.1\.2\.3 org=acme-inc pipeline=api branch=main tag=null step=migrate build=42 '
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

# --- a token a pooler cut (PgBouncer 1.17 to 1.25 keeps 2,047 bytes of a
# password). Refused as malformed or by its signature at exactly that
# length, the audit's detail ends saying so; one byte shorter it does
# not, nor does a refusal by the policy; given whole, a longer token
# still logs in.
# Most tokens have a header shaped like Buildkite's, with a kid of 64
# hex digits (mint-token's default for the key). With that header a
# token of exactly 2,047 bytes would need a payload of 4n + 1
# characters, a length base64url never has, so that one has the kid
# rsa-1. The key set has the key under both kids.
"$MINT" jwks "$TMP/rsa.pem" + "$TMP/rsa.pem" rsa-1 >"$TMP/pooler-jwks.json"
write_policy "$TMP/pooler.yaml"
sed -i "s|file: $TMP/jwks.json|file: $TMP/pooler-jwks.json|" "$TMP/pooler.yaml"
svc pooler "config=$TMP/pooler.yaml"
SERVICE=pooler
CUT_NOTE='the password is 2047 bytes, where PgBouncer cuts passwords: a pooler may have cut the token'
# big PAD : an RS256 token with Buildkite's optional claims and two
# agent tags, and a third tag PAD bytes long to set its length; $KID
# names a kid other than the default.
KID=
big() {
	mint --key "$TMP/rsa.pem" ${KID:+--kid "$KID"} \
		--set 'organization_id="0190b2c4-1a2b-7c3d-8e4f-5a6b7c8d9e0f"' \
		--set 'pipeline_id="0190b2c4-2b3c-7d4e-8f5a-6b7c8d9e0f1a"' \
		--set 'build_id="0190b2c4-3c4d-7e5f-8a6b-7c8d9e0f1a2b"' \
		--set 'cluster_id="0190b2c4-4d5e-7f6a-8b7c-8d9e0f1a2b3c"' \
		--set 'cluster_name="Default cluster"' \
		--set 'queue_id="0190b2c4-5e6f-7a7b-8c8d-9e0f1a2b3c4d"' \
		--set 'queue_key="default"' \
		--set 'agent_tag:os="linux"' --set 'agent_tag:arch="amd64"' \
		--set "agent_tag:padding=\"$(printf "%0${1}d" 0 | tr 0 p)\""
}
# first_big BYTES TEST : prints the first big token for which TEST TOKEN
# succeeds, PAD counting up from the one that makes it about BYTES long;
# nothing after 80 tries.
first_big() {
	base=$(big 0)
	pad=$(( ($1 - ${#base}) * 3 / 4 ))
	shift
	for _ in $(seq 80); do
		cand=$(big $pad)
		"$1" "$cand" && { printf '%s\n' "$cand"; return; }
		pad=$((pad + 1))
	done
}
# The offset of the signature in a token, and the token's first N bytes.
sig_at() { echo $(( ${#1} - ${#sig} )); }
cut_to() { printf '%s' "$1" | head -c "$2"; }
# Cut at 2,047 bytes: inside the signature, leaving whole groups of
# four characters, which decode (no stray bits) to a signature too short
# for the key (reason signature), or one character more, which no
# base64url text ends with (reason malformed); or inside the payload
# (reason malformed). Or exactly 2,047 bytes long.
in_sig() {
	sig=${1##*.}
	at=$(sig_at "$1")
	[ ${#1} -gt 2047 ] && [ "$at" -lt 2047 ] &&
		[ $(( (2047 - at) % 4 )) -eq 0 ]
}
in_sig_b64() {
	sig=${1##*.}
	at=$(sig_at "$1")
	[ ${#1} -gt 2047 ] && [ "$at" -lt 2047 ] &&
		[ $(( (2047 - at) % 4 )) -eq 1 ]
}
in_payload() { sig=${1##*.}; [ "$(sig_at "$1")" -gt 2047 ]; }
exactly() { [ ${#1} -eq 2047 ]; }
tok_sig=$(first_big 2030 in_sig)
tok_b64=$(first_big 2030 in_sig_b64)
tok_pay=$(first_big 2380 in_payload)
tok_2047=$(KID=rsa-1; first_big 2030 exactly)
in_sig "$tok_sig" && in_sig_b64 "$tok_b64" && in_payload "$tok_pay" &&
	exactly "$tok_2047"
st=$?
got="lengths ${#tok_sig}, ${#tok_b64}, ${#tok_pay}, ${#tok_2047}"
ok $st "minted tokens of more than 2,047 bytes and one of exactly 2,047 ($got)"

pt "$tok_sig" ci_reader
ok $rc "a ${#tok_sig}-byte token, given whole, logs in"
audit_has "$LOG" 'result=allow reason=ok role=ci_reader ' &&
	! grep -q -F 'a pooler may have cut the token' "$LOG"
ok $? "... audited as allowed, with no note"
pt "$tok_pay" ci_reader
ok $rc "a ${#tok_pay}-byte token, given whole, logs in"

pt "$(cut_to "$tok_sig" 2047)" ci_reader
ok "$([ $rc -ne 0 ]; echo $?)" "the ${#tok_sig}-byte one cut to 2,047 bytes, inside its signature, is refused"
audit_has "$LOG" "result=deny reason=signature role=ci_reader .*detail=\"signature length does not match the key; $CUT_NOTE\" pid=[0-9]+\$"
ok $? "... as reason=signature, the detail ending with the pooler note"
pt "$(cut_to "$tok_b64" 2047)" ci_reader
audit_has "$LOG" "result=deny reason=malformed role=ci_reader .*detail=\"signature is not base64url; $CUT_NOTE\" pid=[0-9]+\$"
ok $? "the ${#tok_b64}-byte one cut to 2,047 bytes is refused as reason=malformed, with the note"
pt "$(cut_to "$tok_pay" 2047)" ci_reader
ok "$([ $rc -ne 0 ]; echo $?)" "the ${#tok_pay}-byte one cut to 2,047 bytes, inside its payload, is refused"
audit_has "$LOG" "result=deny reason=malformed role=ci_reader .*detail=\"token is not three dot-separated parts; $CUT_NOTE\" pid=[0-9]+\$"
ok $? "... as reason=malformed, the detail ending with the pooler note"
pt "$(cut_to "$tok_sig" 2046)" ci_reader
ok "$([ $rc -ne 0 ]; echo $?)" "the ${#tok_sig}-byte one cut to 2,046 bytes is refused"
audit_has "$LOG" 'result=deny reason=(signature|malformed) role=ci_reader .*detail="' &&
	! grep -q -F 'a pooler may have cut the token' "$LOG"
ok $? "... without the pooler note"
pt "$(cut_to "$tok_pay" 2046)" ci_reader
audit_has "$LOG" 'result=deny reason=malformed role=ci_reader .*detail="token is not three dot-separated parts" pid=' &&
	! grep -q -F 'a pooler may have cut the token' "$LOG"
ok $? "the ${#tok_pay}-byte one cut to 2,046 bytes is refused, without the note"

pt "$tok_2047" ci_reader
ok $rc "a whole token of exactly 2,047 bytes logs in"
pt "$tok_2047" postgres
audit_has "$LOG" 'result=deny reason=no_rule role=postgres ' &&
	! grep -q -F 'a pooler may have cut the token' "$LOG"
ok $? "... and the policy's refusal of it carries no pooler note"
SERVICE=buildkite

done_testing
