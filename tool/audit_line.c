/*
 * audit_line.c - the module's audit lines read back (doc/audit.md), in
 * logfmt or JSON, as a syslog file or "journalctl -o cat" shows them,
 * for "pam-buildkite diff --audit": the attempt's fields, and the
 * claims they record.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_line.h"

#define KEY_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
	"0123456789_:.-"

/* A quoted logfmt value at *p (its opening quote), *p moved past it:
 * its escapes are JSON's (audit.c), so JSON decodes it. */
static json_t *
quoted_value(const char **p)
{
	const char *start = *p, *s = start + 1;

	while (*s != '\0' && *s != '"')
		s += s[0] == '\\' && s[1] != '\0' ? 2 : 1;
	if (*s != '"')
		return NULL;
	*p = ++s;
	return json_loadb(start, (size_t)(s - start), JSON_DECODE_ANY, NULL);
}

static json_t *
logfmt_fields(const char *s)
{
	json_t *o = json_object(), *v;
	char key[96];
	size_t k;

	while (o != NULL && *s != '\0') {
		k = strspn(s, KEY_CHARS);
		if (k == 0 || k >= sizeof(key) || s[k] != '=')
			goto bad;
		memcpy(key, s, k);
		key[k] = '\0';
		s += k + 1;
		if (*s == '"') {
			v = quoted_value(&s);
		} else {
			k = strcspn(s, " ");
			v = k == 4 && strncmp(s, "null", 4) == 0 ? json_null() :
			    json_stringn(s, k);
			s += k;
		}
		if (v == NULL || json_object_set_new(o, key, v) != 0)
			goto bad;
		if (*s == ' ')
			s++;
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}

int
audit_line_parse(const char *line, json_t **fields)
{
	const char *p = strstr(line, "pam_buildkite(");
	const char *body;

	*fields = NULL;
	if (p == NULL || (body = strstr(p, "): ")) == NULL ||
	    body - p < 5 || strncmp(body - 5, ":auth", 5) != 0)
		return 0;       /* not ours, or a session's end */
	body += 3;
	*fields = body[0] == '{' ? json_loads(body, 0, NULL) :
	    logfmt_fields(body);
	if (*fields == NULL || !json_is_object(*fields)) {
		json_decref(*fields);
		*fields = NULL;
		return -1;
	}
	return 1;
}

/* A field's value as a claim: build_number, an integer in every token,
 * is one again when logfmt wrote it bare (only the text an integer
 * prints as: anything else stays the string it was). */
static json_t *
claim_value(const char *claim, json_t *v)
{
	const char *s = json_string_value(v);
	char *end, num[32];
	long long n;

	if (strcmp(claim, "build_number") == 0 && s != NULL && *s != '\0') {
		errno = 0;
		n = strtoll(s, &end, 10);
		snprintf(num, sizeof(num), "%lld", n);
		if (*end == '\0' && errno == 0 && strcmp(num, s) == 0)
			return json_integer(n);
	}
	return json_incref(v);
}

json_t *
audit_line_claims(json_t *fields, struct audit_gaps *gaps)
{
	const size_t plen = sizeof(PB_AUDIT_TAG_PREFIX) - 1;
	json_t *claims = json_object(), *v;
	const char *key;
	size_t i;

	memset(gaps, 0, sizeof(*gaps));
	if (claims == NULL)
		return NULL;
	for (i = 0; pb_audit_claims[i].field != NULL; i++) {
		v = json_object_get(fields, pb_audit_claims[i].field);
		if (v != NULL && json_object_set_new(claims,
		    pb_audit_claims[i].claim, claim_value(
		    pb_audit_claims[i].claim, v)) != 0)
			goto oom;
	}
	json_object_foreach(fields, key, v) {
		if ((strncmp(key, PB_AUDIT_TAG_PREFIX, plen) == 0 ||
		    strcmp(key, "sub") == 0 || strcmp(key, "jti") == 0) &&
		    json_object_set(claims, key, v) != 0)
			goto oom;
	}
	/* build_commit is in every verified token, and on the line only
	 * since every claim a rule can match is written there. */
	gaps->complete = json_object_get(claims, "build_commit") != NULL;
	gaps->tags_omitted = json_object_get(fields,
	    "agent_tags_omitted") != NULL;
	return claims;
oom:
	json_decref(claims);
	return NULL;
}

const char *
audit_claim_unknown(const json_t *claims, const struct audit_gaps *gaps,
    const char *claim)
{
	const char *s;
	json_t *v = json_object_get(claims, claim);
	size_t len;

	if (v == NULL) {
		if (!gaps->complete)
			return "the line is older than the one that writes "
			    "every claim";
		if (strncmp(claim, PB_AUDIT_TAG_PREFIX,
		    sizeof(PB_AUDIT_TAG_PREFIX) - 1) == 0 && gaps->tags_omitted)
			return "the line left some agent tags out";
		return NULL;
	}
	s = json_string_value(v);
	len = s != NULL ? strlen(s) : 0;
	if (len >= PB_AUDIT_MAX_VALUE && strcmp(s + len - 3, "...") == 0)
		return "its value was cut in the log";
	return NULL;
}
