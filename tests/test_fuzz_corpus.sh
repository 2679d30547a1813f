#!/bin/sh
# test_fuzz_corpus.sh - replays every seed of fuzz/corpus/<target>/ and
# every crash kept in fuzz/crashes/<target>/ through the fuzz targets,
# built with fuzz/replay.c instead of libFuzzer: each must run to the
# end (no crash, trap or sanitizer report) and take every file.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

targets="token jwks policy audit snapshot audit_line"
for t in $targets; do
	[ -x "$top_builddir/fuzz/fuzz_$t" ] || skip_all "fuzz/fuzz_$t not built"
done
# fuzz_jwt_diff needs libjwt, which configure requires only in CI.
if [ -x "$top_builddir/fuzz/fuzz_jwt_diff" ]; then
	targets="$targets jwt_diff"
elif [ "${PB_REQUIRE_ALL:-0}" = 1 ]; then
	skip_all "fuzz/fuzz_jwt_diff not built (libjwt-dev)"
else
	diag "fuzz/fuzz_jwt_diff not built (no libjwt-dev): its corpus is not replayed"
fi

# The replay drivers are our own processes: their leaks are ours too.
if [ -n "$SAN_CFLAGS" ]; then
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
fi

for t in $targets; do
	set -- "$top_srcdir/fuzz/corpus/$t"
	[ -d "$top_srcdir/fuzz/crashes/$t" ] &&
		set -- "$@" "$top_srcdir/fuzz/crashes/$t"
	want=$(find "$@" -maxdepth 1 -type f | wc -l | tr -d ' ')
	out=$("$top_builddir/fuzz/fuzz_$t" "$@" 2>"$TMP/$t.err")
	rc=$?
	[ "$rc" -eq 0 ]
	ok $? "fuzz_$t replays its corpus without a crash"
	[ "$rc" -eq 0 ] || sed 's/^/# /' "$TMP/$t.err" | tail -n 40
	[ "$want" -gt 0 ] && [ "$out" = "replayed $want inputs" ]
	ok $? "fuzz_$t took all $want inputs (said: ${out:-nothing})"
done

done_testing
