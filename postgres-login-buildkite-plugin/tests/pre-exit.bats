#!/usr/bin/env bats
# The pre-exit hook: the pass file goes, whatever the command did.

load helpers

@test "after the command, the pass file and its directory are gone" {
	run job 'echo "$BUILDKITE_PLUGIN_POSTGRES_LOGIN_DIR"; exit 0'
	[ "$status" -eq 0 ]
	dir=$(echo "$output" | tail -1)
	[ -f "$dir/pgpass" ]
	BUILDKITE_PLUGIN_POSTGRES_LOGIN_DIR=$dir run "$PLUGIN/hooks/pre-exit"
	[ "$status" -eq 0 ]
	[ ! -e "$dir" ]
}

@test "also after a failed command, and after a refresh left a temporary file" {
	dir=$(mktemp -d "$TMPDIR/postgres-login.XXXXXX")
	: >"$dir/pgpass"
	: >"$dir/pgpass.new.123"
	BUILDKITE_PLUGIN_POSTGRES_LOGIN_DIR=$dir run "$PLUGIN/hooks/pre-exit"
	[ "$status" -eq 0 ]
	[ ! -e "$dir" ]
}

@test "a directory the plugin did not make is left alone" {
	mkdir -p "$BATS_TEST_TMPDIR/precious"
	: >"$BATS_TEST_TMPDIR/precious/pgpass"
	BUILDKITE_PLUGIN_POSTGRES_LOGIN_DIR=$BATS_TEST_TMPDIR/precious run "$PLUGIN/hooks/pre-exit"
	[ "$status" -eq 0 ]
	[ -f "$BATS_TEST_TMPDIR/precious/pgpass" ]
	echo "$output" | grep -q "not removing"
}

@test "without the plugin's environment, nothing to do" {
	run "$PLUGIN/hooks/pre-exit"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
