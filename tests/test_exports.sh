#!/bin/sh
# test_exports.sh - the module exports only the PAM entry points and
# imports nothing that could end or disturb its host process.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
command -v nm >/dev/null || skip_all "nm not installed"

exported=$(nm -D --defined-only "$MODULE" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
	grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' | sort | tr '\n' ' ')
ok "$([ "$exported" = "pam_sm_acct_mgmt pam_sm_authenticate pam_sm_setcred " ]; echo $?)" \
	"exports exactly pam_sm_acct_mgmt, pam_sm_authenticate, pam_sm_setcred (got: $exported)"

imports=$(nm -D --undefined-only "$MODULE" | awk '{print $2}' | sed 's/@.*//')
for sym in exit _exit _Exit abort signal sigaction alarm openlog closelog \
	setlogmask curl_global_init system popen fork; do
	echo "$imports" | grep -q -x -- "$sym"
	ok "$([ $? -ne 0 ]; echo $?)" "module does not call $sym"
done

needed=$(objdump -p "$MODULE" 2>/dev/null | awk '$1 == "NEEDED" {print $2}')
echo "$needed" | grep -q curl
ok "$([ $? -ne 0 ]; echo $?)" "module does not link libcurl"
echo "$needed" | grep -q jwt
ok "$([ $? -ne 0 ]; echo $?)" "module does not link libjwt"

done_testing
