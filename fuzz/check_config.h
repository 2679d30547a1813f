/*
 * check_config.h - for the fuzz targets that load a policy: traps unless
 * its settings are ones the verifier can use, the loader's promise that
 * token.c relies on, whether the policy came from YAML or a snapshot.
 */
#ifndef PB_FUZZ_CHECK_CONFIG_H
#define PB_FUZZ_CHECK_CONFIG_H

#include "policy.h"

static void
check_config(const struct pb_config *c)
{
	size_t i;

	if (c == NULL || c->token.issuer == NULL ||
	    c->token.organization == NULL || c->token.audiences == NULL ||
	    c->token.n_audiences == 0 || c->token.algorithms == 0 ||
	    (c->token.algorithms & ~0x1fu) != 0 ||
	    c->token.leeway < 0 || c->token.max_lifetime < 1 ||
	    (c->token.single_use && c->token.replay_dir == NULL) ||
	    (!c->jwks.login_fetch && c->jwks.writer != PB_WRITER_TOOL) ||
	    (c->jwks.url == NULL) == (c->jwks.file == NULL) ||
	    c->jwks.cache == NULL || c->jwks.refresh < 1 ||
	    c->jwks.max_stale < 0 || c->jwks.timeout < 1)
		__builtin_trap();
	for (i = 0; i < c->token.n_audiences; i++)
		if (c->token.audiences[i] == NULL ||
		    c->token.audiences[i][0] == '\0')
			__builtin_trap();
}

#endif
