#!/bin/sh
# test_policy_as_code.sh - the policy as code, through the built tool:
# "pam-buildkite test" (passing and failing cases, the JUnit report read
# by a JUnit parser, bad cases files), and check's warnings about what
# the threat model warns against, each with its absence on a careful
# policy, and --strict.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -x "$TOOL" ] || skip_all "pam-buildkite not built"
PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "python3 not installed"

# run ARGS... : the tool; sets rc, out (stdout) and err (stderr).
run() {
	out=$("$TOOL" "$@" 2>"$TMP/err")
	rc=$?
	err=$(cat "$TMP/err")
	got="exit $rc; stdout: $out; stderr: $err"
}

cat >"$TMP/policy.yaml" <<'EOF'
version: 1
token:
  audience: postgres://db.test
  organization: acme-inc
  organization_id: 0190b2c4-0000-7000-8000-00000000ac3e
jwks:
  file: /nonexistent/jwks.json
rules:
  - name: no privileged logins started by hand
    effect: deny
    pipeline: "*"
    source: [ui, api]
    roles: [api_migrator]
  - name: api migrations from main
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator]
  - name: tests read
    pipeline: "*"
    step: test
    roles: [ci_reader]
EOF

# ------------------------------------------------------------------ test

cat >"$TMP/pass.yaml" <<'EOF'
tests:
  - name: migrate from main
    role: api_migrator
    claims: {pipeline_slug: api, build_branch: main, step_key: migrate, build_source: webhook}
    expect: allow
    rule: api migrations from main
  - name: not by hand
    role: api_migrator
    claims: {pipeline_slug: api, build_branch: main, step_key: migrate, build_source: ui}
    expect: deny
    reason: denied
  - name: from a unix socket or 10.0.0.7 alike
    role: ci_reader
    claims: {step_key: test}
    rhost: 10.0.0.7
    expect: allow
EOF
run test -c "$TMP/policy.yaml" "$TMP/pass.yaml" --junit "$TMP/pass.xml"
ok "$([ $rc -eq 0 ] && [ "$(echo "$out" | tail -1)" = "3 passed, 0 failed" ]; echo $?)" \
	"test: every case passes: exit 0 and '3 passed, 0 failed'"
echo "$out" | grep -q '^ok   migrate from main: allow, rule "api migrations from main"$'
ok $? "... one line per case with the decision and the rule"
echo "$out" | grep -q '^ok   not by hand: deny, reason denied, rule "no privileged logins started by hand": '
ok $? "... a denial with its reason, rule and why"

cat >"$TMP/fail.yaml" <<'EOF'
tests:
  - name: still passes
    role: ci_reader
    claims: {step_key: test}
    expect: allow
  - name: wrong verdict
    role: api_migrator
    claims: {pipeline_slug: api, build_branch: feature/x, step_key: migrate, build_source: webhook}
    expect: allow
  - name: wrong reason
    role: api_migrator
    claims: {pipeline_slug: api, build_branch: main, step_key: migrate, build_source: ui}
    expect: deny
    reason: no_rule
  - name: wrong rule & <xml>
    role: ci_reader
    claims: {step_key: test}
    expect: allow
    rule: api migrations from main
EOF
run test -c "$TMP/policy.yaml" "$TMP/fail.yaml" --junit "$TMP/fail.xml"
ok "$([ $rc -eq 1 ] && [ "$(echo "$out" | tail -1)" = "1 passed, 3 failed" ]; echo $?)" \
	"test: failing cases: exit 1 and '1 passed, 3 failed'"
echo "$out" | grep -q "^FAIL wrong verdict ($TMP/fail.yaml:6:5): expected allow; got deny, reason no_rule: no allow rule matches and lists the role$"
ok $? "... a FAIL line with where the case is, what it expected and what it got"
echo "$out" | grep -q '^FAIL wrong reason (.*): expected deny, reason no_rule; got deny, reason denied, rule "no privileged logins started by hand"'
ok $? "... a wrong reason fails the case"
echo "$out" | grep -q '^FAIL wrong rule & <xml> (.*): expected allow, rule "api migrations from main"; got allow, rule "tests read"$'
ok $? "... and a wrong rule"

# The JUnit reports, read by Python's XML parser as a JUnit reader would.
cat >"$TMP/junit.py" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suite = root.find("testsuite")
cases = suite.findall("testcase")
print(root.tag, suite.get("tests"), suite.get("failures"), len(cases))
for c in cases:
    f = c.find("failure")
    print(c.get("name"), "|", c.get("line"), "|",
          "pass" if f is None else "fail: " + f.get("message"))
PY
j=$("$PY" "$TMP/junit.py" "$TMP/pass.xml" 2>&1)
[ "$(echo "$j" | head -1)" = "testsuites 3 0 3" ] &&
	echo "$j" | grep -q '^migrate from main | 2 | pass$'
got=$j
ok $? "--junit: a JUnit XML report the parser reads: 3 test cases, no failure"
j=$("$PY" "$TMP/junit.py" "$TMP/fail.xml" 2>&1)
[ "$(echo "$j" | head -1)" = "testsuites 4 3 4" ] &&
	echo "$j" | grep -q '^still passes | 2 | pass$' &&
	echo "$j" | grep -q '^wrong verdict | 6 | fail: expected allow; got deny, reason no_rule' &&
	echo "$j" | grep -q '^wrong rule & <xml> | 15 | fail: expected allow, rule "api migrations from main"; got allow, rule "tests read"$'
got=$j
ok $? "--junit: the failures with their messages, markup in a name escaped"

# Claims a case does not give pass the token checks; the ones it gives
# go through them as a login's would.
cat >"$TMP/token.yaml" <<'EOF'
tests:
  - name: another audience
    role: ci_reader
    claims: {aud: postgres://other, step_key: test}
    expect: deny
    reason: audience
  - name: a number where a string belongs
    role: ci_reader
    claims: {pipeline_slug: 42, step_key: test}
    expect: deny
    reason: malformed
  - name: an aud list holding ours
    role: ci_reader
    claims: {aud: [postgres://other, postgres://db.test], step_key: test}
    expect: allow
EOF
run test -c "$TMP/policy.yaml" "$TMP/token.yaml"
ok "$([ $rc -eq 0 ]; echo $?)" "test: a case's claims meet the token checks a login's would"

# Errors: exit 2 and where.
bad() { # bad NAME EXPECTED-STDERR-REGEX CASES-TEXT
	printf '%s\n' "$3" >"$TMP/bad.yaml"
	run test -c "$TMP/policy.yaml" "$TMP/bad.yaml"
	ok "$([ $rc -eq 2 ] && echo "$err" | grep -q -- "$2"; echo $?)" "test: $1: exit 2 ($err)"
}
bad "an unknown key" "bad.yaml:4:5: unknown key \"expext\" in a case" 'tests:
  - name: x
    role: r
    expext: allow'
bad "expect neither allow nor deny" 'bad.yaml:4:13: expect: unknown value "maybe"' 'tests:
  - name: x
    role: r
    expect: maybe'
bad "a reason no case can get" 'bad.yaml:5:13: case "x": reason signature is none a case can get' 'tests:
  - name: x
    role: r
    expect: deny
    reason: signature'
bad "a reason with expect: allow" 'bad.yaml:4:13: case "x": a reason goes with expect: deny' 'tests:
  - name: x
    role: r
    expect: allow
    reason: denied'
bad "two cases of one name" 'bad.yaml:5:5: a second case named "x" (the first is at .*bad.yaml:2:5)' 'tests:
  - name: x
    role: r
    expect: allow
  - name: x
    role: r
    expect: deny'
bad "a claim that is a mapping" 'bad.yaml:5:22: a claim.s value must be a scalar or a list of scalars' 'tests:
  - name: x
    role: r
    claims:
      pipeline_slug: {a: b}
    expect: deny'
bad "no tests: key" 'bad.yaml:1:1: unknown key "test" at the top' 'test: []'
run test -c "$TMP/nonexistent.yaml" "$TMP/pass.yaml"
ok "$([ $rc -eq 2 ] && echo "$err" | grep -q 'nonexistent.yaml'; echo $?)" \
	"test: a policy that does not load: exit 2 ($err)"
run test -c "$TMP/policy.yaml"
ok "$([ $rc -eq 2 ]; echo $?)" "test: no cases file: usage, exit 2"

# --------------------------------------------------------------- who-can

run who-can -c "$TMP/policy.yaml" api_migrator
ok "$([ $rc -eq 0 ] && echo "$out" | head -1 | grep -q '^api_migrator: reachable$' &&
	echo "$out" | grep -q '^  allow rule "api migrations from main" (.*policy.yaml:[0-9]*:[0-9]*), session unlimited, when:$' &&
	echo "$out" | grep -q '^    step is migrate$' &&
	echo "$out" | grep -q '^  unless deny rule "no privileged logins started by hand" (.*) applies:$' &&
	echo "$out" | grep -q '^    source is ui or is api$'; echo $?)" \
	"who-can: the allow rule in plain words, and the deny rule that cuts into it"
run who-can -c "$TMP/policy.yaml" app_owner
ok "$([ $rc -eq 1 ] && [ "$out" = "app_owner: nobody
  no allow rule grants it" ]; echo $?)" "who-can: a role no rule grants: nobody, exit 1"
cat >"$TMP/tmpl.yaml" <<'EOF'
version: 1
token:
  audience: postgres://db.test
  organization: acme-inc
rules:
  - name: each pipeline its own role
    pipeline: "*"
    branch: main
    step: deploy
    roles: ["ci_{pipeline_slug}"]
  - name: never billing
    effect: deny
    pipeline: "*"
    roles: [ci_billing]
EOF
run who-can -c "$TMP/tmpl.yaml" ci_web --json
ok "$([ $rc -eq 0 ] && echo "$out" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); w=d["ways"][0]; sys.exit(not (w["granted"] == "template" and w["needs"] == {"pipeline_slug": "web"} and d["cut_by"] == [] and d["nobody"] is False))'; echo $?)" \
	"who-can --json: a role through a template, with the claim's value it needs"
run who-can -c "$TMP/tmpl.yaml" ci_billing
ok "$([ $rc -eq 1 ] && echo "$out" | grep -q '^ci_billing: nobody$' &&
	echo "$out" | grep -q 'unless deny rule "never billing" (.*) refuses it to every job:$'; echo $?)" \
	"who-can: a deny rule that always applies leaves nobody, exit 1"

# Every example policy: for each role its cases name, who-can's answer
# agrees with the decisions explain gives. For each way who-can lists,
# claims are made that meet its conditions (a value each pattern's first
# item matches; ways with a regex are left to the cases files), and the
# other claims the policy names get a value no example pattern matches;
# explain must then allow through a rule who-can listed, or refuse
# through a deny rule it listed, never find no rule. A role who-can says
# nobody reaches is refused.
cat >"$TMP/whocheck.py" <<'PY'
import ipaddress, json, subprocess, sys, tempfile, yaml
tool, policy, cases = sys.argv[1:4]
def run(*args):
    p = subprocess.run([tool] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout
roles = sorted({c["role"] for c in yaml.safe_load(open(cases))["tests"]})
checked = 0
for role in roles:
    rc, out = run("who-can", "-c", policy, role, "--json")
    who = json.loads(out)
    named = {c["claim"] for w in who["ways"] + who["cut_by"] for c in w["conditions"]}
    for way in who["ways"]:
        if any(i["regex"] for c in way["conditions"] for i in c["items"]):
            continue
        claims = {c: "zz-none" for c in named}
        claims["build_source"] = "webhook"
        for c in way["conditions"]:
            pos = [i for i in c["items"] if not i["negated"]]
            if pos:
                claims[c["claim"]] = pos[0]["text"].replace("*", "x")
        claims.update(way.get("needs", {}))
        args = ["explain", "-c", policy, "--role", role, "--json"]
        if way["from"]:
            net = ipaddress.ip_network(way["from"].split(",")[0].strip())
            args += ["--rhost", str(net.network_address + 1)]
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(claims, f)
            f.flush()
            rc, out = run(*(args + ["--claims", f.name]))
        d = json.loads(out)
        rule, reason = d.get("rule"), d.get("reason")
        good = (reason == "ok" and rule in [w["rule"] for w in who["ways"]]) or \
               (reason == "denied" and rule in [w["rule"] for w in who["cut_by"]])
        if who["nobody"]:
            good = reason != "ok"
        if not good:
            print("disagree: %s via %r: explain says %s %r" % (role, way["rule"], reason, rule))
            sys.exit(1)
        checked += 1
print("%d ways of %d roles checked" % (checked, len(roles)))
PY
for f in "$top_srcdir"/examples/*.tests.yaml; do
	p=${f%.tests.yaml}.yaml
	got=$("$PY" "$TMP/whocheck.py" "$TOOL" "$p" "$f" 2>&1)
	ok "$([ $? -eq 0 ] && echo "$got" | grep -q '^[1-9][0-9]* ways\? of [1-9][0-9]* roles checked$'; echo $?)" \
		"who-can on examples/${p##*/} agrees with explain: $got"
done

# ------------------------------------------------------------------ diff

cat >"$TMP/old.yaml" <<EOF
version: 1
token:
  audience: postgres://db.test
  organization: acme-inc
  max_lifetime: 1d
jwks:
  file: $TMP/jwks.json
rules:
  - name: api migrations from main
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator]
  - name: tests read
    pipeline: "*"
    step: test
    roles: [ci_reader]
EOF
sed -e 's|    branch: main$|    branch: "main release/*"|' "$TMP/old.yaml" >"$TMP/new.yaml"
cat >>"$TMP/new.yaml" <<'EOF'
  - name: no legacy reads
    effect: deny
    pipeline: legacy
    roles: [ci_reader]
  - name: ops from the prod cluster
    pipeline: "*"
    step: ops
    claims:
      cluster_name: prod
    roles: [ops]
EOF
run diff "$TMP/old.yaml" "$TMP/old.yaml"
ok "$([ $rc -eq 0 ] && [ "$out" = "no change to who can become which role" ]; echo $?)" \
	"diff: a policy against itself: no change, exit 0"
run diff "$TMP/old.yaml" "$TMP/new.yaml"
ok "$([ $rc -eq 1 ] &&
	echo "$out" | grep -q '^changed rule "api migrations from main": conditions: pipeline: api; branch: main; step: migrate -> pipeline: api; branch: main release/\*; step: migrate$' &&
	echo "$out" | grep -q '^added deny rule "no legacy reads" (.*new.yaml:[0-9]*:[0-9]*): roles \["ci_reader"\]; pipeline: legacy$' &&
	echo "$out" | grep -q '^role api_migrator: reachable by more jobs$' &&
	echo "$out" | grep -q '^role ci_reader: reachable by fewer jobs$' &&
	echo "$out" | grep -q '^role ops: became reachable$'; echo $?)" \
	"diff: rules added and changed, and each role reachable by more or fewer jobs, exit 1"
sed -e 's|audience: postgres://db.test|audience: [postgres://db.test, postgres://db2.test]|' \
	-e 's|max_lifetime: 1d|max_lifetime: 1h|' "$TMP/old.yaml" >"$TMP/settings.yaml"
run diff "$TMP/old.yaml" "$TMP/settings.yaml"
ok "$([ $rc -eq 1 ] && [ "$out" = "changed setting token.audience: postgres://db.test -> postgres://db.test, postgres://db2.test
changed setting token.max_lifetime (s): 86400 -> 3600" ]; echo $?)" \
	"diff: changed settings (another audience, a shorter max_lifetime) are said, exit 1"
sed 's/name: tests read$/name: tests may read/' "$TMP/old.yaml" >"$TMP/renamed.yaml"
run diff "$TMP/old.yaml" "$TMP/renamed.yaml"
ok "$([ $rc -eq 1 ] && echo "$out" | grep -q '^removed allow rule "tests read"' &&
	echo "$out" | grep -q '^added allow rule "tests may read"' &&
	! echo "$out" | grep -q '^role '; echo $?)" \
	"diff: a renamed rule is a rule removed and added, and no role's reach changes"

# --audit: attempts recorded by the module itself (pamtester), in both
# formats, decided again.
if [ -f "$MODULE" ] && [ -x "$MINT" ] && [ -n "$PAMTESTER" ] &&
	[ -x "$PAMTESTER" ] && [ -n "$PAM_WRAPPER_LIB" ] && [ -f "$PAM_WRAPPER_LIB" ]; then
	make_keys || { echo "Bail out! cannot make keys"; exit 1; }
	mkdir -p "$TMP/pam.d"
	LOG="$TMP/syslog"
	SERVICE=recorded
	record() { # record FORMAT-POLICY OUT : the attempts, their lines in OUT
		printf 'auth required %s config=%s\naccount required %s config=%s\n' \
			"$MODULE" "$1" "$MODULE" "$1" >"$TMP/pam.d/recorded"
		out_file=$2
		: >"$out_file"
		attempt api_migrator --set 'build_branch="release/1"'
		attempt ci_reader --set 'pipeline_slug="legacy"' --set 'step_key="test"'
		attempt api_migrator
		attempt ci_reader --set 'step_key="test"'
		attempt ci_reader --expired --set 'step_key="test"'
	}
	attempt() { # attempt ROLE MINT-OPTIONS... : one login, its line kept
		role=$1
		shift
		pt "$(mint --key "$TMP/rsa.pem" --kid rsa-1 --set 'build_source="webhook"' "$@")" "$role"
		cat "$LOG" >>"$out_file"
	}
	record "$TMP/old.yaml" "$TMP/audit.log"
	{ cat "$TMP/old.yaml"; printf 'audit:\n  format: json\n'; } >"$TMP/old-json.yaml"
	record "$TMP/old-json.yaml" "$TMP/audit.json"
	# A line from before every claim was written: no build_commit.
	grep 'reason=ok role=ci_reader ' "$TMP/audit.log" | head -1 |
		sed 's/ build_commit=[^ ]*//' >"$TMP/older.log"
	for f in audit.log audit.json; do
		run diff "$TMP/old.yaml" "$TMP/new.yaml" --audit "$TMP/$f"
		ok "$([ $rc -eq 1 ] &&
			echo "$out" | grep -q "^$TMP/$f:[0-9]*: job [0-9a-f-]*, pipeline api, branch release/1, step migrate, role api_migrator: deny (no_rule) -> allow (ok, rule \"api migrations from main\")$" &&
			echo "$out" | grep -q "^$TMP/$f:[0-9]*: job [0-9a-f-]*, pipeline legacy, branch main, step test, role ci_reader: allow (ok, rule \"tests read\") -> deny (denied, rule \"no legacy reads\")$" &&
			echo "$out" | grep -q '^audit: 4 attempts decided again, 2 would flip; 0 undecidable, 1 not decided by the policy, 0 lines unreadable$'; echo $?)" \
			"diff --audit, $f: decisions that flip both ways, with the job, role and both verdicts"
	done
	run diff "$TMP/old.yaml" "$TMP/new.yaml" --audit "$TMP/older.log"
	ok "$([ $rc -eq 1 ] && echo "$out" | grep -q ', role ci_reader: undecidable: a rule reads cluster_name, which the line is older than the one that writes every claim$' &&
		echo "$out" | grep -q '^audit: 0 attempts decided again, 0 would flip; 1 undecidable'; echo $?)" \
		"diff --audit: a line that cannot tell a claim a rule reads is undecidable, never guessed"
	run diff "$TMP/old.yaml" "$TMP/renamed.yaml" --audit "$TMP/audit.log" "$TMP/audit.json"
	ok "$([ $rc -eq 1 ] && echo "$out" | grep -q '^audit: 8 attempts decided again, 0 would flip;'; echo $?)" \
		"diff --audit: a rename flips no recorded decision"
else
	skip "module, mint-token, pamtester or pam_wrapper missing" "diff --audit, audit.log"
	skip "module, mint-token, pamtester or pam_wrapper missing" "diff --audit, audit.json"
	skip "module, mint-token, pamtester or pam_wrapper missing" "diff --audit: undecidable"
	skip "module, mint-token, pamtester or pam_wrapper missing" "diff --audit: a rename"
fi

# ------------------------------------------- examples/policy-ci.yml steps

# The example pipeline's commands, run as an agent would run them (its
# $$ is Buildkite's escape for $), in a repository holding the small
# team's policy and cases, after a change that adds a rule; the agent
# is a stand-in that records what it is asked to annotate.
if command -v git >/dev/null; then
	R="$TMP/repo"
	mkdir -p "$R" "$TMP/bin"
	cp "$top_srcdir/examples/policy-small-team.yaml" "$R/policy.yaml"
	cp "$top_srcdir/examples/policy-small-team.tests.yaml" "$R/policy.tests.yaml"
	(cd "$R" && git init -q && git add . &&
		git -c user.name=t -c user.email=t@t commit -q -m policy &&
		git update-ref refs/remotes/origin/main HEAD) ||
		{ echo "Bail out! cannot make the policy repository"; exit 1; }
	cat >>"$R/policy.yaml" <<'EOF'

  - name: reports from schedules
    pipeline: reports
    branch: main
    source: schedule
    roles: [reports_reader]
EOF
	cat >"$TMP/bin/buildkite-agent" <<EOF
#!/bin/sh
case "\$1" in
annotate) cat >"$TMP/annotation" ;;
*) exit 1 ;;
esac
EOF
	chmod +x "$TMP/bin/buildkite-agent"
	ln -sf "$(cd "$(dirname "$TOOL")" && pwd)/$(basename "$TOOL")" "$TMP/bin/pam-buildkite"
	"$PY" -c 'import sys, yaml
for s in yaml.safe_load(open(sys.argv[1]))["steps"]:
    open(sys.argv[2] + "/" + s["key"], "w").write(s["command"].replace("$$", "$"))' \
		"$top_srcdir/examples/policy-ci.yml" "$TMP" ||
		{ echo "Bail out! examples/policy-ci.yml does not parse"; exit 1; }
	for k in policy-check policy-test policy-diff; do
		out=$(cd "$R" && PATH="$TMP/bin:$PATH" sh -e "$TMP/$k" 2>&1)
		rc=$?
		got="exit $rc: $out"
		ok $rc "examples/policy-ci.yml step $k runs on a careful policy change"
	done
	[ -s "$R/junit.xml" ] && "$PY" "$TMP/junit.py" "$R/junit.xml" | sed -n 1p | grep -q '^testsuites 9 0 9$'
	ok $? "... the test step leaves a JUnit report of the 9 cases"
	got=$(cat "$TMP/annotation" 2>&1)
	echo "$got" | grep -q '^added allow rule "reports from schedules"' &&
		echo "$got" | grep -q '^role reports_reader: became reachable$'
	ok $? "... the diff step annotates the build with what the change does"
else
	for k in policy-check policy-test policy-diff junit annotation; do
		skip "git not installed" "examples/policy-ci.yml $k"
	done
fi

# ------------------------------------------------------ check's warnings

# warns NAME POLICY-RULES [TOKEN-EXTRA] EXPECTED-REGEX : check warns.
header() {
	printf 'version: 1\ntoken:\n  audience: postgres://db.test\n  organization: acme-inc\n%s\njwks:\n  file: /nonexistent/jwks.json\nrules:\n' \
		"${1-  organization_id: 0190b2c4-0000-7000-8000-00000000ac3e}"
}
warns() {
	{ header; printf '%s\n' "$2"; } >"$TMP/w.yaml"
	run check -c "$TMP/w.yaml" --strict
	ok "$([ $rc -eq 1 ] && echo "$err" | grep -q -- "$3" &&
		echo "$err" | grep -q 'pam-buildkite: .*w.yaml: [0-9]* warnings\? about the policy (--strict)$'; echo $?)" \
		"check --strict: $1: warned and exit 1"
	run check -c "$TMP/w.yaml"
	ok "$([ $rc -eq 0 ] && echo "$err" | grep -q -- "$3"; echo $?)" \
		"... without --strict: the same warning, exit 0"
}
warns "no condition but \"*\"" '  - name: everyone
    pipeline: "*"
    roles: [ci_reader]' 'w.yaml:9:[0-9]*: rule "everyone": no condition but "\*": every job of every pipeline'
warns "no step and no deny of builds started by hand" '  - name: admins from main
    pipeline: api
    branch: main
    roles: [api_admin]' 'rule "admins from main": no step: any step of a build it matches can become api_admin, also one started by hand'
warns "a deny rule always refuses what an allow rule gives" '  - name: migrations
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator]
  - name: no api at all
    effect: deny
    pipeline: api
    roles: [api_migrator, ci_reader]' 'w.yaml:9:[0-9]*: rule "migrations": dead rule: deny rule "no api at all" (.*w.yaml:14:[0-9]*) refuses every login it would allow'
warns "an earlier allow rule always decides instead" '  - name: main migrations
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator, ci_api]
  - name: main migrations from the eu queue
    pipeline: api
    branch: main
    step: migrate
    claims:
      agent_tag:queue: eu
    roles: [api_migrator]' 'rule "main migrations from the eu queue": dead rule: rule "main migrations" (.*w.yaml:9:[0-9]*) comes first and allows every login it would, so it never decides one'
{ header ""; printf '  - name: m\n    pipeline: api\n    branch: main\n    step: migrate\n    roles: [api_migrator]\n'; } >"$TMP/w.yaml"
run check -c "$TMP/w.yaml" --strict
ok "$([ $rc -eq 1 ] && echo "$err" | grep -q "^warning: $TMP/w.yaml: token.organization_id is not set: .*pin its UUID$"; echo $?)" \
	"check --strict: no organization_id pin: warned at the policy, exit 1"

# A careful policy: the same rules made careful draw none of them.
{ header; cat <<'EOF'; } >"$TMP/careful.yaml"
  - name: no privileged logins started by hand
    effect: deny
    pipeline: "*"
    source: [ui, api]
    roles: [api_admin, api_migrator]
  - name: admins from main
    pipeline: api
    branch: main
    roles: [api_admin]
  - name: migrations from main's migrate step
    pipeline: api
    branch: main
    step: migrate
    roles: [api_migrator]
  - name: from the eu queue, for another role
    pipeline: api
    branch: main
    step: migrate
    claims:
      agent_tag:queue: eu
    roles: [api_migrator_eu]
  - name: nightly reports
    pipeline: "analytics-*"
    branch: main
    source: schedule
    roles: [analytics_reader]
  - name: tests of any pipeline read
    pipeline: "*"
    step: [test, "test-*"]
    roles: [ci_reader]
EOF
run check -c "$TMP/careful.yaml" --strict
ok "$([ $rc -eq 0 ] && ! echo "$err" | grep -q 'rule\|organization_id'; echo $?)" \
	"check --strict: a careful policy draws no warning about its rules, exit 0"

done_testing
