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
TOOL="$top_builddir/pam-buildkite"
EXAMPLES="$top_srcdir/examples"

[ -x "$PY" ] || skip_all "$PY not installed"
"$PY" -c 'import yaml, jsonschema' 2>/dev/null ||
	skip_all "python3-yaml or python3-jsonschema not installed"
[ -f "$SCHEMA" ] || { echo "Bail out! $SCHEMA missing"; exit 1; }

have_tool=0
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

# ------------------------------------------------------- the examples

n_examples=0
old_ifs=$IFS
for f in "$EXAMPLES"/*.yaml; do
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
	if [ "$have_tool" = 1 ]; then
		out=$("$TOOL" check -c "$f" 2>&1)
		rc=$?
		ok $rc "$name passes pam-buildkite check"
		[ "$rc" -ne 0 ] && diag "exit $rc: $out"
	else
		skip "pam-buildkite not built" "$name passes pam-buildkite check"
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
	out=$("$TOOL" check -c "$f" 2>&1)
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

done_testing
