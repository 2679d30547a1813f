#!/bin/sh
# run.sh - build the fuzz targets with libFuzzer and run each for a while.
#
# usage: fuzz/run.sh [target ...]     targets: token jwks policy audit snapshot
#                                     jwt_diff audit_line (default: all seven)
# environment: FUZZ_SECONDS   seconds per target (default 60)
#              CC             a clang with libFuzzer (default clang)
#              FUZZ_PARALLEL  targets fuzzed at the same time (default 1;
#                             2 fuzzes them all on two cores in half the
#                             time)
#              FUZZ_JOBS      parallel fuzzing processes per target
#                             (default 1)
#
# Each target is compiled straight from the sources with
# -fsanitize=fuzzer,address,undefined, and runs on a scratch copy of its
# seed corpus (fuzz/corpus/<target>/), so the tree only changes when
# something is found: crashes, leaks, timeouts and sanitizer reports are
# written to fuzz/crashes/<target>/ to be triaged, fixed and then added
# to the seed corpus as regression inputs. Each such input is also
# printed in base64, so a finding on a throwaway CI machine survives in
# its log. Ends with one summary line per target,
#   <target>: <N> executions, corpus <M> inputs, ok
# (or "build failed", or "FOUND SOMETHING ..."), and exits non-zero when
# any target found something or did not build.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
: "${FUZZ_SECONDS:=60}"
: "${CC:=clang}"
: "${FUZZ_JOBS:=1}"
: "${FUZZ_PARALLEL:=1}"

all="token jwks policy audit snapshot jwt_diff audit_line"
targets=${*:-$all}
for t in $targets; do
	case " $all " in
	*" $t "*) ;;
	*) echo "run.sh: unknown target '$t' (expected: $all)" >&2; exit 2 ;;
	esac
done
case "$FUZZ_SECONDS.$FUZZ_JOBS.$FUZZ_PARALLEL" in
*[!0-9.]*) echo "run.sh: FUZZ_SECONDS, FUZZ_JOBS and FUZZ_PARALLEL must be integers" >&2
	exit 2 ;;
esac

command -v "$CC" >/dev/null 2>&1 || { echo "run.sh: $CC not found" >&2; exit 2; }
libs=$(pkg-config --libs jansson libcrypto libpcre2-8 yaml-0.1) ||
	{ echo "run.sh: pkg-config cannot find jansson, libcrypto, libpcre2-8 or yaml-0.1" >&2; exit 2; }
cflags=$(pkg-config --cflags jansson libcrypto libpcre2-8 yaml-0.1)
# jwt_diff also links libjwt (libjwt-dev), its second opinion; without
# it that target fails to build, as any other missing library would.
jwt_libs=$(pkg-config --libs libjwt 2>/dev/null) || jwt_libs=-ljwt

work=$(mktemp -d "${TMPDIR:-/tmp}/pbfuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM

# The autotools config.h only defines _GNU_SOURCE and package names for
# these sources; a stand-in keeps this script independent of configure.
mkdir "$work/include"
printf '#ifndef _GNU_SOURCE\n#define _GNU_SOURCE 1\n#endif\n#define PACKAGE_VERSION "fuzz"\n' >"$work/include/config.h"

# Leaks count as findings; UBSan stops at the first report.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

count() { find "$1" -maxdepth 1 -type f | wc -l | tr -d ' '; }

# fuzz_one TARGET : builds and fuzzes one target in $work/$TARGET/,
# printing its progress and report; writes its summary line to
# $work/$TARGET.summary and leaves $work/$TARGET.failed if it failed.
fuzz_one() {
	t=$1
	mkdir "$work/$t"
	echo "=== $t: building"
	bin="$work/$t/fuzz_$t"
	# the target and the library it drives, all but the PAM entry
	# points (paths may hold spaces)
	set -- "$here/fuzz_$t.c"
	for f in "$top"/common/*.c "$top"/policy/*.c "$top"/pam_buildkite/*.c
	do
		case $f in */pam_buildkite/pam_buildkite.c) ;; *) set -- "$@" "$f" ;; esac
	done
	extra_libs=""
	if [ "$t" = audit_line ]; then
		set -- "$@" "$top/tool/audit_line.c"
	fi
	if [ "$t" = jwt_diff ]; then
		set -- "$@" "$here/jwt_diff.c" "$here/jwt_diff_mint.c" \
		    "$top/tool/tokmint.c" "$top/tool/tokmint_sign.c"
		extra_libs=$jwt_libs
	fi
	# shellcheck disable=SC2086 # pkg-config's flag lists are split
	if ! "$CC" -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1 \
	    -I"$work/include" -I"$top/common" -I"$top/policy" \
	    -I"$top/pam_buildkite" \
	    -I"$top/tests" -I"$top/tool" $cflags -o "$bin" "$@" $libs $extra_libs; then
		echo "=== $t: build FAILED"
		echo "$t: build failed" >"$work/$t.summary"
		: >"$work/$t.failed"
		return
	fi
	corpus="$work/$t/corpus"
	crashes="$top/fuzz/crashes/$t"
	mkdir -p "$corpus" "$crashes"
	cp "$top/fuzz/corpus/$t"/* "$corpus/" 2>/dev/null
	LC_ALL=C ls -A "$crashes" >"$work/$t/before"
	log="$work/$t/log"
	echo "=== $t: fuzzing for ${FUZZ_SECONDS}s"
	jobs=""
	[ "$FUZZ_JOBS" -gt 1 ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
	# shellcheck disable=SC2086 # $jobs is empty or two options
	(cd "$work/$t" && "$bin" -max_total_time="$FUZZ_SECONDS" \
	    -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 $jobs \
	    -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1)
	rc=$?
	# with -jobs the output of each job is in fuzz-N.log
	[ "$FUZZ_JOBS" -gt 1 ] && cat "$work/$t"/fuzz-*.log >>"$log" 2>/dev/null
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		awk '{ s += $1 } END { print s + 0 }')
	LC_ALL=C ls -A "$crashes" | LC_ALL=C comm -13 "$work/$t/before" - >"$work/$t/new"
	new=$(wc -l <"$work/$t/new" | tr -d ' ')
	if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
		# the report, and every input that caused one
		grep -v '^#[0-9]' "$log" | tail -n 60
		while read -r f; do
			echo "=== $t: input fuzz/crashes/$t/$f ($(wc -c <"$crashes/$f" | tr -d ' ') bytes), base64:"
			head -c 65536 "$crashes/$f" | base64
		done <"$work/$t/new"
		: >"$work/$t.failed"
		status="FOUND SOMETHING (exit $rc, $new new file(s) in fuzz/crashes/$t/)"
	else
		grep '^stat::' "$log"
		status="ok"
	fi
	echo "$t: $execs executions, corpus $(count "$corpus") inputs, $status" \
		>"$work/$t.summary"
	rmdir "$crashes" 2>/dev/null
	rmdir "$top/fuzz/crashes" 2>/dev/null
	rm -rf "$work/$t"
}

if [ "$FUZZ_PARALLEL" -le 1 ]; then
	for t in $targets; do
		fuzz_one "$t"
	done
else
	# FUZZ_PARALLEL groups of targets, each fuzzed one after the other in
	# the background; a group's output is shown when it is done.
	g=0
	for t in $targets; do
		eval "group_$g=\"\${group_$g:-} $t\""
		g=$(( (g + 1) % FUZZ_PARALLEL ))
	done
	pids=""
	g=0
	while [ "$g" -lt "$FUZZ_PARALLEL" ]; do
		eval "members=\${group_$g:-}"
		if [ -n "$members" ]; then
			echo "=== fuzzing$members for ${FUZZ_SECONDS}s each"
			( for t in $members; do fuzz_one "$t"; done ) \
				>"$work/group.$g.out" 2>&1 &
			pids="$pids $!"
		fi
		g=$((g + 1))
	done
	wait $pids
	cat "$work"/group.*.out
fi

echo "=== summary"
failed=0
for t in $targets; do
	cat "$work/$t.summary" 2>/dev/null || echo "$t: did not run"
	[ -f "$work/$t.failed" ] || [ ! -f "$work/$t.summary" ] && failed=1
done
exit "$failed"
