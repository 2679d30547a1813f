/*
 * fuzz_jwt_diff.c - differential fuzz target: every input becomes a
 * token (jd_token_from_input: the input itself, or header and payload
 * JSON, or a signing input, signed with the fixed test keys and twisted
 * as the input says), verified by the module and by libjwt 1.10 used
 * the safe way (jwt_diff.h).
 *
 * A finding (__builtin_trap, so the fuzzer records the input):
 *  - the module accepts the JWS (signature, structure, well-typed
 *    claims) and libjwt refuses it: the module accepted something
 *    another careful verifier does not, a bug to report;
 *  - both accept and see different claims: two parsers of one payload
 *    disagree on what was signed;
 *  - the module returns PB_OK without claims.
 * libjwt accepting what the module refuses is the module's deliberate
 * strictness (tests/test_jwt_diff.c lists it) and passes.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jwt_diff.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (jd_init() != 0)
		__builtin_trap();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jd_module m;
	struct jd_libjwt l;
	size_t len;
	char *tok;

	if ((tok = jd_token_from_input(data, size, &len)) == NULL)
		return 0;
	jd_module_verify(tok, len, &m);
	jd_libjwt_verify(tok, len, &l);
	if (m.reason == PB_OK && !m.jws_ok)
		__builtin_trap();
	if (m.jws_ok && !l.ok) {
		fprintf(stderr, "fuzz_jwt_diff: the module accepts (%s), "
		    "libjwt refuses (%s)\n", m.detail, l.why);
		__builtin_trap();
	}
	if (m.jws_ok && !json_equal(m.claims, l.claims)) {
		fprintf(stderr, "fuzz_jwt_diff: the module and libjwt see "
		    "different claims\n");
		__builtin_trap();
	}
	jd_module_clear(&m);
	jd_libjwt_clear(&l);
	free(tok);
	return 0;
}
