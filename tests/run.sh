#!/bin/sh
# run.sh - the whole test suite from a clean checkout: install what is
# missing, build with warnings as errors, run every test normally and
# again under AddressSanitizer and UndefinedBehaviorSanitizer, fuzz each
# libFuzzer target for FUZZ_SECONDS (default 120), then make distcheck,
# the Debian package and the installed-package test, and end with
# "N passed, N failed". Every test must run here: a missing prerequisite
# fails instead of skipping.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

sh tests/install-deps.sh || exit 1
[ -x configure ] || autoreconf -fi || exit 1

export PB_REQUIRE_ALL=1
status=0

# result DIR NAME STATUS : a test result of this script, counted like
# the rest (an automake .trs file in DIR/tests).
result() {
	mkdir -p "$top/$1/tests"
	if [ "$3" -eq 0 ]; then r=PASS; else r=FAIL; status=1; fi
	printf ':test-result: %s\n' "$r" >"$top/$1/tests/$2.trs"
	echo "$r: $2"
}
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
	# A Buildkite job with the plugin, end to end: its hooks' output,
	# its psql login and the audit line that names it.
	e2e="$dir/tests/test_plugin_e2e.sh.log"
	[ -f "$e2e" ] && { echo "--- a job with the postgres-login plugin"; grep -E '^# (job|audit):' "$e2e"; }
done

# libFuzzer under ASan and UBSan, after the builds so that it does not
# starve their tests: two targets at a time on two cores. A finding fails
# its target, and fuzz/run.sh prints the report and the input (base64).
echo "=== fuzzing, ${FUZZ_SECONDS:-120}s per target"
rm -rf "$top/build-fuzz"
mkdir -p "$top/build-fuzz"
FUZZ_SECONDS=${FUZZ_SECONDS:-120} FUZZ_PARALLEL=2 sh fuzz/run.sh \
	>"$top/build-fuzz/fuzz.log" 2>&1
cat "$top/build-fuzz/fuzz.log"
# Every target fuzz/run.sh knows counts, so a new one cannot be fuzzed
# without its finding failing the run.
targets=$(sed -n 's/^all="\(.*\)"$/\1/p' fuzz/run.sh)
[ -n "$targets" ] || { echo "tests/run.sh: no fuzz targets in fuzz/run.sh"; status=1; }
for t in $targets; do
	grep -q -E "^$t: [0-9]+ executions, corpus [0-9]+ inputs, ok\$" \
		"$top/build-fuzz/fuzz.log"
	result build-fuzz "fuzz-$t" $?
done

# The release tarball: built, installed and uninstalled under a private
# prefix, and the whole suite run again from it (read-only sources). The
# load test ran its full LOAD_SECONDS in the plain build; here it only
# shows that the shipped test works.
echo "=== make distcheck"
rm -rf "$top/build-deb"
( cd "$top/build-plain" && LOAD_SECONDS=15 make -j"$(nproc)" distcheck \
	>distcheck.log 2>&1 )
rc=$?
[ $rc -eq 0 ] || tail -40 "$top/build-plain/distcheck.log"
result build-deb distcheck $rc

# The Debian package, built from that tarball, installed on this machine,
# and the end-to-end login test run against the installed files.
echo "=== Debian package"
mkdir -p "$top/build-deb"
tarball=$(ls "$top"/build-plain/pam_buildkite-*.tar.gz 2>/dev/null | head -1)
( [ -n "$tarball" ] && cd "$top/build-deb" && tar -xzf "$tarball" &&
	cd pam_buildkite-*/ && DEB_BUILD_OPTIONS=nocheck \
	dpkg-buildpackage -us -uc -b >"$top/build-deb/build.log" 2>&1 )
rc=$?
[ $rc -eq 0 ] || tail -40 "$top/build-deb/build.log"
result build-deb package-build $rc
( cd "$top/build-deb" && DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --reinstall \
	./libpam-buildkite_*.deb ./postgresql-15-buildkite_*.deb \
	>install.log 2>&1 )
rc=$?
[ $rc -eq 0 ] || tail -40 "$top/build-deb/install.log"
result build-deb package-install $rc
echo "=== installed package"
AM_TAP_AWK=awk top_srcdir="$top" top_builddir="$top/build-plain" \
	sh build-aux/tap-driver.sh --test-name test_installed.sh \
	--log-file "$top/build-deb/tests/test_installed.log" \
	--trs-file "$top/build-deb/tests/test_installed.trs" -- \
	sh tests/test_installed.sh || status=1
grep -E '^(not ok|Bail out!)' "$top/build-deb/tests/test_installed.log" &&
	status=1

# Only this script's build directories: others (a developer's) may hold
# results of their own.
trs() {
	for d in build-plain build-sanitizers build-fuzz build-deb; do
		cat "$d"/tests/*.trs 2>/dev/null
	done
}
passed=$(trs | grep -c '^:test-result: PASS')
failed=$(trs | grep -c -E '^:test-result: (FAIL|XPASS|ERROR)')
skipped=$(trs | grep -c '^:test-result: SKIP')
# A run that executed no test, or skipped one, did not test the product.
[ "$passed" -gt 0 ] || { status=1; failed=$((failed + 1)); }
[ "$skipped" -eq 0 ] || { status=1; failed=$((failed + skipped)); }
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
