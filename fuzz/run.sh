#!/bin/sh
# run.sh - build the fuzz targets with libFuzzer and run each for a while.
#
# usage: fuzz/run.sh [target ...]     targets: token jwks policy audit
#                                     (default: all four)
# environment: FUZZ_SECONDS  seconds per target (default 60)
#              CC            a clang with libFuzzer (default clang)
#              FUZZ_JOBS     parallel fuzzing processes per target (default 1)
#
# Each target is compiled straight from the sources with
# -fsanitize=fuzzer,address,undefined, and runs on a scratch copy of its
# seed corpus (fuzz/corpus/<target>/), so the tree only changes when
# something is found: crashes, leaks, timeouts and sanitizer reports are
# written to fuzz/crashes/<target>/ to be triaged, fixed and then added
# to the seed corpus as regression inputs. Exits non-zero when any
# target found something (or did not build).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
: "${FUZZ_SECONDS:=60}"
: "${CC:=clang}"
: "${FUZZ_JOBS:=1}"

all="token jwks policy audit"
targets=${*:-$all}
for t in $targets; do
	case " $all " in
	*" $t "*) ;;
	*) echo "run.sh: unknown target '$t' (expected: $all)" >&2; exit 2 ;;
	esac
done

command -v "$CC" >/dev/null 2>&1 || { echo "run.sh: $CC not found" >&2; exit 2; }
libs=$(pkg-config --libs jansson libcrypto yaml-0.1) ||
	{ echo "run.sh: pkg-config cannot find jansson, libcrypto or yaml-0.1" >&2; exit 2; }
cflags=$(pkg-config --cflags jansson libcrypto yaml-0.1)

work=$(mktemp -d "${TMPDIR:-/tmp}/pbfuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM

# The autotools config.h only defines _GNU_SOURCE and package names for
# these sources; a stand-in keeps this script independent of configure.
mkdir "$work/include"
printf '#ifndef _GNU_SOURCE\n#define _GNU_SOURCE 1\n#endif\n' >"$work/include/config.h"

# Leaks count as findings; UBSan stops at the first report.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

count() { find "$1" -maxdepth 1 -type f | wc -l | tr -d ' '; }

failed=0
summary=""
for t in $targets; do
	echo "=== $t: building"
	bin="$work/fuzz_$t"
	# the target and the parsers it drives (paths may hold spaces)
	set -- "$here/fuzz_$t.c" "$top/pam_buildkite/b64url.c" \
	    "$top/pam_buildkite/jwks.c" "$top/pam_buildkite/token.c" \
	    "$top/pam_buildkite/audit.c" "$top/policy/policy_load.c" \
	    "$top/policy/policy_match.c"
	# shellcheck disable=SC2086 # pkg-config's flag lists are split
	if ! "$CC" -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1 \
	    -I"$work/include" -I"$top/pam_buildkite" -I"$top/policy" \
	    -I"$top/tests" $cflags -o "$bin" "$@" $libs; then
		echo "=== $t: build FAILED"
		failed=1
		summary="$summary$t: build failed\n"
		continue
	fi
	corpus="$work/corpus-$t"
	mkdir -p "$corpus" "$top/fuzz/crashes/$t"
	cp "$top/fuzz/corpus/$t"/* "$corpus/" 2>/dev/null
	before=$(count "$top/fuzz/crashes/$t")
	log="$work/$t.log"
	echo "=== $t: fuzzing for ${FUZZ_SECONDS}s"
	jobs=""
	[ "$FUZZ_JOBS" -gt 1 ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
	# shellcheck disable=SC2086 # $jobs is empty or two options
	(cd "$work" && "$bin" -max_total_time="$FUZZ_SECONDS" \
	    -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 $jobs \
	    -artifact_prefix="$top/fuzz/crashes/$t/" "$corpus" >"$log" 2>&1)
	rc=$?
	after=$(count "$top/fuzz/crashes/$t")
	# with -jobs the output of each job is in fuzz-N.log
	[ "$FUZZ_JOBS" -gt 1 ] && cat "$work"/fuzz-*.log >>"$log" 2>/dev/null
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		awk '{ s += $1 } END { print s + 0 }')
	if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
		# the report and the input that caused it
		grep -v '^#[0-9]' "$log" | tail -n 60
		failed=1
		status="FOUND SOMETHING (exit $rc, $((after - before)) new file(s) in fuzz/crashes/$t/)"
	else
		grep '^stat::' "$log"
		status="ok"
	fi
	summary="$summary$t: $execs executions, corpus $(count "$corpus") inputs, $status\n"
	rmdir "$top/fuzz/crashes/$t" 2>/dev/null
	rmdir "$top/fuzz/crashes" 2>/dev/null
	rm -f "$work"/fuzz-*.log
done

echo "=== summary"
printf '%b' "$summary"
exit "$failed"
