/*
 * jwt_diff.h - the module's verifier and libjwt side by side, for the
 * differential fuzz target (fuzz_jwt_diff.c) and its table of cases
 * (tests/test_jwt_diff.c). Test code only.
 *
 * The module verifies against a fixed key set under a configuration that
 * allows RS256, RS384, RS512, ES256 and ES384; libjwt 1.10 verifies the
 * same token the safe way (jd_libjwt_verify says how). Tokens are made
 * from fuzz inputs by jd_token_from_input, which can sign what the input
 * describes with the keys behind the set.
 */
#ifndef PB_JWT_DIFF_H
#define PB_JWT_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "reason.h"

#define JD_NOW 1700000000LL
#define JD_ISSUER "https://agent.buildkite.com"
#define JD_AUDIENCE "postgres://db.test"
#define JD_ORG "acme-inc"

/* The key pairs behind the set, for an input's key byte: JD_KEY_BY_KID
 * signs with the pair the header's kid names (or, without a known kid,
 * the pair the alg needs). */
enum jd_key { JD_KEY_BY_KID, JD_KEY_RSA, JD_KEY_P256, JD_KEY_P384 };

/* Twists of a signed input (mode 1 and 2 of jd_token_from_input). Those
 * of the header and payload segments are made before signing, so the
 * signature covers the twisted text; those of the signature after. */
#define JD_HDR_PAD      0x0001  /* '=' padding on the header segment */
#define JD_PAY_PAD      0x0002  /* ... on the payload segment */
#define JD_HDR_BITS     0x0004  /* non-zero unused bits, header segment */
#define JD_PAY_BITS     0x0008  /* ... payload segment */
#define JD_STD_ALPHABET 0x0010  /* '+' and '/' for '-' and '_' in both */
#define JD_HDR_WS       0x0020  /* a space inside the header segment */
#define JD_PAY_WS       0x0040  /* a newline inside the payload segment */
#define JD_PAY_LONE     0x0080  /* a lone character after whole quanta */
#define JD_SIG_PAD      0x0100  /* '=' padding on the signature */
#define JD_SIG_BITS     0x0200  /* non-zero unused bits in the signature */
#define JD_SIG_DER      0x0400  /* an ES signature in DER, not R||S */
#define JD_SIG_DOT      0x0800  /* a trailing dot: a fourth segment */
#define JD_SIG_EMPTY    0x1000  /* no signature at all */
#define JD_AROUND_WS    0x2000  /* whitespace around the whole token */
#define JD_SIG_STD      0x4000  /* '+' and '/' in the signature */

/* The size of the fixed part of a mode 1 or 2 input. */
#define JD_INPUT_HEAD 8

/* Loads the keys and builds the key set, their PEMs and the
 * configuration; again is a no-op. Returns 0, or -1. */
int jd_init(void);
void jd_cleanup(void);

/* The pair behind a kid of the set (JD_KEY_BY_KID for another kid or
 * NULL); a pair's private key (tokmint.h), and its public key as SPKI
 * PEM. */
struct tm_key;
enum jd_key jd_kid_pair(const char *kid);
const struct tm_key *jd_pair_key(enum jd_key pair);
const char *jd_pair_pem(enum jd_key pair, size_t *len);

/* A token from a fuzz input, malloc'd (*len bytes, NUL-terminated for
 * convenience; it may hold NUL bytes), or NULL for an input that makes
 * none. data[0] % 3 chooses:
 *   0  the rest of the input is the token;
 *   1  data[1..7] as jd_input_head writes them, then header JSON, a
 *      newline, payload JSON: both base64url-encoded, twisted, signed
 *      with the alg the header names (any case; HS* keyed with the PEM
 *      of the public key, "none" unsigned) unless data[7] names one;
 *   2  the same fixed part, then the signing input itself ("h.p", any
 *      bytes), signed with data[7]'s alg (RS256 when 0).
 * Then data[6] (when not 0) is XORed into the byte at data[4..5]. */
char *jd_token_from_input(const uint8_t *data, size_t size, size_t *len);

/* Writes the fixed part of a mode 1 or 2 input into head
 * (JD_INPUT_HEAD bytes). alg: NULL for the header's, else a name of
 * jd_sign_algs. */
void jd_input_head(uint8_t *head, int mode, unsigned twists, enum jd_key key,
    const char *alg);

/* What the module says: its reason and detail, and whether it accepted
 * the JWS: signed by the key of the header's kid with an allowed alg,
 * well formed, a payload that is an object of well-typed claims. Claims
 * refused for their values (issuer, audience, time) still count, as
 * libjwt does not look at them. */
struct jd_module {
	enum pb_reason reason;
	bool jws_ok;
	char detail[256];
	json_t *claims;         /* when jws_ok */
};
void jd_module_verify(const char *tok, size_t len, struct jd_module *m);

/* What libjwt says, used the safe way: the token trimmed of surrounding
 * whitespace as the module trims it; refused when it holds a NUL byte or
 * an empty header or payload (libjwt 1.10 writes a byte past a malloc(0)
 * for one);
 * the header read by jwt_decode without a key, its alg one of the five
 * (exact name: never none or HS*), the key the PEM of the JWK its kid
 * names (refused without one); jwt_decode with that key; and jwt_get_alg
 * equal to the header's alg. why says which step refused. */
struct jd_libjwt {
	bool ok;
	const char *why;
	json_t *claims;         /* libjwt's grants, when ok */
};
void jd_libjwt_verify(const char *tok, size_t len, struct jd_libjwt *l);

/* libjwt alone: jwt_decode with the PEM of pair key's public key (no
 * key for JD_KEY_BY_KID), nothing checked before or after. */
bool jd_libjwt_raw(const char *tok, size_t len, enum jd_key key);

void jd_module_clear(struct jd_module *m);
void jd_libjwt_clear(struct jd_libjwt *l);

#endif
