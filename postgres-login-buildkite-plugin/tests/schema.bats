#!/usr/bin/env bats
# plugin.yml's schema: it refuses unknown options and wrong types, and
# every example in the README passes it.

load helpers

# validate YAML-CONFIG : exit 0 when the options pass the schema.
validate() {
	python3 - "$PLUGIN/plugin.yml" "$1" <<'PY'
import sys, yaml, jsonschema
schema = dict(yaml.safe_load(open(sys.argv[1]))["configuration"])
schema["type"] = "object"
jsonschema.Draft7Validator.check_schema(schema)
try:
    jsonschema.validate(yaml.safe_load(sys.argv[2]), schema)
except jsonschema.ValidationError as e:
    print(e.message)
    sys.exit(1)
PY
}

@test "python3 with yaml and jsonschema is here" {
	python3 -c 'import yaml, jsonschema'
}

@test "the options of every README example pass the schema" {
	run python3 - "$PLUGIN/README.md" <<'PY'
import re, sys, yaml
n = 0
for block in re.findall(r"```yaml\n(.*?)```", open(sys.argv[1]).read(), re.S):
    doc = yaml.safe_load(block)
    for step in (doc or {}).get("steps", []) or []:
        for p in step.get("plugins", []):
            for name, opts in p.items():
                if "postgres-login" in name:
                    print(yaml.safe_dump(opts).replace("\n", "\\n"))
                    n += 1
print("found", n)
PY
	[ "$status" -eq 0 ]
	echo "$output" | tail -1 | grep -q '^found [3-9]'
	while IFS= read -r line; do
		case "$line" in found*) continue ;; esac
		validate "$(printf '%b' "$line")" || { echo "refused: $line"; false; }
	done <<<"$output"
}

@test "unknown options and wrong types are refused" {
	run validate 'audience: postgres://db1'
	[ "$status" -eq 0 ]
	run validate 'user: ci_reader'
	[ "$status" -ne 0 ]
	for bad in 'audience: x
password: hunter2' 'audience: x
port: "5432"' 'audience: x
lifetime: 7201' 'audience: x
claims: organization_id' 'audience: x
claims: [iss]' 'audience: x
sslmode: disable' 'audience: 42' 'audience: x
audience-check: "no"'; do
		run validate "$bad"
		[ "$status" -ne 0 ] || { echo "accepted: $bad"; false; }
	done
}
