/*
 * policy_regex.c - the /regex/ items of policy patterns: what the loader
 * accepts, compiling, matching a claim value, and the literal prefilter
 * (pb_regex_must) that lets most values skip the regex engine.
 */
#include "config.h"

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"
#include "msg.h"

/* pb_quote's result for a message: called only on the way to an error. */
static const char *
qt(char q[160], const char *s, size_t len)
{
	pb_quote(q, 160, s, len, 64);
	return q;
}

/*
 * A valid ERE may still hold a ')' that glibc takes as a literal; wrapped
 * in "^(" ")$" it would close our group early and leave the rest of the
 * regex unanchored ("a)|(.*" would match anything). Refuse unbalanced
 * parentheses, and back-references, whose matching time is exponential in
 * the (job-controlled) value.
 *
 * Also bound what glibc's regcomp and regexec do with it, which grows
 * much faster than the regex (fuzzing found regexes of 200 bytes taking
 * gigabytes or seconds):
 * - E+ is compiled as E E*, and E{m,n} as n copies of E, so repetitions
 *   multiply the tree; the scan adds up the atoms as regcomp expands
 *   them and refuses more than REGEX_MAX_ATOMS;
 * - each optional part or alternative (?, *, +, {m,n}, |), copies
 *   included, makes compiling and matching slower, superlinearly: more
 *   than REGEX_MAX_BRANCHES are refused (128 a? cost about 2 ms);
 * - a repetition of a repetition (a**, a+?) is undefined in POSIX and
 *   exponential in glibc: refused;
 * - groups nest at most REGEX_MAX_DEPTH deep (glibc parses them
 *   recursively).
 */
#define REGEX_MAX_ATOMS    10000
#define REGEX_MAX_BRANCHES 128
#define REGEX_MAX_DEPTH    16

/* Saturating, so an estimate past the limit stays past it. */
static size_t
sat_mul(size_t a, size_t b)
{
	return b != 0 && a > REGEX_MAX_ATOMS / b ? REGEX_MAX_ATOMS + 1 : a * b;
}

/* What a piece of the regex costs once compiled. */
struct re_cost {
	size_t atoms, branches;
};

/* A repetition at re[i] ("*", "?", "+", "{m}", "{m,}", "{m,n}"): returns
 * its length and sets *copies to how many copies of the repeated tree
 * regcomp makes and *optional to how many of them are optional, or
 * returns 0 when it is none (a '{' that is no bound: regcomp decides). */
static size_t
repetition_at(const char *re, size_t len, size_t i, size_t *copies,
    size_t *optional)
{
	size_t j = i + 1, m = 0, n = 0;
	bool comma = false, ndigits = false;

	*copies = 1;
	*optional = 1;
	if (re[i] == '*' || re[i] == '?')
		return 1;
	if (re[i] == '+') {
		*copies = 2;
		return 1;
	}
	if (re[i] != '{' || j >= len || re[j] < '0' || re[j] > '9')
		return 0;
	while (j < len && re[j] >= '0' && re[j] <= '9')
		m = sat_mul(m, 10) + (size_t)(re[j++] - '0');
	if (j < len && re[j] == ',') {
		comma = true;
		j++;
		while (j < len && re[j] >= '0' && re[j] <= '9') {
			n = sat_mul(n, 10) + (size_t)(re[j++] - '0');
			ndigits = true;
		}
	}
	if (j >= len || re[j] != '}')
		return 0;
	if (!comma) {
		*copies = m;
		*optional = 0;
	} else if (!ndigits) {
		*copies = m + 1;
	} else {
		*copies = n;
		*optional = n > m ? n - m : 0;
	}
	if (*copies == 0)
		*copies = 1;
	return j + 1 - i;
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

static int
regex_scan(const char *re, size_t len, char *msg, size_t msglen)
{
	char q[160];
	/* cost[d]: of open group d so far; last: of the atom or group a
	 * repetition would repeat */
	struct re_cost cost[REGEX_MAX_DEPTH + 1], last = { 0, 0 };
	size_t depth = 0, i = 0;
	bool repeated = false;  /* the previous item was a repetition */

	cost[0] = last;
	while (i < len) {
		char c = re[i];
		size_t copies, optional, rlen;

		if ((rlen = repetition_at(re, len, i, &copies, &optional)) >
		    0) {
			if (repeated) {
				pb_msg(msg, msglen, "regex %s: a repetition "
				    "of a repetition (such as a** or a+?) is "
				    "not allowed", qt(q, re, len));
				return -1;
			}
			/* the copies beyond the first are new */
			cost[depth].atoms += sat_mul(last.atoms, copies - 1);
			cost[depth].branches +=
			    sat_mul(last.branches, copies - 1) + optional;
			last.atoms = sat_mul(last.atoms, copies);
			last.branches = sat_mul(last.branches, copies) +
			    optional;
			repeated = true;
			i += rlen;
			goto check;
		}
		repeated = false;
		if (c == '\\') {
			if (i + 1 < len && re[i + 1] >= '1' && re[i + 1] <= '9') {
				pb_msg(msg, msglen, "regex %s: back-references "
				    "are not supported", qt(q, re, len));
				return -1;
			}
			i += 2;
		} else if (c == '[') {
			i = bracket_close(re, len, i) + 1;
		} else if (c == '(') {
			if (depth == REGEX_MAX_DEPTH) {
				pb_msg(msg, msglen, "regex %s: groups nested "
				    "deeper than %d", qt(q, re, len),
				    REGEX_MAX_DEPTH);
				return -1;
			}
			cost[++depth] = (struct re_cost){ 0, 0 };
			last = cost[depth];
			i++;
			continue;
		} else if (c == ')') {
			if (depth == 0) {
				pb_msg(msg, msglen, "regex %s: unbalanced ')' "
				    "(write \\) for a literal parenthesis)",
				    qt(q, re, len));
				return -1;
			}
			last = cost[depth--];
			if (last.atoms == 0)
				last.atoms = 1;
			cost[depth].atoms += last.atoms;
			cost[depth].branches += last.branches;
			i++;
			goto check;
		} else if (c == '|') {
			cost[depth].branches++;
			last = (struct re_cost){ 0, 0 };
			i++;
			goto check;
		} else {
			i++;
		}
		/* one atom: a character, an escape or a bracket expression */
		last = (struct re_cost){ 1, 0 };
		cost[depth].atoms++;
check:
		if (cost[depth].atoms > REGEX_MAX_ATOMS) {
			pb_msg(msg, msglen, "regex %s is too complex: its "
			    "repetitions expand to more than %d items",
			    qt(q, re, len), REGEX_MAX_ATOMS);
			return -1;
		}
		if (cost[depth].branches > REGEX_MAX_BRANCHES) {
			pb_msg(msg, msglen, "regex %s is too complex: more "
			    "than %d optional parts and alternatives (?, *, "
			    "+, {m,n}, |, counted in every copy)",
			    qt(q, re, len), REGEX_MAX_BRANCHES);
			return -1;
		}
	}
	if (depth != 0) {
		pb_msg(msg, msglen, "invalid regex %s: unbalanced '('",
		    qt(q, re, len));
		return -1;
	}
	return 0;
}

/* Bytes that stand for themselves anywhere outside a bracket expression
 * or an escape in a glibc ERE (and in any locale whose multibyte
 * characters are all non-ASCII bytes). */
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
 * without it skips regexec (and regcomp, for a snapshot's regex). Not
 * static so tests/test_regex_must.c can check it against glibc.
 *
 * A deny rule wrongly judged "cannot match" would let a login through,
 * so this is deliberately conservative: the longest (first) run of plain
 * bytes outside groups, bracket expressions and escapes, none of them
 * repeated or made optional, and nothing when there is a '|' outside
 * groups, a ')' that would close the wrapping group, or anywhere a '^',
 * a '$', a NUL (regcomp would stop there) or a non-ASCII byte (in a
 * multibyte locale other than UTF-8, an ASCII byte may be the second
 * half of a character, so brackets and repetitions may not be where
 * this byte-wise scan sees them).
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
	regex_t rx;
};

int
pb_regex_build(const char *text, size_t len, struct pb_regex **out,
    char *msg, size_t msglen)
{
	char errbuf[256], q[160];
	struct pb_regex *re;
	char *wrapped;
	int rc;

	*out = NULL;
	/* Balanced parentheses are the one thing wrapping could change
	 * (a stray ')' would close our group and escape the anchors), so
	 * once they are checked a single compile of the wrapped form both
	 * validates and builds the regex. */
	if (regex_scan(text, len, msg, msglen) < 0)
		return -1;
	re = malloc(sizeof(*re));
	wrapped = malloc(len + 5);
	if (re == NULL || wrapped == NULL) {
		free(re);
		free(wrapped);
		pb_msg(msg, msglen, "out of memory");
		return -1;
	}
	/* POSIX ERE has no (?:...); a plain group is fine with REG_NOSUB
	 * left off only so exec can double-check the match span */
	memcpy(wrapped, "^(", 2);
	memcpy(wrapped + 2, text, len);
	memcpy(wrapped + 2 + len, ")$", 3);
	rc = regcomp(&re->rx, wrapped, REG_EXTENDED);
	free(wrapped);
	if (rc != 0) {
		regerror(rc, &re->rx, errbuf, sizeof(errbuf));
		pb_msg(msg, msglen, "invalid regex %s: %s",
		    qt(q, text, len), errbuf);
		free(re);
		return -1;
	}
	*out = re;
	return 0;
}

int
pb_regex_exec(const struct pb_regex *re, const char *v, size_t len,
    char *msg, size_t msglen)
{
	regmatch_t m;

	(void)msg;
	(void)msglen;
	/* the anchors already force a whole-value match; checking the span
	 * too keeps a surprise in the regex engine from widening access */
	return regexec(&re->rx, v, 1, &m, 0) == 0 && m.rm_so == 0 &&
	    (size_t)m.rm_eo == len;
}

void
pb_regex_free(struct pb_regex *re)
{
	if (re == NULL)
		return;
	regfree(&re->rx);
	free(re);
}
