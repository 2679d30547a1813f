#!/bin/sh
# install-deps.sh - install, from Debian's packages, everything the build,
# the test suite and the demo use. Does nothing when all are present;
# needs root otherwise.
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config
libpam0g-dev libjansson-dev libssl-dev libyaml-dev libpcre2-dev
pamtester libpam-wrapper postgresql-15 postgresql-client-15
binutils ca-certificates python3-jsonschema python3-yaml clang
libclang-rt-dev libcurl4-openssl-dev openssl debhelper valgrind
libjwt-dev postgresql-server-dev-15 libkrb5-dev"
# libclang-rt-dev holds clang's libFuzzer and sanitizer runtimes
# (fuzz/run.sh); clang only recommends it, and recommends are not
# installed here. libjwt-dev: the tests' second opinion on tokens
# (test_jwt_diff, fuzz_jwt_diff), never used by the module.
# postgresql-server-dev-15: the pg_buildkite extension's headers; their
# libpq-be.h includes GSSAPI's, from libkrb5-dev, which the server
# headers only recommend.

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing" >&2
	echo "run as root: apt-get install$missing" >&2
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
