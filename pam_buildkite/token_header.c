/*
 * token_header.c - judging the JOSE header of a token
 * (doc/token.md, step 3): the algorithm must be one the policy allows, extensions and keys
 * named by the token are refused, the kid must be a short string.
 *
 * libjwt 1.x let the token choose the algorithm (HS256 keyed with the RSA
 * public key verified); here the header is parsed strictly and "none"
 * and HMAC are refused whatever the policy says.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "token_header.h"

#define PB_KID_MAX 256          /* bytes of a header kid we accept */

/* Copies the kid into info, cut to fit without splitting a UTF-8
 * sequence. */
static void
set_info_kid(struct pb_token_info *info, const char *kid, size_t len)
{
	if (len > sizeof(info->kid) - 1) {
		len = sizeof(info->kid) - 1;
		/* Back off over continuation bytes (10xxxxxx) to the
		 * start of the sequence that would be cut. */
		while (len > 0 && ((unsigned char)kid[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(info->kid, kid, len);
	info->kid[len] = '\0';
}

/* The header's kid when it is a short string free of control
 * characters, or NULL. */
static const char *
usable_kid(const json_t *jkid)
{
	const char *k = json_string_value(jkid);
	size_t i, kl = json_string_length(jkid);

	if (!json_is_string(jkid) || kl < 1 || kl > PB_KID_MAX)
		return NULL;
	for (i = 0; i < kl; i++)
		if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
			return NULL;
	return k;
}

/* The step "algorithm": alg (a JSON string) against what this module
 * verifies and the policy allows. */
static void
check_alg(const json_t *alg, const struct pb_config *cfg,
    const char *shown, const struct pb_sig_alg **out, struct pb_step *st)
{
	const char *a = json_string_value(alg);
	size_t alen = json_string_length(alg);
	const struct pb_sig_alg *sa;

	*out = NULL;
	/* Refused outright, whatever the case: libjwt compared
	 * case-insensitively, and nobody shall wonder whether "None" or
	 * "hs256" slips through here. */
	if (strcasecmp(a, "none") == 0 ||
	    (alen >= 2 && strncasecmp(a, "HS", 2) == 0)) {
		pb_step_set(st, PB_ALGORITHM, "algorithm %s is never accepted",
		    shown);
		return;
	}
	if ((sa = pb_sig_alg_named(a, alen)) == NULL) {
		pb_step_set(st, PB_ALGORITHM, "algorithm %s is not supported",
		    shown);
		return;
	}
	if ((cfg->token.algorithms & sa->alg) == 0) {
		pb_step_set(st, PB_ALGORITHM, "algorithm %s is not allowed by "
		    "the policy", sa->name);
		return;
	}
	pb_step_set(st, PB_OK, "%s is allowed by token.algorithms", sa->name);
	*out = sa;
}

/* The rest of the header's form, once its algorithm is allowed: true,
 * or false with st saying why (PB_MALFORMED). */
static bool
form_ok(const json_t *hdr, bool kid_ok, struct pb_step *st)
{
	static const char *const never[] = { "jku", "x5u", "jwk", "x5c" };
	const json_t *typ = json_object_get(hdr, "typ");
	size_t i;

	/* Extensions we do not understand must not be ignored (RFC 7515
	 * 4.1.11), and keys named by the token are never fetched or
	 * trusted. */
	if (json_object_get(hdr, "crit") != NULL) {
		pb_step_set(st, PB_MALFORMED, "header has crit");
		return false;
	}
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		if (json_object_get(hdr, never[i]) != NULL) {
			pb_step_set(st, PB_MALFORMED, "header has %s",
			    never[i]);
			return false;
		}
	}
	if (typ != NULL && (!json_is_string(typ) ||
	    json_string_length(typ) != 3 ||
	    strcasecmp(json_string_value(typ), "JWT") != 0)) {
		pb_step_set(st, PB_MALFORMED, "header typ is not JWT");
		return false;
	}
	if (!kid_ok) {
		pb_step_set(st, PB_MALFORMED, "header kid is not a short "
		    "string");
		return false;
	}
	return true;
}

void
pb_header_check(const json_t *hdr, const struct pb_config *cfg,
    struct pb_token_info *info, struct pb_header *out, struct pb_step *header,
    struct pb_step *algorithm)
{
	const json_t *alg = json_object_get(hdr, "alg");
	const json_t *jkid = json_object_get(hdr, "kid");
	const char *kid;

	out->alg = NULL;
	out->kid = NULL;
	if (!json_is_string(alg)) {
		pb_step_set(header, PB_MALFORMED, "header alg missing or not a "
		    "string");
		return;
	}
	pb_printable(info->alg, sizeof(info->alg), json_string_value(alg),
	    json_string_length(alg));
	if ((kid = usable_kid(jkid)) != NULL)
		set_info_kid(info, kid, json_string_length(jkid));

	check_alg(alg, cfg, info->alg, &out->alg, algorithm);
	/* A refused algorithm is the verdict; the rest of the form is
	 * judged only for an algorithm that could verify. */
	if (algorithm->reason == PB_OK &&
	    !form_ok(hdr, jkid == NULL || kid != NULL, header)) {
		out->alg = NULL;
		return;
	}
	out->kid = kid;
	/* The header's own words, as the audit event shows them: alg
	 * made printable, kid free of control characters and cut to fit. */
	pb_step_set(header, PB_OK, "alg %s, %s%s%s%s", info->alg,
	    info->kid[0] != '\0' ? "kid \"" : "no kid", info->kid,
	    info->kid[0] != '\0' ? "\"" : "",
	    algorithm->reason == PB_OK ?
	    "; no crit, jku, x5u, jwk or x5c" : "");
}
