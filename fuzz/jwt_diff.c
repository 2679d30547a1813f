/*
 * jwt_diff.c - the module's verifier and libjwt side by side (see
 * jwt_diff.h): the fixed keys and key set, and the two verdicts. Test
 * code only; jwt_diff_mint.c makes the tokens.
 *
 * libjwt 1.10 is not the module's verifier for good reasons (token.c
 * says which); here it is a second opinion, used as a careful caller
 * would: jd_libjwt_verify. What it accepts and the module refuses is the
 * module's deliberate strictness, listed by tests/test_jwt_diff.c; what
 * the module accepts and it refuses would be a bug.
 *
 * Debian builds libjwt 1.10.2 with libb64's decoder instead of its own:
 * every character outside the base64 alphabet ('=', whitespace, a dot in
 * the signature) is skipped wherever it is, '-' and '_' having been
 * turned into '+' and '/' first, and leftover bits are dropped.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/err.h>

#include "jwks.h"
#include "jwt_diff.h"
#include "policy.h"
#include "token.h"
#include "tokmint.h"

/* Test-only keys, generated for this file with openssl genpkey. They
 * sign fuzz inputs and test tokens and nothing else: never trust them. */
static const char rsa_pem[] =
"-----BEGIN PRIVATE KEY-----\n"
"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCneSZORAjSLDJF\n"
"N80OCPUD2WCkFyVsAZIdswUUNWQScPTI/beIlAdmVIi/sk2jkeA7/bKDD2LPVdec\n"
"9NVx6hCvtYKXK+b/aZHaKNekxb9CCAj5bRbNePv28Suv6ZubgrFtguEidSvJ2dY1\n"
"Yhe/V9kl5ejlZ8FTLoWA8Z5DeCdO2OgvtRrxAbVnoEh6M6aMEqheSe6Wfb5PmnHP\n"
"8OtOlUHc54EBogT4FMfhMHv3oZ8mnS/5cEat2c8sKYKPneEbtrVw6Kcdi8D00D6A\n"
"Cph3TNXO/GP2uJaW6qI/4t4qFSH51Oy3TFHr9PzSG0YUKeHgab2MrJB7S7gap4Ax\n"
"5W+ZKGQzAgMBAAECggEAD3/xcSXv0Q/hGTHoaweeMZyBSr6PqpbcoJ4MdsnYOLK2\n"
"nRGKVnwo0So6u88zS1O5dqPszR9z7C+MNI0eYhwhLjn026vnBbWOF6xXBPt+T4yx\n"
"0+/qP9sWKs04V2AeFD78z99gmdFRW62rGya4fu+Q++Zy7yRyqpGwLnZuSN1KegwH\n"
"uqRBXwYfgB6Sw9MIeqBZWDCA8FxCKE23PjKjx8hX+Jpb7XflULtD5vLVmNU2IGHo\n"
"0Pk9Kd30t8tMP17VIAPVs9KN6FexG8kDNUR8uWFFIJzOabMTQC5ZBuzwSHNPktOx\n"
"sxqHYEBjSltXC0EEnm4VL6M8U6I0PxHtYG5NCt/X7QKBgQDiTmyNt7h/hyLZmydR\n"
"E94Y7f4wi72M4tE8HO30AiIxKlMZvpiVsV+TbRHQ2q4aWnPFzApg2IjG2CBoqOqH\n"
"U/OwaV8rflF+lfhwJfyGXFH7pFwvHsNBIGADGUB0qUS0JXXsVjhu/PwW0k1Qwtnc\n"
"/8aLVuTC/hsAuJbgHSjY44PF7wKBgQC9cokls7RZYgm1l3RRApWtZzpeg78t61Md\n"
"mnPjjK6AZdXdC3WIfSZqqHdcusnSLZe2JyY0CU8mmbeD77qx2XKhGay8eclnFzF+\n"
"cbQA7uVj464yVQPVa6tX9Yd/PnEAHAaEAcRfEgNdHXhDamwnmBO2U49f+F3x7qVB\n"
"dhklvO2p/QKBgAcXuiM+7NNiYt87E6Jg4wcY/mx7FLfDrBccOQD6yCOOVghqhtG6\n"
"O2qdcn9/OxGsYBCE8pZScwb4Yxukn6UaJnsS8l6kmN1EygKJzj5Pymn+nr0DU89I\n"
"unmeYvzFCVg0DFwZ367q0uPMN4web0GT6p8XXBgYarQ9FM11XIBfsROVAoGAfQOK\n"
"6z014tHmFFXYZOjuupnnE52e1/91PpDArsUUFhidUxuPuLzVUAbRlXiRW8fIWGRn\n"
"Oml2OMOxLThSG7Chixu1OD6poATXHViM7xy2dP824XHmcLx3OjkE6/vZd7gGuK+t\n"
"1Qq++4BJ7zrYGhypzWRAtZTg8ZiIprT3DUcqEkUCgYEAok+203X/ngtmXpHOYdiJ\n"
"HfL04u9fLpZ7n39YSQ9BmZzr3izOZZTIetjJB/Or7dFBJSbe7I7Cl+P/fUSDuoZZ\n"
"ghlE6Mg3uXOVmKQTz0+CuiLriyU8ijdpyi57NUGzsM5sOy8G49+EjBKBDromBy4X\n"
"OcBcDxoGfl3bkZH/ker6oWE=\n"
"-----END PRIVATE KEY-----\n";
static const char p256_pem[] =
"-----BEGIN PRIVATE KEY-----\n"
"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgV+A+BIq66T2Ro8eY\n"
"528w1B9aLMZjD1X0ybg3p6jFuYChRANCAAQeK+KAt813eoB8EUbW01Fk3wXPX6bA\n"
"Fx+XrhHTl5zQ9CmroV7chb4gsAN4uzOcHHzpnlyvjfLK+EHXH896M0YY\n"
"-----END PRIVATE KEY-----\n";
static const char p384_pem[] =
"-----BEGIN PRIVATE KEY-----\n"
"MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDHyk82tqFnfjFHkgo+\n"
"g5PgcW1zre5PO60+SsDiRbgRjH90YBHNnUtjSdzf6rm+tOihZANiAATRa/rgNYNV\n"
"LjVq3a85obVOn5vwISIGqvbyftWLbfr6aMjv4UuEowNmqCIpGZiEQlLiGXPq9ej9\n"
"cKaaZB2uUUkwjlDUMUZb5kQtrPvT/pfmpUjFlFwCo6DMNwY5XQqeZ80=\n"
"-----END PRIVATE KEY-----\n";

#define NPAIRS 3                /* JD_KEY_RSA, JD_KEY_P256, JD_KEY_P384 */

/* The key set: the RSA key twice, once for any RS* and once for RS256
 * only (a header alg the JWK does not name), and one key per curve. */
static const struct {
	const char *kid;
	enum jd_key pair;
	const char *extra;      /* members over tm_jwk's defaults */
} jwks_keys[] = {
	{ "rsa-1", JD_KEY_RSA, "{\"alg\":null}" },
	{ "rsa-256", JD_KEY_RSA, "{}" },
	{ "ec-256", JD_KEY_P256, "{}" },
	{ "ec-384", JD_KEY_P384, "{}" },
};
#define NKIDS (sizeof(jwks_keys) / sizeof(jwks_keys[0]))

/* The configuration's algorithms, by their exact names. */
static const char *const allowed_algs[] = {
	"RS256", "RS384", "RS512", "ES256", "ES384",
};
#define NALLOWED (sizeof(allowed_algs) / sizeof(allowed_algs[0]))

static struct tm_key *pairs[NPAIRS + 1];        /* by enum jd_key */
static char *pems[NPAIRS + 1];                  /* public, SPKI PEM */
static size_t pem_lens[NPAIRS + 1];
static struct pb_jwks *jwks;
static struct pb_config cfg;
static char issuer[] = JD_ISSUER;
static char audience[] = JD_AUDIENCE;
static char *audiences[] = { audience };
static char organization[] = JD_ORG;

int
jd_init(void)
{
	static const char *const pair_pems[] = { NULL, rsa_pem, p256_pem,
	    p384_pem };
	json_t *keys[NKIDS], *extra;
	char *text, err[256];
	size_t i;
	int rc = -1;

	if (jwks != NULL)
		return 0;
	memset(keys, 0, sizeof(keys));
	for (i = 1; i <= NPAIRS; i++) {
		pairs[i] = tm_key_from_pem(pair_pems[i], strlen(pair_pems[i]));
		if (pairs[i] == NULL ||
		    (pems[i] = tm_public_pem(pairs[i], &pem_lens[i])) == NULL)
			goto out;
	}
	for (i = 0; i < NKIDS; i++) {
		extra = json_loads(jwks_keys[i].extra, 0, NULL);
		keys[i] = tm_jwk(pairs[jwks_keys[i].pair], jwks_keys[i].kid,
		    extra);
		json_decref(extra);
		if (keys[i] == NULL)
			goto out;
	}
	text = tm_jwks_string(keys, NKIDS);
	if (text != NULL && pb_jwks_parse(text, strlen(text), &jwks, err,
	    sizeof(err)) == 0 && pb_jwks_count(jwks) == NKIDS)
		rc = 0;
	free(text);

	cfg.token.issuer = issuer;
	cfg.token.audiences = audiences;
	cfg.token.n_audiences = 1;
	cfg.token.organization = organization;
	cfg.token.algorithms = PB_ALG_RS256 | PB_ALG_RS384 | PB_ALG_RS512 |
	    PB_ALG_ES256 | PB_ALG_ES384;
	cfg.token.leeway = 30;
	cfg.token.max_lifetime = 900;
out:
	for (i = 0; i < NKIDS; i++)
		json_decref(keys[i]);
	if (rc != 0)
		jd_cleanup();
	return rc;
}

void
jd_cleanup(void)
{
	size_t i;

	for (i = 1; i <= NPAIRS; i++) {
		tm_key_free(pairs[i]);
		free(pems[i]);
		pairs[i] = NULL;
		pems[i] = NULL;
	}
	pb_jwks_free(jwks);
	jwks = NULL;
}

enum jd_key
jd_kid_pair(const char *kid)
{
	size_t i;

	for (i = 0; kid != NULL && i < NKIDS; i++)
		if (strcmp(kid, jwks_keys[i].kid) == 0)
			return jwks_keys[i].pair;
	return JD_KEY_BY_KID;
}

const struct tm_key *
jd_pair_key(enum jd_key pair)
{
	return pair >= JD_KEY_RSA && pair <= JD_KEY_P384 ? pairs[pair] : NULL;
}

const char *
jd_pair_pem(enum jd_key pair, size_t *len)
{
	*len = pair >= JD_KEY_RSA && pair <= JD_KEY_P384 ? pem_lens[pair] : 0;
	return *len != 0 ? pems[pair] : NULL;
}

/* ------------------------------------------------- the verdicts */

void
jd_module_verify(const char *tok, size_t len, struct jd_module *m)
{
	struct pb_token_info info;

	memset(m, 0, sizeof(*m));
	m->reason = pb_token_verify(tok, len, jwks, &cfg, JD_NOW, &info,
	    m->detail, sizeof(m->detail));
	/* token.h: claims are returned once the signature verified and the
	 * claims are well typed, whatever their values. */
	m->claims = info.claims;
	m->jws_ok = info.claims != NULL;
	info.claims = NULL;
	pb_token_info_clear(&info);
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* libjwt's split: the header up to the first dot, the payload to the
 * second, the signature the rest. Do the header and the payload hold
 * something? (libjwt writes a NUL after the bytes it decoded, one past a
 * malloc(0) for an empty one.) */
static bool
segments_filled(const char *s)
{
	const char *d1 = strchr(s, '.'), *d2;

	if (d1 == NULL || d1 == s || (d2 = strchr(d1 + 1, '.')) == NULL)
		return false;
	return d2 > d1 + 1;
}

static json_t *
libjwt_grants(jwt_t *j)
{
	char *text = jwt_get_grants_json(j, NULL);
	json_t *g = text != NULL ? json_loads(text, JSON_DECODE_ANY, NULL) :
	    NULL;

	free(text);
	return g;
}

void
jd_libjwt_verify(const char *tok, size_t len, struct jd_libjwt *l)
{
	jwt_t *j = NULL;
	const char *alg, *kid;
	char *s = NULL, *hdr_alg = NULL;
	enum jd_key pair;
	size_t i;

	memset(l, 0, sizeof(*l));
	while (len > 0 && is_ws(tok[0])) {
		tok++;
		len--;
	}
	while (len > 0 && is_ws(tok[len - 1]))
		len--;
	l->why = "NUL byte (a password cannot hold one)";
	if (memchr(tok, '\0', len) != NULL || (s = strndup(tok, len)) == NULL)
		goto out;
	l->why = "empty segment";
	if (!segments_filled(s))
		goto out;
	l->why = "jwt_decode without a key";
	if (jwt_decode(&j, s, NULL, 0) != 0)
		goto out;
	l->why = "header alg not allowed";
	if ((alg = jwt_get_header(j, "alg")) == NULL)
		goto out;
	for (i = 0; i < NALLOWED; i++)
		if (strcmp(alg, allowed_algs[i]) == 0)
			break;
	if (i == NALLOWED || (hdr_alg = strdup(alg)) == NULL)
		goto out;
	l->why = "no key for the header's kid";
	kid = jwt_get_header(j, "kid");
	if ((pair = jd_kid_pair(kid)) == JD_KEY_BY_KID)
		goto out;
	jwt_free(j);
	j = NULL;
	l->why = "jwt_decode with the key";
	if (jwt_decode(&j, s, (const unsigned char *)pems[pair],
	    (int)pem_lens[pair]) != 0)
		goto out;
	l->why = "jwt_get_alg is not the header's alg";
	if (jwt_get_alg(j) != jwt_str_alg(hdr_alg))
		goto out;
	l->why = "grants";
	if ((l->claims = libjwt_grants(j)) == NULL)
		goto out;
	l->why = "accepted";
	l->ok = true;
out:
	jwt_free(j);
	free(hdr_alg);
	free(s);
	ERR_clear_error();
}

bool
jd_libjwt_raw(const char *tok, size_t len, enum jd_key key)
{
	jwt_t *j = NULL;
	char *s;
	bool ok;

	if (jd_init() != 0 || memchr(tok, '\0', len) != NULL ||
	    (s = strndup(tok, len)) == NULL)
		return false;
	/* the one guard kept: libjwt's own overflow, segments_filled */
	ok = segments_filled(s) && (key == JD_KEY_BY_KID ?
	    jwt_decode(&j, s, NULL, 0) :
	    jwt_decode(&j, s, (const unsigned char *)pems[key],
	    (int)pem_lens[key])) == 0;
	jwt_free(j);
	free(s);
	ERR_clear_error();
	return ok;
}

void
jd_module_clear(struct jd_module *m)
{
	json_decref(m->claims);
	m->claims = NULL;
}

void
jd_libjwt_clear(struct jd_libjwt *l)
{
	json_decref(l->claims);
	l->claims = NULL;
}
