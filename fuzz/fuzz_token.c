/*
 * fuzz_token.c - fuzz target: the input is a token, verified with
 * pb_token_verify against a fixed key set (one RSA-2048 and one P-256
 * key, generated once for this file; their private halves are not kept
 * anywhere in the tree) under a fixed configuration at a fixed time.
 * Whatever the verifier says about the token is then formatted as an
 * audit event in both formats.
 *
 * Mutated tokens rarely survive the signature check, so this mostly
 * exercises the splitting, base64url decoding and header checks, which
 * is where a hostile client's bytes land first. The invariants checked
 * (with __builtin_trap, so the fuzzer records a crash):
 *  - PB_OK comes with claims, and claims only with PB_OK or a refusal
 *    for issuer, audience, organization or time;
 *  - whenever claims are returned, the signature verifies by an
 *    independent check here (own split, own base64url decoder, OpenSSL
 *    directly), so no path can accept an unsigned payload;
 *  - kid, alg and detail are NUL-terminated, kid holds no control
 *    characters, and the audit line is one line of valid JSON or
 *    logfmt;
 *  - pb_token_verify_traced (the admin tool's explain) comes to the same
 *    result, detail, kid, alg and claims, and no step report or detail
 *    repeats the token's payload segment.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "audit.h"
#include "jwks.h"
#include "token.h"

#define NOW 1700000000LL

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tests/mint-token jwks rsa.pem rsa-1 ec.pem ec-1 */
static const char jwks_text[] =
"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"alg\":\"RS256\","
"\"use\":\"sig\",\"n\":\"tEeii2lrUzUZ1UAYyJcBZ9jPSNkSdtMMJoSgNjmmC9a1FY7v"
"XR_Oh3GrlIWaypE2apw6tVu7zNlOvEo55g3Y-fXCTiVT1YTRMUcyrpf5YJ3LdMjBwrPc9Tlm"
"zL02Dj5TqziSGIugVsctHMo07jhOQlT3FtXCaN3QFpCNhUL-tqcQGK1AIn5ngUeHtlch1Dce"
"I6q4SOki-3ngpCa_AMQJsyM1v7yQ68B6cbmr53wOBjuGJ3Kn7XoQ-NMV7FprAwDg1RJ2wMO1"
"v5-mOs8bQziNud_J6Er2pFxXKbXWG0zF2bbV2p9NnZZec_ToGrtdj7MiXmkQ_OOSvgBuFDbu"
"hSAmfw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"ec-1\",\"alg\":\"ES256\","
"\"use\":\"sig\",\"crv\":\"P-256\","
"\"x\":\"9t_hQcXJEWv8BZCUp5ue-Sy0Xh96LfilUradILJbq_I\","
"\"y\":\"lof2j5xjf4zWLLJdL1eBZRHQqbr_zTK-d7e9_gG4sdc\"}]}";

static struct pb_jwks *jwks;
static struct pb_config cfg;
static char audience[] = "postgres://db.test";
static char *audiences[] = { audience };
static char issuer[] = "https://agent.buildkite.com";
static char organization[] = "acme-inc";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	if (jwks != NULL)
		return 0;
	if (pb_jwks_parse(jwks_text, sizeof(jwks_text) - 1, &jwks, err,
	    sizeof(err)) != 0 || pb_jwks_count(jwks) != 2)
		__builtin_trap();
	memset(&cfg, 0, sizeof(cfg));
	cfg.token.issuer = issuer;
	cfg.token.audiences = audiences;
	cfg.token.n_audiences = 1;
	cfg.token.organization = organization;
	cfg.token.algorithms = PB_ALG_RS256 | PB_ALG_ES256;
	cfg.token.leeway = 30;
	cfg.token.max_lifetime = 900;
	return 0;
}

/* ------------------------------------------- the independent oracle */

static int
b64v(unsigned char c)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *p = c ? strchr(alpha, c) : NULL;

	return p ? (int)(p - alpha) : -1;
}

/* Plain unpadded base64url, written separately from b64url.c. Returns a
 * malloc'd buffer or NULL. */
static unsigned char *
unb64(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out = malloc(len * 3 / 4 + 1);
	unsigned long acc = 0;
	size_t i, o = 0;
	int bits = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		int v = b64v((unsigned char)s[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*out_len = o;
	return out;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Does the token carry a valid signature of one of our keys? The key
 * comes from pb_jwks_select; everything else is done here. */
static bool
independently_signed(const char *tok, size_t len)
{
	const char *d1, *d2;
	unsigned char *hraw = NULL, *sig = NULL, *der = NULL, *p;
	size_t hlen = 0, slen = 0;
	json_t *hdr = NULL;
	const char *alg, *kid;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *mctx = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	enum pb_alg a;
	bool ok = false;
	int n;

	while (len > 0 && is_ws(tok[0])) {
		tok++;
		len--;
	}
	while (len > 0 && is_ws(tok[len - 1]))
		len--;
	d1 = memchr(tok, '.', len);
	d2 = memrchr(tok, '.', len);
	if (d1 == NULL || d2 == d1)
		goto out;
	if ((hraw = unb64(tok, (size_t)(d1 - tok), &hlen)) == NULL ||
	    (hdr = json_loadb((const char *)hraw, hlen, 0, NULL)) == NULL ||
	    (sig = unb64(d2 + 1, len - (size_t)(d2 + 1 - tok), &slen)) ==
	    NULL)
		goto out;
	alg = json_string_value(json_object_get(hdr, "alg"));
	kid = json_string_value(json_object_get(hdr, "kid"));
	if (alg == NULL)
		goto out;
	if (strcmp(alg, "RS256") == 0)
		a = PB_ALG_RS256;
	else if (strcmp(alg, "ES256") == 0)
		a = PB_ALG_ES256;
	else
		goto out;
	if (pb_jwks_select(jwks, kid, a, &key, NULL, 0) != PB_OK ||
	    key == NULL)
		goto out;
	if (a == PB_ALG_ES256) {
		if (slen != 64 || (es = ECDSA_SIG_new()) == NULL ||
		    (r = BN_bin2bn(sig, 32, NULL)) == NULL ||
		    (s = BN_bin2bn(sig + 32, 32, NULL)) == NULL ||
		    !ECDSA_SIG_set0(es, r, s))
			goto out;
		r = s = NULL;
		if ((n = i2d_ECDSA_SIG(es, NULL)) <= 0 ||
		    (der = malloc((size_t)n)) == NULL)
			goto out;
		p = der;
		if (i2d_ECDSA_SIG(es, &p) != n)
			goto out;
		free(sig);
		sig = der;
		der = NULL;
		slen = (size_t)n;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, key) != 1)
		goto out;
	ok = EVP_DigestVerify(mctx, sig, slen, (const unsigned char *)tok,
	    (size_t)(d2 - tok)) == 1;
out:
	EVP_MD_CTX_free(mctx);
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	EVP_PKEY_free(key);
	json_decref(hdr);
	free(hraw);
	free(sig);
	free(der);
	ERR_clear_error();
	return ok;
}

/* ------------------------------------------------------ the target */

struct trace_ctx {
	char *payload;          /* the payload segment, NUL-terminated */
	size_t steps;
};

static void
on_step(void *ctx, const char *step, bool passed, const char *what)
{
	struct trace_ctx *t = ctx;

	(void)passed;
	if (step == NULL || what == NULL ||
	    (t->payload != NULL && strstr(what, t->payload) != NULL))
		__builtin_trap();
	t->steps++;
}

/* The payload segment as a C string, when it is long enough that
 * finding it in a message cannot be chance. NULL otherwise. */
static char *
payload_segment(const char *tok, size_t len)
{
	const char *d1 = memchr(tok, '.', len), *d2;

	if (d1 == NULL)
		return NULL;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	/* a NUL would cut the copy short, down to "", found everywhere */
	if (d2 == NULL || d2 - d1 - 1 < 16 ||
	    memchr(d1 + 1, '\0', (size_t)(d2 - d1 - 1)) != NULL)
		return NULL;
	return strndup(d1 + 1, (size_t)(d2 - d1 - 1));
}

/* The traced verification agrees with the plain one. */
static void
check_traced(const uint8_t *data, size_t size, enum pb_reason r,
    const struct pb_token_info *info, const char *detail)
{
	struct pb_token_info tinfo;
	struct trace_ctx t;
	char tdetail[256];
	enum pb_reason tr;

	t.payload = payload_segment((const char *)data, size);
	t.steps = 0;
	tr = pb_token_verify_traced((const char *)data, size, jwks, &cfg, NOW,
	    &tinfo, tdetail, sizeof(tdetail), on_step, &t);
	if (tr != r || strcmp(tdetail, detail) != 0 ||
	    strcmp(tinfo.kid, info->kid) != 0 ||
	    strcmp(tinfo.alg, info->alg) != 0 ||
	    (tinfo.claims == NULL) != (info->claims == NULL) ||
	    (tinfo.claims != NULL &&
	    !json_equal(tinfo.claims, info->claims)) ||
	    (t.payload != NULL && strstr(detail, t.payload) != NULL))
		__builtin_trap();
	pb_token_info_clear(&tinfo);
	free(t.payload);
}

static void
check_audit(enum pb_reason r, const struct pb_token_info *info,
    const char *detail)
{
	struct pb_audit_event ev;
	json_t *parsed;
	char *line;

	memset(&ev, 0, sizeof(ev));
	ev.reason = r;
	ev.role = "api_migrator";
	ev.service = "postgresql";
	ev.rhost = "10.0.0.1";
	ev.claims = info->claims;
	ev.kid = info->kid;
	ev.detail = detail;

	line = pb_audit_format(&ev, PB_AUDIT_LOGFMT);
	if (line == NULL || strpbrk(line, "\r\n") != NULL)
		__builtin_trap();
	free(line);

	line = pb_audit_format(&ev, PB_AUDIT_JSON);
	if (line == NULL)
		__builtin_trap();
	parsed = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(parsed) || strpbrk(line, "\r\n") != NULL)
		__builtin_trap();
	json_decref(parsed);
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pb_token_info info;
	char detail[256];
	enum pb_reason r;
	size_t i;

	if (jwks == NULL)
		LLVMFuzzerInitialize(NULL, NULL);

	r = pb_token_verify((const char *)data, size, jwks, &cfg, NOW, &info,
	    detail, sizeof(detail));

	if (memchr(detail, '\0', sizeof(detail)) == NULL ||
	    memchr(info.kid, '\0', sizeof(info.kid)) == NULL ||
	    memchr(info.alg, '\0', sizeof(info.alg)) == NULL)
		__builtin_trap();
	for (i = 0; info.kid[i] != '\0'; i++)
		if ((unsigned char)info.kid[i] < 0x20 || info.kid[i] == 0x7f)
			__builtin_trap();

	switch (r) {
	case PB_OK:
		if (!json_is_object(info.claims))
			__builtin_trap();
		break;
	case PB_ISSUER:
	case PB_AUDIENCE:
	case PB_ORGANIZATION:
	case PB_EXPIRED:
	case PB_NOT_YET_VALID:
	case PB_LIFETIME:
		break;
	case PB_MALFORMED:
	case PB_ALGORITHM:
	case PB_UNKNOWN_KEY:
	case PB_SIGNATURE:
		if (info.claims != NULL)
			__builtin_trap();
		break;
	default:
		/* No policy, replay or JWKS fetch is involved here, and the
		 * configuration is usable. */
		__builtin_trap();
	}
	if (info.claims != NULL && !independently_signed((const char *)data,
	    size))
		__builtin_trap();

	check_audit(r, &info, detail);
	check_traced(data, size, r, &info, detail);
	pb_token_info_clear(&info);
	return 0;
}
