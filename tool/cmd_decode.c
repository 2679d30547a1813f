/*
 * cmd_decode.c - "pam-buildkite decode": shows a token's header and
 * claims as one JSON object, without verifying anything (and says so on
 * stderr). Each part is decoded with the verifier's strictness, so what
 * decode refuses a login refuses too. A token of the length PgBouncer
 * cuts passwords to gets a note on stderr too (reason.h). Exit 0
 * decoded, 1 not, 2 usage.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jws.h"
#include "reason.h"
#include "tool.h"

/*
 * Finds the header and the payload of the token in tok, as the verifier
 * does (jws.h): up to a NUL, without surrounding whitespace, exactly
 * three dot-separated parts (the signature is not looked at). 0, or -1
 * after saying why on stderr.
 */
static int
split_token(const char *tok, size_t tok_len, struct pb_jws *jws)
{
	const char *p = tok;
	size_t len = strnlen(tok, tok_len);

	pb_jws_trim(&p, &len);
	if (len == 0) {
		fputs(PROG ": no token\n", stderr);
		return -1;
	}
	if (pb_jws_split(p, len, jws) != 0) {
		fputs(PROG ": not a token: a token is three dot-separated "
		    "parts\n", stderr);
		return -1;
	}
	return 0;
}

/* Decodes one part into a JSON object with the verifier's own
 * strictness (pb_jws_object), or says on stderr why not. */
static json_t *
decode_part(const char *seg, size_t len, const char *name)
{
	enum pb_jws_err err;
	json_error_t jerr;
	json_t *obj;

	obj = pb_jws_object(seg, len, &err, &jerr);
	if (err == PB_JWS_BASE64) {
		fprintf(stderr, PROG ": the %s is not strict unpadded "
		    "base64url\n", name);
	} else if (err == PB_JWS_JSON) {
		fprintf(stderr, PROG ": the %s is not valid JSON (column %d: ",
		    name, jerr.column);
		put_text(stderr, jerr.text);
		fputs(")\n", stderr);
	} else if (err == PB_JWS_NOT_OBJECT) {
		fprintf(stderr, PROG ": the %s is not a JSON object\n", name);
	}
	return obj;
}

/* Prints the header and claims of the token in tok: 0, or 1 after
 * saying why not on stderr. */
static int
decode_token(const char *tok, size_t tok_len)
{
	struct pb_jws jws;
	json_t *hdr = NULL, *claims = NULL, *o = NULL;
	char *dump = NULL;
	int status = 1;

	if (split_token(tok, tok_len, &jws) != 0)
		return 1;
	if ((hdr = decode_part(jws.header, jws.header_len, "header")) ==
	    NULL || (claims = decode_part(jws.payload, jws.payload_len,
	    "payload")) == NULL)
		goto out;
	o = json_pack("{s:O, s:O}", "header", hdr, "claims", claims);
	if (o == NULL ||
	    (dump = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		fputs(PROG ": out of memory\n", stderr);
		goto out;
	}
	fputs("# not verified: decoded only\n", stderr);
	puts(dump);
	status = 0;
out:
	free(dump);
	json_decref(o);
	json_decref(hdr);
	json_decref(claims);
	return status;
}

int
cmd_decode(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "token-file", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *token_file = NULL;
	char *tok = NULL;
	size_t tok_len = 0;
	int c, status;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			token_file = optarg;
			break;
		default:
			return other_option("decode", c, argv);
		}
	}
	if ((status = no_arguments("decode", argc, argv)) >= 0)
		return status;
	if (read_input(token_file, &tok, &tok_len) != 0)
		return 1;
	status = decode_token(tok, tok_len);
	/* Decode checks no signature, where a cut usually falls, so it
	 * cannot tell a cut token from a whole one: it notes the length
	 * whether or not the parts decoded. */
	if (pb_jws_text_len(tok, tok_len) == PB_POOLER_CUT_BYTES)
		fputs(PROG ": note: " PB_POOLER_CUT_NOTE "\n", stderr);
	wipe_free(tok, tok_len);
	return status;
}
