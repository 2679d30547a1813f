/*
 * fuzz_audit_line.c - fuzz target for the audit lines read back by
 * "pam-buildkite diff --audit" (tool/audit_line.c), whose claims came
 * from tokens. The first input byte picks the form:
 *  - even: the rest is one line of a log file, read as it comes;
 *  - odd: the rest is the JSON text of a token's claims; the module's
 *    formatter (pam_buildkite/audit.c) writes its line in logfmt and in
 *    JSON, and each is read back.
 * Checked with __builtin_trap: reading never fails on a line of ours;
 * every claim written as printable ASCII of at most PB_AUDIT_MAX_VALUE
 * bytes, every integer and every null comes back as it went in, from
 * both formats.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "audit_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return len <= PB_AUDIT_MAX_VALUE;
}

/* Whether the value read back (got) says what the claim (want) was. */
static bool
same(const json_t *want, const json_t *got)
{
	char num[32];

	if (json_is_null(want))
		return json_is_null(got);
	if (json_is_integer(want)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(want));
		return (json_is_integer(got) && json_integer_value(got) ==
		    json_integer_value(want)) || (json_is_string(got) &&
		    strcmp(json_string_value(got), num) == 0);
	}
	if (json_is_string(want) && printable(json_string_value(want),
	    json_string_length(want))) {
		/* build_number is read back as the integer it always is */
		if (json_is_integer(got)) {
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(got));
			return strcmp(json_string_value(want), num) == 0;
		}
		return json_is_string(got) && json_equal(want, got);
	}
	return true;    /* escaped, cut or of another type: not compared */
}

static void
read_back(const char *line, json_t *claims)
{
	struct audit_gaps gaps;
	json_t *fields, *got;
	size_t i;

	if (audit_line_parse(line, &fields) != 1)
		__builtin_trap();
	got = audit_line_claims(fields, &gaps);
	if (got == NULL)
		__builtin_trap();
	for (i = 0; pb_audit_claims[i].field != NULL; i++) {
		const json_t *w = json_object_get(claims,
		    pb_audit_claims[i].claim);

		if (w != NULL && !same(w, json_object_get(got,
		    pb_audit_claims[i].claim)))
			__builtin_trap();
		(void)audit_claim_unknown(got, &gaps, pb_audit_claims[i].claim);
	}
	json_decref(got);
	json_decref(fields);
}

static void
round_trip(const char *text)
{
	static const enum pb_audit_format formats[] = {
		PB_AUDIT_LOGFMT, PB_AUDIT_JSON,
	};
	json_t *claims = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	struct pb_audit_event ev = { .reason = PB_OK, .role = "r",
	    .service = "postgresql", .rule = "x" };
	char *body, *line;
	size_t i;

	if (!json_is_object(claims)) {
		json_decref(claims);
		return;
	}
	ev.claims = claims;
	for (i = 0; i < 2; i++) {
		body = pb_audit_format(&ev, formats[i]);
		if (body == NULL || asprintf(&line, "Dec  5 12:00:00 db "
		    "postgres[7]: pam_buildkite(postgresql:auth): %s",
		    body) < 0)
			__builtin_trap();
		read_back(line, claims);
		free(line);
		free(body);
	}
	json_decref(claims);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_gaps gaps;
	json_t *fields, *claims;
	char *s;

	if (size == 0 || (s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1) {
		round_trip(s);
	} else if (audit_line_parse(s, &fields) == 1) {
		claims = audit_line_claims(fields, &gaps);
		if (claims != NULL)
			(void)audit_claim_unknown(claims, &gaps, "cluster_name");
		json_decref(claims);
		json_decref(fields);
	}
	free(s);
	return 0;
}
