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

# In a PostgreSQL backend the dynamic linker looks in the postgres
# binary first: a name both it and a library define (json_object is
# jansson's function and PostgreSQL's SQL function) would call
# PostgreSQL's, and crash the backend. Neither the module nor the
# extension may import such a name, save the extension's server API.
if [ -n "$PG_BINDIR" ] && [ -x "$PG_BINDIR/postgres" ]; then
	nm -D --defined-only "$PG_BINDIR/postgres" | awk '{print $3}' >"$TMP/pgsyms"
	libc=$(nm -D --defined-only "$(ldd "$MODULE" | awk '$1 ~ /^libc\.so/ {print $3}')" |
		awk '{print $3}' | sed 's/@.*//')
	echo "$libc" >"$TMP/libc"
	clash=$(echo "$imports" | grep -v -x -F -f "$TMP/libc" | grep -x -F -f "$TMP/pgsyms" | tr '\n' ' ')
	ok "$([ -z "$clash" ]; echo $?)" "the module imports no name the postgres binary defines (${clash:-none})"
	if [ -f "$PGEXT" ]; then
		clash=$(nm -D --undefined-only "$PGEXT" | awk '{print $2}' | grep '@' | sed 's/@.*//' |
			grep -v -x -F -f "$TMP/libc" | grep -x -F -f "$TMP/pgsyms" | tr '\n' ' ')
		ok "$([ -z "$clash" ]; echo $?)" "the extension imports from its libraries no name the postgres binary defines (${clash:-none})"
		exported=$(nm -D --defined-only "$PGEXT" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
			grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' | sort | tr '\n' ' ')
		ok "$([ "$exported" = "Pg_magic_func _PG_init pg_buildkite_preloaded pg_buildkite_session_v1 pg_buildkite_sessions pg_buildkite_sweeper_main pg_finfo_pg_buildkite_preloaded pg_finfo_pg_buildkite_sessions " ]; echo $?)" \
			"the extension exports only what PostgreSQL and the module look up (got: $exported)"
	fi
fi

done_testing
