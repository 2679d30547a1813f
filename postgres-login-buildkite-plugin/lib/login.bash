#!/bin/bash
# lib/login.bash - what the hooks and bin/buildkite-pg-token share: the
# plugin's options, the token request, and the pass file libpq reads.
#
# The token is a credential. It is held in shell variables and written
# with bash builtins only (printf, redirections), so it never appears on
# a command line (ps, /proc/PID/cmdline) or in the hook's output.

PREFIX=BUILDKITE_PLUGIN_POSTGRES_LOGIN

# fail MESSAGE... : the step fails before its command runs, saying why.
fail() {
	echo "+++ :postgres: postgres-login: $*" >&2
	exit 1
}

# opt NAME [DEFAULT] : the option NAME (upper case, _ for -).
opt() {
	local v="${PREFIX}_$1"
	printf '%s' "${!v-${2-}}"
}

# The claims option: a list (CLAIMS_0, CLAIMS_1, ...) or one string.
claims_list() {
	local i=0 v out=""
	while v="${PREFIX}_CLAIMS_${i}" && [[ -n "${!v+set}" ]]; do
		out="${out:+$out,}${!v}"
		i=$((i + 1))
	done
	[[ -z "$out" ]] && out=$(opt CLAIMS)
	printf '%s' "$out"
}

# no_control NAME VALUE : refuses a value holding a control character or
# a newline (it would end a pass file line).
no_control() {
	[[ "$2" != *[[:cntrl:]]* ]] || fail "$1 holds a control character"
}

# check_options : every option valid, or the step fails saying which.
check_options() {
	local aud life claims c
	aud=$(opt AUDIENCE)
	[[ -n "$aud" ]] || fail "the audience option is required (the policy's token.audience, e.g. postgres://db1.example.com)"
	no_control audience "$aud"
	if [[ "$(opt AUDIENCE_CHECK true)" != false ]] &&
		! [[ "$aud" =~ ^postgres://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9_.-]*)?$ ]]; then
		fail "audience '$aud' is not of the form postgres://HOST[:PORT][/DATABASE] that names this database server (set audience-check: false to use it anyway)"
	fi
	life=$(opt LIFETIME 300)
	[[ "$life" =~ ^[0-9]+$ ]] && ((life >= 1 && life <= 7200)) ||
		fail "lifetime '$life' must be a number of seconds from 1 to 7200"
	claims=$(claims_list)
	IFS=, read -r -a list <<<"$claims"
	for c in "${list[@]}"; do
		[[ "$c" =~ ^(organization_id|pipeline_id|build_id|cluster_id|cluster_name|queue_id|queue_key|jti|agent_tag:[A-Za-z0-9_.-]+)$ ]] ||
			fail "claim '$c' is not one buildkite-agent oidc request-token can add"
	done
	case "$(opt SSLMODE verify-full)" in
	verify-full | verify-ca | require) ;;
	*) fail "sslmode '$(opt SSLMODE)' must be verify-full, verify-ca or require: the token is a password" ;;
	esac
	[[ -z "$(opt PORT)" || "$(opt PORT)" =~ ^[0-9]{1,5}$ ]] ||
		fail "port '$(opt PORT)' is not a port number"
	for c in USER HOST DATABASE SSLROOTCERT; do
		no_control "${c,,}" "$(opt "$c")"
	done
}

# check_agent : the agent is there and can request OIDC tokens.
check_agent() {
	command -v buildkite-agent >/dev/null ||
		fail "buildkite-agent is not on PATH: this plugin runs in a Buildkite job, on an agent"
	buildkite-agent oidc request-token --help >/dev/null 2>&1 ||
		fail "this buildkite-agent cannot request OIDC tokens (buildkite-agent oidc request-token): upgrade the agent to v3.44 or later"
}

# request_token : TOKEN set to a new token, or the step fails with the
# agent's own words (which never hold a token).
request_token() {
	local err args=(oidc request-token --audience "$(opt AUDIENCE)"
		--lifetime "$(opt LIFETIME 300)")
	[[ -n "$(claims_list)" ]] && args+=(--claim "$(claims_list)")
	err=$(mktemp) || fail "cannot make a temporary file"
	if ! TOKEN=$(buildkite-agent "${args[@]}" 2>"$err"); then
		local why
		why=$(head -c 2000 "$err")
		rm -f "$err"
		fail "the agent's OIDC token request was refused: ${why:-no reason given}. Check the audience and claims, and that the pipeline may request OIDC tokens"
	fi
	rm -f "$err"
	[[ "$TOKEN" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] ||
		fail "the agent answered with something that is not a token"
}

# pgpass_field VALUE : VALUE escaped for a pass file ('\' and ':'), or
# '*' when empty.
pgpass_field() {
	local v=$1
	[[ -z "$v" ]] && { printf '*'; return; }
	v=${v//\\/\\\\}
	printf '%s' "${v//:/\\:}"
}

# write_passfile FILE : the pass file line for the options and TOKEN,
# mode 0600, replaced atomically (a refresh never leaves half a file).
write_passfile() {
	local tmp="$1.new.$$"
	(
		umask 077
		printf '%s:%s:%s:%s:%s\n' "$(pgpass_field "$(opt HOST)")" \
			"$(pgpass_field "$(opt PORT)")" \
			"$(pgpass_field "$(opt DATABASE)")" \
			"$(pgpass_field "$(opt USER)")" "$TOKEN" >"$tmp"
	) && mv -f "$tmp" "$1" || { rm -f "$tmp"; fail "cannot write the pass file $1"; }
}
