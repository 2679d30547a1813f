#!/bin/sh
# test_examples.sh - the example policies, the JSON Schema for editors and
# the loader agree: every examples/*.yaml (and every file it includes)
# validates against policy/pam_buildkite.schema.json and passes
# `pam-buildkite check`, and a set of broken policies is refused by both
# the schema and the loader, which keeps the two in step.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

# Debian's interpreter, which python3-yaml and python3-jsonschema serve;
# a python3 earlier in PATH may be another one without them.
PY=/usr/bin/python3
SCHEMA="$top_srcdir/policy/pam_buildkite.schema.json"
CASES_SCHEMA="$top_srcdir/policy/pam_buildkite_cases.schema.json"
TOOL="$top_builddir/pam-buildkite"
EXAMPLES="$top_srcdir/examples"

[ -x "$PY" ] || skip_all "$PY not installed"
"$PY" -c 'import yaml, jsonschema' 2>/dev/null ||
	skip_all "python3-yaml or python3-jsonschema not installed"
[ -f "$SCHEMA" ] || { echo "Bail out! $SCHEMA missing"; exit 1; }

have_tool=0
check_user=""
id postgres >/dev/null 2>&1 && check_user="--user postgres"
[ -x "$TOOL" ] && have_tool=1
[ "$have_tool" = 1 ] || diag "pam-buildkite not built: loader checks skipped"

skip() { # skip REASON DESCRIPTION
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $2 # SKIP $1"
}

# schema.py check                       : the schema is a valid schema
# schema.py validate main|included FILE : exit 0 valid, 1 invalid, 2 error
# schema.py includes FILE               : the files FILE's include: names
cat >"$TMP/schema.py" <<'PY'
import glob, json, os, sys
import jsonschema, yaml

schema_file, cmd = sys.argv[1], sys.argv[2]
with open(schema_file) as f:
    schema = json.load(f)
cls = jsonschema.validators.validator_for(schema)

def load(path):
    with open(path) as f:
        # what an editor sees: YAML turned into JSON values
        doc = yaml.safe_load(f)
    return json.loads(json.dumps(doc, default=str))

try:
    if cmd == "check":
        cls.check_schema(schema)
    elif cmd == "validate":
        which, path = sys.argv[3], sys.argv[4]
        target = schema
        if which == "included":
            target = dict(schema["definitions"]["includedFile"])
            target["definitions"] = schema["definitions"]
        errors = sorted(cls(target).iter_errors(load(path)),
                        key=lambda e: list(e.absolute_path))
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            print("# %s: %s: %s" % (os.path.basename(path), where,
                                    e.message[:200]))
        sys.exit(1 if errors else 0)
    elif cmd == "includes":
        path = sys.argv[3]
        doc = load(path)
        inc = doc.get("include") if isinstance(doc, dict) else None
        if isinstance(inc, str):
            if not os.path.isabs(inc):
                inc = os.path.join(os.path.dirname(os.path.abspath(path)),
                                   inc)
            for p in sorted(glob.glob(inc)):
                print(p)
    else:
        sys.exit(2)
except SystemExit:
    raise
except Exception as e:
    print("# %s: %s" % (type(e).__name__, e))
    sys.exit(2)
PY

schema() { "$PY" "$TMP/schema.py" "$SCHEMA" "$@"; }

# --------------------------------------------------------- the schema

out=$(schema check 2>&1)
ok $? "the schema is a valid JSON Schema"
[ -n "$out" ] && echo "$out"
out=$("$PY" "$TMP/schema.py" "$CASES_SCHEMA" check 2>&1)
ok $? "the cases file's schema is a valid JSON Schema"
[ -n "$out" ] && echo "$out"

# ------------------------------------------------------- the examples

n_examples=0
old_ifs=$IFS
for f in "$EXAMPLES"/*.yaml; do
	case $f in *.tests.yaml) continue ;; esac
	[ -f "$f" ] || continue
	n_examples=$((n_examples + 1))
	name=examples/${f##*/}
	out=$(schema validate main "$f" 2>&1)
	ok $? "$name validates against the schema"
	[ -n "$out" ] && echo "$out"
	incs=$(schema includes "$f" 2>&1)
	IFS='
'
	for g in $incs; do
		IFS=$old_ifs
		out=$(schema validate included "$g" 2>&1)
		ok $? "$name: included ${g##*/} validates against the schema"
		[ -n "$out" ] && echo "$out"
	done
	IFS=$old_ifs
	cases=${f%.yaml}.tests.yaml
	out=$("$PY" "$TMP/schema.py" "$CASES_SCHEMA" validate main "$cases" 2>&1)
	ok $? "$name carries a cases file, ${cases##*/}, valid against the cases schema"
	[ -n "$out" ] && echo "$out"
	if [ "$have_tool" = 1 ]; then
		out=$("$TOOL" check --strict -c "$f" 2>&1)
		rc=$?
		ok $rc "$name passes pam-buildkite check --strict"
		[ "$rc" -ne 0 ] && diag "exit $rc: $out"
		out=$("$TOOL" test -c "$f" "$cases" 2>&1)
		rc=$?
		ok "$([ $rc -eq 0 ] && echo "$out" | tail -1 | grep -q '^[1-9][0-9]* passed, 0 failed$'; echo $?)" \
			"... and its cases pass: $(echo "$out" | tail -1)"
		[ "$rc" -ne 0 ] && diag "exit $rc: $out"
	else
		skip "pam-buildkite not built" "$name passes pam-buildkite check --strict"
		skip "pam-buildkite not built" "... and its cases pass"
	fi
done
[ "$n_examples" -ge 3 ]
ok $? "examples/ holds the example policies ($n_examples found)"

# ----------------------------------- hand-written cases, both must agree

HDR='version: 1
token:
  audience: postgres://db.example.com
  organization: acme-inc
'
RULE='rules:
  - name: r
    pipeline: api
'

# agree good|bad DESCRIPTION YAML : the schema and the loader both accept
# (good) or both refuse (bad, with check exiting 1) the policy.
agree() {
	want=$1 what=$2
	f="$TMP/case.yaml"
	printf '%s' "$3" >"$f"
	out=$(schema validate main "$f" 2>&1)
	rc=$?
	if [ "$want" = good ]; then
		ok $rc "schema accepts: $what"
		[ -n "$out" ] && echo "$out"
	else
		[ "$rc" -eq 1 ]
		ok $? "schema refuses: $what"
		[ "$rc" -ne 1 ] && diag "validator exit $rc $out"
	fi
	if [ "$have_tool" = 0 ]; then
		skip "pam-buildkite not built" "loader ${want}: $what"
		return
	fi
	# judged as the module's user, as logins would: directories the
	# cases name by default (/var/lib/pam_buildkite/replay) may exist
	# here, owned by postgres after the package was installed once
	out=$("$TOOL" check -c "$f" $check_user 2>&1)
	rc=$?
	if [ "$want" = good ]; then
		ok $rc "loader accepts: $what"
		[ "$rc" -ne 0 ] && diag "exit $rc: $out"
	else
		[ "$rc" -eq 1 ]
		ok $? "loader refuses: $what"
		[ "$rc" -ne 1 ] && diag "exit $rc (want 1): $out"
	fi
}

agree good "a minimal policy" "$HDR$RULE    roles: [x]
"
agree good "no rules at all" "$HDR"
agree good "an empty rule list" "${HDR}rules: []
"
agree good "durations as integers, quoted, with every unit" "${HDR}  leeway: 90
  max_lifetime: \"15m\"
jwks:
  refresh: 1d
  max_stale: 0
  timeout: '3'
"
agree good "leeway at its maximum" "${HDR}  leeway: 5m
"
agree good "an audience list and a single algorithm" "version: 1
token:
  audience: [postgres://db1.example.com, postgres://db2.example.com]
  organization: acme-inc
  algorithms: ES256
  single_use: true
  replay_dir: /var/lib/pam_buildkite/replay
"
agree good "static keys, writer tool, json audit" "${HDR}jwks:
  file: /etc/pam_buildkite/jwks.json
  cache: /var/cache/pam_buildkite
  writer: tool
audit:
  format: json
  facility: local3
"
agree good "every kind of pattern, claims and from" "$HDR$RULE    branch: \"main !wip/*\"
    tag: ['v*', '/v[0-9]+(\\.[0-9]+)*/']
    step: [migrate, \"deploy *\"]
    source: webhook
    claims:
      agent_tag:queue: production
      build_number: 42
    from: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"]
    roles: [x, \"ci_{pipeline_slug}\", \"q_{agent_tag:queue}\"]
"
agree good "a deny rule without roles" "$HDR$RULE    effect: deny
    source: ui
"

agree bad "an unknown top-level key" "${HDR}tokn: {}
"
agree bad "an unknown key in token" "${HDR}  issuers: https://agent.buildkite.com
"
agree bad "an unknown key in a rule" "$HDR$RULE    branches: main
    roles: [x]
"
agree bad "an unknown key in jwks" "${HDR}jwks:
  urls: https://agent.buildkite.com/.well-known/jwks
"
agree bad "an unknown key in audit" "${HDR}audit:
  fmt: json
"
agree bad "HS256 in algorithms" "${HDR}  algorithms: [RS256, HS256]
"
agree bad "algorithm none" "${HDR}  algorithms: none
"
agree bad "an empty algorithm list" "${HDR}  algorithms: []
"
agree bad "an empty role list" "$HDR$RULE    roles: []
"
agree bad "roles as a string" "$HDR$RULE    roles: x
"
agree bad "an allow rule without roles" "$HDR$RULE    branch: main
"
agree bad "an empty role name" "$HDR$RULE    roles: [x, \"\"]
"
agree bad "a role template naming an unknown claim" "$HDR$RULE    roles: [\"ci_{pipeline}\"]
"
agree bad "a role longer than 63 bytes" "$HDR$RULE    roles: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]
"
agree bad "a rule without pipeline" "${HDR}rules:
  - name: r
    branch: main
    roles: [x]
"
agree bad "a rule without name" "${HDR}rules:
  - pipeline: api
    roles: [x]
"
agree bad "leeway as a list" "${HDR}  leeway: [30s]
"
agree bad "leeway as a boolean" "${HDR}  leeway: true
"
agree bad "leeway over 300s" "${HDR}  leeway: 10m
"
agree bad "a negative duration" "${HDR}  max_lifetime: -5
"
agree bad "a duration with two units" "${HDR}jwks:
  timeout: 5ms
"
agree bad "timeout zero" "${HDR}jwks:
  timeout: 0
"
agree bad "version as a string" "version: \"1\"
token:
  audience: pg
  organization: acme-inc
"
agree bad "no version" "token:
  audience: pg
  organization: acme-inc
"
agree bad "no token" "version: 1
"
agree bad "no audience" "version: 1
token:
  organization: acme-inc
"
agree bad "no organization" "version: 1
token:
  audience: pg
"
agree bad "an empty organization" "version: 1
token:
  audience: pg
  organization: ''
"
agree bad "rules: with no value" "${HDR}rules:
"
agree bad "a rule that is a string" "${HDR}rules:
  - r
"
agree bad "an http jwks url" "${HDR}jwks:
  url: http://agent.buildkite.com/.well-known/jwks
"
agree bad "both jwks url and file" "${HDR}jwks:
  url: https://agent.buildkite.com/.well-known/jwks
  file: /etc/pam_buildkite/jwks.json
"
agree bad "an unknown effect" "$HDR$RULE    effect: permit
    roles: [x]
"
agree bad "an unknown audit format" "${HDR}audit:
  format: xml
"
agree bad "an unknown facility" "${HDR}audit:
  facility: local8
"
agree bad "an unknown writer" "${HDR}jwks:
  writer: cron
"
agree bad "single_use as a string" "${HDR}  single_use: \"true\"
  replay_dir: /var/lib/pam_buildkite/replay
"
agree bad "single_use without replay_dir" "${HDR}  single_use: true
"
agree bad "from a host name" "$HDR$RULE    from: db.example.com
    roles: [x]
"
agree bad "from an empty list" "$HDR$RULE    from: []
    roles: [x]
"
agree bad "a lone ! in a pattern" "$HDR$RULE    branch: main !
    roles: [x]
"
agree bad "an empty pattern" "$HDR$RULE    branch: ''
    roles: [x]
"
agree bad "a null pattern" "$HDR$RULE    branch:
    roles: [x]
"
agree bad "an empty regex" "$HDR$RULE    branch: //
    roles: [x]
"
agree bad "empty claims" "$HDR$RULE    claims: {}
    roles: [x]
"
agree bad "include as a list" "${HDR}include: [policy.d/a.yaml]
"

# ------------------------------------ pg_hba.conf, pam.d, pipeline.yml

# need WHAT : a prerequisite of the tests below; missing, it fails the
# file when the suite must run everything, and skips the tests otherwise.
need() {
	if [ "${PB_REQUIRE_ALL:-0}" = 1 ]; then
		ok 1 "prerequisite: $1"
	else
		skip "$1 missing" "prerequisite: $1"
	fi
}

# examples/pg_hba.conf, parsed by PostgreSQL itself: a throwaway server
# (ssl = on, or it flags every hostssl line) reads it as its pg_hba.conf
# and reports each line in pg_hba_file_rules.
if [ -n "$PG_BINDIR" ] && [ -x "$PG_BINDIR/initdb" ] &&
	command -v psql >/dev/null && command -v openssl >/dev/null; then
	mkdir -p "$TMP/hba"
	[ "$(id -u)" = 0 ] && chown nobody "$TMP/hba"
	HD="$TMP/hba/data"
	as_server "$PG_BINDIR/initdb" -D "$HD" -U admin --auth=trust --no-sync \
		>"$TMP/hba/initdb.log" 2>&1
	ok $? "initdb for the pg_hba.conf check"
	as_server openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		-subj /CN=127.0.0.1 -keyout "$HD/server.key" \
		-out "$HD/server.crt" >/dev/null 2>&1
	hport=$((20000 + ($$ + 13) % 20000))
	cat >>"$HD/postgresql.conf" <<CONF
listen_addresses = ''
port = $hport
unix_socket_directories = '$TMP/hba'
ssl = on
fsync = off
CONF
	{ echo "local all admin trust"; cat "$EXAMPLES/pg_hba.conf"; } \
		>"$HD/pg_hba.conf"
	cleanup="$cleanup as_server '$PG_BINDIR/pg_ctl' -D '$HD' -m immediate stop >/dev/null 2>&1;"
	as_server "$PG_BINDIR/pg_ctl" -D "$HD" -l "$TMP/hba/server.log" -w \
		-t 30 start >/dev/null 2>&1
	ok $? "a PostgreSQL server starts with examples/pg_hba.conf"
	rules=$(psql -X -At -F '|' -h "$TMP/hba" -p "$hport" -U admin -d postgres -c \
		"select type, array_to_string(database, ','),
		        array_to_string(user_name, ','), coalesce(address, ''),
		        coalesce(netmask, ''), auth_method,
		        coalesce(array_to_string(options, ','), ''),
		        coalesce(error, '')
		   from pg_hba_file_rules where line_number > 1
		  order by line_number" 2>&1)
	ok $? "pg_hba_file_rules lists the example's lines"
	echo "$rules" | sed 's/^/# /'
	errs=$(echo "$rules" | awk -F'|' '$8 != ""')
	[ -z "$errs" ]
	ok $? "PostgreSQL's parser finds no error in examples/pg_hba.conf"
	[ "$(echo "$rules" | grep -c '^hostssl|all|.*|pam|pamservice=postgresql-buildkite|$')" -ge 1 ]
	ok $? "... its pam lines are hostssl with pamservice=postgresql-buildkite"
	echo "$rules" | awk -F'|' '$6 == "pam" && $1 != "hostssl"' | grep -q .
	ok "$([ $? -ne 0 ]; echo $?)" "... and no pam line accepts a connection without TLS"
	echo "$rules" | awk -F'|' '$6 == "pam" && ($4 == "all" || $4 == "0.0.0.0" || $4 == "::")' | grep -q .
	ok "$([ $? -ne 0 ]; echo $?)" "... nor from any address"
	echo "$rules" | grep -q '^hostnossl|all|.*|reject||$'
	ok $? "... and the same roles are rejected without TLS"
	for svc in $(echo "$rules" | sed -n 's/.*pamservice=\([^|,]*\).*/\1/p' | sort -u); do
		[ -f "$EXAMPLES/pam.d/$svc" ]
		ok $? "pamservice=$svc names the example service file examples/pam.d/$svc"
	done
else
	need "PostgreSQL server and client, openssl (for examples/pg_hba.conf)"
fi

# examples/pam.d/postgresql-buildkite, as installed but with the module's
# path and the policy's substituted, run by pamtester under pam_wrapper.
PAMEX="$EXAMPLES/pam.d/postgresql-buildkite"
have_pam=0
[ -f "$MODULE" ] && [ -x "$MINT" ] && [ -n "$PAMTESTER" ] &&
	[ -x "$PAMTESTER" ] && [ -n "$PAM_WRAPPER_LIB" ] &&
	[ -f "$PAM_WRAPPER_LIB" ] && have_pam=1
if [ "$have_pam" = 1 ]; then
	make_keys >/dev/null 2>&1
	ok $? "fixture keys for the pam.d and pipeline checks"
	POL="$TMP/small-team.yaml"
	cp "$EXAMPLES/policy-small-team.yaml" "$POL"
	printf 'jwks:\n  file: %s\n' "$TMP/jwks.json" >>"$POL"
	mkdir -p "$TMP/pam.d"
	grep -E -v '^[[:space:]]*(#|$)' "$PAMEX" >"$TMP/pamex.lines"
	[ "$(cut -d' ' -f1 "$TMP/pamex.lines" | sort | tr '\n' ' ')" = "account auth " ]
	ok $? "examples/pam.d/postgresql-buildkite has exactly an auth and an account line"
	grep -q -E '^auth +required +pam_buildkite\.so +config=/etc/pam_buildkite/policy\.yaml$' "$PAMEX" &&
		grep -q -E '^account +required +pam_buildkite\.so +config=/etc/pam_buildkite/policy\.yaml$' "$PAMEX"
	ok $? "... both required, naming pam_buildkite.so and the default policy path"
	sed -e "s|pam_buildkite\\.so|$MODULE|" \
		-e "s|config=/etc/pam_buildkite/policy\\.yaml|config=$POL|" \
		"$PAMEX" >"$TMP/pam.d/postgresql-buildkite"
	printf 'auth required pam_deny.so\naccount required pam_deny.so\n' \
		>"$TMP/pam.d/other"
	pamex() { # pamex TOKEN ROLE : the example service through pamtester
		: >"$TMP/syslog"
		out=$(printf '%s\n' "$1" | env \
			LD_PRELOAD="$(san_preload) $PAM_WRAPPER_LIB $SHIM" \
			PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d" \
			PAM_WRAPPER_USE_SYSLOG=1 PB_SYSLOG_CAPTURE="$TMP/syslog" \
			"$PAMTESTER" -v postgresql-buildkite "$2" \
			authenticate acct_mgmt 2>&1)
		rc=$?
	}
	# The example policy keeps the default max_lifetime (15m) and pins
	# its organization_id.
	tok=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --aud postgres://db.example.com \
		--lifetime 900 --set step_key='"test"' --set build_source='"webhook"' \
		--set 'organization_id="0190b2c4-0000-7000-8000-00000000ac3e"')
	pamex "$tok" ci_reader
	ok $rc "the example service file admits a test step as ci_reader"
	echo "$out" | grep -q 'account management done'
	ok $? "... through its account line too"
	grep -q 'result=allow reason=ok role=ci_reader service=postgresql-buildkite .*rule="tests read anything"' "$TMP/syslog"
	ok $? "... audited with the example policy's rule"
	pamex "$tok" api_migrator
	ok "$([ $rc -ne 0 ]; echo $?)" "... and refuses the same token as api_migrator"
	grep -q 'result=deny reason=no_rule role=api_migrator' "$TMP/syslog"
	ok $? "... audited as reason=no_rule"
else
	need "module, mint-token, pamtester and pam_wrapper (for examples/pam.d)"
fi

# examples/pipeline.yml: Buildkite YAML whose steps request tokens the
# example policy accepts, for roles it grants to those steps.
PIPE="$EXAMPLES/pipeline.yml"
cat >"$TMP/pipeline.py" <<'PY'
import re, shlex, sys, yaml

pipe, policy = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open(pipe))
pol = yaml.safe_load(open(policy))
aud = pol["token"]["audience"]
auds = aud if isinstance(aud, list) else [aud]
fail = []
def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        fail.append(what)

check(isinstance(doc, dict) and isinstance(doc.get("steps"), list),
      "a mapping with a list of steps")
steps = [s for s in doc["steps"] if isinstance(s, dict)]
check(all(isinstance(s, dict) or s == "wait" for s in doc["steps"]),
      "every step is a mapping or wait")
keys = [s.get("key") for s in steps]
check(all(keys) and len(set(keys)) == len(keys), "every step has a unique key")
check(all(s.get("label") and isinstance(s.get("command"), str) for s in steps),
      "every step has a label and a command")
mig = [s for s in steps if s.get("key") == "migrate"]
check(len(mig) == 1 and (mig[0].get("if") == 'build.branch == "main"'
                         or mig[0].get("branches") == "main"),
      "a migrate step runs on main only")
def login_plugin(s):
    for p in s.get("plugins", []) or []:
        for name, o in p.items():
            if "postgres-login" in name:
                return o
    return None
for s in steps:
    cmd = s["command"]
    k = s["key"]
    # Buildkite interpolates $ at upload: runtime variables need $$.
    check("$" not in cmd.replace("$$", ""), "%s: every $ is escaped as $$" % k)
    run = cmd.replace("$$", "$")
    reqs = re.findall(r"buildkite-agent oidc request-token([^)\n]*)", run)
    o = login_plugin(s)
    if o is not None:
        check(not reqs, "%s: the plugin requests the token, the command does not" % k)
        check(o.get("audience") in auds,
              "%s: the plugin's audience %s is the policy's token.audience" % (k, o.get("audience")))
        check("organization_id" in (o.get("claims") or []), "%s: the plugin adds organization_id" % k)
        check(bool(o.get("user")), "%s: the plugin names the role" % k)
        check(o.get("sslmode", "verify-full") == "verify-full", "%s: verify-full" % k)
        check("ON_ERROR_STOP=1" not in run or "psql" in run, "%s: psql" % k)
        continue
    check(len(reqs) == 1, "%s: requests one token" % k)
    for r in reqs:
        a = shlex.split(r)
        def opt(name):
            return a[a.index(name) + 1] if name in a and a.index(name) + 1 < len(a) else None
        check(opt("--audience") in auds,
              "%s: --audience %s is the policy's token.audience" % (k, opt("--audience")))
        check(opt("--lifetime") is not None and 0 < int(opt("--lifetime")) <= 900,
              "%s: --lifetime within the default max_lifetime" % k)
        check(opt("--claim") == "organization_id", "%s: --claim organization_id" % k)
    if "psql" in run:
        check(re.search(r"PGPASSWORD=\"\$\(buildkite-agent oidc request-token", run) is not None,
              "%s: the token is PGPASSWORD" % k)
        check("ON_ERROR_STOP=1" in run, "%s: psql stops on the first error" % k)
        check(re.search(r"PGUSER=\w+", run) is not None, "%s: names its role" % k)
    if "pamtester" in run:
        m = re.search(r"printf '%s\\n' \"\$TOKEN\" \| pamtester -v (\S+) (\S+) authenticate acct_mgmt", run)
        check(m is not None, "%s: pamtester reads the token on stdin and runs both PAM lines" % k)
        if m:
            check(m.group(1) == "postgresql-buildkite",
                  "%s: pamtester uses the example service postgresql-buildkite" % k)
env = doc.get("env", {})
check(env.get("PGSSLMODE") == "verify-full", "connections use sslmode=verify-full")
sys.exit(1 if fail else 0)
PY
out=$("$PY" "$TMP/pipeline.py" "$PIPE" "$EXAMPLES/policy-small-team.yaml" 2>&1)
ok $? "examples/pipeline.yml is Buildkite YAML requesting tokens the example policy accepts"
echo "$out" | grep -v '^ok: ' | sed 's/^/# /'

# Each step's command, run as a Buildkite agent would (after $$ -> $),
# with a stand-in buildkite-agent that mints the token a job of pipeline
# "api" on main would get, psql and make replaced by the admin tool's
# decision for $PGUSER, and the real pamtester on the example service.
if [ "$have_pam" = 1 ] && [ "$have_tool" = 1 ]; then
	mkdir -p "$TMP/bin"
	cat >"$TMP/bin/buildkite-agent" <<SH
#!/bin/sh
[ "\$1 \$2" = "redactor add" ] && { cat >/dev/null; exit 0; }
[ "\$1 \$2" = "oidc request-token" ] || { echo "unexpected: \$*" >&2; exit 2; }
shift 2
[ "\$1" = --help ] && exit 0
aud= life=300 claims=
while [ \$# -gt 0 ]; do
	case \$1 in
	--audience) aud=\$2; shift 2 ;;
	--lifetime) life=\$2; shift 2 ;;
	--claim) claims="\$claims \$(echo "\$2" | tr , ' ')"; shift 2 ;;
	*) echo "unknown option \$1" >&2; exit 2 ;;
	esac
done
set --
for c in \$claims; do
	[ "\$c" = organization_id ] && set -- "\$@" --set 'organization_id="0190b2c4-0000-7000-8000-00000000ac3e"'
done
exec "$MINT" sign --key "$TMP/rsa.pem" --kid rsa-1 --aud "\$aud" \
	--lifetime "\$life" --set pipeline_slug='"api"' --set build_branch='"main"' \
	--set build_source='"webhook"' --set step_key="\"\$BUILDKITE_STEP_KEY\"" "\$@"
SH
	# psql: the password libpq would send (PGPASSWORD, else the pass
	# file's last field) judged by the admin tool as the server would.
	cat >"$TMP/bin/psql" <<SH
#!/bin/sh
pw=\${PGPASSWORD:-\$(sed 's/.*://' "\$PGPASSFILE")}
printf '%s' "\$pw" | "$TOOL" explain -c "$POL" --role "\$PGUSER" >"$TMP/explain.out" 2>&1
SH
	printf '#!/bin/sh\nexit 0\n' >"$TMP/bin/make"
	chmod 755 "$TMP/bin/buildkite-agent" "$TMP/bin/psql" "$TMP/bin/make"
	# A step's job: with the postgres-login plugin, its hooks around the
	# command (the plugin of this tree), as the agent runs them.
	"$PY" -c '
import shlex, sys, yaml
plugin = sys.argv[3]
for s in yaml.safe_load(open(sys.argv[1]))["steps"]:
    if not isinstance(s, dict):
        continue
    pre, post = "", ""
    for p in s.get("plugins", []) or []:
        for name, o in p.items():
            if "postgres-login" in name:
                for k, v in o.items():
                    name = "BUILDKITE_PLUGIN_POSTGRES_LOGIN_" + k.upper().replace("-", "_")
                    if isinstance(v, list):
                        for i, x in enumerate(v):
                            pre += "export %s_%d=%s\n" % (name, i, shlex.quote(str(x)))
                    else:
                        pre += "export %s=%s\n" % (name, shlex.quote(str(v)))
                pre += ". %s/hooks/environment\n" % plugin
                post = "%s/hooks/pre-exit\n" % plugin
    open(sys.argv[2] + "/step." + s["key"], "w").write(pre + s["command"].replace("$$", "$") + "\n" + post)
' "$PIPE" "$TMP" "$top_srcdir/postgres-login-buildkite-plugin"
	for f in "$TMP"/step.*; do
		k=${f##*/step.}
		: >"$TMP/syslog"
		out=$(BUILDKITE_STEP_KEY=$k PATH="$TMP/bin:$PATH" env \
			LD_PRELOAD="$(san_preload) $PAM_WRAPPER_LIB $SHIM" \
			PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d" \
			PAM_WRAPPER_USE_SYSLOG=1 PB_SYSLOG_CAPTURE="$TMP/syslog" \
			bash -e "$f" 2>&1)
		rc=$?
		ok $rc "pipeline.yml step $k runs and its login is allowed by the example policy"
		[ $rc -ne 0 ] && { echo "$out"; cat "$TMP/explain.out" 2>/dev/null; } | sed 's/^/# /'
	done
else
	need "module, pamtester, pam_wrapper and pam-buildkite (for examples/pipeline.yml)"
fi

done_testing
