#!/usr/bin/env bats
# buildkite-pg-token --refresh: a fresh token in the same pass file.

load helpers

@test "--refresh puts a new token in the pass file, mode 0600, never printed" {
	run job 'a=$(sed "s/.*://" "$PGPASSFILE"); buildkite-pg-token --refresh >"$BATS_TEST_TMPDIR/out" 2>&1; b=$(sed "s/.*://" "$PGPASSFILE"); stat -c %a "$PGPASSFILE"; [ "$a" != "$b" ] && echo changed; cat "$BATS_TEST_TMPDIR/out"; grep -qF "$b" "$BATS_TEST_TMPDIR/out" && echo PRINTED; ls "$(dirname "$PGPASSFILE")"'
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx 600
	echo "$output" | grep -qx changed
	echo "$output" | grep -q "a fresh token for postgres://db1.example.com is in"
	! echo "$output" | grep -q PRINTED
	echo "$output" | tail -1 | grep -qx pgpass
	[ "$(grep -c 'oidc request-token --audience' "$STUB_DIR/calls")" -eq 2 ]
}

@test "--refresh outside a step of the plugin fails, saying so" {
	run "$PLUGIN/bin/buildkite-pg-token" --refresh
	[ "$status" -ne 0 ]
	echo "$output" | grep -q "no pass file"
}

@test "a refused refresh keeps the old token and fails" {
	run job 'a=$(cat "$PGPASSFILE"); rc=0; STUB_REFUSE="error: 500" buildkite-pg-token --refresh || rc=$?; [ "$(cat "$PGPASSFILE")" = "$a" ] && echo kept; exit $rc'
	[ "$status" -ne 0 ]
	echo "$output" | grep -qx kept
	echo "$output" | grep -q "refused: error: 500"
}

@test "anything but --refresh is a usage error" {
	run job 'buildkite-pg-token'
	[ "$status" -eq 2 ]
	echo "$output" | grep -q "usage: buildkite-pg-token --refresh"
}
