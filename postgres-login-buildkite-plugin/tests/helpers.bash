# helpers.bash - what the plugin's bats tests share: a clean job
# environment with the stand-in agent first on PATH.

PLUGIN=$(cd "$BATS_TEST_DIRNAME/.." && pwd)

setup() {
	export STUB_DIR="$BATS_TEST_TMPDIR/stub"
	mkdir -p "$STUB_DIR"
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
	mkdir -p "$TMPDIR"
	export PATH="$PLUGIN/tests/stub:$PATH"
	unset STUB_REFUSE STUB_NO_OIDC STUB_NO_REDACTOR STUB_SLEEP STUB_MINT
	for v in $(compgen -e BUILDKITE_PLUGIN_POSTGRES_LOGIN_) PGPASSFILE \
		PGUSER PGHOST PGPORT PGDATABASE PGSSLMODE PGSSLROOTCERT; do
		unset "$v"
	done
	export BUILDKITE_PLUGIN_POSTGRES_LOGIN_AUDIENCE=postgres://db1.example.com
}

# job HOOK-AND-COMMANDS : the hook run as the agent runs it, then the
# commands in the environment it leaves (the job's command).
job() {
	bash -c "set -e; . '$PLUGIN/hooks/environment'; $1"
}

# passfile_token : the token field of the one line of $1.
passfile_token() {
	sed 's/.*[^\\]://' "$1"
}
