/*
 * token_header.h - the JOSE header of a token: which algorithm, which
 * key, and nothing this module does not understand (private to
 * token*.c).
 */
#ifndef PB_TOKEN_HEADER_H
#define PB_TOKEN_HEADER_H

#include <jansson.h>

#include "policy_config.h"
#include "token.h"
#include "token_sig.h"
#include "token_step.h"

/* What the header chose, once it passed. */
struct pb_header {
	const struct pb_sig_alg *alg;
	const char *kid;        /* NULL when absent; points into the JSON */
};

/* Checks the parsed header hdr against the policy's settings, as the
 * steps "header" (its form) and "algorithm" (the allow-list), in that
 * order; algorithm is set only when header passed. Fills info's alg and
 * kid as soon as they are read, so that even a refused algorithm is
 * logged with the key it named. */
void pb_header_check(const json_t *hdr, const struct pb_config *cfg,
    struct pb_token_info *info, struct pb_header *out, struct pb_step *header,
    struct pb_step *algorithm);

#endif
