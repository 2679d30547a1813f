#!/bin/sh
# test_plugin.sh - the Buildkite plugin's bats suite
# (postgres-login-buildkite-plugin/tests/), its TAP passed through: the
# hooks and the refresh helper against a stand-in agent, and the schema
# of its options.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

command -v bats >/dev/null || skip_all "bats not installed"
exec bats --tap "$top_srcdir/postgres-login-buildkite-plugin/tests"
