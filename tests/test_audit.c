/*
 * test_audit.c - the audit event's fields, quoting and escaping.
 *
 * A claim is chosen by whoever starts a build: these checks make sure no
 * value can end the line, add a field or forge a second event, in logfmt
 * and in JSON.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "tap.h"

static json_t *
claims_with(const char *name, json_t *value)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:n, s:I, s:s, s:s, s:s, "
	    "s:s, s:s}",
	    "organization_slug", "acme-inc", "pipeline_slug", "api",
	    "build_branch", "main", "step_key", "migrate", "build_tag",
	    "build_number", (json_int_t)42, "job_id", "j-1", "agent_id", "a-1",
	    "build_source", "ui", "sub", "organization:acme-inc:pipeline:api",
	    "jti", "t-1");

	if (name != NULL)
		json_object_set_new(c, name, value);
	return c;
}

static char *
fmt(enum pb_reason reason, const json_t *claims, const char *role,
    const char *rule, enum pb_audit_format format)
{
	struct pb_audit_event ev = {
		.reason = reason, .role = role, .service = "postgresql",
		.rhost = "10.0.0.7", .claims = claims, .kid = "k1",
		.rule = rule, .detail = reason == PB_OK ? NULL : "why",
	};

	return pb_audit_format(&ev, format);
}

static void
test_logfmt_fields(void)
{
	json_t *c = claims_with(NULL, NULL);
	char *s = fmt(PB_OK, c, "api_migrator", "api migrations from main",
	    PB_AUDIT_LOGFMT);

	ok(s != NULL && strcmp(s, "result=allow reason=ok role=api_migrator "
	    "service=postgresql rhost=10.0.0.7 org=acme-inc pipeline=api "
	    "branch=main tag=null step=migrate build=42 job=j-1 agent=a-1 "
	    "source=ui "
	    "sub=organization:acme-inc:pipeline:api jti=t-1 kid=k1 "
	    "rule=\"api migrations from main\"") == 0,
	    "logfmt allow event has every field in order: %s", s);
	free(s);
	{
		struct pb_audit_event ev = { .reason = PB_OK, .role = "r",
		    .service = "postgresql", .rule = "x", .pid = 4242 };
		char *p = pb_audit_format(&ev, PB_AUDIT_LOGFMT);
		char *j = pb_audit_format(&ev, PB_AUDIT_JSON);

		ok(p != NULL && strcmp(p, "result=allow reason=ok role=r "
		    "service=postgresql rule=x pid=4242") == 0,
		    "logfmt: the backend's pid comes last (%s)", p);
		ok(j != NULL && strstr(j, ",\"pid\":4242}") != NULL,
		    "json: the pid is a number (%s)", j);
		free(p);
		free(j);
	}
	s = fmt(PB_NO_RULE, NULL, "x", NULL, PB_AUDIT_LOGFMT);
	ok(s != NULL && strstr(s, "result=deny reason=no_rule role=x ") == s,
	    "deny event starts with result, reason, role");
	ok(s != NULL && strstr(s, "org=") == NULL &&
	    strstr(s, "pipeline=") == NULL,
	    "no claims are logged when none were verified");
	ok(s != NULL && strstr(s, "detail=why") != NULL, "detail is logged");
	free(s);
	json_decref(c);
}

static void
test_logfmt_escaping(void)
{
	static const struct {
		const char *value, *want, *name;
	} cases[] = {
		{ "main\nresult=allow reason=ok", "branch=\"main\\nresult=allow "
		  "reason=ok\"", "newline cannot start a second event" },
		{ "a\"b", "branch=\"a\\\"b\"", "double quote escaped" },
		{ "a\\b", "branch=\"a\\\\b\"", "backslash escaped" },
		{ "x role=postgres", "branch=\"x role=postgres\"",
		  "space and = are quoted, not a new field" },
		{ "tab\there", "branch=\"tab\\there\"", "tab escaped" },
		{ "cr\rhere", "branch=\"cr\\rhere\"", "carriage return escaped" },
		{ "bell\x07", "branch=\"bell\\u0007\"", "control char escaped" },
		{ "del\x7f", "branch=\"del\\u007f\"", "DEL escaped" },
		{ "caf\xc3\xa9", "branch=\"caf\xc3\xa9\"",
		  "UTF-8 kept, quoted" },
		{ "c1\xc2\x85", "branch=\"c1\\u0085\"", "C1 NEL escaped" },
		{ "ls\xe2\x80\xa8", "branch=\"ls\\u2028\"",
		  "line separator escaped" },
		{ "user:main", "branch=user:main", "colon needs no quotes" },
		{ "", "branch=\"\"", "empty value quoted" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *c = claims_with("build_branch",
		    json_string(cases[i].value));
		char *s = fmt(PB_OK, c, "r", "n", PB_AUDIT_LOGFMT);

		ok(s != NULL && strstr(s, cases[i].want) != NULL &&
		    strchr(s, '\n') == NULL && strchr(s, '\r') == NULL,
		    "logfmt: %s", cases[i].name);
		free(s);
		json_decref(c);
	}
}

static void
test_hostile_role(void)
{
	char *s = fmt(PB_NO_RULE, NULL, "evil\n<85>pam_buildkite: result=allow",
	    NULL, PB_AUDIT_LOGFMT);

	ok(s != NULL && strchr(s, '\n') == NULL &&
	    strstr(s, "role=\"evil\\n<85>pam_buildkite: result=allow\"") != NULL,
	    "a role name cannot forge an event");
	free(s);
	s = fmt(PB_NO_RULE, NULL, "bad\xff\xfeutf8", NULL, PB_AUDIT_LOGFMT);
	ok(s != NULL && strstr(s, "role=\"bad\\\\xff\\\\xfeutf8\"") != NULL,
	    "invalid UTF-8 in a role is shown as escapes: %s", s);
	free(s);
}

static void
test_truncation(void)
{
	char big[4096];
	json_t *c;
	char *s;

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c = claims_with("build_branch", json_string(big));
	s = fmt(PB_OK, c, "r", "n", PB_AUDIT_LOGFMT);
	ok(s != NULL && strlen(s) < 1200 && strstr(s, "bbb...\"") != NULL,
	    "a 4 KB claim is cut to %d bytes", PB_AUDIT_MAX_VALUE);
	free(s);
	json_decref(c);

	/* é is two bytes: the cut must not split it. */
	memset(big, 0, sizeof(big));
	for (size_t i = 0; i + 2 < 600; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	c = claims_with("build_branch", json_string(big));
	s = fmt(PB_OK, c, "r", "n", PB_AUDIT_LOGFMT);
	ok(s != NULL && strstr(s, "\xc3\xa9...\"") != NULL,
	    "the cut falls on a UTF-8 boundary");
	free(s);
	json_decref(c);
}

static void
test_json(void)
{
	json_t *c = claims_with("build_branch",
	    json_string("x\"}\n{\"result\":\"allow"));
	json_t *o;
	char *s = fmt(PB_DENIED, c, "role\"x", "deny ui", PB_AUDIT_JSON);
	json_error_t e;

	ok(s != NULL && strchr(s, '\n') == NULL, "json event is one line");
	o = s ? json_loads(s, JSON_REJECT_DUPLICATES, &e) : NULL;
	ok(o != NULL, "json event parses as one object without duplicate "
	    "keys: %s", s ? s : "(null)");
	ok(o && strcmp(json_string_value(json_object_get(o, "result")),
	    "deny") == 0, "json result is deny");
	ok(o && strcmp(json_string_value(json_object_get(o, "branch")),
	    "x\"}\n{\"result\":\"allow") == 0,
	    "json branch round-trips exactly");
	ok(o && strcmp(json_string_value(json_object_get(o, "role")),
	    "role\"x") == 0, "json role round-trips");
	ok(o && json_is_integer(json_object_get(o, "build")) &&
	    json_integer_value(json_object_get(o, "build")) == 42,
	    "json build number is a number");
	ok(o && json_is_null(json_object_get(o, "tag")),
	    "a null build_tag is null, not left out: a rule reads null "
	    "otherwise than absent");
	ok(o && strcmp(json_string_value(json_object_get(o, "rule")),
	    "deny ui") == 0, "json rule");
	json_decref(o);
	free(s);
	json_decref(c);
}

/* The line the pg_buildkite extension writes when it ends a session. */
static void
test_session_end(void)
{
	struct pb_audit_event ev = { .reason = PB_SESSION_EXPIRED,
	    .role = "r", .service = "postgresql", .rule = "five seconds",
	    .detail = "session lifetime 5s reached", .pid = 7,
	    .duration = 5 };
	char *p = pb_audit_format(&ev, PB_AUDIT_LOGFMT);
	char *j = pb_audit_format(&ev, PB_AUDIT_JSON);

	ok_str(p, "result=end reason=session_expired role=r "
	    "service=postgresql rule=\"five seconds\" "
	    "detail=\"session lifetime 5s reached\" duration=5 pid=7",
	    "logfmt: a session's end, with its duration before the pid");
	ok(j != NULL && strstr(j, "{\"result\":\"end\",\"reason\":"
	    "\"session_expired\"") == j && strstr(j, ",\"duration\":5,") !=
	    NULL, "json: result end, the duration a number (%s)", j);
	free(p);
	free(j);
	ev.reason = PB_OK;
	p = pb_audit_format(&ev, PB_AUDIT_LOGFMT);
	ok(p != NULL && strstr(p, "duration=") == NULL,
	    "a login's line has no duration (%s)", p);
	free(p);
}

/* Every claim a rule can match is on the line, for diff --audit. */
static void
test_matchable_claims(void)
{
	json_t *c = claims_with("cluster_name", json_string("prod"));
	char *s, *j, name[40];
	json_t *o;
	int i;

	json_object_set_new(c, "queue_key", json_string("deploy"));
	json_object_set_new(c, "organization_id", json_string("o-1"));
	json_object_set_new(c, "build_commit", json_string("3e1f"));
	json_object_set_new(c, "aud", json_string("postgres://db"));
	json_object_set_new(c, "agent_tag:queue", json_string("deploy"));
	json_object_set_new(c, "agent_tag:os", json_string("linux"));
	json_object_set_new(c, "agent_tag:bad name", json_string("x"));
	s = fmt(PB_OK, c, "r", "x", PB_AUDIT_LOGFMT);
	ok(s != NULL && strstr(s, " source=ui organization_id=o-1 "
	    "build_commit=3e1f cluster_name=prod queue_key=deploy "
	    "aud=postgres://db agent_tag:queue=deploy agent_tag:os=linux "
	    "agent_tags_omitted=1 sub=") != NULL,
	    "logfmt: the claims rules can match, under their own names, then "
	    "the agent tags as they came, one with a name no field can have "
	    "counted (%s)", s);
	free(s);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "agent_tag:t%02d", i);
		json_object_set_new(c, name, json_integer(i));
	}
	j = fmt(PB_OK, c, "r", "x", PB_AUDIT_JSON);
	o = j ? json_loads(j, 0, NULL) : NULL;
	ok(o != NULL && json_integer_value(json_object_get(o,
	    "agent_tags_omitted")) == 7 && json_object_get(o,
	    "agent_tag:t13") != NULL && json_object_get(o,
	    "agent_tag:t14") == NULL && json_integer_value(json_object_get(o,
	    "agent_tag:t00")) == 0,
	    "json: at most 16 agent tags, numbers as numbers, the rest "
	    "counted (%s)", j);
	json_decref(o);
	free(j);
	json_decref(c);
}

int
main(void)
{
	test_logfmt_fields();
	test_session_end();
	test_matchable_claims();
	{
		json_t *c = claims_with("build_tag", json_string("null"));
		char *s = fmt(PB_OK, c, "r", "x", PB_AUDIT_LOGFMT);

		ok(s != NULL && strstr(s, " tag=\"null\" ") != NULL,
		    "logfmt: a tag named null is quoted, a null claim bare "
		    "(%s)", s);
		free(s);
		json_decref(c);
	}
	test_logfmt_escaping();
	test_hostile_role();
	test_truncation();
	test_json();
	return done_testing();
}
