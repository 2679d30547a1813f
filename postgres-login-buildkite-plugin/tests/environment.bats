#!/usr/bin/env bats
# The environment hook: options, the token request, the pass file.

load helpers

@test "a token in a pass file of mode 0600, and the PG variables" {
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_USER=api_migrator
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_HOST=db1.example.com
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_PORT=5432
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_DATABASE=app
	run job 'echo "F=$PGPASSFILE U=$PGUSER H=$PGHOST P=$PGPORT D=$PGDATABASE S=$PGSSLMODE"'
	[ "$status" -eq 0 ]
	f=$(echo "$output" | sed -n 's/^F=\([^ ]*\) .*/\1/p')
	[ -f "$f" ]
	[ "$(stat -c %a "$f")" = 600 ]
	[ "$(stat -c %a "$(dirname "$f")")" = 700 ]
	case "$f" in "$TMPDIR"/postgres-login.*/pgpass) ;; *) false ;; esac
	echo "$output" | grep -q ' U=api_migrator H=db1.example.com P=5432 D=app S=verify-full$'
	grep -Eq '^db1\.example\.com:5432:app:api_migrator:eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "$f"
}

@test "the token is asked for the audience and lifetime, with the claims" {
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_LIFETIME=600
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_CLAIMS_0=organization_id
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_CLAIMS_1=agent_tag:queue
	run job true
	[ "$status" -eq 0 ]
	grep -qx 'oidc request-token --audience postgres://db1.example.com --lifetime 600 --claim organization_id,agent_tag:queue' "$STUB_DIR/calls"
}

@test "the token is added to the redactor and never printed" {
	run job 'passfile=$PGPASSFILE; echo "$passfile"'
	[ "$status" -eq 0 ]
	f=$(echo "$output" | tail -1)
	t=$(passfile_token "$f")
	[ -n "$t" ]
	[ "$(cat "$STUB_DIR/redacted")" = "$t" ]
	! echo "$output" | grep -qF "$t"
}

@test "the token never appears on a command line (ps)" {
	export STUB_SLEEP=1
	( for _ in $(seq 30); do ps -eo args >>"$BATS_TEST_TMPDIR/ps"; sleep 0.05; done ) &
	sampler=$!
	run job 'echo "$PGPASSFILE"'
	wait "$sampler"
	[ "$status" -eq 0 ]
	t=$(passfile_token "$(echo "$output" | tail -1)")
	grep -q 'redactor add' "$BATS_TEST_TMPDIR/ps"
	! grep -qF "$t" "$BATS_TEST_TMPDIR/ps"
}

@test "without an audience the step fails, saying what to set" {
	unset BUILDKITE_PLUGIN_POSTGRES_LOGIN_AUDIENCE
	run job true
	[ "$status" -ne 0 ]
	echo "$output" | grep -q "the audience option is required"
	[ ! -e "$STUB_DIR/calls" ]
}

@test "an audience not of the recommended form is refused unless told" {
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_AUDIENCE=https://example.com
	run job true
	[ "$status" -ne 0 ]
	echo "$output" | grep -q "audience 'https://example.com' is not of the form postgres://HOST\[:PORT\]\[/DATABASE\]"
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_AUDIENCE_CHECK=false
	run job true
	[ "$status" -eq 0 ]
}

@test "bad options fail the step before any token is asked for" {
	for bad in "LIFETIME=0" "LIFETIME=7201" "LIFETIME=5m" "SSLMODE=disable" \
		"SSLMODE=prefer" "PORT=db" "CLAIMS=sub" "CLAIMS=organization_id,iss"; do
		rm -f "$STUB_DIR/calls"
		run env "BUILDKITE_PLUGIN_POSTGRES_LOGIN_$bad" bash -c ". '$PLUGIN/hooks/environment'"
		[ "$status" -ne 0 ] || { echo "accepted $bad"; false; }
		[ ! -e "$STUB_DIR/calls" ] || { echo "asked for a token with $bad"; false; }
	done
	run env BUILDKITE_PLUGIN_POSTGRES_LOGIN_USER=$'a\nb' bash -c ". '$PLUGIN/hooks/environment'"
	[ "$status" -ne 0 ]
	echo "$output" | grep -q "user holds a control character"
}

@test "no buildkite-agent: the step fails, saying it runs on an agent" {
	PATH=/usr/bin:/bin run bash -c ". '$PLUGIN/hooks/environment'"
	[ "$status" -ne 0 ]
	echo "$output" | grep -q "buildkite-agent is not on PATH"
}

@test "an agent without OIDC: the step fails, saying to upgrade" {
	export STUB_NO_OIDC=1
	run job true
	[ "$status" -ne 0 ]
	echo "$output" | grep -q "cannot request OIDC tokens .* upgrade the agent"
}

@test "a refused request: the step fails with the agent's reason, nothing left" {
	export STUB_REFUSE="error: 403 Forbidden: audience not allowed"
	run job 'echo ran'
	[ "$status" -ne 0 ]
	echo "$output" | grep -q "the agent's OIDC token request was refused: error: 403 Forbidden: audience not allowed"
	! echo "$output" | grep -q '^ran$'
	[ -z "$(ls -A "$TMPDIR")" ]
}

@test "an agent without a redactor is said, and the job goes on" {
	export STUB_NO_REDACTOR=1
	run job 'test -s "$PGPASSFILE" && echo ran'
	[ "$status" -eq 0 ]
	echo "$output" | grep -q "no redactor"
	echo "$output" | grep -q '^ran$'
}

@test "pass file fields are escaped; unset ones match any" {
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_DATABASE='we:ird\db'
	run job 'cat "$PGPASSFILE"'
	[ "$status" -eq 0 ]
	echo "$output" | grep -q '^\*:\*:we\\:ird\\\\db:\*:eyJ'
}
