/*
 * test_policy.c - unit tests of the policy backend (doc/policy.md).
 *
 * Each case writes a policy into a private temporary directory, loads it
 * and checks either the error (with its exact line and column) or the
 * decision for a set of claims. The claims start from a typical Buildkite
 * payload and each case changes only what it is about.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "policy.h"
#include "policy_claims.h"
#include "tap.h"

static char tmpdir[PATH_MAX];
/* TEST_POLICY_COMPILED=1: every policy that parses is compiled first and
 * read back from its snapshot, so each case checks the snapshot too. */
static bool compiled;
/* The policy file the last load read: in compiled mode, check_decision
 * decides once more from the rules loaded for the role alone. */
static const char *last_path;

static char *
path_of(const char *name)
{
	static char buf[PATH_MAX * 2];

	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

static void
write_file(const char *name, const char *text, size_t len)
{
	char *p = path_of(name);
	FILE *f;

	f = fopen(p, "w");
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		diag("cannot write %s: %s", p, strerror(errno));
		exit(99);
	}
}

static void
write_str(const char *name, const char *text)
{
	write_file(name, text, strlen(text));
}

static struct pb_policy *
load_text(const char *text, struct pb_error *err)
{
	struct pb_policy *pol = NULL;

	write_str("p.yaml", text);
	if (compiled) {
		char msg[1024];

		unlink(path_of("p.yaml" PB_SNAPSHOT_SUFFIX));
		if (pb_policy_compile(path_of("p.yaml"), msg, sizeof(msg)) ==
		    0 && pb_policy_snapshot_state(path_of("p.yaml"), msg,
		    sizeof(msg)) != 0) {
			diag("compiled, but the snapshot is not used: %s", msg);
			exit(99);
		}
	}
	if (pb_policy_load(path_of("p.yaml"), &pol, err) != 0)
		return NULL;
	last_path = "p.yaml";
	return pol;
}

/* Expects the load to fail with "<file>:<pos>: ..." containing msg. */
static void
expect_error_in(const char *file, const char *pos, const char *msg,
    const char *what, struct pb_error *err)
{
	char want[PATH_MAX * 3];
	bool good;

	snprintf(want, sizeof(want), "%s:%s: ", path_of(file), pos);
	good = strncmp(err->text, want, strlen(want)) == 0 &&
	    strstr(err->text + strlen(want), msg) != NULL;
	if (!ok(good, "error: %s", what))
		diag("got  \"%s\"\n# want \"%s...%s...\"", err->text, want,
		    msg);
	else if (getenv("TEST_POLICY_VERBOSE") != NULL)
		diag("%s", err->text);
}

static void
expect_error(const char *text, const char *pos, const char *msg,
    const char *what)
{
	struct pb_error err;
	struct pb_policy *pol;

	memset(&err, 0, sizeof(err));
	pol = load_text(text, &err);
	if (pol != NULL) {
		ok(0, "error: %s (the policy loaded)", what);
		pb_policy_free(pol);
		return;
	}
	expect_error_in("p.yaml", pos, msg, what, &err);
}

/* -------------------------------------------------------------- errors */

struct err_case {
	const char *what;
	const char *yaml;
	const char *pos;
	const char *msg;
};

#define RULE "rules:\n  - name: r\n    pipeline: api\n"

static const struct err_case err_cases[] = {
	{ "unknown top-level key", HDR "tokn: 1\n", "5:1",
	  "unknown key \"tokn\" at the top level (expected one of: version, "
	  "token, jwks, audit, session, include, rules)" },
	{ "unknown key in token", HDR "  issuers: x\n", "5:3",
	  "unknown key \"issuers\" in token (expected one of: issuer," },
	{ "unknown key in jwks", HDR "jwks:\n  urls: x\n", "6:3",
	  "unknown key \"urls\" in jwks" },
	{ "unknown key in audit", HDR "audit:\n  fmt: json\n", "6:3",
	  "unknown key \"fmt\" in audit (expected one of: format, facility)" },
	{ "unknown key in rule", HDR RULE "    roles: [x]\n    branchs: main\n",
	  "9:5", "unknown key \"branchs\" in rule (expected one of: name, "
	  "effect, pipeline, branch, tag, step, source, claims, from, roles, "
	  "session_lifetime)" },
	{ "unknown key in session", HDR "session:\n  life: 5m\n", "6:3",
	  "unknown key \"life\" in session (expected one of: lifetime)" },
	{ "session not a mapping", HDR "session: 5m\n", "5:10",
	  "session must be a mapping" },
	{ "session lifetime a word", HDR "session:\n  lifetime: forever\n",
	  "6:13", "session.lifetime must be unlimited, token or a duration" },
	{ "session lifetime zero", HDR "session:\n  lifetime: 0\n", "6:13",
	  "session.lifetime" },
	{ "session lifetime too long", HDR "session:\n  lifetime: 31d\n",
	  "6:13", "session.lifetime" },
	{ "session lifetime on a deny rule", HDR RULE "    effect: deny\n"
	  "    session_lifetime: 5m\n", "9:23", "deny rule \"r\": "
	  "session_lifetime only applies to logins an allow rule lets in" },
	{ "rule session lifetime a list", HDR RULE "    roles: [x]\n"
	  "    session_lifetime: [5m]\n", "9:23", "session_lifetime" },
	{ "version missing", "token:\n  audience: pg\n  organization: acme\n",
	  "1:1", "version is required" },
	{ "version 2", "version: 2\ntoken:\n  audience: pg\n"
	  "  organization: acme\n", "1:10", "unsupported version \"2\"" },
	{ "version quoted", "version: \"1\"\ntoken:\n  audience: pg\n"
	  "  organization: acme\n", "1:10",
	  "version must be the number 1, not the string \"1\"" },
	{ "version 1.0", "version: 1.0\n", "1:10", "unsupported version" },
	{ "version a list", "version: [1]\n", "1:10",
	  "version must be the number 1, not a list" },
	{ "token missing", "version: 1\n", "1:1", "token is required" },
	{ "token not a mapping", "version: 1\ntoken: acme\n", "2:8",
	  "token must be a mapping, not a string" },
	{ "audience missing", "version: 1\ntoken:\n  organization: acme\n",
	  "3:3", "token.audience is required" },
	{ "organization missing", "version: 1\ntoken:\n  audience: pg\n",
	  "3:3", "token.organization is required" },
	{ "organization empty", "version: 1\ntoken:\n  audience: pg\n"
	  "  organization: \"\"\n", "4:17", "token.organization must not be "
	  "empty" },
	{ "organization null", "version: 1\ntoken:\n  audience: pg\n"
	  "  organization: ~\n", "4:17", "token.organization must be a "
	  "string, not null" },
	{ "audience empty list", "version: 1\ntoken:\n  audience: []\n"
	  "  organization: acme\n", "3:13", "token.audience must not be an "
	  "empty list" },
	{ "audience empty item", "version: 1\ntoken:\n  audience: [pg, \"\"]\n"
	  "  organization: acme\n", "3:18", "token.audience must not be "
	  "empty" },
	{ "audience a mapping", "version: 1\ntoken:\n  audience: {a: b}\n"
	  "  organization: acme\n", "3:13", "token.audience must be a string, "
	  "not a mapping" },
	{ "issuer empty", HDR "  issuer: ''\n", "5:11",
	  "token.issuer must not be empty" },
	{ "algorithm HS256", HDR "  algorithms: [RS256, HS256]\n", "5:23",
	  "token.algorithms: \"HS256\" is never allowed" },
	{ "algorithm none", HDR "  algorithms: none\n", "5:15",
	  "\"none\" is never allowed" },
	{ "algorithm hs512 lower case", HDR "  algorithms: [hs512]\n", "5:16",
	  "\"hs512\" is never allowed" },
	{ "algorithm NONE", HDR "  algorithms: [NONE]\n", "5:16",
	  "never allowed" },
	{ "algorithm unknown", HDR "  algorithms: [PS256]\n", "5:16",
	  "unknown algorithm \"PS256\"" },
	{ "algorithms empty", HDR "  algorithms: []\n", "5:15",
	  "token.algorithms must not be an empty list" },
	{ "leeway too big", HDR "  leeway: 301s\n", "5:11",
	  "token.leeway must be between 0s and 300s" },
	{ "leeway negative", HDR "  leeway: -5\n", "5:11",
	  "invalid duration \"-5\"" },
	{ "leeway garbage", HDR "  leeway: 5x\n", "5:11",
	  "invalid duration \"5x\"" },
	{ "leeway two units", HDR "  leeway: 5ms\n", "5:11",
	  "invalid duration" },
	{ "leeway overflow", HDR "  leeway: 99999999999999999999\n", "5:11",
	  "is too large" },
	{ "leeway unit overflow", HDR "  leeway: 999999999999999999d\n",
	  "5:11", "is too large" },
	{ "leeway empty", HDR "  leeway: ''\n", "5:11", "invalid duration" },
	{ "leeway null", HDR "  leeway:\n", "5:10",
	  "token.leeway must be a duration" },
	{ "max_lifetime zero", HDR "  max_lifetime: 0\n", "5:17",
	  "between 1s and 86400s" },
	{ "max_lifetime two days", HDR "  max_lifetime: 2d\n", "5:17",
	  "between 1s and 86400s" },
	{ "single_use yes", HDR "  single_use: yes\n", "5:15",
	  "token.single_use must be true or false" },
	{ "single_use quoted", HDR "  single_use: \"true\"\n", "5:15",
	  "must be true or false" },
	{ "single_use without replay_dir", HDR "  single_use: true\n", "5:15",
	  "token.single_use needs token.replay_dir" },
	{ "url and file", HDR "jwks:\n  url: https://x.example/jwks\n"
	  "  file: jwks.json\n", "7:3",
	  "jwks.url and jwks.file are mutually exclusive" },
	{ "file and url", HDR "jwks:\n  file: jwks.json\n"
	  "  url: https://x.example/jwks\n", "7:3", "mutually exclusive" },
	{ "http url", HDR "jwks:\n  url: http://x.example/jwks\n", "6:8",
	  "jwks.url must be an https:// URL" },
	{ "bare https://", HDR "jwks:\n  url: https://\n", "6:8",
	  "must be an https:// URL" },
	{ "url with a space", HDR "jwks:\n  url: \"https://a b\"\n", "6:8",
	  "must not contain spaces" },
	{ "writer unknown", HDR "jwks:\n  writer: cron\n", "6:11",
	  "jwks.writer: unknown value \"cron\" (expected module or tool)" },
	{ "timeout too long", HDR "jwks:\n  timeout: 61s\n", "6:12",
	  "between 1s and 60s" },
	{ "timeout zero", HDR "jwks:\n  timeout: 0\n", "6:12",
	  "between 1s and 60s" },
	{ "refresh zero", HDR "jwks:\n  refresh: 0s\n", "6:12",
	  "jwks.refresh must be between" },
	{ "cache empty", HDR "jwks:\n  cache: ''\n", "6:10",
	  "jwks.cache must not be empty" },
	{ "jwks a list", HDR "jwks: [a]\n", "5:7",
	  "jwks must be a mapping, not a list" },
	{ "format unknown", HDR "audit:\n  format: xml\n", "6:11",
	  "audit.format: unknown value \"xml\"" },
	{ "facility unknown", HDR "audit:\n  facility: local8\n", "6:13",
	  "audit.facility: unknown value \"local8\"" },
	{ "include matches nothing", HDR "include: nothing-*.yaml\n", "5:10",
	  "matches no file" },
	{ "include a list", HDR "include: [a]\n", "5:10",
	  "include must be a string, not a list" },
	{ "rules a mapping", HDR "rules: {}\n", "5:8",
	  "rules must be a list, not a mapping" },
	{ "rules null", HDR "rules:\n", "5:7", "rules must be a list, not null" },
	{ "rule a string", HDR "rules:\n  - foo\n", "6:5",
	  "each rule must be a mapping, not a string" },
	{ "rule without name", HDR "rules:\n  - pipeline: api\n"
	  "    roles: [x]\n", "6:5", "rule has no name" },
	{ "rule name empty", HDR "rules:\n  - name: ''\n    pipeline: api\n"
	  "    roles: [x]\n", "6:11", "name must not be empty" },
	{ "rule name a list", HDR "rules:\n  - name: [a]\n    pipeline: api\n"
	  "    roles: [x]\n", "6:11", "name must be a string, not a list" },
	{ "rule name with a newline", HDR "rules:\n  - name: \"a\\nb\"\n"
	  "    pipeline: api\n    roles: [x]\n", "6:11",
	  "rule name \"a\\nb\" contains a control character" },
	{ "missing pipeline", HDR "rules:\n  - name: r\n    branch: main\n"
	  "    roles: [x]\n", "6:5",
	  "rule \"r\" has no pipeline (required; write pipeline: \"*\"" },
	{ "allow without roles", HDR RULE, "6:5",
	  "allow rule \"r\" has no roles" },
	{ "explicit allow without roles", HDR RULE "    effect: allow\n", "6:5",
	  "allow rule \"r\" has no roles" },
	{ "empty roles", HDR RULE "    roles: []\n", "8:12",
	  "roles must not be an empty list" },
	{ "empty roles on deny", HDR RULE "    effect: deny\n    roles: []\n",
	  "9:12", "roles must not be an empty list" },
	{ "roles null", HDR RULE "    roles:\n", "8:11",
	  "roles must be a list of role names, not null" },
	{ "roles a string", HDR RULE "    roles: x\n", "8:12",
	  "roles must be a list of role names, not a string" },
	{ "empty role name", HDR RULE "    roles: [x, \"\"]\n", "8:16",
	  "a role must not be empty" },
	{ "role a list", HDR RULE "    roles: [[x]]\n", "8:13",
	  "a role must be a string, not a list" },
	{ "unknown template claim", HDR RULE "    roles: [\"ci_{pipeline}\"]\n",
	  "8:13", "role \"ci_{pipeline}\" names an unknown claim \"pipeline\"" },
	{ "empty template claim", HDR RULE "    roles: [\"ci_{}\"]\n", "8:13",
	  "unknown claim \"\"" },
	{ "empty agent_tag", HDR RULE "    roles: [\"ci_{agent_tag:}\"]\n",
	  "8:13", "unknown claim \"agent_tag:\"" },
	{ "unclosed template", HDR RULE "    roles: [\"ci_{pipeline_slug\"]\n",
	  "8:13", "has unbalanced braces" },
	{ "stray closing brace", HDR RULE "    roles: [\"ci_}\"]\n", "8:13",
	  "has unbalanced braces" },
	{ "nested braces", HDR RULE "    roles: [\"{a{pipeline_slug}}\"]\n",
	  "8:13", "has unbalanced braces" },
	{ "role too long", HDR RULE "    roles: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", "8:13",
	  "is longer than 63 bytes" },
	{ "role with a tab", HDR RULE "    roles: [\"a\\tb\"]\n", "8:13",
	  "contains a control character" },
	{ "bad regex", HDR RULE "    branch: \"/feat(/\"\n    roles: [x]\n",
	  "8:13", "branch: invalid regex \"feat(\" at offset 4: unbalanced '('" },
	{ "bad regex in a list", HDR RULE "    branch: [main, \"/[/\"]\n"
	  "    roles: [x]\n", "8:20", "branch: invalid regex \"[\"" },
	{ "regex escaping its anchors", HDR RULE "    branch: \"/a)|(b)/\"\n"
	  "    roles: [x]\n", "8:13", "unbalanced ')'" },
	{ "regex back-reference", HDR RULE "    branch: '/(a)\\1/'\n"
	  "    roles: [x]\n", "8:13",
	  "at offset 3: back-references (\\1) are not supported" },
	{ "regex of a repetition repeated", HDR RULE
	  "    branch: \"/a+*/\"\n    roles: [x]\n", "8:13", "\"a+*\" at offset "
	  "2: a repetition of a repetition (such as a**, a+? or a*+) is not "
	  "allowed" },
	/* nested repetitions, many optional parts and nested bounds now
	 * compile (their matching is bounded: decisions below and
	 * test_regex_bounds); nested bounds past PCRE2's compiled size
	 * are refused */
	{ "regex of nested bounds too large", HDR RULE
	  "    branch: \"/((a{255}){255}){255}/\"\n    roles: [x]\n",
	  "8:13", "regular expression is too large (bounds inside bounds "
	  "multiply its compiled size)" },
	{ "regex bound {,n}", HDR RULE "    branch: \"/(.*){,260}/\"\n"
	  "    roles: [x]\n", "8:13", "\"(.*){,260}\" at offset 4: the bound "
	  "{,n} is not POSIX (write {0,n})" },
	{ "regex bound above 255", HDR RULE "    branch: \"/a{256}/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: a bound above 255" },
	{ "regex bound reversed", HDR RULE "    branch: \"/a{3,2}/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: the bound {3,2} has its "
	  "maximum below its minimum" },
	{ "regex brace that is no bound", HDR RULE "    branch: \"/a{x}/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: '{' does not start a bound "
	  "{m}, {m,} or {m,n} (write \\{ for the character)" },
	{ "regex bound unclosed", HDR RULE "    branch: \"/a{1,2/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: '{' does not start a bound" },
	{ "regex (?", HDR RULE "    branch: \"/(?:a)/\"\n    roles: [x]\n",
	  "8:13", "at offset 1: '?' repeats nothing (at the start, after '(' "
	  "or after '|'; write \\? for the character)" },
	{ "regex repetition at the start", HDR RULE
	  "    branch: \"/+a/\"\n    roles: [x]\n", "8:13",
	  "at offset 0: '+' repeats nothing" },
	{ "regex repetition after |", HDR RULE
	  "    branch: \"/a|*b/\"\n    roles: [x]\n", "8:13",
	  "at offset 2: '*' repeats nothing" },
	{ "regex repetition of an anchor", HDR RULE
	  "    branch: \"/^*a/\"\n    roles: [x]\n", "8:13",
	  "at offset 1: '*' repeats an anchor '^' or '$'" },
	{ "regex possessive", HDR RULE "    branch: \"/a*+/\"\n    roles: [x]\n",
	  "8:13", "at offset 2: a repetition of a repetition" },
	{ "regex lazy", HDR RULE "    branch: \"/a+?/\"\n    roles: [x]\n",
	  "8:13", "at offset 2: a repetition of a repetition" },
	{ "regex lazy optional", HDR RULE "    branch: \"/a?" "?/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 2: a repetition of a "
	  "repetition" },
	{ "regex repeated bound", HDR RULE "    branch: \"/a{2}{3}/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 4: a repetition of a "
	  "repetition" },
	{ "regex \\d", HDR RULE "    branch: '/\\d+/'\n    roles: [x]\n",
	  "8:13", "at offset 0: \\d is not POSIX (a backslash may only "
	  "precede a special character)" },
	{ "regex \\w", HDR RULE "    branch: '/a\\w/'\n    roles: [x]\n",
	  "8:13", "at offset 1: \\w is not POSIX" },
	{ "regex \\n", HDR RULE "    branch: '/a\\nb/'\n    roles: [x]\n",
	  "8:13", "at offset 1: \\n is not POSIX" },
	{ "regex GNU anchor", HDR RULE "    branch: '/\\<main/'\n"
	  "    roles: [x]\n", "8:13", "at offset 0: the GNU anchor \\< is not "
	  "supported" },
	{ "regex trailing backslash", HDR RULE "    branch: '/main\\/'\n"
	  "    roles: [x]\n", "8:13", "at offset 4: a trailing backslash" },
	{ "regex equivalence class", HDR RULE "    branch: \"/[[=a=]]/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: collating elements and "
	  "equivalence classes (\"[.\", \"[=\") are not supported" },
	{ "regex collating element", HDR RULE "    branch: \"/[[.a.]]/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: collating elements" },
	{ "regex unknown class", HDR RULE "    branch: \"/[[:word:]]/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: unknown character class "
	  "\"[:word:]\"" },
	{ "regex unclosed class", HDR RULE "    branch: \"/[[:alpha]/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: \"[:\" opens a character "
	  "class that does not close" },
	{ "regex range after a range", HDR RULE "    branch: \"/[a-c-e]/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 4: a '-' that is neither "
	  "first, last nor a range's end" },
	{ "regex range reversed", HDR RULE "    branch: \"/[z-a]/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: the range \"z-a\" ends "
	  "before it starts" },
	{ "regex range from a class", HDR RULE
	  "    branch: \"/[[:digit:]-z]/\"\n    roles: [x]\n", "8:13",
	  "at offset 10: a range cannot start at a character class" },
	{ "regex range to a class", HDR RULE
	  "    branch: \"/[a-[:digit:]]/\"\n    roles: [x]\n", "8:13",
	  "at offset 3: a range cannot end at a character class" },
	{ "regex unterminated bracket", HDR RULE "    branch: \"/a[bc/\"\n"
	  "    roles: [x]\n", "8:13", "at offset 1: unterminated bracket "
	  "expression" },
	{ "regex nested 33 groups deep", HDR RULE
	  "    branch: \"/(((((((((((((((((((((((((((((((((a)))))))))))))))))"
	  "))))))))))))))))/\"\n    roles: [x]\n", "8:13",
	  "groups nested deeper than 16" },
	{ "empty regex", HDR RULE "    branch: //\n    roles: [x]\n", "8:13",
	  "empty regex" },
	{ "empty pattern string", HDR RULE "    branch: \"\"\n    roles: [x]\n",
	  "8:13", "branch: empty pattern" },
	{ "blank pattern string", HDR RULE "    step: \"  \"\n    roles: [x]\n",
	  "8:11", "step: empty pattern" },
	{ "empty pattern list", HDR RULE "    tag: []\n    roles: [x]\n",
	  "8:10", "tag: empty pattern" },
	{ "empty pattern item", HDR RULE "    branch: [main, \"\"]\n"
	  "    roles: [x]\n", "8:20", "branch: empty pattern item" },
	{ "lone !", HDR RULE "    branch: main !\n    roles: [x]\n", "8:13",
	  "a lone \"!\" excludes nothing" },
	{ "pattern null", HDR RULE "    branch:\n    roles: [x]\n", "8:12",
	  "branch must be a pattern (a string or a list), not null" },
	{ "pattern a mapping", HDR RULE "    source: {a: b}\n    roles: [x]\n",
	  "8:13", "source must be a pattern" },
	{ "pattern item a list", HDR RULE "    branch: [[a]]\n    roles: [x]\n",
	  "8:14", "pattern items must be strings, not a list" },
	{ "pattern item null", HDR RULE "    branch: [a, ~]\n    roles: [x]\n",
	  "8:17", "pattern items must be strings, not null" },
	{ "pipeline null", HDR "rules:\n  - name: r\n    pipeline:\n"
	  "    roles: [x]\n", "7:14", "pipeline must be a pattern" },
	{ "effect unknown", HDR RULE "    effect: permit\n    roles: [x]\n",
	  "8:13", "effect: unknown value \"permit\" (expected allow or deny)" },
	{ "claims empty", HDR RULE "    claims: {}\n    roles: [x]\n", "8:13",
	  "claims must not be empty" },
	{ "claims a list", HDR RULE "    claims: [a]\n    roles: [x]\n", "8:13",
	  "claims must be a mapping, not a list" },
	{ "claim name empty", HDR RULE "    claims: {\"\": x}\n    roles: [x]\n",
	  "8:14", "a claim name must be a non-empty string" },
	{ "claim pattern bad", HDR RULE "    claims:\n      queue_key: \"\"\n"
	  "    roles: [x]\n", "9:18", "claim \"queue_key\": empty pattern" },
	{ "bad CIDR", HDR RULE "    from: 10.0.0.300/8\n    roles: [x]\n",
	  "8:11", "from: invalid CIDR \"10.0.0.300/8\"" },
	{ "CIDR with host bits", HDR RULE "    from: 10.1.2.3/8\n"
	  "    roles: [x]\n", "8:11", "address bits set beyond the /8 prefix" },
	{ "CIDR prefix too long", HDR RULE "    from: 10.0.0.0/33\n"
	  "    roles: [x]\n", "8:11", "prefix longer than 32 bits" },
	{ "IPv6 prefix too long", HDR RULE "    from: \"::1/129\"\n"
	  "    roles: [x]\n", "8:11", "prefix longer than 128 bits" },
	{ "CIDR prefix garbage", HDR RULE "    from: 10.0.0.0/8x\n"
	  "    roles: [x]\n", "8:11", "bad prefix length" },
	{ "CIDR empty prefix", HDR RULE "    from: 10.0.0.0/\n"
	  "    roles: [x]\n", "8:11", "bad prefix length" },
	{ "CIDR a host name", HDR RULE "    from: db.example.com\n"
	  "    roles: [x]\n", "8:11", "is not an IPv4 or IPv6 address" },
	{ "CIDR in a list", HDR RULE "    from: [10.0.0.0/8, \"::g/8\"]\n"
	  "    roles: [x]\n", "8:24", "from: invalid CIDR \"::g/8\"" },
	{ "from empty list", HDR RULE "    from: []\n    roles: [x]\n", "8:11",
	  "from must not be an empty list" },
	{ "from empty string", HDR RULE "    from: ''\n    roles: [x]\n", "8:11",
	  "from must not be empty" },
	{ "duplicate key in token", HDR "  audience: x\n", "5:3",
	  "duplicate key \"audience\" (first at line 3, column 3)" },
	{ "duplicate key in rule", HDR RULE "    roles: [x]\n    pipeline: web\n",
	  "9:5", "duplicate key \"pipeline\" (first at line 7, column 5)" },
	{ "duplicate top-level key", HDR "rules: []\nrules: []\n", "6:1",
	  "duplicate key \"rules\"" },
	{ "duplicate rule name", HDR RULE "    roles: [x]\n  - name: s\n"
	  "    pipeline: api\n    roles: [x]\n  - name: r\n"
	  "    pipeline: web\n    roles: [y]\n", "12:11",
	  "duplicate rule name \"r\" (first defined at " },
	{ "anchor", HDR "rules:\n  - &a\n    name: r\n    pipeline: api\n"
	  "    roles: [x]\n", "6:5", "anchors and aliases are not allowed" },
	{ "alias", HDR RULE "    roles: &r [x]\n  - name: s\n    pipeline: api\n"
	  "    roles: *r\n", "8:12", "anchors and aliases are not allowed" },
	{ "alias alone", HDR RULE "    roles: [x]\n    branch: *b\n", "9:13",
	  "anchors and aliases are not allowed" },
	{ "tag", "version: !!int 1\n", "1:10",
	  "tags are not allowed (found \"tag:yaml.org,2002:int\")" },
	{ "local tag", HDR RULE "    roles: [!role x]\n", "8:13",
	  "tags are not allowed (found \"!role\")" },
	{ "two documents", HDR "---\nversion: 1\n", "5:1",
	  "only one YAML document is allowed" },
	{ "YAML syntax error", HDR "rules: [a\n", "6:1",
	  "did not find expected ',' or ']'" },
	{ "tab indentation", HDR "rules:\n\t- name: r\n", "6:1",
	  "found character that cannot start any token" },
	{ "root a list", "- version: 1\n", "1:1",
	  "the policy must be a mapping, not a list" },
	{ "empty file", "", "1:1", "the policy is empty" },
	{ "comments only", "# nothing\n", "1:1", "the policy is empty" },
	{ "NUL byte in a value", HDR RULE "    roles: [\"a\\0b\"]\n", "8:13",
	  "NUL byte in a value" },
	{ "invalid UTF-8", HDR "rules: [\"\xff\"]\n", "5:10",
	  "invalid leading UTF-8 octet" },
	{ "control character", HDR "rules: [\"\x01\"]\n", "5:10",
	  "control characters are not allowed" },
	{ "complex key", HDR "? [a]\n: b\n", "5:3",
	  "mapping keys must be strings" },
	{ "rules in flow form with unknown key",
	  HDR "rules: [{name: r, pipeline: api, roles: [x], step_key: m}]\n",
	  "5:46", "unknown key \"step_key\" in rule" },
};

static void
test_errors(void)
{
	size_t i;

	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++)
		expect_error(err_cases[i].yaml, err_cases[i].pos,
		    err_cases[i].msg, err_cases[i].what);
}

/* Errors that need generated input. */
static void
test_limits(void)
{
	struct pb_error err;
	struct pb_policy *pol;
	char *buf, name[64];
	size_t i, o, n;

	/* nesting: 32 levels load, 33 do not */
	buf = malloc(4096);
	if (buf == NULL)
		exit(99);
	for (n = 32; n <= 33; n++) {
		o = (size_t)snprintf(buf, 4096, HDR "rules: ");
		for (i = 1; i < n; i++)
			buf[o++] = '[';
		for (i = 1; i < n; i++)
			buf[o++] = ']';
		buf[o++] = '\n';
		buf[o] = '\0';
		pol = load_text(buf, &err);
		if (n == 32) {
			/* the innermost list is not a rule: the depth passed */
			ok(pol == NULL && strstr(err.text, "each rule must be "
			    "a mapping") != NULL, "32 levels of nesting parse");
		} else {
			expect_error_in("p.yaml", "5:39", "nested deeper than "
			    "32 levels", "33 levels of nesting", &err);
		}
		pb_policy_free(pol);
	}
	free(buf);

	/* a value of 64 KiB loads, one byte more does not */
	buf = malloc(70000);
	if (buf == NULL)
		exit(99);
	for (n = 65536; n <= 65537; n++) {
		o = (size_t)snprintf(buf, 70000, HDR RULE "    branch: ");
		memset(buf + o, 'a', n);
		o += n;
		o += (size_t)snprintf(buf + o, 70000 - o, "\n    roles: [x]\n");
		pol = load_text(buf, &err);
		if (n == 65536)
			ok(pol != NULL, "a 64 KiB value loads");
		else
			expect_error_in("p.yaml", "8:13", "value longer than "
			    "65536 bytes", "a value over 64 KiB", &err);
		pb_policy_free(pol);
	}
	free(buf);

	/* a file over 4 MiB */
	n = 4 * 1024 * 1024 + 1;
	buf = malloc(n);
	if (buf == NULL)
		exit(99);
	memcpy(buf, HDR, strlen(HDR));
	memset(buf + strlen(HDR), '#', n - strlen(HDR));
	write_file("big.yaml", buf, n);
	free(buf);
	pol = NULL;
	ok(pb_policy_load(path_of("big.yaml"), &pol, &err) < 0 &&
	    pol == NULL && strstr(err.text, "big.yaml: larger than 4194304 "
	    "bytes") != NULL, "a file over 4 MiB is refused");

	/* not a regular file */
	ok(pb_policy_load(tmpdir, &pol, &err) < 0 &&
	    strstr(err.text, ": not a regular file") != NULL,
	    "a directory is refused");
	ok(pb_policy_load(path_of("missing.yaml"), &pol, &err) < 0 &&
	    strstr(err.text, "missing.yaml: cannot open: No such file") !=
	    NULL, "a missing file is reported");
	ok(pb_policy_load("", &pol, &err) < 0, "an empty path is refused");
	if (mkfifo(path_of("fifo.yaml"), 0644) == 0)
		ok(pb_policy_load(path_of("fifo.yaml"), &pol, &err) < 0 &&
		    strstr(err.text, ": not a regular file") != NULL,
		    "a FIFO is refused without blocking");
	else
		ok(0, "mkfifo: %s", strerror(errno));

	/* writable by everyone */
	write_str("ww.yaml", HDR);
	chmod(path_of("ww.yaml"), 0666);
	ok(pb_policy_load(path_of("ww.yaml"), &pol, &err) < 0 &&
	    strstr(err.text, "ww.yaml: group- or world-writable (mode 0666)") != NULL,
	    "a world-writable file is refused");

	/* a mapping with many keys is checked for duplicates quickly */
	buf = malloc(3 * 1000 * 1000);
	if (buf == NULL)
		exit(99);
	o = (size_t)snprintf(buf, 64, HDR "x:\n");
	for (i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "  k%zu: 1\n", i);
		memcpy(buf + o, name, strlen(name));
		o += strlen(name);
	}
	memcpy(buf + o, "  k5: 2\n", 9);
	pol = load_text(buf, &err);
	expect_error_in("p.yaml", "100006:3", "duplicate key \"k5\" (first at "
	    "line 11, column 3)", "duplicate among 100000 keys", &err);
	free(buf);
}

/* ------------------------------------------------------------ settings */

static void
test_defaults(void)
{
	const struct pb_config *c;
	struct pb_policy *pol;
	struct pb_error err;

	pol = load_text(HDR, &err);
	if (!ok(pol != NULL, "minimal policy loads"))
		diag("%s", err.text);
	if (pol == NULL)
		return;
	c = pb_policy_config(pol);
	ok(strcmp(c->token.issuer, "https://agent.buildkite.com") == 0,
	    "default issuer");
	ok(c->token.n_audiences == 1 &&
	    strcmp(c->token.audiences[0], "pg") == 0, "single audience");
	ok(strcmp(c->token.organization, "acme") == 0, "organization");
	ok(c->token.organization_id == NULL, "no organization_id by default");
	ok_eq(c->token.algorithms, PB_ALG_RS256, "default algorithms RS256");
	ok_eq(c->token.leeway, 30, "default leeway 30s");
	ok_eq(c->token.max_lifetime, 900, "default max_lifetime 15m");
	ok(!c->token.single_use, "single_use off by default");
	ok(c->token.replay_dir == NULL, "no replay_dir by default");
	ok(strcmp(c->jwks.url,
	    "https://agent.buildkite.com/.well-known/jwks") == 0,
	    "default jwks url");
	ok(c->jwks.file == NULL, "no jwks file by default");
	ok(strcmp(c->jwks.cache, "/var/cache/pam_buildkite") == 0,
	    "default jwks cache");
	ok_eq(c->jwks.refresh, 3600, "default refresh 1h");
	ok_eq(c->jwks.max_stale, 86400, "default max_stale 24h");
	ok_eq(c->jwks.timeout, 3, "default timeout 3s");
	ok(c->jwks.ca_file == NULL, "no ca_file by default");
	ok_eq(c->jwks.writer, PB_WRITER_MODULE, "default writer module");
	ok_eq(c->audit.format, PB_AUDIT_LOGFMT, "default format logfmt");
	ok_eq(c->audit.facility, LOG_AUTHPRIV, "default facility authpriv");
	pb_policy_free(pol);
	ok(pb_policy_config(NULL) == NULL, "config of NULL is NULL");
	pb_policy_free(NULL);
}

static void
test_settings(void)
{
	const struct pb_config *c;
	struct pb_policy *pol;
	struct pb_error err;
	char want[PATH_MAX * 3], cwd[PATH_MAX];

	pol = load_text("version: 1\n"
	    "token:\n"
	    "  issuer: https://issuer.example\n"
	    "  audience: [pg1, \"postgres://db\"]\n"
	    "  organization: acme-inc\n"
	    "  organization_id: 0184-abc\n"
	    "  algorithms: [ES256, RS512, ES384, RS384]\n"
	    "  leeway: 1m\n"
	    "  max_lifetime: 1d\n"
	    "  single_use: true\n"
	    "  replay_dir: replay\n"
	    "jwks:\n"
	    "  file: keys/jwks.json\n"
	    "  cache: /var/tmp/c\n"
	    "  refresh: 90s\n"
	    "  max_stale: 2h\n"
	    "  timeout: 60\n"
	    "  ca_file: ./ca.pem\n"
	    "  writer: tool\n"
	    "audit:\n"
	    "  format: json\n"
	    "  facility: local3\n"
	    "rules: []\n", &err);
	if (!ok(pol != NULL, "a policy using every setting loads"))
		diag("%s", err.text);
	if (pol == NULL)
		return;
	c = pb_policy_config(pol);
	ok(strcmp(c->token.issuer, "https://issuer.example") == 0, "issuer");
	ok(c->token.n_audiences == 2 &&
	    strcmp(c->token.audiences[0], "pg1") == 0 &&
	    strcmp(c->token.audiences[1], "postgres://db") == 0,
	    "audience list");
	ok(strcmp(c->token.organization_id, "0184-abc") == 0,
	    "organization_id");
	ok(c->token.algorithms == (PB_ALG_ES256 | PB_ALG_RS512 |
	    PB_ALG_ES384 | PB_ALG_RS384), "algorithm list");
	ok_eq(c->token.leeway, 60, "leeway 1m");
	ok_eq(c->token.max_lifetime, 86400, "max_lifetime 1d");
	ok(c->token.single_use, "single_use true");
	snprintf(want, sizeof(want), "%s/replay", tmpdir);
	ok(strcmp(c->token.replay_dir, want) == 0,
	    "relative replay_dir resolved against the policy's directory");
	ok(c->jwks.url == NULL, "jwks.file clears the default url");
	snprintf(want, sizeof(want), "%s/keys/jwks.json", tmpdir);
	ok(strcmp(c->jwks.file, want) == 0, "relative jwks.file resolved");
	ok(strcmp(c->jwks.cache, "/var/tmp/c") == 0, "absolute cache kept");
	ok_eq(c->jwks.refresh, 90, "refresh 90s");
	ok_eq(c->jwks.max_stale, 7200, "max_stale 2h");
	ok_eq(c->jwks.timeout, 60, "timeout as a plain number");
	snprintf(want, sizeof(want), "%s/./ca.pem", tmpdir);
	ok(strcmp(c->jwks.ca_file, want) == 0, "relative ca_file resolved");
	ok_eq(c->jwks.writer, PB_WRITER_TOOL, "writer tool");
	ok_eq(c->audit.format, PB_AUDIT_JSON, "format json");
	ok_eq(c->audit.facility, LOG_LOCAL3, "facility local3");
	pb_policy_free(pol);

	pol = load_text(HDR "  algorithms: ES256\n  single_use: false\n"
	    "jwks:\n  url: https://keys.example/jwks\n"
	    "audit:\n  facility: auth\n", &err);
	c = pol ? pb_policy_config(pol) : NULL;
	ok(c != NULL && c->token.algorithms == PB_ALG_ES256,
	    "a single algorithm as a string");
	ok(c != NULL && strcmp(c->jwks.url, "https://keys.example/jwks") == 0,
	    "jwks.url");
	ok(c != NULL && c->audit.facility == LOG_AUTH, "facility auth");
	pb_policy_free(pol);

	/* a relative policy path still gives absolute paths */
	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(tmpdir) != 0) {
		ok(0, "chdir to the test directory");
		return;
	}
	mkdir("sub", 0755);
	write_str("sub/p.yaml", HDR "jwks:\n  cache: c\n");
	pol = NULL;
	if (pb_policy_load("sub/p.yaml", &pol, &err) != 0)
		diag("%s", err.text);
	{
		char here[PATH_MAX];

		if (getcwd(here, sizeof(here)) == NULL)
			here[0] = '\0';
		snprintf(want, sizeof(want), "%s/sub/c", here);
	}
	ok(pol != NULL && strcmp(pb_policy_config(pol)->jwks.cache, want) == 0,
	    "paths of a relatively named policy are made absolute");
	pb_policy_free(pol);
	write_str("sub/p.yaml", HDR "jwks:\n  cache: c\n  timeout: 0\n");
	ok(pb_policy_load("sub/p.yaml", &pol, &err) < 0 &&
	    strncmp(err.text, "sub/p.yaml:7:12: ", 17) == 0,
	    "errors name the file as given");
	if (chdir(cwd) != 0)
		diag("cannot return to %s", cwd);
}

/* ----------------------------------------------------------- decisions */

struct dec_case {
	const char *what;
	const char *rules;      /* the rules: list */
	const char *claims;     /* merged over base_claims; NULL: none */
	const char *drop;       /* claim removed from the base, or NULL */
	const char *role;
	const char *rhost;
	enum pb_verdict verdict;
	const char *rule;       /* the deciding rule, NULL for NO_RULE */
};

#define A PB_VERDICT_ALLOW
#define N PB_VERDICT_NO_RULE
#define D PB_VERDICT_DENIED

#define R_MIGRATE "  - name: migrate\n    pipeline: api\n    branch: main\n" \
	"    step: migrate\n    roles: [api_migrator]\n"
#define R_ONE(cond) "  - name: r\n    pipeline: \"*\"\n    " cond "\n" \
	"    roles: [x]\n"

static const struct dec_case dec_cases[] = {
	{ "all conditions hold", R_MIGRATE, NULL, NULL, "api_migrator", NULL,
	  A, "migrate" },
	{ "role not listed", R_MIGRATE, NULL, NULL, "other", NULL, N, NULL },
	{ "role compared case-sensitively", R_MIGRATE, NULL, NULL,
	  "API_MIGRATOR", NULL, N, NULL },
	{ "role prefix is not the role", R_MIGRATE, NULL, NULL, "api_migrato",
	  NULL, N, NULL },
	{ "NULL role", R_MIGRATE, NULL, NULL, NULL, NULL, N, NULL },
	{ "pipeline differs", R_MIGRATE, "{\"pipeline_slug\": \"web\"}", NULL,
	  "api_migrator", NULL, N, NULL },
	{ "branch differs", R_MIGRATE, "{\"build_branch\": \"main2\"}", NULL,
	  "api_migrator", NULL, N, NULL },
	{ "step differs", R_MIGRATE, "{\"step_key\": \"test\"}", NULL,
	  "api_migrator", NULL, N, NULL },
	{ "step_key null vs step: migrate", R_MIGRATE,
	  "{\"step_key\": null}", NULL, "api_migrator", NULL, N, NULL },
	{ "step_key null vs step: *", R_ONE("step: \"*\""),
	  "{\"step_key\": null}", NULL, "x", NULL, N, NULL },
	{ "step_key absent vs step: *", R_ONE("step: \"*\""), NULL, "step_key",
	  "x", NULL, N, NULL },
	{ "step_key null, no step condition", R_ONE("branch: main"),
	  "{\"step_key\": null}", NULL, "x", NULL, A, "r" },
	{ "step_key absent, no step condition", R_ONE("branch: main"), NULL,
	  "step_key", "x", NULL, A, "r" },
	{ "pipeline * needs pipeline_slug", R_ONE("branch: main"), NULL,
	  "pipeline_slug", "x", NULL, N, NULL },
	{ "pipeline * matches an empty slug", R_ONE("branch: main"),
	  "{\"pipeline_slug\": \"\"}", NULL, "x", NULL, A, "r" },
	{ "* spans slashes", R_ONE("branch: \"*\""),
	  "{\"build_branch\": \"a/b/c\"}", NULL, "x", NULL, A, "r" },
	{ "prefix glob spans slashes", R_ONE("branch: feature/*"),
	  "{\"build_branch\": \"feature/x/y\"}", NULL, "x", NULL, A, "r" },
	{ "prefix glob needs the prefix", R_ONE("branch: feature/*"),
	  "{\"build_branch\": \"feature\"}", NULL, "x", NULL, N, NULL },
	{ "inner glob", R_ONE("branch: \"r*-*x\""),
	  "{\"build_branch\": \"rel-1-x\"}", NULL, "x", NULL, A, "r" },
	{ "inner glob mismatch", R_ONE("branch: \"r*-*x\""),
	  "{\"build_branch\": \"rel-1-y\"}", NULL, "x", NULL, N, NULL },
	{ "? is literal", R_ONE("branch: a?b"),
	  "{\"build_branch\": \"axb\"}", NULL, "x", NULL, N, NULL },
	{ "? matches itself", R_ONE("branch: a?b"),
	  "{\"build_branch\": \"a?b\"}", NULL, "x", NULL, A, "r" },
	{ "[ is literal", R_ONE("branch: \"[ab]\""),
	  "{\"build_branch\": \"a\"}", NULL, "x", NULL, N, NULL },
	{ "case-sensitive glob", R_ONE("branch: Main"), NULL, NULL, "x", NULL,
	  N, NULL },
	{ "exclusion only, other branch", R_ONE("branch: \"!main\""),
	  "{\"build_branch\": \"dev\"}", NULL, "x", NULL, A, "r" },
	{ "exclusion only, excluded branch", R_ONE("branch: \"!main\""),
	  NULL, NULL, "x", NULL, N, NULL },
	{ "exclusion only, branch null", R_ONE("branch: \"!main\""),
	  "{\"build_branch\": null}", NULL, "x", NULL, N, NULL },
	{ "exclusion only, branch absent", R_ONE("branch: \"!main\""),
	  NULL, "build_branch", "x", NULL, N, NULL },
	{ "glob minus exclusion", R_ONE("branch: \"release/* !release/bad\""),
	  "{\"build_branch\": \"release/1\"}", NULL, "x", NULL, A, "r" },
	{ "exclusion wins", R_ONE("branch: \"release/* !release/bad\""),
	  "{\"build_branch\": \"release/bad\"}", NULL, "x", NULL, N, NULL },
	{ "exclusion before inclusion", R_ONE("branch: \"!release/bad "
	  "release/*\""), "{\"build_branch\": \"release/bad\"}", NULL, "x",
	  NULL, N, NULL },
	{ "space-separated second item", R_ONE("branch: \"main release/*\""),
	  "{\"build_branch\": \"release/2\"}", NULL, "x", NULL, A, "r" },
	{ "list second item", R_ONE("branch: [main, \"release/*\"]"),
	  "{\"build_branch\": \"release/2\"}", NULL, "x", NULL, A, "r" },
	{ "list item keeps spaces", R_ONE("branch: [\"a b\"]"),
	  "{\"build_branch\": \"a b\"}", NULL, "x", NULL, A, "r" },
	{ "string splits on spaces", R_ONE("branch: \"a b\""),
	  "{\"build_branch\": \"a b\"}", NULL, "x", NULL, N, NULL },
	{ "list exclusion", R_ONE("branch: [\"*\", \"!main\"]"), NULL, NULL,
	  "x", NULL, N, NULL },
	{ "regex is anchored", R_ONE("branch: /ma/"), NULL, NULL, "x", NULL,
	  N, NULL },
	{ "regex at the end is anchored", R_ONE("branch: /ain/"), NULL, NULL,
	  "x", NULL, N, NULL },
	{ "regex whole match", R_ONE("branch: /ma.*/"), NULL, NULL, "x",
	  NULL, A, "r" },
	{ "regex alternation stays anchored", R_ONE("branch: /xx|ma/"), NULL,
	  NULL, "x", NULL, N, NULL },
	{ "regex alternation", R_ONE("branch: \"/dev|release\\\\/[0-9]+/\""),
	  "{\"build_branch\": \"release/12\"}", NULL, "x", NULL, A, "r" },
	{ "regex alternation, no partial", R_ONE("branch: \"/dev|release/\""),
	  "{\"build_branch\": \"devx\"}", NULL, "x", NULL, N, NULL },
	{ "regex with bounded repetitions",
	  R_ONE("branch: '/release\\/([0-9]{1,4}\\.){2}[0-9]{1,4}(-rc[0-9]+)?/'"),
	  "{\"build_branch\": \"release/1.22.3-rc1\"}", NULL, "x", NULL, A, "r" },
	{ "regex with a bracket paren", R_ONE("branch: \"/a[)]b/\""),
	  "{\"build_branch\": \"a)b\"}", NULL, "x", NULL, A, "r" },
	{ "escaped paren in regex", R_ONE("branch: '/a\\)b/'"),
	  "{\"build_branch\": \"a)b\"}", NULL, "x", NULL, A, "r" },
	{ "negated regex", R_ONE("branch: \"!/tmp-.*/\""),
	  "{\"build_branch\": \"tmp-1\"}", NULL, "x", NULL, N, NULL },
	{ "negated regex passes others", R_ONE("branch: \"!/tmp-.*/\""),
	  NULL, NULL, "x", NULL, A, "r" },
	{ "/ alone is a glob", R_ONE("branch: /"),
	  "{\"build_branch\": \"/\"}", NULL, "x", NULL, A, "r" },
	{ "tag absent", R_ONE("tag: \"v*\""), NULL, NULL, "x", NULL, N, NULL },
	{ "tag null", R_ONE("tag: \"v*\""), "{\"build_tag\": null}", NULL, "x",
	  NULL, N, NULL },
	{ "tag present", R_ONE("tag: \"v*\""), "{\"build_tag\": \"v1.2\"}",
	  NULL, "x", NULL, A, "r" },
	{ "source in a list", R_ONE("source: \"schedule webhook\""), NULL,
	  NULL, "x", NULL, A, "r" },
	{ "source not in a list", R_ONE("source: \"ui api\""), NULL, NULL,
	  "x", NULL, N, NULL },
	{ "unicode value", R_ONE("branch: \"f\xc3\xa9" "e/*\""),
	  "{\"build_branch\": \"f\xc3\xa9" "e/\xc3\xbc\"}", NULL, "x", NULL,
	  A, "r" },
	{ "unicode is not folded", R_ONE("branch: \"f\xc3\xa9" "e\""),
	  "{\"build_branch\": \"fee\"}", NULL, "x", NULL, N, NULL },
	/* UTF-8: '.' is one character, two bytes here */
	{ "unicode in a regex", R_ONE("branch: \"/f.e/\""),
	  "{\"build_branch\": \"f\xc3\xa9" "e\"}", NULL, "x", NULL, A, "r" },
	{ "unicode in a regex, one character", R_ONE("branch: \"/f..e/\""),
	  "{\"build_branch\": \"f\xc3\xa9" "e\"}", NULL, "x", NULL, N, NULL },
	/* read as POSIX reads them, not as PCRE2 would */
	{ "regex backslash in brackets", R_ONE("branch: '/a[x\\]/'"),
	  "{\"build_branch\": \"a\\\\\"}", NULL, "x", NULL, A, "r" },
	{ "regex backslash in brackets, no escape", R_ONE("branch: '/a[x\\]]/'"),
	  "{\"build_branch\": \"a]\"}", NULL, "x", NULL, N, NULL },
	{ "regex dot and newline", R_ONE("branch: /a.b/"),
	  "{\"build_branch\": \"a\\nb\"}", NULL, "x", NULL, A, "r" },
	{ "regex $ before a final newline", R_ONE("branch: /main$/"),
	  "{\"build_branch\": \"main\\n\"}", NULL, "x", NULL, N, NULL },
	{ "regex $ at the end", R_ONE("branch: /main$/"), NULL, NULL, "x",
	  NULL, A, "r" },
	{ "regex # is no comment", R_ONE("branch: \"/a#b/\""),
	  "{\"build_branch\": \"a#b\"}", NULL, "x", NULL, A, "r" },
	{ "regex ma|main, longest or first", R_ONE("branch: \"/ma|main/\""),
	  NULL, NULL, "x", NULL, A, "r" },
	/* pathological shapes that glibc could not afford compile now, and
	 * decide ordinary values */
	{ "regex of nested repetitions", R_ONE("branch: "
	  "\"/((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)/\""),
	  "{\"build_branch\": \"aaaa\"}", NULL, "x", NULL, A, "r" },
	{ "regex of many optional parts",
	  R_ONE("branch: \"/(a?b?c?d?e?f?g?h?){17}/\""),
	  "{\"build_branch\": \"abcdefghah\"}", NULL, "x", NULL, A, "r" },
	{ "regex of nested bounds", R_ONE("branch: "
	  "\"/((((a{10}){10}){10}){11})/\""), NULL, NULL, "x", NULL, N, NULL },
	{ "regex ((.*)*){20}", R_ONE("branch: \"/((.*)*){20}/\""), NULL, NULL,
	  "x", NULL, A, "r" },
	{ "branch with a colon", R_ONE("branch: \"user:main\""),
	  "{\"build_branch\": \"user:main\"}", NULL, "x", NULL, A, "r" },
	{ "colon glob", R_ONE("branch: \"*:main\""),
	  "{\"build_branch\": \"user:main\"}", NULL, "x", NULL, A, "r" },
	{ "colon branch is not main", R_ONE("branch: main"),
	  "{\"build_branch\": \"user:main\"}", NULL, "x", NULL, N, NULL },
	{ "integer claim as decimal", R_ONE("claims: {build_number: 42}"),
	  NULL, NULL, "x", NULL, A, "r" },
	{ "integer claim glob", R_ONE("claims: {build_number: \"4*\"}"),
	  NULL, NULL, "x", NULL, A, "r" },
	{ "integer claim differs", R_ONE("claims: {build_number: 4}"), NULL,
	  NULL, "x", NULL, N, NULL },
	{ "negative integer claim", R_ONE("claims: {build_number: \"-7\"}"),
	  "{\"build_number\": -7}", NULL, "x", NULL, A, "r" },
	{ "string claim with digits", R_ONE("claims: {build_number: 42}"),
	  "{\"build_number\": \"42\"}", NULL, "x", NULL, A, "r" },
	{ "real claim never matches", R_ONE("claims: {build_number: \"*\"}"),
	  "{\"build_number\": 42.0}", NULL, "x", NULL, N, NULL },
	{ "boolean claim never matches", R_ONE("claims: {flag: \"*\"}"),
	  "{\"flag\": true}", NULL, "x", NULL, N, NULL },
	{ "array claim never matches", R_ONE("claims: {aud: \"*\"}"),
	  "{\"aud\": [\"pg\"]}", NULL, "x", NULL, N, NULL },
	{ "object claim never matches", R_ONE("claims: {o: \"*\"}"),
	  "{\"o\": {}}", NULL, "x", NULL, N, NULL },
	{ "agent_tag:queue claim", R_ONE("claims: {\"agent_tag:queue\": "
	  "deploy}"), "{\"agent_tag:queue\": \"deploy\"}", NULL, "x", NULL, A,
	  "r" },
	{ "agent_tag:queue absent", R_ONE("claims: {\"agent_tag:queue\": "
	  "deploy}"), NULL, NULL, "x", NULL, N, NULL },
	{ "two claims, one differs", R_ONE("claims: {queue_key: deploy, "
	  "cluster_name: prod}"), "{\"queue_key\": \"deploy\", "
	  "\"cluster_name\": \"dev\"}", NULL, "x", NULL, N, NULL },
	{ "two claims hold", R_ONE("claims: {queue_key: deploy, "
	  "cluster_name: prod}"), "{\"queue_key\": \"deploy\", "
	  "\"cluster_name\": \"prod\"}", NULL, "x", NULL, A, "r" },
	{ "template expands", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [ci_reader, \"ci_{pipeline_slug}\"]\n", NULL, NULL,
	  "ci_api", NULL, A, "t" },
	{ "template other value", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"ci_{pipeline_slug}\"]\n", NULL, NULL, "ci_web", NULL,
	  N, NULL },
	{ "template is not a literal", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"ci_{pipeline_slug}\"]\n", NULL, NULL,
	  "ci_{pipeline_slug}", NULL, N, NULL },
	{ "template with absent claim", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"q_{queue_key}\"]\n", NULL, NULL, "q_", NULL, N, NULL },
	{ "template with null claim", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"s_{step_key}\"]\n", "{\"step_key\": null}", NULL,
	  "s_", NULL, N, NULL },
	{ "absent template claim leaves other roles",
	  "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"q_{queue_key}\", ci]\n", NULL, NULL, "ci", NULL, A,
	  "t" },
	{ "integer template", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"b{build_number}\"]\n", NULL, NULL, "b42", NULL, A,
	  "t" },
	{ "two placeholders", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"{organization_slug}_{pipeline_slug}\"]\n", NULL, NULL,
	  "acme_api", NULL, A, "t" },
	{ "agent_tag template", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"q_{agent_tag:queue}\"]\n",
	  "{\"agent_tag:queue\": \"deploy\"}", NULL, "q_deploy", NULL, A, "t" },
	{ "template over 63 bytes", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"ci_{build_branch}\"]\n",
	  "{\"build_branch\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaa\"}", NULL,
	  "ci_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  NULL, N, NULL },
	{ "template with a newline", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"ci_{build_branch}\"]\n", "{\"build_branch\": \"a\\n\"}",
	  NULL, "ci_a\n", NULL, N, NULL },
	{ "template of an empty claim", "  - name: t\n    pipeline: \"*\"\n"
	  "    roles: [\"{build_branch}\"]\n", "{\"build_branch\": \"\"}", NULL,
	  "", NULL, N, NULL },
	{ "first listing rule reported", "  - name: a\n    pipeline: \"*\"\n"
	  "    roles: [y]\n  - name: b\n    pipeline: api\n    roles: [x]\n"
	  "  - name: c\n    pipeline: \"*\"\n    roles: [x]\n", NULL, NULL, "x",
	  NULL, A, "b" },
	{ "rule order", "  - name: c\n    pipeline: \"*\"\n    roles: [x]\n"
	  "  - name: b\n    pipeline: api\n    roles: [x]\n", NULL, NULL, "x",
	  NULL, A, "c" },
	{ "deny over allow", R_MIGRATE "  - name: no ui\n    effect: deny\n"
	  "    pipeline: \"*\"\n    source: \"ui api\"\n"
	  "    roles: [api_migrator]\n", "{\"build_source\": \"ui\"}", NULL,
	  "api_migrator", NULL, D, "no ui" },
	{ "deny before allow", "  - name: no ui\n    effect: deny\n"
	  "    pipeline: \"*\"\n    source: \"ui api\"\n"
	  "    roles: [api_migrator]\n" R_MIGRATE, "{\"build_source\": \"ui\"}",
	  NULL, "api_migrator", NULL, D, "no ui" },
	{ "deny of another role", R_MIGRATE "  - name: no ui\n"
	  "    effect: deny\n    pipeline: \"*\"\n    roles: [other]\n", NULL,
	  NULL, "api_migrator", NULL, A, "migrate" },
	{ "deny not matching", R_MIGRATE "  - name: no ui\n    effect: deny\n"
	  "    pipeline: \"*\"\n    source: \"ui api\"\n", NULL, NULL,
	  "api_migrator", NULL, A, "migrate" },
	{ "deny without roles", R_MIGRATE "  - name: freeze\n"
	  "    effect: deny\n    pipeline: \"*\"\n", NULL, NULL,
	  "api_migrator", NULL, D, "freeze" },
	{ "deny without roles, unlisted role", R_MIGRATE "  - name: freeze\n"
	  "    effect: deny\n    pipeline: \"*\"\n", NULL, NULL, "anything",
	  NULL, D, "freeze" },
	{ "deny alone", "  - name: freeze\n    effect: deny\n"
	  "    pipeline: \"*\"\n    roles: [x]\n", NULL, NULL, "x", NULL, D,
	  "freeze" },
	{ "first deny reported", "  - name: d1\n    effect: deny\n"
	  "    pipeline: web\n  - name: d2\n    effect: deny\n"
	  "    pipeline: api\n  - name: d3\n    effect: deny\n"
	  "    pipeline: \"*\"\n", NULL, NULL, "x", NULL, D, "d2" },
	{ "deny template", "  - name: a\n    pipeline: \"*\"\n"
	  "    roles: [ci_api]\n  - name: d\n    effect: deny\n"
	  "    pipeline: \"*\"\n    roles: [\"ci_{pipeline_slug}\"]\n", NULL,
	  NULL, "ci_api", NULL, D, "d" },
	{ "from IPv4", R_ONE("from: 10.0.0.0/8"), NULL, NULL, "x",
	  "10.1.2.3", A, "r" },
	{ "from IPv4 outside", R_ONE("from: 10.0.0.0/8"), NULL, NULL, "x",
	  "11.1.2.3", N, NULL },
	{ "from odd prefix", R_ONE("from: 192.168.0.0/23"), NULL, NULL, "x",
	  "192.168.1.255", A, "r" },
	{ "from odd prefix outside", R_ONE("from: 192.168.0.0/23"), NULL,
	  NULL, "x", "192.168.2.0", N, NULL },
	{ "from bare address", R_ONE("from: 10.1.2.3"), NULL, NULL, "x",
	  "10.1.2.3", A, "r" },
	{ "from bare address is /32", R_ONE("from: 10.1.2.3"), NULL, NULL,
	  "x", "10.1.2.4", N, NULL },
	{ "from list", R_ONE("from: [192.168.0.0/16, 10.0.0.0/8]"), NULL,
	  NULL, "x", "10.9.9.9", A, "r" },
	{ "from 0.0.0.0/0", R_ONE("from: 0.0.0.0/0"), NULL, NULL, "x",
	  "203.0.113.9", A, "r" },
	{ "from NULL rhost", R_ONE("from: 0.0.0.0/0"), NULL, NULL, "x", NULL,
	  N, NULL },
	{ "from host name rhost", R_ONE("from: 0.0.0.0/0"), NULL, NULL, "x",
	  "db.example.com", N, NULL },
	{ "from empty rhost", R_ONE("from: 0.0.0.0/0"), NULL, NULL, "x", "",
	  N, NULL },
	{ "from IPv6", R_ONE("from: \"2001:db8::/32\""), NULL, NULL, "x",
	  "2001:db8::1", A, "r" },
	{ "from IPv6 outside", R_ONE("from: \"2001:db8::/32\""), NULL, NULL,
	  "x", "2001:db9::1", N, NULL },
	{ "from IPv6 bare", R_ONE("from: \"::1\""), NULL, NULL, "x", "::1", A,
	  "r" },
	{ "IPv4 rule, IPv6 rhost", R_ONE("from: 0.0.0.0/0"), NULL, NULL, "x",
	  "2001:db8::1", N, NULL },
	{ "IPv6 rule, IPv4 rhost", R_ONE("from: \"::/0\""), NULL, NULL, "x",
	  "10.1.2.3", N, NULL },
	{ "v4-mapped rhost, IPv4 rule", R_ONE("from: 10.0.0.0/8"), NULL, NULL,
	  "x", "::ffff:10.1.2.3", A, "r" },
	{ "v4-mapped rhost outside", R_ONE("from: 10.0.0.0/8"), NULL, NULL,
	  "x", "::ffff:11.1.2.3", N, NULL },
	{ "v4-compatible is not mapped", R_ONE("from: 10.0.0.0/8"), NULL, NULL,
	  "x", "::10.1.2.3", N, NULL },
	{ "all conditions at once", "  - name: all\n    pipeline: api\n"
	  "    branch: main\n    tag: \"*\"\n    step: migrate\n"
	  "    source: webhook\n    claims:\n      build_number: \"/[0-9]+/\"\n"
	  "    from: 10.0.0.0/8\n    roles: [x]\n",
	  "{\"build_tag\": \"v1\"}", NULL, "x", "10.0.0.1", A, "all" },
	{ "empty rules", "", NULL, NULL, "x", NULL, N, NULL },
};

static json_t *
make_claims(const char *over, const char *drop)
{
	json_error_t je;
	json_t *c, *o;

	c = json_loads(base_claims, 0, &je);
	if (c == NULL) {
		diag("base claims: %s", je.text);
		exit(99);
	}
	if (over != NULL) {
		o = json_loads(over, JSON_ALLOW_NUL, &je);
		if (o == NULL) {
			diag("claims %s: %s", over, je.text);
			exit(99);
		}
		json_object_update(c, o);
		json_decref(o);
	}
	if (drop != NULL)
		json_object_del(c, drop);
	return c;
}

static const char *
verdict_name(enum pb_verdict v)
{
	return v == PB_VERDICT_ALLOW ? "allow" :
	    v == PB_VERDICT_DENIED ? "denied" : "no_rule";
}

/* What a login does: only the snapshot's rules that bear on role,
 * loaded for it, decide as the whole policy does. */
static void
check_for_role(const char *file, const json_t *claims, const char *role,
    const char *rhost, enum pb_verdict v, const char *rule, const char *what)
{
	struct pb_policy *pol = NULL;
	struct pb_decision d;
	struct pb_error err;
	int rc = -1;

	memset(&d, 0xa5, sizeof(d));
	if (pb_policy_load_for(path_of(file), role, &pol, &err) == 0)
		rc = pb_policy_decide(pol, claims, role, rhost, &d, NULL, NULL);
	if (!ok(rc == 0 && d.verdict == v && (rule == NULL ? d.rule == NULL :
	    d.rule != NULL && strcmp(d.rule, rule) == 0), "decide: %s: the "
	    "same from the rules loaded for the role", what))
		diag("rc %d, got %s by %s", rc, verdict_name(d.verdict),
		    rc == 0 && d.rule ? d.rule : "(none)");
	pb_policy_free(pol);
}

static void
check_decision(struct pb_policy *pol, const json_t *claims, const char *role,
    const char *rhost, enum pb_verdict v, const char *rule, const char *what)
{
	struct pb_decision d;
	int rc;

	memset(&d, 0xa5, sizeof(d));
	rc = pb_policy_decide(pol, claims, role, rhost, &d, NULL, NULL);
	if (!ok(rc == 0 && d.verdict == v && (rule == NULL ? d.rule == NULL :
	    d.rule != NULL && strcmp(d.rule, rule) == 0), "decide: %s", what))
		diag("rc %d, got %s by %s, want %s by %s", rc,
		    verdict_name(d.verdict), rc == 0 && d.rule ? d.rule :
		    "(none)", verdict_name(v), rule ? rule : "(none)");
	if (compiled && last_path != NULL && role != NULL)
		check_for_role(last_path, claims, role, rhost, v, rule, what);
}

static void
test_decisions(void)
{
	size_t i;

	for (i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		const struct dec_case *c = &dec_cases[i];
		char text[8192];
		struct pb_policy *pol;
		struct pb_error err;
		json_t *claims;

		snprintf(text, sizeof(text), HDR "rules:%s%s",
		    c->rules[0] ? "\n" : " []\n", c->rules);
		pol = load_text(text, &err);
		if (pol == NULL) {
			ok(0, "decide: %s (load: %s)", c->what, err.text);
			continue;
		}
		claims = make_claims(c->claims, c->drop);
		check_decision(pol, claims, c->role, c->rhost, c->verdict,
		    c->rule, c->what);
		json_decref(claims);
		pb_policy_free(pol);
	}
}

/* Values that do not fit in a table. */
static void
test_odd_values(void)
{
	struct pb_policy *pol;
	struct pb_error err;
	struct pb_decision d;
	json_t *claims;
	char *big, *pat;
	size_t n = 10 * 1024, plen;

	pol = load_text(HDR "rules:\n" R_ONE("branch: \"*\"")
	    "  - name: s\n    pipeline: \"*\"\n    branch: \"a*b\"\n"
	    "    roles: [y]\n", &err);
	if (!ok(pol != NULL, "odd values: policy loads"))
		return;
	big = malloc(n + 1);
	if (big == NULL)
		exit(99);
	memset(big, 'a', n);
	big[n - 1] = 'b';
	big[n] = '\0';
	claims = make_claims(NULL, NULL);
	json_object_set_new(claims, "build_branch", json_string(big));
	check_decision(pol, claims, "x", NULL, A, "r", "a 10 KB value and *");
	check_decision(pol, claims, "y", NULL, A, "s", "a 10 KB value and a*b");
	big[n - 1] = 'a';
	json_object_set_new(claims, "build_branch", json_string(big));
	check_decision(pol, claims, "y", NULL, N, NULL,
	    "a 10 KB value not ending in b");

	/* a NUL byte inside a claim never matches, not even "*" */
	json_object_set_new(claims, "build_branch", json_stringn("ma\0in", 5));
	check_decision(pol, claims, "x", NULL, N, NULL,
	    "a claim with a NUL byte");
	json_decref(claims);

	ok(pb_policy_decide(pol, NULL, "x", NULL, &d, NULL, NULL) == 0 &&
	    d.verdict == PB_VERDICT_NO_RULE && d.rule == NULL,
	    "NULL claims: no rule");
	claims = json_array();
	ok(pb_policy_decide(pol, claims, "x", NULL, &d, NULL, NULL) == 0 &&
	    d.verdict == PB_VERDICT_NO_RULE, "claims not an object: no rule");
	json_decref(claims);
	ok(pb_policy_decide(NULL, NULL, "x", NULL, &d, NULL, NULL) == -1 &&
	    d.verdict == PB_VERDICT_NO_RULE, "NULL policy: -1");
	pb_policy_free(pol);

	/* a glob full of stars against a long value stays fast (no
	 * exponential backtracking) */
	plen = 2 * 200;
	pat = malloc(plen + 64);
	if (pat == NULL)
		exit(99);
	{
		size_t i, o;
		char *text;

		o = 0;
		for (i = 0; i < 200; i++) {
			pat[o++] = '*';
			pat[o++] = 'a';
		}
		pat[o++] = 'c';
		pat[o] = '\0';
		text = malloc(o + 256);
		if (text == NULL)
			exit(99);
		snprintf(text, o + 256, HDR "rules:\n  - name: g\n"
		    "    pipeline: \"*\"\n    branch: \"%s\"\n"
		    "    roles: [x]\n", pat);
		pol = load_text(text, &err);
		free(text);
		claims = make_claims(NULL, NULL);
		big[n - 1] = 'b';
		json_object_set_new(claims, "build_branch", json_string(big));
		if (pol != NULL)
			check_decision(pol, claims, "x", NULL, N, NULL,
			    "many stars against 10 KB");
		else
			ok(0, "many stars: %s", err.text);
		json_decref(claims);
		pb_policy_free(pol);
	}
	free(pat);
	free(big);
}

/* ----------------------------------------------------------- undecided */

/* Conditions this login cannot decide: a deny rule applies, an allow
 * rule does not hold, and a condition that is false settles the rule
 * whatever the undecided one would be. "undecided" is what the decision
 * says could not be decided, for the audit detail. */
#define R_ALL "  - name: all\n    pipeline: \"*\"\n    roles: [x, ci_v1, other]\n"
#define R_DENY(cond) "  - name: d\n    effect: deny\n    pipeline: \"*\"\n    " \
	cond "\n"

static const struct undecided_case {
	struct dec_case c;
	const char *undecided;  /* a substring of it; "" when none */
} undecided_cases[] = {
	{ { "deny from, host name rhost", R_ALL R_DENY("from: 127.0.0.0/8"),
	  NULL, NULL, "x", "localhost", D, "d" }, "from 127.0.0.0/8: rhost "
	  "\"localhost\" is not a numeric address (pam_use_hostname?)" },
	{ { "deny from, host name rhost of a far network", R_ALL
	  R_DENY("from: [192.0.2.0/24, \"2001:db8::/32\"]"), NULL, NULL, "x",
	  "agent-7.ci.example.com", D, "d" }, "is not a numeric address" },
	{ { "deny from, no rhost", R_ALL R_DENY("from: 10.0.0.0/8"), NULL,
	  NULL, "x", NULL, D, "d" }, "from 10.0.0.0/8: no client address (a "
	  "Unix-socket connection)" },
	{ { "deny from, \"[local]\" rhost", R_ALL R_DENY("from: 10.0.0.0/8"),
	  NULL, NULL, "x", "[local]", D, "d" }, "not a numeric address" },
	{ { "deny from, zone-scoped rhost", R_ALL R_DENY("from: \"fe80::/10\""),
	  NULL, NULL, "x", "fe80::1%eth0", D, "d" }, "not a numeric address" },
	{ { "deny from, numeric rhost outside", R_ALL
	  R_DENY("from: 127.0.0.0/8"), NULL, NULL, "x", "10.1.2.3", A,
	  "all" }, "" },
	{ { "deny from, host name, a condition false", R_ALL
	  "  - name: d\n    effect: deny\n    pipeline: web\n"
	  "    from: 127.0.0.0/8\n", NULL, NULL, "x", "localhost", A, "all" },
	  "" },
	{ { "deny from, host name, role not covered", R_ALL
	  R_DENY("from: 127.0.0.0/8\n    roles: [admin]"), NULL, NULL, "x",
	  "localhost", A, "all" }, "" },
	{ { "allow from, host name rhost", R_ONE("from: 127.0.0.0/8"), NULL,
	  NULL, "x", "localhost", N, NULL }, "rule \"r\": from 127.0.0.0/8: "
	  "rhost \"localhost\" is not a numeric address" },
	{ { "deny of an absent claim", R_ALL R_DENY("tag: \"v*\""), NULL,
	  "build_tag", "x", NULL, D, "d" }, "build_tag is absent" },
	{ { "deny of an absent claim, exclusion", R_ALL
	  R_DENY("source: \"!webhook\""), NULL, "build_source", "x", NULL, D,
	  "d" }, "build_source is absent" },
	{ { "deny of an absent optional claim", R_ALL
	  R_DENY("claims: {cluster_name: \"!trusted\"}"), NULL, NULL, "x",
	  NULL, D, "d" }, "cluster_name is absent" },
	{ { "deny of a present optional claim", R_ALL
	  R_DENY("claims: {cluster_name: \"!trusted\"}"),
	  "{\"cluster_name\": \"trusted\"}", NULL, "x", NULL, A, "all" }, "" },
	{ { "deny of a claim of another type", R_ALL
	  R_DENY("claims: {build_number: \"4*\"}"), "{\"build_number\": 42.5}",
	  NULL, "x", NULL, D, "d" }, "build_number is not a string or an "
	  "integer" },
	{ { "deny of a list claim", R_ALL
	  R_DENY("claims: {\"agent_tag:queue\": deploy}"),
	  "{\"agent_tag:queue\": [\"deploy\"]}", NULL, "x", NULL, D, "d" },
	  "agent_tag:queue is not a string or an integer" },
	{ { "deny of a boolean claim", R_ALL R_DENY("source: \"!webhook\""),
	  "{\"build_source\": true}", NULL, "x", NULL, D, "d" },
	  "build_source is not a string or an integer" },
	{ { "deny of a claim holding NUL", R_ALL R_DENY("branch: \"!main\""),
	  "{\"build_branch\": \"main\\u0000x\"}", NULL, "x", NULL, D, "d" },
	  "build_branch is a string holding a NUL byte" },
	{ { "deny of an absent claim, a condition false", R_ALL
	  "  - name: d\n    effect: deny\n    pipeline: web\n"
	  "    tag: \"*\"\n", NULL, "build_tag", "x", NULL, A, "all" }, "" },
	{ { "deny of a null claim, a pattern needing a value", R_ALL
	  R_DENY("tag: \"*\""), "{\"build_tag\": null}", NULL, "x", NULL, A,
	  "all" }, "" },
	{ { "deny of a null claim, exclusions only", R_ALL
	  R_DENY("step: \"!migrate\""), "{\"step_key\": null}", NULL, "x",
	  NULL, D, "d" }, "" },
	{ { "allow of a null claim, exclusions only", R_ONE("step: \"!deploy\""),
	  "{\"step_key\": null}", NULL, "x", NULL, N, NULL }, "" },
	{ { "allow of an absent claim", R_ONE("tag: \"*\""), NULL, "build_tag",
	  "x", NULL, N, NULL }, "rule \"r\": build_tag is absent" },
	{ { "deny template, absent claim, role it may give", R_ALL
	  R_DENY("roles: [\"ci_{build_tag}\"]"), NULL, "build_tag", "ci_v1",
	  NULL, D, "d" }, "role template {build_tag}: build_tag is absent" },
	{ { "deny template, absent claim, role it cannot give", R_ALL
	  R_DENY("roles: [\"ci_{build_tag}\"]"), NULL, "build_tag", "other",
	  NULL, A, "all" }, "" },
	{ { "deny template, absent claim, literal after it", R_ALL
	  R_DENY("roles: [\"{build_tag}_rw\"]"), NULL, "build_tag", "ci_v1",
	  NULL, A, "all" }, "" },
	{ { "deny template, null claim", R_ALL
	  R_DENY("roles: [\"ci_{build_tag}\"]"), "{\"build_tag\": null}",
	  NULL, "ci_v1", NULL, A, "all" }, "" },
	{ { "deny template, a listed role settles it", R_ALL
	  R_DENY("roles: [\"ci_{build_tag}\", x]"), NULL, "build_tag", "x",
	  NULL, D, "d" }, "" },
	{ { "mapped rule, IPv4 rhost", R_ONE("from: \"::ffff:127.0.0.0/104\""),
	  NULL, NULL, "x", "127.0.0.1", A, "r" }, "" },
	{ { "mapped rule, mapped rhost", R_ONE("from: \"::ffff:127.0.0.0/104\""),
	  NULL, NULL, "x", "::ffff:127.0.0.1", A, "r" }, "" },
	{ { "mapped rule, IPv4 rhost outside",
	  R_ONE("from: \"::ffff:127.0.0.0/104\""), NULL, NULL, "x",
	  "128.0.0.1", N, NULL }, "" },
	{ { "mapped deny rule, IPv4 rhost", R_ALL
	  R_DENY("from: \"::ffff:127.0.0.0/104\""), NULL, NULL, "x",
	  "127.0.0.1", D, "d" }, "" },
	{ { "mapped host rule, IPv4 rhost", R_ALL
	  R_DENY("from: \"::ffff:10.1.2.3\""), NULL, NULL, "x", "10.1.2.3", D,
	  "d" }, "" },
	{ { "mapped /96 rule holds every IPv4 client", R_ALL
	  R_DENY("from: \"::ffff:0.0.0.0/96\""), NULL, NULL, "x",
	  "203.0.113.9", D, "d" }, "" },
	{ { "IPv4 deny rule, mapped rhost", R_ALL R_DENY("from: 127.0.0.0/8"),
	  NULL, NULL, "x", "::ffff:127.0.0.1", D, "d" }, "" },
	{ { "IPv6 rule, mapped rhost is IPv4", R_ONE("from: \"::/0\""), NULL,
	  NULL, "x", "::ffff:10.1.2.3", N, NULL }, "" },
	{ { "IPv6 rule, IPv6 rhost", R_ONE("from: \"::/0\""), NULL, NULL, "x",
	  "2001:db8::1", A, "r" }, "" },
};

static void
test_undecided(void)
{
	size_t i;

	for (i = 0; i < sizeof(undecided_cases) /
	    sizeof(undecided_cases[0]); i++) {
		const struct undecided_case *u = &undecided_cases[i];
		const struct dec_case *c = &u->c;
		char text[8192];
		struct pb_policy *pol;
		struct pb_decision d;
		struct pb_error err;
		json_t *claims;
		bool good;

		snprintf(text, sizeof(text), HDR "rules:\n%s", c->rules);
		pol = load_text(text, &err);
		if (!ok(pol != NULL, "undecided: %s: loads", c->what)) {
			diag("%s", err.text);
			continue;
		}
		claims = make_claims(c->claims, c->drop);
		check_decision(pol, claims, c->role, c->rhost, c->verdict,
		    c->rule, c->what);
		memset(&d, 0, sizeof(d));
		good = pb_policy_decide(pol, claims, c->role, c->rhost, &d,
		    NULL, NULL) == 0 && (u->undecided[0] == '\0' ?
		    d.undecided[0] == '\0' :
		    strstr(d.undecided, u->undecided) != NULL);
		if (!ok(good, "undecided: %s: says %s", c->what,
		    u->undecided[0] ? "what could not be decided" :
		    "nothing undecided"))
			diag("got \"%s\", want \"%s\"", d.undecided,
			    u->undecided);
		json_decref(claims);
		pb_policy_free(pol);
	}
}

/* --------------------------------------------------------------- trace */

struct trace_log {
	int calls;
	char names[8][64];
	bool matched[8];
	char why[8][512];
};

static void
trace_cb(void *ctx, const char *rule, bool matched, const char *why)
{
	struct trace_log *t = ctx;

	if (t->calls < 8) {
		snprintf(t->names[t->calls], sizeof(t->names[0]), "%s", rule);
		t->matched[t->calls] = matched;
		snprintf(t->why[t->calls], sizeof(t->why[0]), "%s", why);
	}
	t->calls++;
}

static void
test_trace(void)
{
	static const char *const want[] = {
		"branch \"feature/x\" does not match \"main\"",
		"step_key is null",
		"rhost 10.1.2.3 is not in 192.168.0.0/16",
		"all conditions hold; lists role \"api_migrator\"",
		"all conditions hold but the rule does not list role "
		    "\"api_migrator\"",
		"all conditions hold; lists role \"api_migrator\" (from "
		    "\"{pipeline_slug}_migrator\")",
		"build_tag is null",
		"all conditions hold; denies every role",
	};
	static const bool want_matched[] = {
		false, false, false, true, false, true, false, true,
	};
	struct trace_log t;
	struct pb_policy *pol;
	struct pb_error err;
	struct pb_decision d;
	json_t *claims;
	int i, rc;

	pol = load_text(HDR "rules:\n"
	    "  - name: main only\n    pipeline: api\n    branch: main\n"
	    "    roles: [api_migrator]\n"
	    "  - name: steps\n    pipeline: api\n    step: \"*\"\n"
	    "    roles: [api_migrator]\n"
	    "  - name: office\n    pipeline: api\n    from: 192.168.0.0/16\n"
	    "    roles: [api_migrator]\n"
	    "  - name: features\n    pipeline: api\n    branch: feature/*\n"
	    "    roles: [api_migrator]\n"
	    "  - name: readers\n    pipeline: \"*\"\n    roles: [reader]\n"
	    "  - name: template\n    pipeline: \"*\"\n"
	    "    roles: [\"{pipeline_slug}_migrator\"]\n"
	    "  - name: tagged\n    effect: deny\n    pipeline: \"*\"\n"
	    "    tag: \"*\"\n"
	    "  - name: freeze\n    effect: deny\n    pipeline: web\n"
	    "    branch: \"!main\"\n    claims: {build_number: \"/4[0-9]/\"}\n",
	    &err);
	if (!ok(pol != NULL, "trace: policy loads")) {
		diag("%s", err.text);
		return;
	}
	/* build_tag null: Buildkite's "no tag", decided (absent, the deny
	 * rule "tagged" could not be decided and would apply) */
	claims = make_claims("{\"build_branch\": \"feature/x\", "
	    "\"step_key\": null, \"build_tag\": null}", NULL);
	memset(&t, 0, sizeof(t));
	rc = pb_policy_decide(pol, claims, "api_migrator", "10.1.2.3", &d,
	    trace_cb, &t);
	ok(rc == 0 && d.verdict == PB_VERDICT_ALLOW &&
	    strcmp(d.rule, "features") == 0, "trace: decision unchanged");
	ok_eq(t.calls, 8, "trace: called once per rule (%d)", t.calls);
	for (i = 0; i < 7 && i < t.calls; i++) {
		if (!ok(strcmp(t.why[i], want[i]) == 0 &&
		    t.matched[i] == want_matched[i], "trace: rule %d (%s)", i,
		    t.names[i]))
			diag("why \"%s\" matched %d", t.why[i], t.matched[i]);
	}
	ok(strcmp(t.names[0], "main only") == 0 &&
	    strcmp(t.names[7], "freeze") == 0, "trace: rules in file order");
	ok(strcmp(t.why[7], "pipeline \"api\" does not match \"web\"") == 0 &&
	    !t.matched[7], "trace: pipeline mismatch");
	json_decref(claims);

	/* the same policy deciding for a tagged web build */
	claims = make_claims("{\"pipeline_slug\": \"web\", \"build_branch\": "
	    "\"dev\", \"build_tag\": \"v1\"}", NULL);
	memset(&t, 0, sizeof(t));
	rc = pb_policy_decide(pol, claims, "reader", NULL, &d, trace_cb, &t);
	ok(rc == 0 && d.verdict == PB_VERDICT_DENIED &&
	    strcmp(d.rule, "tagged") == 0, "trace: first deny decides");
	ok(t.calls == 8 && t.matched[4] && t.matched[6] && t.matched[7],
	    "trace: every rule reported after a deny");
	ok(strcmp(t.why[2], "pipeline \"web\" does not match \"api\"") == 0,
	    "trace: pipeline mismatch before from");
	ok(strcmp(t.why[7], want[7]) == 0, "trace: deny of every role");
	json_decref(claims);

	claims = make_claims("{\"build_branch\": \"main\", "
	    "\"build_number\": 42.5}", NULL);
	memset(&t, 0, sizeof(t));
	pb_policy_decide(pol, claims, "x", "db.example.com", &d, trace_cb, &t);
	ok(strcmp(t.why[2], "from 192.168.0.0/16: rhost \"db.example.com\" "
	    "is not a numeric address (pam_use_hostname?), and the rule does "
	    "not list role \"x\"") == 0 && !t.matched[2],
	    "trace: non-numeric rhost, and a role not listed");
	ok(strcmp(t.why[0], "all conditions hold but the rule does not list "
	    "role \"x\"") == 0, "trace: role not listed");
	json_decref(claims);

	claims = make_claims("{\"pipeline_slug\": \"web\", \"build_branch\": "
	    "\"dev\\n\\\"x\\\"\", \"build_number\": 42.5}", NULL);
	memset(&t, 0, sizeof(t));
	pb_policy_decide(pol, claims, "x", NULL, &d, trace_cb, &t);
	ok(strcmp(t.why[7], "applies: build_number is not a string or an "
	    "integer, so it cannot be decided (a deny rule that cannot be "
	    "evaluated denies)") == 0 && t.matched[7],
	    "trace: wrong type: a deny rule cannot be decided and applies");
	ok(strcmp(t.why[3], "pipeline \"web\" does not match \"api\"") == 0,
	    "trace: first failing condition named");
	json_decref(claims);
	claims = make_claims("{\"build_branch\": \"dev\\n\\\"x\\\"\"}", NULL);
	memset(&t, 0, sizeof(t));
	pb_policy_decide(pol, claims, "x", NULL, &d, trace_cb, &t);
	ok(strcmp(t.why[0], "branch \"dev\\n\\\"x\\\"\" does not match "
	    "\"main\"") == 0, "trace: values are escaped");
	ok(strcmp(t.why[2], "from 192.168.0.0/16: no client address (a "
	    "Unix-socket connection), and the rule does not list role \"x\"")
	    == 0, "trace: no rhost");
	json_decref(claims);
	pb_policy_free(pol);
}

/* ------------------------------------------------------------ includes */

static void
test_includes(void)
{
	struct pb_policy *pol;
	struct pb_error err;
	json_t *claims;
	char inc[PATH_MAX * 3];

	mkdir(path_of("conf.d"), 0755);
	write_str("conf.d/10-a.yaml", "rules:\n  - name: a1\n"
	    "    pipeline: api\n    roles: [x, y]\n");
	write_str("conf.d/20-b.yaml", "# more rules\nrules:\n"
	    "  - name: b1\n    pipeline: \"*\"\n    roles: [x, z]\n"
	    "  - name: b2\n    effect: deny\n    pipeline: web\n");
	write_str("conf.d/30-empty.yaml", "# nothing here yet\n");
	write_str("conf.d/ignored.txt", "not yaml: [\n");

	pol = load_text(HDR "include: conf.d/*.yaml\nrules:\n"
	    "  - name: main\n    pipeline: \"*\"\n    roles: [m]\n", &err);
	if (!ok(pol != NULL, "include: loads"))
		diag("%s", err.text);
	if (pol != NULL) {
		claims = make_claims(NULL, NULL);
		check_decision(pol, claims, "m", NULL, A, "main",
		    "include: main file rule");
		check_decision(pol, claims, "x", NULL, A, "a1",
		    "include: first included file comes first");
		check_decision(pol, claims, "z", NULL, A, "b1",
		    "include: second included file");
		json_object_set_new(claims, "pipeline_slug", json_string("web"));
		check_decision(pol, claims, "x", NULL, D, "b2",
		    "include: deny from an included file");
		json_decref(claims);
		pb_policy_free(pol);
	}

	/* an absolute pattern too */
	snprintf(inc, sizeof(inc), HDR "include: %s/conf.d/1*.yaml\n", tmpdir);
	pol = load_text(inc, &err);
	ok(pol != NULL, "include: absolute pattern");
	pb_policy_free(pol);

	/* an included file may hold only rules */
	write_str("conf.d/15-bad.yaml", "rules: []\nversion: 1\n");
	pol = load_text(HDR "include: conf.d/*.yaml\n", &err);
	ok(pol == NULL, "include: non-rules key refused");
	expect_error_in("conf.d/15-bad.yaml", "2:1", "unknown key \"version\" "
	    "in an included file (it may hold only rules)",
	    "include: error names the included file", &err);
	unlink(path_of("conf.d/15-bad.yaml"));

	write_str("conf.d/15-bad.yaml", "rules:\n  - name: q\n"
	    "    pipeline: api\n    roles: []\n");
	pol = load_text(HDR "include: conf.d/*.yaml\n", &err);
	expect_error_in("conf.d/15-bad.yaml", "4:12", "roles must not be an "
	    "empty list", "include: rule errors name the included file", &err);
	unlink(path_of("conf.d/15-bad.yaml"));

	write_str("conf.d/15-bad.yaml", "- name: q\n");
	pol = load_text(HDR "include: conf.d/*.yaml\n", &err);
	expect_error_in("conf.d/15-bad.yaml", "1:1", "an included file must "
	    "be a mapping", "include: a bare list", &err);
	unlink(path_of("conf.d/15-bad.yaml"));

	/* rule names are unique across files */
	write_str("conf.d/15-dup.yaml", "rules:\n  - name: b1\n"
	    "    pipeline: api\n    roles: [x]\n");
	pol = load_text(HDR "include: conf.d/*.yaml\n", &err);
	ok(pol == NULL, "include: duplicate name across files refused");
	{
		char want[PATH_MAX * 3];

		snprintf(want, sizeof(want), "(first defined at %s:2:11)",
		    path_of("conf.d/15-dup.yaml"));
		expect_error_in("conf.d/20-b.yaml", "3:11",
		    "duplicate rule name \"b1\"", "include: duplicate is "
		    "reported at the later file", &err);
		ok(strstr(err.text, want) != NULL,
		    "include: duplicate names the earlier file");
	}
	unlink(path_of("conf.d/15-dup.yaml"));

	write_str("conf.d/05-dup.yaml", "rules:\n  - name: main\n"
	    "    pipeline: api\n    roles: [x]\n");
	pol = load_text(HDR "include: conf.d/*.yaml\nrules:\n"
	    "  - name: main\n    pipeline: \"*\"\n    roles: [m]\n", &err);
	{
		char want[PATH_MAX * 3];

		snprintf(want, sizeof(want), "(first defined at %s:7:11)",
		    path_of("p.yaml"));
		expect_error_in("conf.d/05-dup.yaml", "2:11",
		    "duplicate rule name \"main\"", "include: duplicate of a "
		    "main-file rule", &err);
		ok(strstr(err.text, want) != NULL,
		    "include: duplicate says where the first was");
	}
	unlink(path_of("conf.d/05-dup.yaml"));

	/* an unreadable match */
	mkdir(path_of("conf.d/40-dir.yaml"), 0755);
	pol = load_text(HDR "include: conf.d/*.yaml\n", &err);
	ok(pol == NULL && strstr(err.text, "40-dir.yaml: not a regular file "
	    "(included from ") != NULL && strstr(err.text, "p.yaml:5:10)") !=
	    NULL, "include: a directory match is an error");
	rmdir(path_of("conf.d/40-dir.yaml"));

	pol = load_text(HDR "include: conf.d/*.yml\n", &err);
	expect_error("" HDR "include: conf.d/*.yml\n", "5:10",
	    "matches no file", "include: pattern matching nothing");
	pb_policy_free(pol);

	/* an unreadable included file */
	write_str("conf.d/50-secret.yaml", "rules: []\n");
	chmod(path_of("conf.d/50-secret.yaml"), 0);
	/* root reads everything: check as nobody then, for this load only. */
	write_str("p.yaml", HDR "include: conf.d/*.yaml\n");
	if (geteuid() == 0) {
		chmod(tmpdir, 0755);
		chmod(path_of("conf.d"), 0755);
		if (seteuid(65534) != 0)
			diag("seteuid: %s", strerror(errno));
	}
	pol = NULL;
	if (pb_policy_load(path_of("p.yaml"), &pol, &err) != 0)
		pol = NULL;
	if (getuid() == 0 && seteuid(0) != 0)
		diag("seteuid back: %s", strerror(errno));
	ok(pol == NULL && strstr(err.text, "50-secret.yaml: cannot "
	    "open: Permission denied (included from ") != NULL,
	    "include: an unreadable file is an error");
	pb_policy_free(pol);
	unlink(path_of("conf.d/50-secret.yaml"));

	/* rules only: the included file cannot carry settings */
	write_str("conf.d/15-bad.yaml", "token:\n  audience: evil\n");
	pol = load_text(HDR "include: conf.d/*.yaml\n", &err);
	expect_error_in("conf.d/15-bad.yaml", "1:1", "unknown key \"token\"",
	    "include: settings in an included file refused", &err);
	unlink(path_of("conf.d/15-bad.yaml"));
}

/* The caps on included files and on rules. */
static void
test_caps(void)
{
	struct pb_policy *pol;
	struct pb_error err;
	char name[64], *buf;
	size_t i, f, o;

	mkdir(path_of("many"), 0755);
	for (i = 0; i < 1001; i++) {
		snprintf(name, sizeof(name), "many/%04zu.yaml", i);
		write_str(name, "rules: []\n");
	}
	pol = load_text(HDR "include: many/*.yaml\n", &err);
	expect_error_in("p.yaml", "5:10", "matches more than 1000 files",
	    "at most 1000 included files", &err);
	pb_policy_free(pol);
	unlink(path_of("many/1000.yaml"));
	pol = load_text(HDR "include: many/*.yaml\n", &err);
	ok(pol != NULL, "1000 included files load");
	pb_policy_free(pol);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "many/%04zu.yaml", i);
		unlink(path_of(name));
	}

	/* 100000 rules load; one more does not */
	buf = malloc(50001 * 64 + 16);
	if (buf == NULL)
		exit(99);
	for (f = 0; f < 2; f++) {
		o = (size_t)snprintf(buf, 16, "rules:\n");
		for (i = 0; i < 50000; i++)
			o += (size_t)snprintf(buf + o, 64, "- {name: r%zu_%zu, "
			    "pipeline: a, roles: [x]}\n", f, i);
		snprintf(name, sizeof(name), "many/%zu.yaml", f);
		write_file(name, buf, o);
	}
	pol = load_text(HDR "include: many/*.yaml\n", &err);
	if (!ok(pol != NULL, "100000 rules load"))
		diag("%s", err.text);
	pb_policy_free(pol);
	o += (size_t)snprintf(buf + o, 64, "- {name: extra, pipeline: a, "
	    "roles: [x]}\n");
	write_file("many/1.yaml", buf, o);
	pol = load_text(HDR "include: many/*.yaml\n", &err);
	expect_error_in("many/1.yaml", "50002:3", "too many rules (at most "
	    "100000)", "at most 100000 rules", &err);
	pb_policy_free(pol);
	free(buf);
}

/* ----------------------------------------------------------- snapshot */

static int
state(const char *what, int want)
{
	char msg[1024] = "";
	int rc = pb_policy_snapshot_state(path_of("s.yaml"), msg, sizeof(msg));

	if (!ok_eq(rc, want, "snapshot: %s", what))
		diag("state %d (%s), want %d", rc, msg, want);
	else if (getenv("TEST_POLICY_VERBOSE") != NULL)
		diag("%s", msg);
	return rc;
}

/* Loads s.yaml (however pb_policy_load chooses) and asks for role x. */
static void
expect_s(const char *role, enum pb_verdict v, const char *rule,
    const char *what)
{
	struct pb_policy *pol = NULL;
	struct pb_error err;
	json_t *claims = make_claims(NULL, NULL);

	if (!ok(pb_policy_load(path_of("s.yaml"), &pol, &err) == 0,
	    "snapshot: %s: loads", what))
		diag("%s", err.text);
	else {
		last_path = NULL;
		check_decision(pol, claims, role, NULL, v, rule, what);
		check_for_role("s.yaml", claims, role, NULL, v, rule, what);
	}
	pb_policy_free(pol);
	json_decref(claims);
}

static void
compile_s(const char *what)
{
	char msg[1024];

	if (!ok(pb_policy_compile(path_of("s.yaml"), msg, sizeof(msg)) == 0,
	    "snapshot: compile %s", what))
		diag("%s", msg);
}

/* Replaces every from by to (as long) in the snapshot. */
static bool
patch_snapshot(const char *from, const char *to)
{
	char *p = path_of("s.yaml" PB_SNAPSHOT_SUFFIX), buf[65536], *hit;
	size_t n;
	bool patched = false;
	FILE *f = fopen(p, "r+");

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf), f);
	for (hit = buf; (hit = memmem(hit, n - (size_t)(hit - buf), from,
	    strlen(from))) != NULL; hit += strlen(to)) {
		memcpy(hit, to, strlen(to));
		patched = true;
	}
	rewind(f);
	return fwrite(buf, 1, n, f) == n && fclose(f) == 0 && patched;
}

/* A login loads only the rules that could cover its role: those that
 * list it, deny rules that list no role, and rules with a template role;
 * the trace, called once per rule loaded, counts them. */
static void
for_role_traces(const char *role, int want, const char *rule)
{
	bool snap = want < 5;
	struct pb_policy *pol = NULL;
	struct pb_decision d;
	struct pb_error err;
	struct trace_log t;
	json_t *claims = make_claims(NULL, NULL);
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if (pb_policy_load_for(path_of("r.yaml"), role, &pol, &err) == 0)
		rc = pb_policy_decide(pol, claims, role, NULL, &d, trace_cb,
		    &t);
	if (!ok(rc == 0 && t.calls == want && (rule == NULL ?
	    d.rule == NULL : d.rule != NULL && strcmp(d.rule, rule) == 0),
	    "snapshot: for role %s, %d rules loaded and %s decides", role,
	    want, rule ? rule : "none"))
		diag("rc %d, %d rules, rule %s", rc, t.calls,
		    rc == 0 && d.rule ? d.rule : "(none)");
	/* from the YAML every rule is loaded, good for any role */
	rc = pol != NULL ? pb_policy_decide(pol, claims, "other", NULL, &d,
	    NULL, NULL) : 1;
	ok(snap ? rc == -1 && strstr(d.error, "another role") != NULL :
	    rc == 0, "snapshot: loaded for %s, %s another role", role,
	    snap ? "no decision for" : "from the YAML, decides for");
	pb_policy_free(pol);
	json_decref(claims);
}

static void
test_snapshot_for_role(void)
{
	char msg[1024];

	write_str("r.yaml", HDR "rules:\n"
	    "  - name: a\n    pipeline: api\n    roles: [ra]\n"
	    "  - name: b\n    pipeline: api\n    roles: [rb]\n"
	    "  - name: no deploys\n    effect: deny\n    pipeline: web\n"
	    "  - name: tmpl\n    pipeline: api\n    step: nope\n"
	    "    roles: [\"ci_{pipeline_slug}\"]\n"
	    "  - name: a and c\n    pipeline: \"*\"\n    roles: [rc, ra]\n");
	if (!ok(pb_policy_compile(path_of("r.yaml"), msg, sizeof(msg)) == 0,
	    "snapshot: compile five rules"))
		diag("%s", msg);
	for_role_traces("ra", 4, "a");
	for_role_traces("rb", 3, "b");
	for_role_traces("rc", 3, "a and c");
	for_role_traces("ci_api", 2, NULL);
	for_role_traces("nobody", 2, NULL);
	unlink(path_of("r.yaml" PB_SNAPSHOT_SUFFIX));
	for_role_traces("rb", 5, "b");      /* no snapshot: the YAML's 5 */
}

static void
test_snapshot(void)
{
	static const char base[] = HDR "include: s.d/*.yaml\nrules:\n"
	    "  - name: main\n    pipeline: api\n"
	    "    branch: /ma[a-z]n/\n    roles: [x]\n";
	char snap[PATH_MAX * 2], msg[1024] = "";
	struct pb_policy *pol = NULL;
	struct pb_error err;
	json_t *claims;
	struct pb_decision d;
	struct stat st;

	snprintf(snap, sizeof(snap), "%s", path_of("s.yaml"
	    PB_SNAPSHOT_SUFFIX));
	mkdir(path_of("s.d"), 0755);
	write_str("s.d/a.yaml", "rules:\n  - name: inc\n    pipeline: api\n"
	    "    roles: [y]\n");
	write_str("s.yaml", base);
	state("none before compiling", 1);
	compile_s("a policy with an include");
	ok(stat(snap, &st) == 0 && (st.st_mode & 07777) == 0644 &&
	    st.st_uid == geteuid(), "snapshot: written 0644, owned by who "
	    "compiled it");
	state("used when nothing changed", 0);
	expect_s("x", PB_VERDICT_ALLOW, "main", "main file's rule");
	expect_s("y", PB_VERDICT_ALLOW, "inc", "included rule");

	/* any change to the files: the YAML decides, at once */
	write_str("s.yaml", HDR "include: s.d/*.yaml\nrules: []\n");
	state("stale once the policy changes", -1);
	expect_s("x", PB_VERDICT_NO_RULE, NULL, "the changed policy decides");
	write_str("s.yaml", base);
	state("used again once the bytes are the same", 0);
	write_str("s.d/a.yaml", "rules:\n  - name: inc\n    pipeline: web\n"
	    "    roles: [y]\n");
	state("stale once an included file changes", -1);
	expect_s("y", PB_VERDICT_NO_RULE, NULL, "the changed include decides");
	compile_s("again");
	write_str("s.d/b.yaml", "rules:\n  - name: new\n    pipeline: api\n"
	    "    roles: [z]\n");
	state("stale once the include matches one more file", -1);
	expect_s("z", PB_VERDICT_ALLOW, "new", "the new file's rule counts");
	unlink(path_of("s.d/b.yaml"));
	state("used again once that file is gone", 0);
	chmod(path_of("s.d/a.yaml"), 0666);
	state("an include anyone may write: not used", -1);
	ok(pb_policy_load(path_of("s.yaml"), &pol, &err) != 0 &&
	    strstr(err.text, "a.yaml: group- or world-writable (mode 0666)") != NULL,
	    "snapshot: ...and the load refuses it as the YAML load does");
	pb_policy_free(pol);
	pol = NULL;
	chmod(path_of("s.d/a.yaml"), 0644);

	/* who may write it */
	chmod(snap, 0664);
	state("group-writable: ignored", -1);
	chmod(snap, 0644);
	state("0644 again: used", 0);
	if (geteuid() == 0) {
		ok(chown(snap, 65534, 65534) == 0, "snapshot: chown nobody");
		state("owned by another user than the policy: ignored", -1);
		ok(chown(snap, 0, 0) == 0, "snapshot: chown root");
	} else {
		ok(1, "# SKIP not root: cannot give the snapshot away");
		ok(1, "# SKIP not root");
		ok(1, "# SKIP not root");
	}
	unlink(path_of("s2.yaml"));
	ok(link(snap, path_of("s2.yaml" PB_SNAPSHOT_SUFFIX)) == 0 &&
	    pb_policy_snapshot_state(path_of("s2.yaml"), msg, sizeof(msg)) ==
	    -1, "snapshot: another policy's snapshot is refused (%s)", msg);
	unlink(path_of("s2.yaml" PB_SNAPSHOT_SUFFIX));
	ok(pb_policy_compile("s.yaml", msg, sizeof(msg)) != 0 &&
	    strstr(msg, "absolute") != NULL, "snapshot: a relative path is "
	    "not compiled (%s)", msg);
	ok(pb_policy_compile(path_of("missing.yaml"), msg, sizeof(msg)) != 0,
	    "snapshot: a policy that does not load is not compiled");

	test_snapshot_for_role();

	/* damaged: the YAML decides, the load never fails */
	ok(truncate(snap, 200) == 0, "snapshot: cut short");
	state("cut short: ignored", -1);
	expect_s("x", PB_VERDICT_ALLOW, "main", "cut short: parsed instead");
	compile_s("once more");
	ok(patch_snapshot("main", "MAIN"), "snapshot: a rule renamed in it");
	expect_s("x", PB_VERDICT_ALLOW, "MAIN", "what it holds is what the "
	    "module uses (it is trusted as the policy is)");
	compile_s("and once more");
	/* a regex glibc refuses, which only a forged snapshot can hold:
	 * compiled when used, the decision fails closed */
	ok(patch_snapshot("ma[a-z]n", "ma[z-a]n"), "snapshot: a regex broken "
	    "in it");
	ok(pb_policy_load(path_of("s.yaml"), &pol, &err) == 0,
	    "snapshot: loads with the broken regex (compiled when used)");
	claims = make_claims(NULL, NULL);
	ok(pol != NULL && pb_policy_decide(pol, claims, "x", NULL, &d, NULL,
	    NULL) == -1 && strstr(d.error, "invalid regex") != NULL,
	    "snapshot: the decision fails closed (%s)", d.error);
	json_decref(claims);
	pb_policy_free(pol);
	unlink(snap);
	state("none once removed", 1);
}

/* ----------------------------------------------------------------- main */

/* session.lifetime and a rule's session_lifetime: the allow decision
 * carries the rule's, else the policy's (from YAML and, under
 * TEST_POLICY_COMPILED, from the snapshot). */
static void
test_session_lifetime(void)
{
	static const struct {
		const char *session, *rule, *want;
	} cases[] = {
		{ "", "", "unlimited" },
		{ "session:\n  lifetime: token\n", "", "token" },
		{ "session:\n  lifetime: 15m\n", "", "900s" },
		{ "session:\n  lifetime: unlimited\n", "", "unlimited" },
		{ "session:\n  lifetime: token\n",
		  "    session_lifetime: 5s\n", "5s" },
		{ "session:\n  lifetime: 1h\n",
		  "    session_lifetime: unlimited\n", "unlimited" },
		{ "", "    session_lifetime: 30d\n", "2592000s" },
	};
	struct pb_decision d;
	struct pb_error err;
	char text[1024], life[32];
	json_t *claims = make_claims(NULL, NULL);
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pb_policy *pol;

		snprintf(text, sizeof(text), HDR "%srules:\n  - name: r\n"
		    "    pipeline: \"*\"\n    roles: [ci]\n%s", cases[i].session,
		    cases[i].rule);
		pol = load_text(text, &err);
		if (!ok(pol != NULL, "session %zu: loads", i)) {
			diag("%s", err.text);
			continue;
		}
		ok(pb_policy_decide(pol, claims, "ci", NULL, &d, NULL,
		    NULL) == 0 && d.verdict == PB_VERDICT_ALLOW,
		    "session %zu: allowed", i);
		ok_str(pb_lifetime_text(d.session_lifetime, life,
		    sizeof(life)), cases[i].want, "session %zu: lifetime", i);
		ok(pb_policy_decide(pol, claims, "other", NULL, &d, NULL,
		    NULL) == 0 && d.verdict == PB_VERDICT_NO_RULE &&
		    d.session_lifetime == PB_LIFETIME_UNLIMITED,
		    "session %zu: no lifetime without an allow", i);
		pb_policy_free(pol);
	}
	json_decref(claims);
}

int
main(void)
{
	const char *base = getenv("TMPDIR");
	char cmd[PATH_MAX * 2 + 32];

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_policy.XXXXXX",
	    base && base[0] ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 99;
	}
	compiled = getenv("TEST_POLICY_COMPILED") != NULL;
	test_defaults();
	test_settings();
	test_errors();
	test_limits();
	test_decisions();
	test_odd_values();
	test_undecided();
	test_trace();
	test_includes();
	test_caps();
	test_snapshot();
	test_session_lifetime();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpdir);
	return done_testing();
}
