/*
 * test_jwt_diff.c - the module's verifier against libjwt 1.10 (used the
 * safe way, fuzz/jwt_diff.h), case by case: tokens both accept, one
 * token for each deliberate strictness of the module (it refuses, libjwt
 * accepts), tokens both refuse, and the one leniency (whitespace around
 * the token). Each row asserts the module's reason and the words of its
 * detail, libjwt's verdict, and for some libjwt's verdict without the
 * safe recipe. Then the differential fuzz target's seed corpus is
 * replayed through both: no input may be accepted by the module alone.
 *
 * usage: test_jwt_diff                 the table and fuzz/corpus/jwt_diff
 *        test_jwt_diff --seeds DIR     write each row's fuzz input to DIR
 *        test_jwt_diff DIR...          tally the verdicts on DIR's inputs
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt_diff.h"
#include "tap.h"
#include "token.h"
#include "tokmint.h"

enum payload {
	P_DEFAULT,              /* tm_default_claims: the module accepts */
	P_DUP,                  /* sub twice */
	P_ARRAY,                /* [claims] */
	P_NUL,                  /* claims, a NUL byte, junk */
	P_NUL_NUMBER,           /* a NUL byte after a number */
	P_BAD_UTF8,             /* a claim holding the byte 0xff */
	P_EXP_STRING,           /* exp a string */
	P_BIG,                  /* a claim of 17,000 bytes */
	P_DASHES,               /* a claim that encodes to '-' */
};

#define RAW_UNCHECKED (-1)

static const struct row {
	const char *slug;       /* the seed's file name */
	const char *name;       /* the case, as the README's table says */
	const char *hdr;
	size_t hdr_len;         /* 0: strlen(hdr) */
	enum payload pay;
	unsigned twists;
	enum jd_key key;        /* signing key, JD_KEY_BY_KID: the kid's */
	enum pb_reason reason;  /* the module's */
	const char *detail;     /* in the module's detail */
	bool libjwt;            /* the safe recipe's verdict */
	int raw;                /* libjwt alone: 1, 0 or RAW_UNCHECKED */
	enum jd_key raw_key;
} rows[] = {
#define RSA1 "{\"alg\":\"RS256\",\"kid\":\"rsa-1\""
	/* both accept */
	{ "ok-rs256", "RS256", RSA1 "}", 0, P_DEFAULT, 0, 0, PB_OK,
	    "token verified", true, RAW_UNCHECKED, 0 },
	{ "ok-rs384", "RS384", "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", 0,
	    P_DEFAULT, 0, 0, PB_OK, "token verified", true, RAW_UNCHECKED, 0 },
	{ "ok-rs512", "RS512", "{\"alg\":\"RS512\",\"kid\":\"rsa-1\"}", 0,
	    P_DEFAULT, 0, 0, PB_OK, "token verified", true, RAW_UNCHECKED, 0 },
	{ "ok-rs256-jwk-alg", "RS256, the JWK's alg",
	    "{\"alg\":\"RS256\",\"kid\":\"rsa-256\"}", 0, P_DEFAULT, 0, 0,
	    PB_OK, "token verified", true, RAW_UNCHECKED, 0 },
	{ "ok-es256", "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec-256\"}", 0,
	    P_DEFAULT, 0, 0, PB_OK, "token verified", true, RAW_UNCHECKED, 0 },
	{ "ok-es384", "ES384", "{\"alg\":\"ES384\",\"kid\":\"ec-384\"}", 0,
	    P_DEFAULT, 0, 0, PB_OK, "token verified", true, RAW_UNCHECKED, 0 },
	{ "ok-typ-jwt", "typ JWT", "{\"typ\":\"JWT\",\"alg\":\"RS256\","
	    "\"kid\":\"rsa-1\"}", 0, P_DEFAULT, 0, 0, PB_OK, "token verified",
	    true, RAW_UNCHECKED, 0 },
	/* the module's one leniency: it trims, and so does the recipe */
	{ "ok-around-ws", "whitespace around the token", RSA1 "}", 0,
	    P_DEFAULT, JD_AROUND_WS, 0, PB_OK, "token verified", true, 0,
	    JD_KEY_RSA },

	/* the module refuses, libjwt accepts */
	{ "strict-dup-header", "a header member twice",
	    RSA1 ",\"kid\":\"rsa-1\"}", 0, P_DEFAULT, 0, 0, PB_MALFORMED,
	    "header is not a well-formed JSON object", true, 1, JD_KEY_RSA },
	{ "strict-dup-claim", "a claim twice", RSA1 "}", 0, P_DUP, 0, 0,
	    PB_MALFORMED, "payload is not a well-formed JSON object", true, 1,
	    JD_KEY_RSA },
	{ "strict-hdr-pad", "'=' padding (header)", RSA1 "}", 0, P_DEFAULT,
	    JD_HDR_PAD, 0, PB_MALFORMED, "character outside base64url", true,
	    1, JD_KEY_RSA },
	{ "strict-pay-pad", "'=' padding (payload)", RSA1 "}", 0, P_DEFAULT,
	    JD_PAY_PAD, 0, PB_MALFORMED, "character outside base64url", true,
	    1, JD_KEY_RSA },
	{ "strict-sig-pad", "'=' padding (signature)", RSA1 "}", 0,
	    P_DEFAULT, JD_SIG_PAD, 0, PB_MALFORMED,
	    "character outside base64url", true, 1, JD_KEY_RSA },
	{ "strict-hdr-bits", "non-zero unused bits (header)", RSA1 "}", 0,
	    P_DEFAULT, JD_HDR_BITS, 0, PB_MALFORMED,
	    "header is not a well-formed JSON object", true, 1, JD_KEY_RSA },
	{ "strict-pay-bits", "non-zero unused bits (payload)", RSA1 "}", 0,
	    P_DEFAULT, JD_PAY_BITS, 0, PB_MALFORMED,
	    "payload is not a well-formed JSON object", true, 1, JD_KEY_RSA },
	{ "strict-sig-bits", "non-zero unused bits (signature)", RSA1 "}", 0,
	    P_DEFAULT, JD_SIG_BITS, 0, PB_MALFORMED,
	    "signature is not base64url", true, 1, JD_KEY_RSA },
	{ "strict-pay-lone", "a lone character after the payload (length 1 "
	    "mod 4)", RSA1 "}", 0, P_DEFAULT, JD_PAY_LONE, 0, PB_MALFORMED,
	    "payload is not a well-formed JSON object", true, 1, JD_KEY_RSA },
	{ "strict-std-alphabet", "'+' and '/' (base64, not base64url)",
	    RSA1 "}", 0, P_DASHES, JD_STD_ALPHABET, 0, PB_MALFORMED,
	    "character outside base64url", true, 1, JD_KEY_RSA },
	{ "strict-sig-std", "'+' and '/' in the signature", RSA1 "}", 0,
	    P_DEFAULT, JD_SIG_STD, 0, PB_MALFORMED,
	    "character outside base64url", true, 1, JD_KEY_RSA },
	{ "strict-hdr-space", "a space inside the header segment", RSA1 "}",
	    0, P_DEFAULT, JD_HDR_WS, 0, PB_MALFORMED,
	    "character outside base64url", true, 1, JD_KEY_RSA },
	{ "strict-pay-newline", "a newline inside the payload segment",
	    RSA1 "}", 0, P_DEFAULT, JD_PAY_WS, 0, PB_MALFORMED,
	    "character outside base64url", true, 1, JD_KEY_RSA },
	{ "strict-trailing-dot", "a trailing dot (an empty fourth segment)",
	    RSA1 "}", 0, P_DEFAULT, JD_SIG_DOT, 0, PB_MALFORMED,
	    "not three dot-separated parts", true, 1, JD_KEY_RSA },
	{ "strict-crit", "a crit header", RSA1 ",\"crit\":[\"exp\"]}", 0,
	    P_DEFAULT, 0, 0, PB_MALFORMED, "header has crit", true, 1,
	    JD_KEY_RSA },
	{ "strict-jku", "a jku header (likewise x5u)",
	    RSA1 ",\"jku\":\"https://evil.test/jwks\"}", 0, P_DEFAULT, 0, 0,
	    PB_MALFORMED, "header has jku", true, 1, JD_KEY_RSA },
	{ "strict-jwk", "a jwk header (likewise x5c)", RSA1 ",\"jwk\":{}}", 0,
	    P_DEFAULT, 0, 0, PB_MALFORMED, "header has jwk", true, 1,
	    JD_KEY_RSA },
	{ "strict-typ-number", "typ not a string", RSA1 ",\"typ\":1}", 0,
	    P_DEFAULT, 0, 0, PB_MALFORMED, "header typ is not JWT", true, 1,
	    JD_KEY_RSA },
	{ "strict-jwk-alg", "a header alg that is not the JWK's alg (RS384, "
	    "JWK RS256)", "{\"alg\":\"RS384\",\"kid\":\"rsa-256\"}", 0,
	    P_DEFAULT, 0, 0, PB_ALGORITHM, "key is for another algorithm",
	    true, 1, JD_KEY_RSA },
	{ "strict-es-curve", "a header alg that does not fit the curve "
	    "(ES256, P-384 key)", "{\"alg\":\"ES256\",\"kid\":\"ec-384\"}", 0,
	    P_DEFAULT, 0, 0, PB_ALGORITHM, "key is not a P-256 EC key", true,
	    1, JD_KEY_P384 },
	{ "strict-pay-array", "a payload that is not an object (an array)",
	    RSA1 "}", 0, P_ARRAY, 0, 0, PB_MALFORMED,
	    "payload is not a well-formed JSON object", true, 1, JD_KEY_RSA },
	{ "strict-pay-nul", "a NUL byte after the payload's JSON", RSA1 "}",
	    0, P_NUL, 0, 0, PB_MALFORMED,
	    "payload is not a well-formed JSON object", true, 1, JD_KEY_RSA },
	{ "strict-hdr-nul", "a NUL byte after the header's JSON",
	    RSA1 "}\0junk", sizeof(RSA1 "}\0junk") - 1, P_DEFAULT, 0, 0,
	    PB_MALFORMED, "header is not a well-formed JSON object", true, 1,
	    JD_KEY_RSA },
	{ "strict-big", "a token over 16 KiB", RSA1 "}", 0, P_BIG, 0, 0,
	    PB_MALFORMED, "token longer than", true, 1, JD_KEY_RSA },
	{ "strict-exp-string", "a claim of the wrong type (exp a string)",
	    RSA1 "}", 0, P_EXP_STRING, 0, 0, PB_MALFORMED,
	    "claim exp has the wrong type", true, 1, JD_KEY_RSA },

	/* both refuse; some only thanks to the recipe */
	{ "both-none", "alg none, no signature",
	    "{\"alg\":\"none\",\"kid\":\"rsa-1\"}", 0, P_DEFAULT, 0, 0,
	    PB_ALGORITHM, "never accepted", false, 1, JD_KEY_BY_KID },
	{ "both-hs256", "HS256 keyed with the RSA key's PEM",
	    "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", 0, P_DEFAULT, 0, 0,
	    PB_ALGORITHM, "never accepted", false, 1, JD_KEY_RSA },
	{ "both-alg-case", "alg in another case (rs256)",
	    "{\"alg\":\"rs256\",\"kid\":\"rsa-1\"}", 0, P_DEFAULT, 0, 0,
	    PB_ALGORITHM, "is not supported", false, 1, JD_KEY_RSA },
	{ "both-no-kid", "no kid", "{\"alg\":\"RS256\"}", 0, P_DEFAULT, 0,
	    JD_KEY_RSA, PB_UNKNOWN_KEY, "token has no kid", false, 1,
	    JD_KEY_RSA },
	{ "both-unknown-kid", "a kid not in the set",
	    "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", 0, P_DEFAULT, 0,
	    JD_KEY_RSA, PB_UNKNOWN_KEY, "no key with this kid", false, 1,
	    JD_KEY_RSA },
	{ "both-es-der", "an ES256 signature in DER",
	    "{\"alg\":\"ES256\",\"kid\":\"ec-256\"}", 0, P_DEFAULT, JD_SIG_DER,
	    0, PB_SIGNATURE, "signature length is not 64 bytes", false, 0,
	    JD_KEY_P256 },
	/* the module accepted this one until fuzz_jwt_diff found it */
	{ "both-nul-after-number", "a NUL byte after a number in the payload",
	    RSA1 "}", 0, P_NUL_NUMBER, 0, 0, PB_MALFORMED,
	    "payload is not a well-formed JSON object", false, 0, JD_KEY_RSA },
	{ "both-bad-utf8", "a payload that is not UTF-8", RSA1 "}", 0,
	    P_BAD_UTF8, 0, 0, PB_MALFORMED,
	    "payload is not a well-formed JSON object", false, 0, JD_KEY_RSA },
	{ "both-typ-at-jwt", "typ other than JWT (at+jwt)",
	    RSA1 ",\"typ\":\"at+jwt\"}", 0, P_DEFAULT, 0, 0, PB_MALFORMED,
	    "header typ is not JWT", false, 0, JD_KEY_RSA },
	{ "both-hdr-array", "a header that is not an object (an array)",
	    "[\"RS256\",\"rsa-1\"]", 0, P_DEFAULT, 0, JD_KEY_RSA, PB_MALFORMED,
	    "header is not a well-formed JSON object", false, 0, JD_KEY_RSA },
	{ "both-empty-sig", "an empty signature", RSA1 "}", 0, P_DEFAULT,
	    JD_SIG_EMPTY, 0, PB_MALFORMED, "token has no signature", false, 0,
	    JD_KEY_RSA },
#undef RSA1
};

/* The payload JSON of a row, malloc'd, *len bytes (it may hold NUL). */
static char *
payload_text(enum payload p, size_t *len)
{
	json_t *c = tm_default_claims(JD_NOW, JD_AUDIENCE, JD_ORG);
	char *text, *out = NULL, *big;
	int n = -1;

	if (c == NULL)
		return NULL;
	if (p == P_EXP_STRING)
		json_object_set_new(c, "exp", json_string("1700000300"));
	if (p == P_DASHES)
		json_object_set_new(c, "note", json_string("~~~~~~~~~~~~"));
	if (p == P_BIG && (big = malloc(17001)) != NULL) {
		memset(big, 'a', 17000);
		big[17000] = '\0';
		json_object_set_new(c, "note", json_string(big));
		free(big);
	}
	text = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(c);
	if (text == NULL)
		return NULL;
	/* text ends in '}'; the variants open it up again */
	text[strlen(text) - 1] = '\0';
	switch (p) {
	case P_DUP:
		n = asprintf(&out, "%s,\"sub\":\"other\"}", text);
		break;
	case P_ARRAY:
		n = asprintf(&out, "[%s}]", text);
		break;
	case P_NUL:
		n = asprintf(&out, "%s}#junk", text);
		if (n > 0)
			out[n - 5] = '\0';
		break;
	case P_NUL_NUMBER:
		n = asprintf(&out, "{\"x\":1#,%s}", text + 1);
		if (n > 0)
			out[6] = '\0';
		break;
	case P_BAD_UTF8:
		n = asprintf(&out, "%s,\"note\":\"\xff\"}", text);
		break;
	default:
		n = asprintf(&out, "%s}", text);
	}
	free(text);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return out;
}

/* The fuzz input of a row (mode 1), malloc'd, *len bytes. */
static uint8_t *
row_input(const struct row *r, unsigned twists, size_t *len)
{
	size_t hlen = r->hdr_len ? r->hdr_len : strlen(r->hdr), plen = 0;
	char *pay = payload_text(r->pay, &plen);
	uint8_t *in;

	if (pay == NULL)
		return NULL;
	*len = JD_INPUT_HEAD + hlen + 1 + plen;
	if ((in = malloc(*len)) != NULL) {
		jd_input_head(in, 1, twists, r->key, NULL);
		memcpy(in + JD_INPUT_HEAD, r->hdr, hlen);
		in[JD_INPUT_HEAD + hlen] = '\n';
		memcpy(in + JD_INPUT_HEAD + hlen + 1, pay, plen);
	}
	free(pay);
	return in;
}

static char *
row_token(const struct row *r, unsigned twists, size_t *len)
{
	size_t ilen;
	uint8_t *in = row_input(r, twists, &ilen);
	char *tok = in != NULL ? jd_token_from_input(in, ilen, len) : NULL;

	free(in);
	return tok;
}

static void
check_row(const struct row *r)
{
	struct jd_module m;
	struct jd_libjwt l;
	char *tok, *plain = NULL;
	size_t len, plen;
	bool applied = true;

	if ((tok = row_token(r, r->twists, &len)) == NULL) {
		ok(0, "%s: token made", r->name);
		return;
	}
	/* A twist that changed nothing would test the plain token. RSA
	 * signatures are deterministic, so equal tokens mean no change. */
	if (r->twists != 0 && r->twists != JD_SIG_DER) {
		plain = row_token(r, 0, &plen);
		applied = plain != NULL && (plen != len ||
		    memcmp(plain, tok, len) != 0);
		free(plain);
	}
	jd_module_verify(tok, len, &m);
	jd_libjwt_verify(tok, len, &l);
	ok(applied && m.reason == r->reason && strstr(m.detail, r->detail) &&
	    m.jws_ok == (r->reason == PB_OK),
	    "%s: the module %s (%s)", r->name, r->reason == PB_OK ?
	    "accepts" : "refuses", m.detail);
	ok(l.ok == r->libjwt, "%s: libjwt %s (%s)", r->name,
	    r->libjwt ? "accepts" : "refuses", l.why);
	if (r->reason == PB_OK)
		ok(m.claims != NULL && json_equal(m.claims, l.claims),
		    "%s: both see the same claims", r->name);
	if (r->raw != RAW_UNCHECKED)
		ok(jd_libjwt_raw(tok, len, r->raw_key) == (r->raw == 1),
		    "%s: libjwt without the recipe %s", r->name,
		    r->raw ? "accepts" : "refuses");
	jd_module_clear(&m);
	jd_libjwt_clear(&l);
	free(tok);
}

/* jd_token_from_input takes up to twice the module's maximum */
#define INPUT_MAX (4 * PB_TOKEN_MAX_BYTES)

struct tally {
	unsigned inputs, both, strict, neither, findings;
};

/* Each file of dir through both verifiers; prints each file's verdicts
 * when verbose. */
static int
replay_dir(const char *dir, struct tally *t, bool verbose)
{
	struct dirent **ents;
	int i, n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char *path = NULL, *tok, *data = NULL;
		struct jd_module m;
		struct jd_libjwt l;
		size_t size = 0, len;
		FILE *f;

		if (ents[i]->d_name[0] != '.' &&
		    asprintf(&path, "%s/%s", dir, ents[i]->d_name) >= 0 &&
		    (f = fopen(path, "rb")) != NULL) {
			data = malloc(INPUT_MAX);
			size = data ? fread(data, 1, INPUT_MAX, f) : 0;
			fclose(f);
			t->inputs++;
		}
		if (size > 0 && (tok = jd_token_from_input((uint8_t *)data,
		    size, &len)) != NULL) {
			jd_module_verify(tok, len, &m);
			jd_libjwt_verify(tok, len, &l);
			t->both += m.jws_ok && l.ok;
			t->strict += !m.jws_ok && l.ok;
			t->neither += !m.jws_ok && !l.ok;
			t->findings += m.jws_ok && (!l.ok ||
			    !json_equal(m.claims, l.claims));
			if (verbose)
				printf("%-28s module %-3s libjwt %-3s %s | "
				    "%s\n", ents[i]->d_name,
				    m.jws_ok ? "yes" : "no", l.ok ? "yes" : "no",
				    m.detail, l.why);
			jd_module_clear(&m);
			jd_libjwt_clear(&l);
			free(tok);
		}
		free(data);
		free(path);
		free(ents[i]);
	}
	free(ents);
	return 0;
}

static int
write_seeds(const char *dir)
{
	size_t i, len;
	uint8_t *in;
	char *path;
	FILE *f;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if ((in = row_input(&rows[i], rows[i].twists, &len)) == NULL ||
		    asprintf(&path, "%s/%s", dir, rows[i].slug) < 0)
			return 1;
		if ((f = fopen(path, "wb")) == NULL ||
		    fwrite(in, 1, len, f) != len || fclose(f) != 0)
			return 1;
		free(path);
		free(in);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	struct tally t = { 0, 0, 0, 0, 0 };
	char *corpus;
	size_t i;
	int a;

	if (jd_init() != 0) {
		ok(0, "test keys and key set loaded");
		return done_testing();
	}
	if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
		return write_seeds(argv[2]);
	if (argc > 1) {
		for (a = 1; a < argc; a++)
			replay_dir(argv[a], &t, true);
		printf("%u inputs: %u both accept, %u only libjwt, %u neither, "
		    "%u findings\n", t.inputs, t.both, t.strict, t.neither,
		    t.findings);
		jd_cleanup();
		return t.findings != 0;
	}

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_row(&rows[i]);

	if (asprintf(&corpus, "%s/fuzz/corpus/jwt_diff",
	    top != NULL ? top : ".") < 0)
		return 1;
	a = replay_dir(corpus, &t, false);
	ok(a == 0 && t.inputs > 0, "the seed corpus read (%u inputs)",
	    t.inputs);
	ok_eq(t.findings, 0, "no seed is accepted by the module alone, or "
	    "seen differently (%u)", t.findings);
	/* seeds that no longer reach a signature would fuzz nothing */
	ok(t.both >= 8 && t.strict >= 20, "the seeds reach both verdicts: "
	    "%u both accept, %u only libjwt, %u neither", t.both, t.strict,
	    t.neither);
	free(corpus);
	jd_cleanup();
	return done_testing();
}
