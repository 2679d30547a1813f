/*
 * mint_token.c - the mint-token command used by the shell tests and the
 * demo: makes test keys, prints their JWKS, and mints Buildkite-shaped
 * OIDC tokens, including deliberately broken ones. Test code only; it
 * is a thin command line over tokmint.c.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "tokmint.h"

static const char usage_text[] =
"usage: mint-token genkey TYPE OUT.pem\n"
"         TYPE: rsa2048 rsa1024 rsa3072 ec256 ec384\n"
"       mint-token jwks [--extra JSON] KEY.pem KID [KEY.pem KID ...]\n"
"         KID \"-\": no kid member; KID \"+\": the key's default kid\n"
"       mint-token claims [CLAIM OPTIONS]\n"
"       mint-token sign [--key KEY.pem] [--kid KID | --no-kid] [--alg ALG]\n"
"         [CLAIM OPTIONS] [--header-set NAME=JSON]... [--header-unset NAME]...\n"
"         [--sign-alg ALG] [--hmac-key-file FILE | --hmac-public-pem]\n"
"         [--corrupt-signature] [--raw-header TEXT] [--raw-payload TEXT]\n"
"\n"
"CLAIM OPTIONS:\n"
"  --aud AUD          audience (default postgres://localhost)\n"
"  --org ORG          organization_slug (default acme-inc)\n"
"  --now EPOCH        issue time (default: now)\n"
"  --lifetime SECS    exp = iat + SECS (default 300)\n"
"  --expired          iat = nbf = now - 600, exp = now - 300\n"
"  --set NAME=JSON    set a claim to a JSON value (split at the first '=')\n"
"  --unset NAME       remove a claim\n"
"  Unless set or unset here, jti is a fresh random UUID and sub is made\n"
"  from the other claims as Buildkite makes it:\n"
"  organization:ORG:pipeline:PIPE:ref:REF:commit:SHA:step:STEP, REF\n"
"  refs/tags/TAG when build_tag is a string, else refs/heads/BRANCH.\n"
"\n"
"sign: --alg sets the header alg (default RS256, ES256 or ES384 by key);\n"
"  --sign-alg says how to sign if different (RS*, ES*, HS*, none);\n"
"  --kid defaults to the key's default kid (hex SHA-256 of its public PEM);\n"
"  HS* keys come from --hmac-key-file, or the key's public PEM with\n"
"  --hmac-public-pem; --key is needed unless signing HS* or none with\n"
"  an explicit --alg. --set/--unset and --header-set/--header-unset\n"
"  apply in command-line order. Prints the token and a newline.\n";

enum { OP_SET, OP_UNSET };

struct op {
	int kind;
	const char *arg;
};

struct claim_opts {
	const char *aud;
	const char *org;
	long long now;
	long long lifetime;
	int have_lifetime;
	int expired;
	struct op *ops;
	size_t nops;
};

enum {
	O_AUD = 256, O_ORG, O_NOW, O_LIFETIME, O_EXPIRED, O_SET, O_UNSET,
	O_KEY, O_KID, O_NO_KID, O_ALG, O_HSET, O_HUNSET, O_SIGN_ALG,
	O_HMAC_FILE, O_HMAC_PEM, O_CORRUPT, O_RAW_HEADER, O_RAW_PAYLOAD,
	O_EXTRA, O_HELP
};

static __attribute__((format(printf, 1, 2))) void
err(const char *fmt, ...)
{
	va_list ap;

	fputs("mint-token: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
usage_error(void)
{
	fputs(usage_text, stderr);
	return 2;
}

static int
parse_ll(const char *s, const char *what, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		err("%s: not an integer: %s", what, s);
		return -1;
	}
	return 0;
}

/* Reads a whole file; *len excludes the NUL added after the data. */
static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *fp;
	unsigned char *buf = NULL, *nbuf;
	size_t cap = 0, n = 0, got;

	fp = fopen(path, "rb");
	if (fp == NULL) {
		err("%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			nbuf = realloc(buf, cap);
			if (nbuf == NULL) {
				err("out of memory");
				goto fail;
			}
			buf = nbuf;
		}
		got = fread(buf + n, 1, cap - n - 1, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		err("%s: read error", path);
		goto fail;
	}
	fclose(fp);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	free(buf);
	fclose(fp);
	return NULL;
}

/* Applies one --set NAME=JSON or --unset NAME to obj. */
static int
apply_op(json_t *obj, const struct op *op, const char *what)
{
	const char *eq;
	char *name;
	json_t *value;
	json_error_t jerr;

	if (op->kind == OP_UNSET) {
		json_object_del(obj, op->arg);
		return 0;
	}
	eq = strchr(op->arg, '=');
	if (eq == NULL || eq == op->arg) {
		err("%s: want NAME=JSON: %s", what, op->arg);
		return -1;
	}
	value = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
	if (value == NULL) {
		err("%s %s: not JSON (strings need quotes): %s", what,
		    op->arg, jerr.text);
		return -1;
	}
	name = strndup(op->arg, (size_t)(eq - op->arg));
	if (name == NULL || json_object_set_new(obj, name, value) != 0) {
		free(name);
		err("out of memory");
		return -1;
	}
	free(name);
	return 0;
}

/* Whether an option of co sets or unsets the claim name. */
static int
claim_given(const struct claim_opts *co, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < co->nops; i++) {
		const char *a = co->ops[i].arg;

		if (co->ops[i].kind == OP_UNSET ? strcmp(a, name) == 0 :
		    strncmp(a, name, n) == 0 && a[n] == '=')
			return 1;
	}
	return 0;
}

/* A random (version 4) UUID as jti: every token minted is a new one, as
 * Buildkite's are, so single-use stores see distinct tokens. */
static int
fresh_jti(json_t *claims)
{
	char jti[37];

	if (tm_uuid(jti) != 0)
		return -1;
	return json_object_set_new(claims, "jti", json_string(jti));
}

static json_t *
build_claims(const struct claim_opts *co)
{
	json_t *claims;
	long long iat = co->expired ? co->now - 600 : co->now;
	size_t i;

	claims = tm_default_claims(iat, co->aud, co->org);
	if (claims == NULL) {
		err("cannot make the claims");
		return NULL;
	}
	if (co->have_lifetime &&
	    json_object_set_new(claims, "exp",
	    json_integer((json_int_t)(iat + co->lifetime))) != 0)
		goto fail;
	for (i = 0; i < co->nops; i++)
		if (apply_op(claims, &co->ops[i], "--set") != 0)
			goto fail;
	if (!claim_given(co, "jti") && fresh_jti(claims) != 0) {
		err("cannot make a random jti");
		goto fail;
	}
	if (!claim_given(co, "sub") && tm_derive_sub(claims) != 0) {
		err("out of memory");
		goto fail;
	}
	return claims;
fail:
	json_decref(claims);
	return NULL;
}

/* Handles one claim option; 1 if it was one, 0 if not, -1 on error. */
static int
claim_option(struct claim_opts *co, int c, const char *arg)
{
	switch (c) {
	case O_AUD:
		co->aud = arg;
		return 1;
	case O_ORG:
		co->org = arg;
		return 1;
	case O_NOW:
		return parse_ll(arg, "--now", &co->now) == 0 ? 1 : -1;
	case O_LIFETIME:
		co->have_lifetime = 1;
		return parse_ll(arg, "--lifetime", &co->lifetime) == 0 ?
		    1 : -1;
	case O_EXPIRED:
		co->expired = 1;
		return 1;
	case O_SET:
	case O_UNSET:
		co->ops[co->nops].kind = c == O_SET ? OP_SET : OP_UNSET;
		co->ops[co->nops].arg = arg;
		co->nops++;
		return 1;
	}
	return 0;
}

static void
claim_defaults(struct claim_opts *co, struct op *ops)
{
	memset(co, 0, sizeof(*co));
	co->aud = "postgres://localhost";
	co->org = "acme-inc";
	co->now = (long long)time(NULL);
	co->ops = ops;
}

/* Prints a JSON value compactly on one line. */
static int
print_json(const json_t *v)
{
	char *s;

	s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);
	if (s == NULL) {
		err("cannot serialise JSON");
		return 2;
	}
	printf("%s\n", s);
	free(s);
	return 0;
}

/* The default kid of a key: hex SHA-256 of its public key PEM text. */
static char *
default_kid(const struct tm_key *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char *pem, *hex;
	size_t len;

	pem = tm_public_pem(key, &len);
	if (pem == NULL)
		return NULL;
	if (EVP_Digest(pem, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		free(pem);
		return NULL;
	}
	free(pem);
	hex = malloc(2 * mdlen + 1);
	if (hex == NULL)
		return NULL;
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

/* Flips one bit in the middle of the token's signature bytes. */
static char *
corrupt_signature(char *token)
{
	char *dot, *sig, *out;
	unsigned char *raw;
	size_t rawlen, head;

	dot = strrchr(token, '.');
	if (dot == NULL || dot[1] == '\0') {
		err("--corrupt-signature: the signature is empty");
		return NULL;
	}
	if (pb_b64url_decode(dot + 1, strlen(dot + 1), &raw, &rawlen) != 0 ||
	    rawlen == 0) {
		free(raw);
		err("--corrupt-signature: cannot decode the signature");
		return NULL;
	}
	raw[rawlen / 2] ^= 0x01;
	sig = tm_b64url(raw, rawlen);
	free(raw);
	if (sig == NULL)
		return NULL;
	head = (size_t)(dot - token) + 1;
	out = malloc(head + strlen(sig) + 1);
	if (out != NULL) {
		memcpy(out, token, head);
		strcpy(out + head, sig);
	}
	free(sig);
	return out;
}

static int
cmd_genkey(int argc, char **argv)
{
	struct tm_key *key;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc != 3)
		return usage_error();
	key = tm_key_generate(argv[1]);
	if (key == NULL) {
		err("genkey: cannot make a key of type %s", argv[1]);
		return 2;
	}
	if (tm_key_save(key, argv[2]) != 0) {
		err("genkey: cannot write %s", argv[2]);
		tm_key_free(key);
		return 2;
	}
	tm_key_free(key);
	return 0;
}

static int
cmd_jwks(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "extra", required_argument, NULL, O_EXTRA },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *extra = NULL, **jwks = NULL;
	json_error_t jerr;
	struct tm_key *key;
	const char *extra_text = NULL;
	char *kid, *out = NULL;
	size_t n = 0, i;
	int c, rc = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case O_EXTRA:
			extra_text = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || argc % 2 != 0)
		return usage_error();
	if (extra_text != NULL) {
		extra = json_loads(extra_text, 0, &jerr);
		if (extra == NULL || !json_is_object(extra)) {
			err("--extra: want a JSON object");
			goto done;
		}
	}
	jwks = calloc((size_t)argc / 2, sizeof(*jwks));
	if (jwks == NULL) {
		err("out of memory");
		goto done;
	}
	for (i = 0; i < (size_t)argc / 2; i++) {
		const char *path = argv[2 * i], *kidarg = argv[2 * i + 1];

		key = tm_key_load(path);
		if (key == NULL) {
			err("jwks: cannot load a private key from %s", path);
			goto done;
		}
		kid = NULL;
		if (strcmp(kidarg, "+") == 0) {
			kid = default_kid(key);
			if (kid == NULL) {
				tm_key_free(key);
				err("jwks: cannot compute the kid");
				goto done;
			}
		} else if (strcmp(kidarg, "-") != 0) {
			kid = strdup(kidarg);
			if (kid == NULL) {
				tm_key_free(key);
				err("out of memory");
				goto done;
			}
		}
		jwks[n] = tm_jwk(key, kid, extra);
		free(kid);
		tm_key_free(key);
		if (jwks[n] == NULL) {
			err("jwks: cannot make the JWK of %s", path);
			goto done;
		}
		n++;
	}
	out = tm_jwks_string(jwks, n);
	if (out == NULL) {
		err("jwks: cannot serialise");
		goto done;
	}
	printf("%s\n", out);
	rc = 0;
done:
	free(out);
	for (i = 0; i < n; i++)
		json_decref(jwks[i]);
	free(jwks);
	json_decref(extra);
	return rc;
}

#define CLAIM_LONGOPTS \
	{ "aud", required_argument, NULL, O_AUD }, \
	{ "org", required_argument, NULL, O_ORG }, \
	{ "now", required_argument, NULL, O_NOW }, \
	{ "lifetime", required_argument, NULL, O_LIFETIME }, \
	{ "expired", no_argument, NULL, O_EXPIRED }, \
	{ "set", required_argument, NULL, O_SET }, \
	{ "unset", required_argument, NULL, O_UNSET }, \
	{ "help", no_argument, NULL, 'h' }

static int
cmd_claims(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLAIM_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct claim_opts co;
	struct op *ops;
	json_t *claims;
	int c, r, rc = 2;

	ops = calloc((size_t)argc, sizeof(*ops));
	if (ops == NULL) {
		err("out of memory");
		return 2;
	}
	claim_defaults(&co, ops);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			rc = 0;
			goto done;
		}
		r = claim_option(&co, c, optarg);
		if (r < 0)
			goto done;
		if (r == 0) {
			rc = usage_error();
			goto done;
		}
	}
	if (optind != argc) {
		rc = usage_error();
		goto done;
	}
	claims = build_claims(&co);
	if (claims != NULL) {
		rc = print_json(claims);
		json_decref(claims);
	}
done:
	free(ops);
	return rc;
}

struct sign_opts {
	const char *key_path;
	const char *kid;
	int no_kid;
	const char *alg;
	const char *sign_alg;
	const char *hmac_file;
	int hmac_pem;
	int corrupt;
	const char *raw_header;
	const char *raw_payload;
	struct op *hops;
	size_t nhops;
};

/* The header text: --raw-header, or {"kid":..,"alg":..} plus edits. */
static char *
build_header(const struct sign_opts *so, const struct tm_key *key,
    const char *alg)
{
	json_t *header;
	char *kid = NULL, *out = NULL;
	size_t i;

	if (so->raw_header != NULL) {
		out = strdup(so->raw_header);
		if (out == NULL)
			err("out of memory");
		return out;
	}
	header = json_object();
	if (header == NULL) {
		err("out of memory");
		return NULL;
	}
	if (so->kid != NULL) {
		kid = strdup(so->kid);
	} else if (!so->no_kid && key != NULL) {
		kid = default_kid(key);
	}
	if ((kid == NULL && so->kid != NULL) ||
	    (kid == NULL && !so->no_kid && key != NULL)) {
		err("cannot make the kid");
		goto done;
	}
	if ((kid != NULL &&
	    json_object_set_new(header, "kid", json_string(kid)) != 0) ||
	    json_object_set_new(header, "alg", json_string(alg)) != 0) {
		err("cannot make the header");
		goto done;
	}
	for (i = 0; i < so->nhops; i++)
		if (apply_op(header, &so->hops[i], "--header-set") != 0)
			goto done;
	out = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (out == NULL)
		err("cannot serialise the header");
done:
	free(kid);
	json_decref(header);
	return out;
}

/* The header alg a key signs with by default (its JWK's alg). */
static char *
key_alg(const struct tm_key *key)
{
	json_t *jwk;
	char *alg = NULL;

	jwk = tm_jwk(key, NULL, NULL);
	if (jwk != NULL && json_string_value(json_object_get(jwk, "alg")))
		alg = strdup(json_string_value(json_object_get(jwk, "alg")));
	json_decref(jwk);
	return alg;
}

static int
cmd_sign(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLAIM_LONGOPTS,
		{ "key", required_argument, NULL, O_KEY },
		{ "kid", required_argument, NULL, O_KID },
		{ "no-kid", no_argument, NULL, O_NO_KID },
		{ "alg", required_argument, NULL, O_ALG },
		{ "header-set", required_argument, NULL, O_HSET },
		{ "header-unset", required_argument, NULL, O_HUNSET },
		{ "sign-alg", required_argument, NULL, O_SIGN_ALG },
		{ "hmac-key-file", required_argument, NULL, O_HMAC_FILE },
		{ "hmac-public-pem", no_argument, NULL, O_HMAC_PEM },
		{ "corrupt-signature", no_argument, NULL, O_CORRUPT },
		{ "raw-header", required_argument, NULL, O_RAW_HEADER },
		{ "raw-payload", required_argument, NULL, O_RAW_PAYLOAD },
		{ NULL, 0, NULL, 0 }
	};
	struct claim_opts co;
	struct sign_opts so;
	struct op *ops, *hops;
	struct tm_key *key = NULL;
	json_t *claims = NULL;
	unsigned char *hmac = NULL;
	size_t hmac_len = 0;
	char *alg = NULL, *header = NULL, *payload = NULL, *token = NULL;
	char *bent;
	const char *sign_alg;
	int c, r, rc = 2;

	ops = calloc((size_t)argc, sizeof(*ops));
	hops = calloc((size_t)argc, sizeof(*hops));
	if (ops == NULL || hops == NULL) {
		err("out of memory");
		goto done;
	}
	claim_defaults(&co, ops);
	memset(&so, 0, sizeof(so));
	so.hops = hops;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			rc = 0;
			goto done;
		}
		r = claim_option(&co, c, optarg);
		if (r < 0)
			goto done;
		if (r > 0)
			continue;
		switch (c) {
		case O_KEY:
			so.key_path = optarg;
			break;
		case O_KID:
			so.kid = optarg;
			break;
		case O_NO_KID:
			so.no_kid = 1;
			break;
		case O_ALG:
			so.alg = optarg;
			break;
		case O_HSET:
		case O_HUNSET:
			hops[so.nhops].kind = c == O_HSET ? OP_SET : OP_UNSET;
			hops[so.nhops].arg = optarg;
			so.nhops++;
			break;
		case O_SIGN_ALG:
			so.sign_alg = optarg;
			break;
		case O_HMAC_FILE:
			so.hmac_file = optarg;
			break;
		case O_HMAC_PEM:
			so.hmac_pem = 1;
			break;
		case O_CORRUPT:
			so.corrupt = 1;
			break;
		case O_RAW_HEADER:
			so.raw_header = optarg;
			break;
		case O_RAW_PAYLOAD:
			so.raw_payload = optarg;
			break;
		default:
			rc = usage_error();
			goto done;
		}
	}
	if (optind != argc) {
		rc = usage_error();
		goto done;
	}
	if (so.kid != NULL && so.no_kid) {
		err("--kid and --no-kid exclude each other");
		goto done;
	}
	if (so.hmac_file != NULL && so.hmac_pem) {
		err("--hmac-key-file and --hmac-public-pem exclude each other");
		goto done;
	}
	if (so.key_path != NULL) {
		key = tm_key_load(so.key_path);
		if (key == NULL) {
			err("cannot load a private key from %s", so.key_path);
			goto done;
		}
	}
	if (so.alg != NULL)
		alg = strdup(so.alg);
	else if (key != NULL)
		alg = key_alg(key);
	else {
		err("sign: need --key (or --alg for HS* and none)");
		goto done;
	}
	if (alg == NULL) {
		err("out of memory");
		goto done;
	}
	sign_alg = so.sign_alg != NULL ? so.sign_alg : alg;
	if (so.hmac_file != NULL) {
		hmac = read_file(so.hmac_file, &hmac_len);
		if (hmac == NULL)
			goto done;
	} else if (so.hmac_pem) {
		if (key == NULL) {
			err("--hmac-public-pem needs --key");
			goto done;
		}
		hmac = (unsigned char *)tm_public_pem(key, &hmac_len);
		if (hmac == NULL) {
			err("cannot get the public key PEM");
			goto done;
		}
	}
	header = build_header(&so, key, alg);
	if (header == NULL)
		goto done;
	if (so.raw_payload != NULL) {
		payload = strdup(so.raw_payload);
		if (payload == NULL) {
			err("out of memory");
			goto done;
		}
	} else {
		claims = build_claims(&co);
		if (claims == NULL)
			goto done;
		payload = json_dumps(claims, JSON_COMPACT |
		    JSON_PRESERVE_ORDER);
		if (payload == NULL) {
			err("cannot serialise the claims");
			goto done;
		}
	}
	token = tm_sign_raw(header, strlen(header), payload, strlen(payload),
	    sign_alg, key, hmac, hmac_len);
	if (token == NULL) {
		err("cannot sign with %s (unknown alg, or wrong or missing key)",
		    sign_alg);
		goto done;
	}
	if (so.corrupt) {
		bent = corrupt_signature(token);
		if (bent == NULL)
			goto done;
		free(token);
		token = bent;
	}
	printf("%s\n", token);
	rc = 0;
done:
	free(token);
	free(payload);
	free(header);
	json_decref(claims);
	free(hmac);
	free(alg);
	tm_key_free(key);
	free(hops);
	free(ops);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc < 2)
		return usage_error();
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(argv[1], "genkey") == 0)
		rc = cmd_genkey(argc - 1, argv + 1);
	else if (strcmp(argv[1], "jwks") == 0)
		rc = cmd_jwks(argc - 1, argv + 1);
	else if (strcmp(argv[1], "claims") == 0)
		rc = cmd_claims(argc - 1, argv + 1);
	else if (strcmp(argv[1], "sign") == 0)
		rc = cmd_sign(argc - 1, argv + 1);
	else {
		err("unknown command: %s", argv[1]);
		rc = usage_error();
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		err("write error on stdout");
		rc = 2;
	}
	return rc;
}
