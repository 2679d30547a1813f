/*
 * policy_regex.c - the /regex/ items of policy patterns: compiling them
 * with PCRE2, matching a claim value within fixed limits, and the literal
 * prefilter (pb_regex_must) that lets most values skip the regex engine.
 *
 * A policy's regexes are POSIX EREs (policy_ere.c checks them and writes
 * them in PCRE2's syntax). They were matched by glibc's regcomp and
 * regexec, whose cost grows far faster than the regex: "((.*)*){20}"
 * took seconds in regcomp at every login, "(.*){0,260}" seconds and most
 * of a gigabyte, and no scan for costly shapes can list them all. PCRE2's
 * interpreter instead bounds what compiling and matching may cost,
 * whatever the regex: the regex's length, its nesting, the size of its
 * compiled form (64K code units in Debian's build: a regex that would
 * need more is refused at load), and per match the number of backtracking
 * steps, their depth and the heap they may take. A match that reaches a
 * limit is neither a match nor a mismatch: pb_regex_exec says it could
 * not decide, and the caller counts the condition as undecided.
 *
 * No JIT (no executable memory in a database backend), no global state:
 * the compile context lives for one pb_regex_build, the match context
 * with the regex, the match data for one pb_regex_exec.
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"
#include "msg.h"

/*
 * The limits. A regex is at most REGEX_MAX_LEN bytes. A match may take
 * REGEX_MATCH_LIMIT backtracking steps (PCRE2 counts one each time it
 * saves a point to come back to: an alternative, a repetition's next
 * iteration or character), at most half a microsecond each in the
 * corpus of tests/bench: a few milliseconds. REGEX_DEPTH_LIMIT and
 * REGEX_HEAP_KIB bound the backtracking frames PCRE2 keeps on the heap
 * (about 150 bytes each; its default heap limit is 20 GB), and with
 * them the fresh pages a backend would fault in, the larger part of the
 * cost. A value of the regex's own shape is decided within them at the
 * 8 KiB a token can carry when each round of a repeated group takes a few
 * characters (".*-prod" takes a step per byte, "([a-z]+-)*[a-z]+" a
 * level per '-'); a group repeated once per character ("(a|b)*") decides
 * values up to about 2000 characters. Past that, or on a value built to
 * make the regex backtrack, the match is undecided.
 * tests/test_regex_bounds.c holds both kinds.
 */
#define REGEX_MAX_LEN      1024
#define REGEX_MATCH_LIMIT  10000
#define REGEX_DEPTH_LIMIT  2000
#define REGEX_HEAP_KIB     1024

/*
 * PCRE2_UTF: policies (YAML) and claims (JSON strings) are UTF-8, and '.'
 * or a negated bracket expression match one character, as glibc's do in
 * a UTF-8 locale. Without PCRE2_UCP, character classes are ASCII-only,
 * as in the C locale, whatever the backend's locale.
 * PCRE2_DOTALL: a POSIX '.' matches a newline.
 * PCRE2_DOLLAR_ENDONLY: a '$' matches at the very end only, not before a
 * final newline.
 * PCRE2_ANCHORED, PCRE2_ENDANCHORED: the regex matches the whole value.
 * PCRE2 tries alternatives in order and takes the first match where
 * POSIX takes the leftmost-longest; that choice matters for the span and
 * the groups of a match, never for whether the whole value matches:
 * backtracking tries every way before it says no (or reaches a limit,
 * and is undecided).
 * The translation's own group around the regex ("(?:" re ")") keeps its
 * alternatives inside the anchors, and policy_ere.c refuses a ')' that
 * would close it.
 */
#define REGEX_OPTIONS (PCRE2_UTF | PCRE2_NEVER_UCP | \
	PCRE2_NEVER_BACKSLASH_C | PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY | \
	PCRE2_ANCHORED | PCRE2_ENDANCHORED)

/* pb_quote's result for a message: called only on the way to an error. */
static const char *
qt(char q[160], const char *s, size_t len)
{
	pb_quote(q, 160, s, len, 64);
	return q;
}

/* The index of the ']' closing the bracket expression that opens at
 * re[i], or len when none does: a ']' first is a literal, and
 * [:class:], [=x=] and [.x.] may hold one. */
static size_t
bracket_close(const char *re, size_t len, size_t i)
{
	i++;
	if (i < len && re[i] == '^')
		i++;
	if (i < len && re[i] == ']')
		i++;
	while (i < len && re[i] != ']') {
		if (re[i] == '[' && i + 1 < len && (re[i + 1] == ':' ||
		    re[i + 1] == '=' || re[i + 1] == '.')) {
			char end = re[i + 1];

			i += 2;
			while (i + 1 < len &&
			    !(re[i] == end && re[i + 1] == ']'))
				i++;
			i = i + 2 < len ? i + 2 : len;
			continue;
		}
		i++;
	}
	return i < len ? i : len;
}

/* Bytes that stand for themselves anywhere outside a bracket expression
 * or an escape in an ERE (policy_ere.c writes each as itself). */
static bool
must_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-_/:@=,~%#!<>;&'\" ", c) != NULL);
}

/*
 * A literal that every value matching the wrapped regex contains, like
 * GNU grep's "must" strings: item_match tries memmem first, so a value
 * without it skips the engine (and compiling, for a snapshot's regex):
 * a value without it is no match, whatever limit the engine would have
 * reached. Not static so tests/test_regex_must.c can check it against
 * the engine.
 *
 * A deny rule wrongly judged "cannot match" would let a login through,
 * so this is deliberately conservative: the longest (first) run of plain
 * bytes outside groups, bracket expressions and escapes, none of them
 * repeated or made optional, and nothing when there is a '|' outside
 * groups, a ')' that would close the wrapping group, or anywhere a '^',
 * a '$', a NUL or a non-ASCII byte (a repetition after a multibyte
 * character repeats all of it, which this byte-wise scan does not
 * follow; policy_ere.c refuses the NUL).
 */
void
pb_regex_must(const char *re, size_t len, size_t *off, size_t *mlen)
{
	size_t i, depth = 0, run = 0, run_off = 0, best_off = 0,
	    best_len = 0;

	*off = 0;
	*mlen = 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)re[i];

		if (c == '\0' || c >= 0x80 || c == '^' || c == '$')
			return;
	}
	i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)re[i];
		size_t at = i;
		bool lit = false;

		if (must_plain(c)) {
			char n = i + 1 < len ? re[i + 1] : '\0';

			/* a repeated byte may be absent or stand apart */
			lit = depth == 0 && n != '*' && n != '+' && n != '?' &&
			    n != '{';
			i++;
		} else if (c == '\\') {
			/* \w, \<, \` ... are no literals: skip any escape */
			i = i + 2 < len ? i + 2 : len;
		} else if (c == '[') {
			if ((i = bracket_close(re, len, i)) >= len)
				return;         /* unterminated */
			i++;
		} else if (c == '{') {
			/* a bound: its digits are no literals */
			i++;
			while (i < len && ((re[i] >= '0' && re[i] <= '9') ||
			    re[i] == ','))
				i++;
			if (i < len && re[i] == '}')
				i++;
		} else if (c == '(') {
			depth++;
			i++;
		} else if (c == ')') {
			if (depth == 0)
				return;         /* would close "^(" */
			depth--;
			i++;
		} else if (c == '|') {
			if (depth == 0)
				return;
			i++;
		} else {
			i++;
		}
		if (!lit) {
			run = 0;
			continue;
		}
		if (run++ == 0)
			run_off = at;
		if (run > best_len) {
			best_len = run;
			best_off = run_off;
		}
	}
	if (depth != 0)
		return;
	*off = best_off;
	*mlen = best_len;
}

/* The compiled form of a pattern's /regex/ item. */
struct pb_regex {
	pcre2_code *code;
	pcre2_match_context *mctx;
	char quoted[160];       /* the regex, for pb_regex_exec's messages */
};

void
pb_regex_free(struct pb_regex *re)
{
	if (re == NULL)
		return;
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	free(re);
}

/* PCRE2's message for an error code. */
static const char *
pcre2_why(int rc, char buf[128])
{
	if (pcre2_get_error_message(rc, (PCRE2_UCHAR *)buf, 128) < 0)
		snprintf(buf, 128, "PCRE2 error %d", rc);
	return buf;
}

/* Compiles the translation pat (plen bytes), bounded by the compile
 * context: NULL, with why in msg, when PCRE2 refuses it. */
static pcre2_code *
compile(const char *text, size_t len, const char *pat, size_t plen,
    char *msg, size_t msglen)
{
	pcre2_compile_context *cctx;
	pcre2_code *code = NULL;
	PCRE2_SIZE erroff = 0;
	char q[160], why[128];
	int rc = PCRE2_ERROR_NOMEMORY;

	if ((cctx = pcre2_compile_context_create(NULL)) != NULL &&
	    pcre2_set_max_pattern_length(cctx,
	    pb_ere_max_out(REGEX_MAX_LEN) + 4) == 0 &&
	    pcre2_set_parens_nest_limit(cctx, PB_ERE_MAX_DEPTH + 1) == 0)
		code = pcre2_compile((PCRE2_SPTR)pat, plen, REGEX_OPTIONS,
		    &rc, &erroff, cctx);
	pcre2_compile_context_free(cctx);
	if (code == NULL) {
		/* offsets in the translation mean nothing to the policy's
		 * author; what is left to refuse here is mostly size */
		if (rc == PCRE2_ERROR_NOMEMORY)
			pb_msg(msg, msglen, "out of memory");
		else
			pb_msg(msg, msglen, "invalid regex %s: %s%s",
			    qt(q, text, len), pcre2_why(rc, why),
			    rc == PCRE2_ERROR_PATTERN_TOO_LARGE ? " (bounds "
			    "inside bounds multiply its compiled size)" : "");
	}
	return code;
}

int
pb_regex_build(const char *text, size_t len, struct pb_regex **out,
    char *msg, size_t msglen)
{
	struct pb_regex *re;
	char *pat, q[160];
	size_t plen;

	*out = NULL;
	if (len > REGEX_MAX_LEN) {
		pb_msg(msg, msglen, "invalid regex %s: longer than %d bytes",
		    qt(q, text, len), REGEX_MAX_LEN);
		return -1;
	}
	re = calloc(1, sizeof(*re));
	pat = malloc(pb_ere_max_out(len) + 6);
	if (re == NULL || pat == NULL) {
		free(re);
		free(pat);
		pb_msg(msg, msglen, "out of memory");
		return -1;
	}
	memcpy(pat, "(?:", 3);
	if (pb_ere_translate(text, len, pat + 3, pb_ere_max_out(len), &plen,
	    msg, msglen) < 0) {
		free(pat);
		free(re);
		return -1;
	}
	memcpy(pat + 3 + plen, ")", 2);
	re->code = compile(text, len, pat, plen + 4, msg, msglen);
	free(pat);
	if (re->code == NULL) {
		free(re);
		return -1;
	}
	if ((re->mctx = pcre2_match_context_create(NULL)) == NULL ||
	    pcre2_set_match_limit(re->mctx, REGEX_MATCH_LIMIT) != 0 ||
	    pcre2_set_depth_limit(re->mctx, REGEX_DEPTH_LIMIT) != 0 ||
	    pcre2_set_heap_limit(re->mctx, REGEX_HEAP_KIB) != 0) {
		pb_regex_free(re);
		pb_msg(msg, msglen, "out of memory");
		return -1;
	}
	qt(re->quoted, text, len);
	*out = re;
	return 0;
}

int
pb_regex_exec(const struct pb_regex *re, const char *v, size_t len,
    char *msg, size_t msglen)
{
	pcre2_match_data *md;
	PCRE2_SIZE *ov;
	char why[128];
	int rc;

	if ((md = pcre2_match_data_create(1, NULL)) == NULL) {
		pb_msg(msg, msglen, "out of memory");
		return -1;
	}
	rc = pcre2_match(re->code, (PCRE2_SPTR)v, len, 0, 0, md, re->mctx);
	if (rc >= 0) {
		/* the anchors already force a whole-value match; checking the
		 * span too keeps a surprise in the engine from widening
		 * access */
		ov = pcre2_get_ovector_pointer(md);
		rc = ov[0] == 0 && ov[1] == len;
	} else if (rc == PCRE2_ERROR_NOMATCH) {
		rc = 0;
	} else {
		if (rc == PCRE2_ERROR_MATCHLIMIT)
			snprintf(why, sizeof(why), "more than %d backtracking "
			    "steps", REGEX_MATCH_LIMIT);
		else if (rc == PCRE2_ERROR_DEPTHLIMIT)
			snprintf(why, sizeof(why), "backtracking deeper than "
			    "%d", REGEX_DEPTH_LIMIT);
		else if (rc == PCRE2_ERROR_HEAPLIMIT)
			snprintf(why, sizeof(why), "more than %d KiB of "
			    "backtracking memory", REGEX_HEAP_KIB);
		else
			pcre2_why(rc, why);
		pb_msg(msg, msglen, "regex %s undecided on a value of %zu "
		    "bytes: %s", re->quoted, len, why);
		rc = -1;
	}
	pcre2_match_data_free(md);
	return rc;
}
