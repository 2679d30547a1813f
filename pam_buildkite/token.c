/*
 * token.c - verification of a Buildkite OIDC token (SPEC.md section 4).
 *
 * The compact JWS is taken apart here, without a JWT library: libjwt 1.x
 * lets the token choose the algorithm (HS256 keyed with the RSA public
 * key verifies), decodes base64 leniently and accepts duplicate JSON
 * members. Here the header is parsed strictly, the algorithm must be one
 * the policy allows and fit the key, the signature is checked with
 * OpenSSL's RSA_verify or ECDSA_do_verify (sha256.h says why
 * not EVP), and only then is the payload even parsed.
 *
 * Every path that is not a complete success returns a refusal: an
 * allocation failure is a refused token, never an accepted one.
 */
#include "config.h"
#include "sha256.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "jwks.h"
#include "token.h"
#include "msg.h"

#define PB_KID_MAX 256          /* bytes of a header kid we accept */
#define PB_DETAIL_VALUE_MAX 64  /* bytes of a claim value in a detail */

/* Where the verification steps are reported: the admin tool's explain
 * sets fn; on the module's path it is NULL and each report is one test. */
struct steps {
	pb_step_fn fn;
	void *ctx;
};

static __attribute__((format(printf, 3, 4))) void
step_ok(const struct steps *s, const char *name, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (s == NULL || s->fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	s->fn(s->ctx, name, true, what);
}

/* Reports a refusal, whose words are the detail already written, and
 * passes the reason on. */
static enum pb_reason
step_fail(const struct steps *s, const char *name, enum pb_reason r,
    const char *detail)
{
	if (s != NULL && s->fn != NULL)
		s->fn(s->ctx, name, false, detail != NULL ? detail : "");
	return r;
}

/* A claim value fit for a log line: at most PB_DETAIL_VALUE_MAX bytes,
 * printable ASCII only (quotes and backslashes too would confuse a
 * logfmt reader). Verified tokens still carry values their requester
 * chose, such as aud. */
static void
printable(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t i, n = srclen;

	if (dstlen == 0)
		return;
	if (n > dstlen - 1)
		n = dstlen - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ?
		    (char)c : '?';
	}
	dst[n] = '\0';
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* JSON string s equals the C string want, byte for byte. */
static bool
json_str_eq(const json_t *s, const char *want)
{
	size_t n;

	if (!json_is_string(s) || want == NULL)
		return false;
	n = json_string_length(s);
	return strlen(want) == n && memcmp(json_string_value(s), want, n) == 0;
}

/* a - b > c, exactly, for any 64-bit values: on overflow the true
 * difference is beyond any c, so its sign decides. */
static bool
diff_gt(long long a, long long b, long long c)
{
	long long d;

	if (__builtin_sub_overflow(a, b, &d))
		return a > b;
	return d > c;
}

static bool
diff_ge(long long a, long long b, long long c)
{
	long long d;

	if (__builtin_sub_overflow(a, b, &d))
		return a > b;
	return d >= c;
}

static const struct {
	const char *name;
	enum pb_alg alg;
	int md;                 /* NID of the digest */
	size_t ec_sig_len;      /* JOSE R||S length, 0 for RSA */
} algs[] = {
	{ "RS256", PB_ALG_RS256, NID_sha256, 0 },
	{ "RS384", PB_ALG_RS384, NID_sha384, 0 },
	{ "RS512", PB_ALG_RS512, NID_sha512, 0 },
	{ "ES256", PB_ALG_ES256, NID_sha256, 64 },
	{ "ES384", PB_ALG_ES384, NID_sha384, 96 },
};

/* The digest of data that algs[ai] signs, into md (SHA512_DIGEST_LENGTH
 * bytes); returns its length. */
static unsigned int
digest(size_t ai, const unsigned char *data, size_t len, unsigned char *md)
{
	SHA512_CTX c;

	switch (algs[ai].md) {
	case NID_sha256:
		return pb_sha256(data, len, md) == 0 ? SHA256_DIGEST_LENGTH : 0;
	case NID_sha384:
		if (SHA384_Init(&c) != 1 ||
		    SHA384_Update(&c, data, len) != 1 ||
		    SHA384_Final(md, &c) != 1)
			return 0;
		return SHA384_DIGEST_LENGTH;
	case NID_sha512:
		if (SHA512_Init(&c) != 1 ||
		    SHA512_Update(&c, data, len) != 1 ||
		    SHA512_Final(md, &c) != 1)
			return 0;
		return SHA512_DIGEST_LENGTH;
	}
	return 0;
}

/* RSASSA-PKCS1-v1_5: RSA_verify checks the signature's length against
 * the modulus and compares the whole decrypted block with the one it
 * encodes from md, so no lenient parsing of the padding is involved. */
static bool
verify_rsa(size_t ai, EVP_PKEY *key, const unsigned char *md,
    unsigned int md_len, const unsigned char *sig, size_t sig_len,
    char *detail, size_t detail_len)
{
	RSA *rsa = EVP_PKEY_get1_RSA(key);
	bool good = false;

	/* The key selection promised an RSA key; check anyway, the cost is
	 * nothing next to the modular exponentiation. */
	if (rsa == NULL)
		pb_msg(detail, detail_len, "key is not an RSA key");
	else if (sig_len != (size_t)RSA_size(rsa))
		pb_msg(detail, detail_len, "signature length does not match "
		    "the key");
	else if (RSA_verify(algs[ai].md, md, md_len, sig, (unsigned)sig_len,
	    rsa) != 1)
		pb_msg(detail, detail_len, "signature does not verify");
	else
		good = true;
	RSA_free(rsa);
	return good;
}

/* ECDSA with the JOSE R||S form: each half is one number. */
static bool
verify_ec(size_t ai, EVP_PKEY *key, const unsigned char *md,
    unsigned int md_len, const unsigned char *sig, size_t sig_len,
    char *detail, size_t detail_len)
{
	EC_KEY *ec = EVP_PKEY_get1_EC_KEY(key);
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	size_t half = sig_len / 2;
	bool good = false;

	if (ec == NULL || (size_t)EC_GROUP_get_degree(EC_KEY_get0_group(ec)) !=
	    algs[ai].ec_sig_len * 4) {
		pb_msg(detail, detail_len, "key does not fit %s",
		    algs[ai].name);
		goto out;
	}
	if (sig_len != algs[ai].ec_sig_len) {
		pb_msg(detail, detail_len, "signature length is not %zu bytes",
		    algs[ai].ec_sig_len);
		goto out;
	}
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(sig, (int)half, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + half, (int)half, NULL)) == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		pb_msg(detail, detail_len, "signature could not be decoded");
		goto out;
	}
	/* es owns r and s now; only 1 means valid (0 bad, -1 error). */
	if (ECDSA_do_verify(md, (int)md_len, es, ec) != 1) {
		pb_msg(detail, detail_len, "signature does not verify");
		goto out;
	}
	good = true;

out:
	ECDSA_SIG_free(es);
	EC_KEY_free(ec);
	return good;
}

/* Verifies sig over data with key as algs[ai] says. Returns true only
 * when OpenSSL says the signature is valid. */
static bool
verify_signature(size_t ai, EVP_PKEY *key, const unsigned char *data,
    size_t data_len, const unsigned char *sig, size_t sig_len,
    char *detail, size_t detail_len)
{
	unsigned char md[SHA512_DIGEST_LENGTH];
	unsigned int md_len = digest(ai, data, data_len, md);
	bool good;

	if (md_len == 0) {
		pb_msg(detail, detail_len, "signature check could not start");
		good = false;
	} else if (algs[ai].ec_sig_len == 0) {
		good = verify_rsa(ai, key, md, md_len, sig, sig_len, detail,
		    detail_len);
	} else {
		good = verify_ec(ai, key, md, md_len, sig, sig_len, detail,
		    detail_len);
	}
	if (!good)
		ERR_clear_error();
	return good;
}

/* Decodes one segment and parses it as a JSON object, strictly. */
static json_t *
segment_object(const char *seg, size_t len)
{
	unsigned char *raw = NULL;
	size_t raw_len;
	json_t *obj;

	if (pb_b64url_decode(seg, len, &raw, &raw_len) != 0)
		return NULL;
	/* JSON text never holds a NUL byte, yet jansson 2.14 skips one that
	 * follows a number, where a parser of C strings stops. */
	if (memchr(raw, '\0', raw_len) != NULL) {
		free(raw);
		return NULL;
	}
	/* No JSON_ALLOW_NUL: strings holding NUL are refused, so every
	 * string value below is a proper C string. No
	 * JSON_DISABLE_EOF_CHECK: trailing bytes are refused. */
	obj = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES,
	    NULL);
	free(raw);
	if (obj != NULL && !json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

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

/* Checks the header. On PB_OK *ai is the index in algs and *kid the kid
 * (NULL when absent, pointing into hdr). */
static enum pb_reason
check_header(const json_t *hdr, const struct pb_config *cfg,
    struct pb_token_info *info, size_t *ai, const char **kid,
    char *detail, size_t detail_len)
{
	const json_t *alg = json_object_get(hdr, "alg");
	const json_t *jkid = json_object_get(hdr, "kid");
	const json_t *typ = json_object_get(hdr, "typ");
	static const char *const never[] = { "jku", "x5u", "jwk", "x5c" };
	const char *a;
	bool kid_ok = false;
	size_t i, alen;

	*kid = NULL;
	if (!json_is_string(alg)) {
		pb_msg(detail, detail_len, "header alg missing or not a string");
		return PB_MALFORMED;
	}
	a = json_string_value(alg);
	alen = json_string_length(alg);
	printable(info->alg, sizeof(info->alg), a, alen);

	/* Fill the kid early so that even a refused algorithm is logged
	 * with the key it named. */
	if (json_is_string(jkid)) {
		const char *k = json_string_value(jkid);
		size_t kl = json_string_length(jkid);

		kid_ok = kl >= 1 && kl <= PB_KID_MAX;
		for (i = 0; kid_ok && i < kl; i++)
			if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
				kid_ok = false;
		if (kid_ok) {
			set_info_kid(info, k, kl);
			*kid = k;
		}
	}

	/* Refused outright, whatever the case: libjwt compared
	 * case-insensitively, and nobody shall wonder whether "None" or
	 * "hs256" slips through here. */
	if (strcasecmp(a, "none") == 0 ||
	    (alen >= 2 && strncasecmp(a, "HS", 2) == 0)) {
		pb_msg(detail, detail_len, "algorithm %s is never accepted",
		    info->alg);
		return PB_ALGORITHM;
	}
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (json_str_eq(alg, algs[i].name))
			break;
	if (i == sizeof(algs) / sizeof(algs[0])) {
		pb_msg(detail, detail_len, "algorithm %s is not supported",
		    info->alg);
		return PB_ALGORITHM;
	}
	if ((cfg->token.algorithms & algs[i].alg) == 0) {
		pb_msg(detail, detail_len, "algorithm %s is not allowed by the "
		    "policy", algs[i].name);
		return PB_ALGORITHM;
	}
	*ai = i;

	/* Extensions we do not understand must not be ignored (RFC 7515
	 * 4.1.11), and keys named by the token are never fetched or
	 * trusted. */
	if (json_object_get(hdr, "crit") != NULL) {
		pb_msg(detail, detail_len, "header has crit");
		return PB_MALFORMED;
	}
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		if (json_object_get(hdr, never[i]) != NULL) {
			pb_msg(detail, detail_len, "header has %s", never[i]);
			return PB_MALFORMED;
		}
	}
	if (typ != NULL && (!json_is_string(typ) ||
	    json_string_length(typ) != 3 ||
	    strcasecmp(json_string_value(typ), "JWT") != 0)) {
		pb_msg(detail, detail_len, "header typ is not JWT");
		return PB_MALFORMED;
	}
	if (jkid != NULL && !kid_ok) {
		pb_msg(detail, detail_len, "header kid is not a short string");
		*kid = NULL;
		return PB_MALFORMED;
	}
	return PB_OK;
}

enum ctype {
	C_STRING,               /* string */
	C_INTEGER,              /* integer */
	C_STRING_OR_NULL,       /* string or null */
	C_AUD,                  /* string or non-empty array of strings */
};

static const struct {
	const char *name;
	enum ctype type;
	bool required;
} claim_types[] = {
	{ "iss", C_STRING, true },
	{ "sub", C_STRING, true },
	{ "aud", C_AUD, true },
	{ "exp", C_INTEGER, true },
	{ "iat", C_INTEGER, true },
	{ "nbf", C_INTEGER, true },
	{ "organization_slug", C_STRING, true },
	{ "pipeline_slug", C_STRING, true },
	{ "build_number", C_INTEGER, true },
	{ "build_branch", C_STRING, true },
	{ "build_commit", C_STRING, true },
	{ "step_key", C_STRING_OR_NULL, true },
	{ "job_id", C_STRING, true },
	{ "agent_id", C_STRING, true },
	{ "build_tag", C_STRING_OR_NULL, false },
	{ "jti", C_STRING, false },
	{ "build_source", C_STRING, false },
	{ "runner_environment", C_STRING, false },
	{ "organization_id", C_STRING, false },
	{ "pipeline_id", C_STRING, false },
	{ "build_id", C_STRING, false },
	{ "cluster_id", C_STRING, false },
	{ "cluster_name", C_STRING, false },
	{ "queue_id", C_STRING, false },
	{ "queue_key", C_STRING, false },
};

static bool
type_fits(const json_t *v, enum ctype t)
{
	size_t i;

	switch (t) {
	case C_STRING:
		return json_is_string(v);
	case C_INTEGER:
		/* json_is_integer: 1.7e9 is a real and refused; jansson
		 * refuses integers beyond 64 bits when parsing. */
		return json_is_integer(v);
	case C_STRING_OR_NULL:
		return json_is_string(v) || json_is_null(v);
	case C_AUD:
		if (json_is_string(v))
			return true;
		if (!json_is_array(v) || json_array_size(v) == 0)
			return false;
		for (i = 0; i < json_array_size(v); i++)
			if (!json_is_string(json_array_get(v, i)))
				return false;
		return true;
	}
	return false;
}

/* The JSON types of SPEC.md section 2. */
static enum pb_reason
check_types(json_t *claims, char *detail, size_t detail_len)
{
	static const char prefix[] = "agent_tag:";
	const char *name;
	json_t *v;
	size_t i;

	for (i = 0; i < sizeof(claim_types) / sizeof(claim_types[0]); i++) {
		v = json_object_get(claims, claim_types[i].name);
		if (v == NULL) {
			if (!claim_types[i].required)
				continue;
			pb_msg(detail, detail_len, "claim %s is missing",
			    claim_types[i].name);
			return PB_MALFORMED;
		}
		if (!type_fits(v, claim_types[i].type)) {
			pb_msg(detail, detail_len, "claim %s has the wrong type",
			    claim_types[i].name);
			return PB_MALFORMED;
		}
	}
	/* Object iteration, not recursion: agent_tag:NAME claims are
	 * strings. */
	json_object_foreach(claims, name, v) {
		if (strncmp(name, prefix, sizeof(prefix) - 1) == 0 &&
		    !json_is_string(v)) {
			char n[PB_DETAIL_VALUE_MAX + 1];

			printable(n, sizeof(n), name, strlen(name));
			pb_msg(detail, detail_len, "claim %s has the wrong type",
			    n);
			return PB_MALFORMED;
		}
	}
	return PB_OK;
}

/* The first configured audience aud holds, or NULL. */
static const char *
aud_accepted(const json_t *aud, const struct pb_config *cfg)
{
	size_t i, j;

	for (j = 0; j < cfg->token.n_audiences; j++) {
		if (json_is_string(aud)) {
			if (json_str_eq(aud, cfg->token.audiences[j]))
				return cfg->token.audiences[j];
			continue;
		}
		for (i = 0; i < json_array_size(aud); i++)
			if (json_str_eq(json_array_get(aud, i),
			    cfg->token.audiences[j]))
				return cfg->token.audiences[j];
	}
	return NULL;
}

/* a - b for a log message; LLONG_MAX when it does not fit. */
static long long
secs_between(long long a, long long b)
{
	long long d;

	if (__builtin_sub_overflow(a, b, &d))
		return LLONG_MAX;
	return d;
}

/* "1700000000 (2023-11-14T22:13:20Z) is 300s ago": a time claim against
 * now, for explain. */
static void
when(char *buf, size_t len, long long t, long long now)
{
	char ts[32], iso[40] = "";

	pb_iso_time(ts, sizeof(ts), t);
	if (ts[0] != '\0')
		pb_msg(iso, sizeof(iso), " (%s)", ts);
	if (t == now)
		pb_msg(buf, len, "%lld%s is now", t, iso);
	else if (t > now)
		pb_msg(buf, len, "%lld%s is in %llds", t, iso,
		    secs_between(t, now));
	else
		pb_msg(buf, len, "%lld%s is %llds ago", t, iso,
		    secs_between(now, t));
}

/* Issuer, audience, organization and times of verified claims. */
static enum pb_reason
check_claims(const json_t *claims, const struct pb_config *cfg,
    long long now, char *detail, size_t detail_len, const struct steps *s)
{
	const json_t *iss = json_object_get(claims, "iss");
	const json_t *aud = json_object_get(claims, "aud");
	const json_t *org = json_object_get(claims, "organization_slug");
	const json_t *oid = json_object_get(claims, "organization_id");
	const char *accepted;
	char v[PB_DETAIL_VALUE_MAX + 1], w[128];
	long long exp, iat, nbf, leeway = cfg->token.leeway;
	bool tracing = s != NULL && s->fn != NULL;

	if (!json_str_eq(iss, cfg->token.issuer)) {
		printable(v, sizeof(v), json_string_value(iss),
		    json_string_length(iss));
		pb_msg(detail, detail_len, "iss \"%s\" is not the configured "
		    "issuer", v);
		return step_fail(s, "issuer", PB_ISSUER, detail);
	}
	if (tracing) {
		printable(v, sizeof(v), json_string_value(iss),
		    json_string_length(iss));
		step_ok(s, "issuer", "iss \"%s\" is the configured issuer", v);
	}
	if ((accepted = aud_accepted(aud, cfg)) == NULL) {
		const json_t *first = json_is_string(aud) ? aud :
		    json_array_get(aud, 0);

		printable(v, sizeof(v), json_string_value(first),
		    json_string_length(first));
		pb_msg(detail, detail_len, "aud \"%s\"%s is not an accepted "
		    "audience", v, json_is_array(aud) &&
		    json_array_size(aud) > 1 ? " (and the others)" : "");
		return step_fail(s, "audience", PB_AUDIENCE, detail);
	}
	if (tracing) {
		printable(v, sizeof(v), accepted, strlen(accepted));
		step_ok(s, "audience", "aud holds \"%s\", a configured "
		    "audience", v);
	}
	if (!json_str_eq(org, cfg->token.organization)) {
		printable(v, sizeof(v), json_string_value(org),
		    json_string_length(org));
		pb_msg(detail, detail_len, "organization_slug \"%s\" is not the "
		    "configured organization", v);
		return step_fail(s, "organization", PB_ORGANIZATION, detail);
	}
	if (tracing) {
		printable(v, sizeof(v), json_string_value(org),
		    json_string_length(org));
		step_ok(s, "organization", "organization_slug \"%s\" is the "
		    "configured organization", v);
	}
	if (cfg->token.organization_id != NULL) {
		if (oid == NULL) {
			pb_msg(detail, detail_len, "organization_id is missing "
			    "but required by the policy");
			return step_fail(s, "organization_id", PB_ORGANIZATION,
			    detail);
		}
		if (!json_str_eq(oid, cfg->token.organization_id)) {
			printable(v, sizeof(v), json_string_value(oid),
			    json_string_length(oid));
			pb_msg(detail, detail_len, "organization_id \"%s\" is not "
			    "the configured organization", v);
			return step_fail(s, "organization_id", PB_ORGANIZATION,
			    detail);
		}
		step_ok(s, "organization_id", "organization_id is the "
		    "configured one");
	}

	exp = json_integer_value(json_object_get(claims, "exp"));
	iat = json_integer_value(json_object_get(claims, "iat"));
	nbf = json_integer_value(json_object_get(claims, "nbf"));

	/* now >= exp + leeway, without computing exp + leeway. The figures
	 * in the details say how far off the clocks or the job were. */
	if (diff_ge(now, exp, leeway)) {
		pb_msg(detail, detail_len, "token expired %llds ago (exp %lld, "
		    "leeway %llds)", secs_between(now, exp), exp, leeway);
		return step_fail(s, "exp", PB_EXPIRED, detail);
	}
	if (tracing) {
		when(w, sizeof(w), exp, now);
		step_ok(s, "exp", "exp %s; leeway %llds", w, leeway);
	}
	if (diff_gt(nbf, now, leeway)) {
		pb_msg(detail, detail_len, "token not valid for another %llds "
		    "(nbf %lld, leeway %llds)", secs_between(nbf, now), nbf,
		    leeway);
		return step_fail(s, "nbf", PB_NOT_YET_VALID, detail);
	}
	if (tracing) {
		when(w, sizeof(w), nbf, now);
		step_ok(s, "nbf", "nbf %s; leeway %llds", w, leeway);
	}
	if (diff_gt(iat, now, leeway)) {
		pb_msg(detail, detail_len, "token issued %llds in the future "
		    "(iat %lld, leeway %llds): check the clocks",
		    secs_between(iat, now), iat, leeway);
		return step_fail(s, "iat", PB_NOT_YET_VALID, detail);
	}
	if (tracing) {
		when(w, sizeof(w), iat, now);
		step_ok(s, "iat", "iat %s; leeway %llds", w, leeway);
	}
	if (exp < iat) {
		pb_msg(detail, detail_len, "token expires before it was issued");
		return step_fail(s, "lifetime", PB_MALFORMED, detail);
	}
	if (diff_gt(exp, iat, cfg->token.max_lifetime)) {
		pb_msg(detail, detail_len, "token lifetime %llds is over "
		    "max_lifetime %llds", secs_between(exp, iat),
		    cfg->token.max_lifetime);
		return step_fail(s, "lifetime", PB_LIFETIME, detail);
	}
	step_ok(s, "lifetime", "exp - iat is %llds, within max_lifetime %llds",
	    secs_between(exp, iat), cfg->token.max_lifetime);
	return PB_OK;
}

/* The settings this file depends on; the policy loader guarantees them,
 * but a NULL here must refuse rather than crash or match nothing. */
static bool
config_usable(const struct pb_config *cfg)
{
	size_t i;

	if (cfg->token.issuer == NULL || cfg->token.organization == NULL ||
	    cfg->token.audiences == NULL || cfg->token.n_audiences == 0 ||
	    cfg->token.algorithms == 0 || cfg->token.leeway < 0 ||
	    cfg->token.max_lifetime < 0)
		return false;
	for (i = 0; i < cfg->token.n_audiences; i++)
		if (cfg->token.audiences[i] == NULL)
			return false;
	return true;
}

/* The name and size of the key a token chose, for explain. */
static void
key_words(char *buf, size_t len, const EVP_PKEY *key)
{
	pb_msg(buf, len, "%s key of %d bits", EVP_PKEY_is_a(key, "RSA") ? "RSA" :
	    EVP_PKEY_is_a(key, "EC") ? "EC" : "unknown", EVP_PKEY_get_bits(key));
}

enum pb_reason
pb_token_verify(const char *token, size_t len, const struct pb_jwks *jwks,
    const struct pb_config *cfg, long long now, struct pb_token_info *info,
    char *detail, size_t detail_len)
{
	return pb_token_verify_traced(token, len, jwks, cfg, now, info, detail,
	    detail_len, NULL, NULL);
}

enum pb_reason
pb_token_verify_traced(const char *token, size_t len,
    const struct pb_jwks *jwks, const struct pb_config *cfg, long long now,
    struct pb_token_info *info, char *detail, size_t detail_len,
    pb_step_fn step, void *step_ctx)
{
	const struct steps st = { step, step_ctx }, *s = &st;
	enum pb_reason r;
	json_t *hdr = NULL, *claims = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *sig = NULL;
	const char *d1, *d2, *kid;
	char words[64];
	size_t sig_len, ai = 0, hlen, plen, slen, given = len;

	if (detail != NULL && detail_len > 0)
		detail[0] = '\0';
	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (info == NULL || cfg == NULL || !config_usable(cfg)) {
		pb_msg(detail, detail_len, "verifier not configured");
		return step_fail(s, "config", PB_CONFIG, detail);
	}
	if (token == NULL) {
		pb_msg(detail, detail_len, "no token");
		return step_fail(s, "size", PB_MALFORMED, detail);
	}

	while (len > 0 && is_ws(token[0])) {
		token++;
		len--;
	}
	while (len > 0 && is_ws(token[len - 1]))
		len--;
	if (len == 0) {
		pb_msg(detail, detail_len, "empty token");
		return step_fail(s, "size", PB_MALFORMED, detail);
	}
	if (len > PB_TOKEN_MAX_BYTES) {
		pb_msg(detail, detail_len, "token longer than %d bytes",
		    PB_TOKEN_MAX_BYTES);
		return step_fail(s, "size", PB_MALFORMED, detail);
	}
	step_ok(s, "size", "%zu bytes (%zu of surrounding whitespace trimmed), "
	    "at most %d allowed", len, given - len, PB_TOKEN_MAX_BYTES);

	/* header.payload.signature, each part base64url and non-empty. */
	d1 = memchr(token, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (d1 == NULL || d2 == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL) {
		pb_msg(detail, detail_len, "token is not three dot-separated "
		    "parts");
		return step_fail(s, "segments", PB_MALFORMED, detail);
	}
	hlen = (size_t)(d1 - token);
	plen = (size_t)(d2 - d1 - 1);
	slen = len - (size_t)(d2 + 1 - token);
	/* An empty signature is refused after the header, so that an
	 * "alg":"none" token is reported as the algorithm it names. */
	if (hlen == 0 || plen == 0) {
		pb_msg(detail, detail_len, "token has an empty part");
		return step_fail(s, "segments", PB_MALFORMED, detail);
	}
	if (pb_b64url_span(token, hlen) != hlen ||
	    pb_b64url_span(d1 + 1, plen) != plen ||
	    pb_b64url_span(d2 + 1, slen) != slen) {
		pb_msg(detail, detail_len, "token has a character outside "
		    "base64url");
		return step_fail(s, "segments", PB_MALFORMED, detail);
	}
	step_ok(s, "segments", "three base64url parts: header %zu, payload "
	    "%zu, signature %zu characters", hlen, plen, slen);

	hdr = segment_object(token, hlen);
	if (hdr == NULL) {
		pb_msg(detail, detail_len, "header is not a well-formed JSON "
		    "object");
		return step_fail(s, "header", PB_MALFORMED, detail);
	}
	r = check_header(hdr, cfg, info, &ai, &kid, detail, detail_len);
	if (r == PB_MALFORMED) {
		step_fail(s, "header", r, detail);
		goto out;
	}
	/* The header's own words, as the audit event shows them: alg
	 * made printable, kid free of control characters and cut to fit. */
	step_ok(s, "header", "alg %s, %s%s%s%s", info->alg,
	    info->kid[0] != '\0' ? "kid \"" : "no kid", info->kid,
	    info->kid[0] != '\0' ? "\"" : "",
	    r == PB_OK ? "; no crit, jku, x5u, jwk or x5c" : "");
	if (r != PB_OK) {
		step_fail(s, "algorithm", r, detail);
		goto out;
	}
	step_ok(s, "algorithm", "%s is allowed by token.algorithms",
	    algs[ai].name);
	if (slen == 0) {
		pb_msg(detail, detail_len, "token has no signature");
		r = step_fail(s, "segments", PB_MALFORMED, detail);
		goto out;
	}

	r = pb_jwks_select(jwks, kid, algs[ai].alg, &key, detail, detail_len);
	if (r != PB_OK || key == NULL) {
		if (r == PB_OK)
			r = PB_UNKNOWN_KEY;
		step_fail(s, "key", r, detail);
		goto out;
	}
	if (step != NULL) {
		key_words(words, sizeof(words), key);
		if (kid != NULL)
			step_ok(s, "key", "kid \"%s\" found among %zu keys: "
			    "%s, fits %s", info->kid, pb_jwks_count(jwks),
			    words, algs[ai].name);
		else
			step_ok(s, "key", "no kid, the set's only key: %s, "
			    "fits %s", words, algs[ai].name);
	}

	if (pb_b64url_decode(d2 + 1, slen, &sig, &sig_len) != 0) {
		pb_msg(detail, detail_len, "signature is not base64url");
		r = step_fail(s, "signature", PB_MALFORMED, detail);
		goto out;
	}
	/* The signing input is the token's own ASCII bytes, never a
	 * re-encoding of what was parsed. */
	if (!verify_signature(ai, key, (const unsigned char *)token,
	    (size_t)(d2 - token), sig, sig_len, detail, detail_len)) {
		r = step_fail(s, "signature", PB_SIGNATURE, detail);
		goto out;
	}
	step_ok(s, "signature", "%s signature verifies", algs[ai].name);

	/* From here on the payload is Buildkite's word. */
	claims = segment_object(d1 + 1, plen);
	if (claims == NULL) {
		pb_msg(detail, detail_len, "payload is not a well-formed JSON "
		    "object");
		r = step_fail(s, "claims", PB_MALFORMED, detail);
		goto out;
	}
	r = check_types(claims, detail, detail_len);
	if (r != PB_OK) {
		step_fail(s, "claims", r, detail);
		goto out;
	}
	step_ok(s, "claims", "payload is a JSON object and every claim has "
	    "its type");
	r = check_claims(claims, cfg, now, detail, detail_len, s);
	/* Signed and well typed: the audit event may name the job even when
	 * the token is refused for its issuer, audience or times. */
	if (r != PB_MALFORMED) {
		info->claims = claims;
		claims = NULL;
	}
	if (r == PB_OK)
		pb_msg(detail, detail_len, "token verified");

out:
	json_decref(claims);
	json_decref(hdr);
	EVP_PKEY_free(key);
	free(sig);
	return r;
}

void
pb_token_info_clear(struct pb_token_info *info)
{
	if (info == NULL)
		return;
	json_decref(info->claims);
	memset(info, 0, sizeof(*info));
}
