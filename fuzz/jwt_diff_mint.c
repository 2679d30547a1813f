/*
 * jwt_diff_mint.c - tokens from the differential fuzz target's inputs
 * (jd_token_from_input, jwt_diff.h says how an input reads): header and
 * payload encoded, twisted as the input asks and signed with the test
 * keys behind the key set. Test code only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "jwt_diff.h"
#include "token.h"
#include "tokmint.h"

/* The algorithms an input's alg byte can name. */
static const char *const sign_algs[] = {
	"RS256", "RS384", "RS512", "ES256", "ES384", "HS256", "HS384",
	"HS512", "none",
};
#define NALGS (sizeof(sign_algs) / sizeof(sign_algs[0]))

/* A growing string of bytes. */
struct buf {
	char *p;
	size_t len;
	bool failed;
};

static void
put(struct buf *b, const void *data, size_t len)
{
	char *np;

	if (b->failed)
		return;
	if ((np = realloc(b->p, b->len + len + 1)) == NULL) {
		b->failed = true;
		return;
	}
	b->p = np;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

/* A 6-bit value's character, and back. */
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz0123456789-_";

/* Appends base64url of data, twisted: pad adds '=' up to a multiple of
 * 4, bits sets the unused low bits of the last character. */
static void
put_b64(struct buf *b, const unsigned char *data, size_t len, bool pad,
    bool bits)
{
	char *s = tm_b64url(data, len);
	size_t n;
	const char *c;

	if (s == NULL) {
		b->failed = true;
		return;
	}
	n = strlen(s);
	/* 2 characters for 1 byte leave 4 unused bits, 3 for 2 leave 2. */
	if (bits && n % 4 != 0 && (c = strchr(b64url, s[n - 1])) != NULL)
		s[n - 1] = b64url[(c - b64url) | (n % 4 == 2 ? 0x0f : 0x03)];
	put(b, s, n);
	while (pad && n++ % 4 != 0)
		put(b, "=", 1);
	free(s);
}

/* '-' and '_' of b->p from start on become '+' and '/'. */
static void
std_alphabet(struct buf *b, size_t start)
{
	size_t i;

	for (i = start; !b->failed && i < b->len; i++) {
		if (b->p[i] == '-')
			b->p[i] = '+';
		else if (b->p[i] == '_')
			b->p[i] = '/';
	}
}

/* Inserts c halfway between start and the end of b. */
static void
insert_mid(struct buf *b, size_t start, char c)
{
	size_t mid;

	put(b, &c, 1);
	if (b->failed)
		return;
	mid = start + (b->len - 1 - start) / 2;
	memmove(b->p + mid + 1, b->p + mid, b->len - 1 - mid);
	b->p[mid] = c;
}

/* " \t" before b's bytes and "\r\n" after them. */
static void
around_ws(struct buf *b)
{
	struct buf w = { NULL, 0, b->failed };

	put(&w, " \t", 2);
	put(&w, b->p, b->len);
	put(&w, "\r\n", 2);
	free(b->p);
	*b = w;
}

/* The pair a header's kid names, else the one alg needs. */
static enum jd_key
natural_pair(const char *kid, const char *alg)
{
	enum jd_key k = jd_kid_pair(kid);

	if (k != JD_KEY_BY_KID)
		return k;
	if (alg != NULL && strcasecmp(alg, "ES256") == 0)
		return JD_KEY_P256;
	if (alg != NULL && strncasecmp(alg, "ES", 2) == 0)
		return JD_KEY_P384;
	return JD_KEY_RSA;
}

/* R||S to DER, in place of *sig. */
static void
jose_to_der(unsigned char **sig, size_t *len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(*sig, (int)(*len / 2), NULL);
	BIGNUM *s = BN_bin2bn(*sig + *len / 2, (int)(*len / 2), NULL);
	unsigned char *der = NULL;
	int n;

	if (es != NULL && r != NULL && s != NULL &&
	    ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;
		n = i2d_ECDSA_SIG(es, &der);
		if (n > 0) {
			free(*sig);
			*sig = malloc((size_t)n);
			if (*sig != NULL)
				memcpy(*sig, der, (size_t)n);
			*len = *sig != NULL ? (size_t)n : 0;
		}
		OPENSSL_free(der);
	}
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
}

/* Appends "." and the signature of b's bytes so far, as alg with pair
 * says (HS* keyed with the pair's public PEM), twisted. A key that does
 * not fit alg signs nothing: "AAAA" stands in. */
static void
put_signature(struct buf *b, const char *alg, enum jd_key pair,
    unsigned twists)
{
	unsigned char *sig = NULL;
	size_t sig_len = 0, start, pem_len;
	const char *pem = jd_pair_pem(pair, &pem_len);
	bool ec = strncmp(alg, "ES", 2) == 0;

	if (b->failed)
		return;
	if (tm_sign_input(alg, jd_pair_key(pair), (const unsigned char *)pem,
	    pem_len, (const unsigned char *)b->p, b->len, &sig,
	    &sig_len) != 0) {
		put(b, ".AAAA", 5);
		return;
	}
	if (ec && (twists & JD_SIG_DER))
		jose_to_der(&sig, &sig_len);
	put(b, ".", 1);
	start = b->len;
	if (!(twists & JD_SIG_EMPTY))
		put_b64(b, sig, sig_len, twists & JD_SIG_PAD,
		    twists & JD_SIG_BITS);
	if (twists & JD_SIG_STD)
		std_alphabet(b, start);
	if (twists & JD_SIG_DOT)
		put(b, ".", 1);
	free(sig);
}

/* The header's alg and kid, read leniently: the header may be anything. */
static void
header_words(const char *hdr, size_t len, char *alg, size_t alg_len,
    char *kid, size_t kid_len)
{
	json_t *h = json_loadb(hdr, len, 0, NULL);
	const char *a = json_string_value(json_object_get(h, "alg"));
	const char *k = json_string_value(json_object_get(h, "kid"));

	snprintf(alg, alg_len, "%s", a != NULL ? a : "");
	snprintf(kid, kid_len, "%s", k != NULL ? k : "");
	json_decref(h);
}

/* Mode 1: header JSON, newline, payload JSON. */
static void
make_signed_json(struct buf *b, const uint8_t *body, size_t len,
    unsigned twists, int key, const char *alg)
{
	const uint8_t *nl = memchr(body, '\n', len);
	size_t hlen = nl != NULL ? (size_t)(nl - body) : len;
	const uint8_t *pay = nl != NULL ? nl + 1 : body + len;
	size_t plen = len - (size_t)(pay - body);
	uint8_t *padded = NULL;
	char halg[16], kid[64];
	size_t i, start;

	header_words((const char *)body, hlen, halg, sizeof(halg), kid,
	    sizeof(kid));
	if (alg == NULL) {
		/* The header's alg in any case, else RS256. */
		alg = "RS256";
		for (i = 0; i < NALGS; i++)
			if (strcasecmp(halg, sign_algs[i]) == 0)
				alg = sign_algs[i];
	}
	put_b64(b, body, hlen, twists & JD_HDR_PAD, twists & JD_HDR_BITS);
	if (twists & JD_HDR_WS)
		insert_mid(b, 0, ' ');
	put(b, ".", 1);
	start = b->len;
	if (twists & JD_PAY_LONE) {
		/* One character more than whole quanta carries no byte:
		 * blanks after the JSON (both parsers skip them) make the
		 * payload a multiple of 3 bytes first. */
		padded = malloc(plen + 2);
		if (padded != NULL) {
			memcpy(padded, pay, plen);
			while (plen % 3 != 0)
				padded[plen++] = ' ';
			pay = padded;
		}
	}
	put_b64(b, pay, plen, twists & JD_PAY_PAD, twists & JD_PAY_BITS);
	if ((twists & JD_PAY_LONE) && (b->len - start) % 4 == 0)
		put(b, "A", 1);
	if (twists & JD_PAY_WS)
		insert_mid(b, start, '\n');
	free(padded);
	if (twists & JD_STD_ALPHABET)
		std_alphabet(b, 0);
	if (key < JD_KEY_RSA || key > JD_KEY_P384)
		key = natural_pair(kid[0] != '\0' ? kid : NULL, alg);
	put_signature(b, alg, (enum jd_key)key, twists);
}

char *
jd_token_from_input(const uint8_t *data, size_t size, size_t *len)
{
	struct buf b = { NULL, 0, false };
	const char *alg = NULL;
	unsigned twists;
	size_t pos;
	int mode, key;

	/* The module takes 16 KiB at most; some room to spare for the
	 * refusals, none to waste libjwt's stack (it allocas a copy of
	 * each segment). */
	if (size == 0 || size > 2 * PB_TOKEN_MAX_BYTES || jd_init() != 0)
		return NULL;
	mode = data[0] % 3;
	if (mode == 0) {
		put(&b, data + 1, size - 1);
		put(&b, "", 0);
	} else {
		if (size < JD_INPUT_HEAD)
			return NULL;
		twists = (unsigned)data[1] << 8 | data[2];
		key = data[3];
		if (data[7] != 0)
			alg = sign_algs[(data[7] - 1) % NALGS];
		if (mode == 1) {
			make_signed_json(&b, data + JD_INPUT_HEAD,
			    size - JD_INPUT_HEAD, twists, key, alg);
		} else {
			put(&b, data + JD_INPUT_HEAD, size - JD_INPUT_HEAD);
			if (alg == NULL)
				alg = "RS256";
			if (key < JD_KEY_RSA || key > JD_KEY_P384)
				key = natural_pair(NULL, alg);
			put_signature(&b, alg, (enum jd_key)key, twists);
		}
		if (twists & JD_AROUND_WS)
			around_ws(&b);
		pos = ((size_t)data[4] << 8 | data[5]);
		if (!b.failed && data[6] != 0 && b.len > 0)
			b.p[pos % b.len] ^= (char)data[6];
	}
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

void
jd_input_head(uint8_t *head, int mode, unsigned twists, enum jd_key key,
    const char *alg)
{
	size_t i;

	memset(head, 0, JD_INPUT_HEAD);
	head[0] = (uint8_t)('0' + mode);
	head[1] = (uint8_t)(twists >> 8);
	head[2] = (uint8_t)twists;
	head[3] = (uint8_t)key;
	for (i = 0; alg != NULL && i < NALGS; i++)
		if (strcmp(alg, sign_algs[i]) == 0)
			head[7] = (uint8_t)(i + 1);
}
