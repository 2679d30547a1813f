#!/bin/sh
# test_demo.sh - examples/demo.sh, the README's quick start, run from this
# build tree (PB_DEMO_BUILDDIR: nothing installed or built) with its
# output in a file: every step's result, the TLS refusal, no terminal
# escape, and the last line.
. "${top_srcdir:-.}/tests/lib.sh"
require_postgres
command -v openssl >/dev/null || skip_all "openssl not installed"
[ -x "$MINT" ] || skip_all "tests/mint-token not built"

PB_DEMO_BUILDDIR=$top_builddir sh "$top_srcdir/examples/demo.sh" \
	>"$TMP/demo.out" 2>"$TMP/demo.err"
rc=$?
out=$(cat "$TMP/demo.out") err=$(cat "$TMP/demo.err")
ok $rc "the demo runs to its end (exit 0)"

# step N RESULT REASON : step N's result line, and its audit reason (or
# the hba refusal for a login the module never sees).
step() {
	body=$(sed -n "/^$1\\. /,/^[0-9][0-9]*\\. \\|^Done/p" "$TMP/demo.out")
	printf '%s\n' "$body" | grep -q "^   $2: " &&
		printf '%s\n' "$body" | grep -q -- "$3"
	ok $? "step $1: $2 ($3)"
}
step 3 ALLOWED 'result=allow reason=ok role=api_migrator .*source=webhook .*sub=organization:acme-inc:pipeline:api:ref:refs/heads/main:commit:[0-9a-f]*:step:migrate jti=[0-9a-f-]\{36\} '
step 4 REFUSED 'result=deny reason=denied role=api_migrator .*source=ui .*rule="no privileged logins from builds started in the UI or the API"'
step 5 REFUSED 'result=deny reason=no_rule role=app_owner'
step 6 REFUSED 'result=deny reason=no_rule role=api_migrator .*branch=feature/x'
step 7 ALLOWED 'result=allow reason=ok role=ci_reader .*pipeline=web'
step 8 ALLOWED 'result=allow reason=ok role=app_owner .*sub=organization:acme-inc:pipeline:api:ref:refs/tags/v1.4.0:'
step 9 REFUSED 'result=deny reason=denied role=app_owner .*source=ui'
step 10 REFUSED 'result=deny reason=organization role=api_migrator'
step 11 REFUSED 'result=deny reason=expired role=api_migrator'
step 12 REFUSED 'result=deny reason=signature role=api_migrator'
step 13 REFUSED 'pg_hba.conf rejects connection .*no encryption'
got=$(sed -n '/^13\. /,/^Done/p' "$TMP/demo.out" | grep 'syslog:')
printf '%s\n' "$got" | grep -q 'syslog: (none: the module was not asked)'
ok $? "step 13: the token never reached the module"

n=$(grep -c '^   \(ALLOWED\|REFUSED\): ' "$TMP/demo.out")
got="$n result lines"
[ "$n" -eq 11 ]
ok $? "eleven logins, each ALLOWED or REFUSED"
n=$(grep -o 'jti=[0-9a-f-]*' "$TMP/demo.out" | sort | uniq -d | wc -l)
got="$n repeated jti"
[ "$(grep -c 'jti=' "$TMP/demo.out")" -ge 9 ] && [ "$n" -eq 0 ]
ok $? "every token has its own jti"
esc=$(printf '\033')
got=$(grep -c "$esc" "$TMP/demo.out")
! grep -q "$esc" "$TMP/demo.out"
ok $? "no terminal escape when stdout is a file"
got=$(tail -n 1 "$TMP/demo.out")
[ "$got" = 'Next: README.md "Install", then "The policy, step by step", then "pamtester: check the PAM stack without a database" for a dry run on your server.' ]
ok $? "the last line says where to go next"
done_testing
