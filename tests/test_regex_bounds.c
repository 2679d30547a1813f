/*
 * test_regex_bounds.c - /regex/ items mean what POSIX says, and cost
 * what their limits allow.
 *
 * First a table of regexes and values, each decided as POSIX ERE decides
 * it, where PCRE2's own syntax would read the regex otherwise (a
 * backslash in brackets, '.' and a newline, '$' before a final newline,
 * alternatives inside the anchors). Then every regex of the pathological
 * corpus (tests/bench/regex_corpus.txt) through the loader's path: each
 * is refused with a message, or compiled and run on adversarial values of
 * 8 KiB, every run ending in a match, a mismatch or "undecided" with a
 * reason. Nothing here is timed: the engine's limits are what end the
 * runs, and a run they did not end would hang the test.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy.h"
#include "policy_int.h"
#include "regex_values.h"
#include "tap.h"

struct match_case {
	const char *re, *value;
	int want;               /* 1 match, 0 not, -1 refused or undecided */
};

static const struct match_case match_cases[] = {
	/* a backslash in brackets is itself, in PCRE2 an escape */
	{ "[a\\]", "\\", 1 },
	{ "[a\\]", "a", 1 },
	{ "[a\\]", "]", 0 },
	{ "[a\\]+", "a\\a", 1 },
	{ "[\\n]", "n", 1 },
	{ "[\\n]", "\n", 0 },
	{ "[\\d]", "d", 1 },
	{ "[\\d]", "5", 0 },
	/* brackets: ']' first, '-' first or last, '^' not first, classes */
	{ "[]a]", "]", 1 },
	{ "[^]a]", "]", 0 },
	{ "[^]a]", "b", 1 },
	{ "[a-]", "-", 1 },
	{ "[-a]", "-", 1 },
	{ "[--/]", ".", 1 },
	{ "[a^]", "^", 1 },
	{ "[[]", "[", 1 },
	{ "[.]", "x", 0 },
	{ "[$]", "$", 1 },
	{ "[(|)]", "|", 1 },
	{ "[[:digit:]]+", "2024", 1 },
	{ "[[:alpha:]_]+", "a_b", 1 },
	{ "[[:alpha:]]", "\xc3\xa9", 0 },       /* classes are ASCII */
	{ "[^a]", "\xc3\xa9", 1 },              /* one character */
	{ "[\xc3\xa0-\xc3\xbf]", "\xc3\xa9", 1 },
	/* a value that is no UTF-8 (no JSON string is): undecided */
	{ "[\xc3\xa9]", "\xc3", -1 },
	/* '.' is any character, a newline and a multibyte one included */
	{ "a.b", "a\nb", 1 },
	{ "a.b", "a\xc3\xa9" "b", 1 },
	{ "a..b", "a\xc3\xa9" "b", 0 },
	{ ".*", "x\ny\n", 1 },
	/* '$' and '^' at the very ends only */
	{ "x$", "x\n", 0 },
	{ "x$", "x", 1 },
	{ "x\n", "x\n", 1 },
	{ "^x", "x", 1 },
	{ "a^b", "ab", 0 },
	{ "a$b", "ab", 0 },
	{ "(^a|b)c", "ac", 1 },
	/* the whole value, alternatives inside the anchors */
	{ "xx|ma", "main", 0 },
	{ "ma|main", "main", 1 },
	{ "main|ma", "ma", 1 },
	{ "a|", "", 1 },
	{ "(a|ab)(c|bcd)(d*)", "abcd", 1 },
	{ "a*", "", 1 },
	{ "ab", "abab", 0 },
	/* escapes of special characters, and of others that are no
	 * letter or digit, stand for the character */
	{ "a\\.b", "a.b", 1 },
	{ "a\\.b", "axb", 0 },
	{ "\\*\\+\\?\\{\\}\\(\\)\\[\\]\\|\\^\\$\\\\", "*+?{}()[]|^$\\", 1 },
	{ "\\/\\-\\@", "/-@", 1 },
	/* PCRE2 syntax is plain text here */
	{ "a#b", "a#b", 1 },
	{ "a b", "a b", 1 },
	{ "\\Qa", "Qa", -1 },                   /* refused */
	{ "}", "}", 1 },
	{ "a}", "a}", 1 },
	{ "]", "]", 1 },
	/* bounds */
	{ "a{2}", "aa", 1 },
	{ "a{2}", "aaa", 0 },
	{ "a{2,}", "aaaa", 1 },
	{ "a{0,1}b", "b", 1 },
	{ "(ab){1,2}", "abab", 1 },
	{ "a{0}", "", 1 },
	{ "a{007}", "aaaaaaa", 1 },
	{ "(a{255}){255}", "a", 0 },
	/* empty groups and alternatives */
	{ "()", "", 1 },
	{ "(|a)b", "b", 1 },
	{ "()*a", "a", 1 },
	/* non-ASCII literals and repetitions of them */
	{ "f\xc3\xa9+", "f\xc3\xa9\xc3\xa9", 1 },
	{ "f\xc3\xa9+", "f\xc3\xa9\xa9", -1 },
	/* the documented example */
	{ "v[0-9]+\\.[0-9]+\\.[0-9]+", "v1.4.2", 1 },
	{ "v[0-9]+\\.[0-9]+\\.[0-9]+", "v1.4", 0 },
};

static void
test_matches(void)
{
	char msg[PB_MSG_MAX], q[160], qv[64];
	size_t i;

	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		struct pb_regex *re = NULL;
		int got;

		msg[0] = '\0';
		got = pb_regex_build(c->re, strlen(c->re), &re, msg,
		    sizeof(msg));
		if (got == 0)
			got = pb_regex_exec(re, c->value, strlen(c->value),
			    msg, sizeof(msg));
		pb_quote(q, sizeof(q), c->re, strlen(c->re), 64);
		pb_quote(qv, sizeof(qv), c->value, strlen(c->value), 32);
		if (!ok(got == c->want, "/%s/ on %s: %s", q, qv,
		    c->want == 1 ? "match" : c->want == 0 ? "no match" :
		    "refused"))
			diag("got %d %s", got, msg);
		pb_regex_free(re);
	}
}

/* Values of 8 KiB of the regex's own shape (the unit repeated, then
 * the tail): decided, whatever the limits that stop a pathological one. */
struct long_case {
	const char *re, *unit, *tail;
	int want;
};

static const struct long_case long_cases[] = {
	{ "feature/.*", "feature/", "", 1 },
	{ ".*-prod", "a-", "prod", 1 },
	{ ".*-prod", "a-", "pro", 0 },
	{ ".*deploy.*", "a", "", 0 },
	{ "[a-z0-9-]+", "a-1", "", 1 },
	{ "[a-z0-9-]+", "a-1", "A", 0 },
	{ "([a-z]+-)*[a-z]+", "abcdefghi-", "x", 1 },
	{ "([a-z]+-)*[a-z]+", "abcdefghi-", "-", 0 },
	{ "([a-z]+/)*[a-z]+", "abcdefghi/", "x", 1 },
	{ "(main|master|release/.*)", "release/", "x", 1 },
	{ "release-[0-9]+\\.[0-9]+", "1", ".2", 0 },
	{ "v[0-9]+(\\.[0-9]+)*", "1.", "1", 0 },
	{ "(.*/)?[a-z]+", "ab/", "c", 1 },
};

static void
test_long_values(void)
{
	char msg[PB_MSG_MAX], *v = malloc(RV_LEN + 1);
	struct pb_regex *re = NULL;
	size_t i;
	int got;

	for (i = 0; v != NULL &&
	    i < sizeof(long_cases) / sizeof(long_cases[0]); i++) {
		const struct long_case *c = &long_cases[i];

		rv_fill(v, c->unit, c->tail);
		msg[0] = '\0';
		got = pb_regex_build(c->re, strlen(c->re), &re, msg,
		    sizeof(msg));
		if (got == 0)
			got = pb_regex_exec(re, v, RV_LEN, msg, sizeof(msg));
		if (!ok(got == c->want, "/%s/ on \"%s\" repeated to %d bytes "
		    "then \"%s\": %s", c->re, c->unit, RV_LEN, c->tail,
		    c->want ? "match" : "no match"))
			diag("got %d %s", got, msg);
		pb_regex_free(re);
		re = NULL;
	}
	free(v);
}

/* Compiled size: a bound inside a bound multiplies the compiled form,
 * and PCRE2 refuses one past its 64K code units at once. */
static void
test_sizes(void)
{
	char msg[PB_MSG_MAX];
	struct pb_regex *re = NULL;
	static const char *const big[] = {
		"((a{255}){255}){255}",
		"(((.{1,255}){255}){255}){255}",
		"((((((((((((((((a{2}){2}){2}){2}){2}){2}){2}){2}){2}){2}){2}"
		"){2}){2}){2}){2}){2})",
	};
	size_t i;
	char long_re[2048];

	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		msg[0] = '\0';
		ok(pb_regex_build(big[i], strlen(big[i]), &re, msg,
		    sizeof(msg)) == -1 && re == NULL &&
		    strstr(msg, "too large") != NULL, "%s is refused (%s)",
		    big[i], msg);
	}
	memset(long_re, 'a', sizeof(long_re));
	ok(pb_regex_build(long_re, 1024, &re, msg, sizeof(msg)) == 0,
	    "a regex of 1024 bytes compiles");
	pb_regex_free(re);
	re = NULL;
	ok(pb_regex_build(long_re, 1025, &re, msg, sizeof(msg)) == -1 &&
	    strstr(msg, "longer than 1024 bytes") != NULL,
	    "a regex of 1025 bytes is refused (%s)", msg);
}

/* Each corpus regex through pb_pattern_add, as the loader adds an item:
 * refused with a message, or decided on every value within the limits.
 * Returns how many runs were undecided. */
static size_t
corpus_one(const char *re, struct rv_set *vals, size_t *refused)
{
	struct pb_pattern p;
	char item[4200], msg[PB_MSG_MAX];
	size_t i, undecided = 0, bad = 0, counts[3] = { 0, 0, 0 };
	int rc;

	memset(&p, 0, sizeof(p));
	snprintf(item, sizeof(item), "/%s/", re);
	msg[0] = '\0';
	if (pb_pattern_add(&p, item, strlen(item), msg, sizeof(msg)) < 0) {
		(*refused)++;
		ok(strncmp(msg, "invalid regex \"", 15) == 0,
		    "corpus %s: refused (%s)", re, msg);
		return 0;
	}
	rv_make(re, vals);
	for (i = 0; i < vals->n; i++) {
		msg[0] = '\0';
		rc = pb_regex_exec(p.items[0].re, vals->v[i], RV_LEN, msg,
		    sizeof(msg));
		if (rc == -1 && strstr(msg, "undecided") != NULL)
			undecided++;
		else if (rc != 0 && rc != 1)
			bad++;
		else if (rc == -1)
			bad++;
		if (rc >= -1 && rc <= 1)
			counts[rc + 1]++;
	}
	ok(bad == 0 && p.items[0].re != NULL, "corpus %s: compiled; %zu "
	    "values of %d bytes: %zu matched, %zu did not, %zu undecided",
	    re, vals->n, RV_LEN, counts[2], counts[1], counts[0]);
	pb_pattern_free(&p);
	return undecided;
}

static void
test_corpus(void)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	struct rv_set *vals = malloc(sizeof(*vals));
	char **corpus;
	size_t n, i, refused = 0, undecided = 0;

	snprintf(path, sizeof(path), "%s/tests/bench/regex_corpus.txt",
	    top != NULL && top[0] != '\0' ? top : ".");
	corpus = rv_corpus(path, &n);
	if (vals == NULL || !ok(corpus != NULL && n >= 50,
	    "the corpus holds %zu regexes", n)) {
		free(vals);
		return;
	}
	for (i = 0; i < n; i++) {
		undecided += corpus_one(corpus[i], vals, &refused);
		free(corpus[i]);
	}
	free(corpus);
	free(vals);
	/* both outcomes must occur, or the corpus tests less than it says */
	ok(refused >= 10 && refused < n, "the corpus: %zu refused, %zu "
	    "compiled", refused, n - refused);
	ok(undecided > 0, "the corpus: %zu runs reached a limit and were "
	    "undecided", undecided);
}

/* The two regexes of the review, and what a login sees of them. */
static void
test_review(void)
{
	char msg[PB_MSG_MAX];
	struct pb_regex *re = NULL;

	ok(pb_regex_build("((.*)*){20}", 11, &re, msg, sizeof(msg)) == 0 &&
	    pb_regex_exec(re, "feature/x", 9, msg, sizeof(msg)) == 1,
	    "((.*)*){20} compiles and matches");
	pb_regex_free(re);
	re = NULL;
	ok(pb_regex_build("(.*){,260}", 10, &re, msg, sizeof(msg)) == -1 &&
	    strstr(msg, "{,n} is not POSIX") != NULL,
	    "(.*){,260} is refused (%s)", msg);
	ok(pb_regex_build("(.*){0,255}", 11, &re, msg, sizeof(msg)) == 0 &&
	    pb_regex_exec(re, "feature/x", 9, msg, sizeof(msg)) == 1,
	    "(.*){0,255} compiles and matches");
	pb_regex_free(re);
}

int
main(void)
{
	test_matches();
	test_long_values();
	test_sizes();
	test_review();
	test_corpus();
	return done_testing();
}
