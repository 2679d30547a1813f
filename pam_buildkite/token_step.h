/*
 * token_step.h - one step of token verification and what it found
 * (private to token*.c).
 *
 * A step's result is one reason and one text: the refusal's detail when
 * the token is refused there, what it got past otherwise. The module's
 * refusal and the admin tool's explain both take their words from it,
 * so each check is written once.
 */
#ifndef PB_TOKEN_STEP_H
#define PB_TOKEN_STEP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "reason.h"
#include "token.h"

#define PB_STEP_TEXT 512
#define PB_DETAIL_VALUE_MAX 64  /* bytes of a claim value in a text */

struct pb_step {
	enum pb_reason reason;  /* PB_OK: the token got past the step */
	char text[PB_STEP_TEXT];
};

/* Where the results go: explain's callback (fn NULL on the module's
 * path) and the caller's detail, which takes a refusal's text. */
struct pb_steps {
	pb_step_fn fn;
	void *ctx;
	char *detail;
	size_t detail_len;
};

/* Sets st to reason r with the text fmt says. */
void pb_step_set(struct pb_step *st, enum pb_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports st as the step called name: to the callback, and on a refusal
 * as the detail. Returns st->reason. */
enum pb_reason pb_step_report(const struct pb_steps *s, const char *name,
    const struct pb_step *st);

/* A value fit for a log line: at most dstlen - 1 bytes, printable ASCII
 * only (quotes and backslashes too would confuse a logfmt reader).
 * Verified tokens still carry values their requester chose, such as
 * aud. */
void pb_printable(char *dst, size_t dstlen, const char *src, size_t srclen);

/* JSON string s equals the C string want, byte for byte. */
bool pb_json_str_eq(const json_t *s, const char *want);

#endif
