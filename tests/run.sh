#!/bin/sh
# run.sh - the whole test suite from a clean checkout: install what is
# missing, build with warnings as errors, run every test normally and
# again under AddressSanitizer and UndefinedBehaviorSanitizer, and end
# with "N passed, N failed". Every test must run here: a missing
# prerequisite fails instead of skipping.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

sh tests/install-deps.sh || exit 1
[ -x configure ] || autoreconf -fi || exit 1

export PB_REQUIRE_ALL=1
status=0
for variant in plain sanitizers; do
	dir="$top/build-$variant"
	flags="--enable-werror"
	[ $variant = sanitizers ] && flags="$flags --enable-sanitizers"
	echo "=== $variant build"
	mkdir -p "$dir"
	rm -f "$dir"/tests/*.trs "$dir"/tests/*.log
	( cd "$dir" && "$top/configure" -q $flags CFLAGS="-O2 -g" &&
		make -j"$(nproc)" && make -j"$(nproc)" check ) || status=1
	for log in "$dir"/tests/*.log; do
		[ -f "$log" ] || continue
		grep -q -E '^(not ok|Bail out!)' "$log" &&
			{ echo "--- $log"; grep -E '^(not ok|Bail out!|#)' "$log"; }
	done
done

passed=$(cat build-*/tests/*.trs 2>/dev/null | grep -c '^:test-result: PASS')
failed=$(cat build-*/tests/*.trs 2>/dev/null | grep -c -E '^:test-result: (FAIL|XPASS|ERROR)')
skipped=$(cat build-*/tests/*.trs 2>/dev/null | grep -c '^:test-result: SKIP')
# A run that executed no test, or skipped one, did not test the product.
[ "$passed" -gt 0 ] || { status=1; failed=$((failed + 1)); }
[ "$skipped" -eq 0 ] || { status=1; failed=$((failed + skipped)); }
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
