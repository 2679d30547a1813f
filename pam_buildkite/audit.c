/*
 * audit.c - format and write the audit event of one authentication.
 *
 * One line per attempt, logfmt or JSON. Every value passes through one
 * escaper: control characters, quotes, backslashes, invalid UTF-8 and
 * Unicode line separators are escaped, so a claim, a role name or a
 * header field cannot end the line, forge a second event or a second
 * field, and long values are cut.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "audit.h"
#include "msg.h"

static void
sb_str(struct pb_buf *b, const char *s)
{
	pb_buf_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if the
 * bytes there are not one; *cp receives the code point. */
static size_t
utf8_seq(const unsigned char *s, size_t n, unsigned *cp)
{
	size_t len, i;
	unsigned c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
	    (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Appends value, escaped, cut at PB_AUDIT_MAX_VALUE input bytes. The
 * escapes are valid in both a logfmt quoted value and a JSON string. */
static void
put_escaped(struct pb_buf *b, const char *value)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t n = strlen(value), i = 0;
	char esc[16];

	while (i < n) {
		unsigned cp;
		size_t len = utf8_seq(s + i, n - i, &cp);

		if (i + (len ? len : 1) > PB_AUDIT_MAX_VALUE) {
			sb_str(b, "...");
			return;
		}
		if (len == 0) {
			/* Not UTF-8: show the byte, never pass it on. */
			snprintf(esc, sizeof(esc), "\\\\x%02x", s[i]);
			sb_str(b, esc);
			i++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			esc[0] = '\\';
			esc[1] = (char)cp;
			pb_buf_put(b, esc, 2);
		} else if (cp == '\n') {
			sb_str(b, "\\n");
		} else if (cp == '\r') {
			sb_str(b, "\\r");
		} else if (cp == '\t') {
			sb_str(b, "\\t");
		} else if (cp < 0x20 || cp == 0x7f ||
		    (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029) {
			snprintf(esc, sizeof(esc), "\\u%04x", cp);
			sb_str(b, esc);
		} else {
			pb_buf_put(b, (const char *)s + i, len);
		}
		i += len;
	}
}

/* logfmt values go bare only when they cannot be misread. */
static bool
logfmt_bare(const char *v)
{
	const unsigned char *s = (const unsigned char *)v;

	if (*s == '\0' || strlen(v) > PB_AUDIT_MAX_VALUE ||
	    strcmp(v, "null") == 0)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || *s == '"' || *s == '=' ||
		    *s == '\\')
			return false;
	return true;
}

static void
put_field(struct pb_buf *b, enum pb_audit_format format, const char *key,
    const char *value, bool number)
{
	if (value == NULL)
		return;
	if (format == PB_AUDIT_JSON) {
		sb_str(b, b->len > 1 ? ",\"" : "\"");
		sb_str(b, key);
		sb_str(b, "\":");
		if (number) {
			sb_str(b, value);
		} else {
			sb_str(b, "\"");
			put_escaped(b, value);
			sb_str(b, "\"");
		}
		return;
	}
	if (b->len > 0)
		sb_str(b, " ");
	sb_str(b, key);
	sb_str(b, "=");
	if (number || logfmt_bare(value)) {
		sb_str(b, value);
	} else {
		sb_str(b, "\"");
		put_escaped(b, value);
		sb_str(b, "\"");
	}
}

/* A claim as audit text: strings as they are, integers in decimal, null
 * as JSON's null (bare in logfmt, where the string "null" is quoted):
 * a rule reads a null claim otherwise than an absent one. Absent claims
 * and other types are left out of the event. */
static void
put_claim(struct pb_buf *b, enum pb_audit_format format, const char *key,
    const json_t *claims, const char *claim)
{
	const json_t *v = claims ? json_object_get(claims, claim) : NULL;
	char num[32];

	if (json_is_string(v)) {
		/* A NUL inside the value would hide its tail: show it. */
		if (strlen(json_string_value(v)) != json_string_length(v))
			put_field(b, format, key, "(value contains NUL)",
			    false);
		else
			put_field(b, format, key, json_string_value(v), false);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		put_field(b, format, key, num, true);
	} else if (json_is_null(v)) {
		put_field(b, format, key, "null", true);
	}
}

const struct pb_audit_claim pb_audit_claims[] = {
	{ "org", "organization_slug" }, { "pipeline", "pipeline_slug" },
	{ "branch", "build_branch" }, { "tag", "build_tag" },
	{ "step", "step_key" }, { "build", "build_number" },
	{ "job", "job_id" }, { "agent", "agent_id" },
	{ "source", "build_source" },
	{ "organization_id", "organization_id" },
	{ "pipeline_id", "pipeline_id" }, { "build_id", "build_id" },
	{ "build_commit", "build_commit" }, { "cluster_id", "cluster_id" },
	{ "cluster_name", "cluster_name" }, { "queue_id", "queue_id" },
	{ "queue_key", "queue_key" },
	{ "runner_environment", "runner_environment" },
	{ "iss", "iss" }, { "aud", "aud" },
	{ NULL, NULL },
};

static bool
tag_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > PB_AUDIT_TAG_NAME_MAX)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
	    "xyz0123456789_.-") == n;
}

/* The agent_tag:NAME claims, as they come in the token (jansson keeps
 * an object's order). A tag whose name could not be a field, or past
 * the limit, is counted, not written: a token could carry thousands. */
static void
put_tags(struct pb_buf *b, enum pb_audit_format format,
    const json_t *claims)
{
	const size_t plen = sizeof(PB_AUDIT_TAG_PREFIX) - 1;
	/* jansson iterates only non-const objects, and changes nothing. */
	union { const json_t *c; json_t *m; } obj = { claims };
	const char *key;
	json_t *v;
	unsigned put = 0, omitted = 0;
	char num[16];

	if (!json_is_object(claims))
		return;
	json_object_foreach(obj.m, key, v) {
		if (strncmp(key, PB_AUDIT_TAG_PREFIX, plen) != 0 ||
		    !(json_is_string(v) || json_is_integer(v)))
			continue;
		if (put < PB_AUDIT_MAX_TAGS && tag_name_ok(key + plen)) {
			put_claim(b, format, key, claims, key);
			put++;
		} else {
			omitted++;
		}
	}
	if (omitted > 0) {
		snprintf(num, sizeof(num), "%u", omitted);
		put_field(b, format, "agent_tags_omitted", num, true);
	}
}

static const char *
result_name(enum pb_reason r)
{
	if (r == PB_SESSION_EXPIRED)
		return "end";
	return r == PB_OK ? "allow" : "deny";
}

char *
pb_audit_format(const struct pb_audit_event *ev, enum pb_audit_format format)
{
	struct pb_buf b = { NULL, 0, 0, false };
	const json_t *c = ev->claims;
	char num[24];
	size_t i;

	if (format == PB_AUDIT_JSON)
		sb_str(&b, "{");
	put_field(&b, format, "result", result_name(ev->reason), false);
	put_field(&b, format, "reason", pb_reason_name(ev->reason), false);
	put_field(&b, format, "role", ev->role, false);
	put_field(&b, format, "service", ev->service, false);
	put_field(&b, format, "rhost", ev->rhost, false);
	for (i = 0; pb_audit_claims[i].field != NULL; i++)
		put_claim(&b, format, pb_audit_claims[i].field, c,
		    pb_audit_claims[i].claim);
	put_tags(&b, format, c);
	put_claim(&b, format, "sub", c, "sub");
	put_claim(&b, format, "jti", c, "jti");
	if (ev->kid != NULL && ev->kid[0] != '\0')
		put_field(&b, format, "kid", ev->kid, false);
	put_field(&b, format, "rule", ev->rule, false);
	put_field(&b, format, "detail", ev->detail, false);
	if (ev->reason == PB_SESSION_EXPIRED) {
		snprintf(num, sizeof(num), "%lld", ev->duration);
		put_field(&b, format, "duration", num, true);
	}
	if (ev->pid > 0) {
		/* Last, so that readers of the earlier fields see them where
		 * they always were. */
		snprintf(num, sizeof(num), "%ld", ev->pid);
		put_field(&b, format, "pid", num, true);
	}
	if (format == PB_AUDIT_JSON)
		sb_str(&b, "}");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

void
pb_audit_emit(const struct pb_audit_event *ev, enum pb_audit_format format,
    int facility)
{
	bool end = ev->reason == PB_SESSION_EXPIRED;
	int level = ev->reason == PB_OK || end ? LOG_NOTICE : LOG_WARNING;
	struct pb_buf svc = { NULL, 0, 0, false };
	char *line;

	/* The service name comes from the host's configuration; it goes
	 * into the prefix escaped like any value. */
	put_escaped(&svc, ev->service ? ev->service : "");
	line = pb_audit_format(ev, format);
	if (line == NULL || svc.oom) {
		/* Still leave a trace of the decision. */
		syslog(facility | level, "pam_buildkite: result=%s reason=%s "
		    "detail=\"audit event lost: out of memory\"",
		    result_name(ev->reason), pb_reason_name(ev->reason));
	} else {
		syslog(facility | level, "pam_buildkite(%s:%s): %s",
		    svc.p ? svc.p : "", end ? "session" : "auth", line);
	}
	free(svc.p);
	free(line);
}
