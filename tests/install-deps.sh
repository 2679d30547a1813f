#!/bin/sh
# install-deps.sh [build | demo | test] - install, from Debian's packages,
# what one purpose needs:
#
#   build  compile the module, the admin tool and the pg_buildkite
#          extension (configure, make)
#   demo   compile the module and the tool, and run examples/demo.sh: a
#          PostgreSQL server and client, openssl for its certificates
#   test   everything: build, demo, and what the test suite, the fuzzers
#          and the package build use (tests/run.sh; the default)
#
# Does nothing when all are present; needs root otherwise.
set -eu

# The module and the tool: configure requires each of these. A C compiler
# and make, not build-essential, whose C++ compiler nothing here uses.
CORE="gcc libc6-dev make autoconf automake libtool pkg-config
libpam0g-dev libjansson-dev libssl-dev libyaml-dev libpcre2-dev
libcurl4-openssl-dev"
# The pg_buildkite extension: the server's headers, whose libpq-be.h
# includes GSSAPI's, from libkrb5-dev, which the server headers only
# recommend. postgresql-server-dev-15 depends on clang and LLVM (for
# PostgreSQL's JIT), the largest part of the build set: the demo, which
# does not use the extension, leaves it out.
EXTENSION="postgresql-server-dev-15 libkrb5-dev"
# What the demo runs: a server, psql, openssl for its throwaway CA.
DEMO_RUN="postgresql-15 postgresql-client-15 openssl"
# The test suite. libclang-rt-dev holds clang's libFuzzer and sanitizer
# runtimes (fuzz/run.sh); clang only recommends it, and recommends are
# not installed here. libjwt-dev: the tests' second opinion on tokens
# (test_jwt_diff, fuzz_jwt_diff), never used by the module. pgbouncer:
# the PgBouncer test; bats: the Buildkite plugin's tests. build-essential
# and debhelper: the package build of tests/run.sh (dpkg-buildpackage
# checks for build-essential).
TEST="build-essential pamtester libpam-wrapper binutils ca-certificates python3-jsonschema
python3-yaml clang libclang-rt-dev debhelper valgrind libjwt-dev pgbouncer
bats"

case "${1:-test}" in
build) PACKAGES="$CORE $EXTENSION" ;;
demo) PACKAGES="$CORE $DEMO_RUN" ;;
test) PACKAGES="$CORE $EXTENSION $DEMO_RUN $TEST" ;;
*)
	echo "usage: $0 [build | demo | test]" >&2
	exit 2
	;;
esac

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing" >&2
	echo "run as root: apt-get install --no-install-recommends$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# The postgresql-15 package would start a cluster of its own; the tests
# and the demo start their own servers and need none.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
