/*
 * regex_values.h - the pathological regex corpus (tests/bench/
 * regex_corpus.txt) and, for each regex, the claim values that make a
 * backtracking engine try the most ways to match it: long runs of the
 * characters it repeats, cut off by one it does not expect, each as long
 * as the longest claim value a token can carry. Shared by
 * tests/test_regex_bounds.c and tests/bench/bench_regex.c.
 */
#ifndef PB_REGEX_VALUES_H
#define PB_REGEX_VALUES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RV_LEN 8192             /* bytes of each value */
#define RV_MAX 16               /* values per regex */

struct rv_set {
	size_t n;
	char v[RV_MAX][RV_LEN + 1];
};

/* v = unit repeated to RV_LEN bytes (whole units only, so UTF-8 stays
 * whole), then tail in place of the last bytes. */
static void
rv_fill(char *v, const char *unit, const char *tail)
{
	size_t ulen = strlen(unit), tlen = strlen(tail), i = 0;

	while (i + ulen <= RV_LEN - tlen) {
		memcpy(v + i, unit, ulen);
		i += ulen;
	}
	while (i < RV_LEN - tlen)
		v[i++] = 'a';
	memcpy(v + i, tail, tlen);
	v[RV_LEN] = '\0';
}

static void
rv_add(struct rv_set *s, const char *unit, const char *tail)
{
	if (s->n < RV_MAX)
		rv_fill(s->v[s->n++], unit, tail);
}

/* The values for the regex re: runs of "a", of each character the regex
 * names (up to 8), of all of them in turn, of "é", and of "a\n", each
 * whole and cut off by a '!' (or '~' when the regex names '!'). */
static void
rv_make(const char *re, struct rv_set *s)
{
	char lits[16], unit[2] = { 0, 0 };
	const char *cut;
	size_t nl = 0, i;

	s->n = 0;
	for (i = 0; re[i] != '\0' && nl < 8; i++) {
		char c = re[i];

		if (((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-_,@/:%", c) != NULL) &&
		    memchr(lits, c, nl) == NULL)
			lits[nl++] = c;
	}
	lits[nl] = '\0';
	cut = strchr(re, '!') != NULL ? "~" : "!";
	rv_add(s, "a", "");
	rv_add(s, "a", cut);
	for (i = 0; i < nl; i++) {
		unit[0] = lits[i];
		rv_add(s, unit, cut);
	}
	if (nl > 1) {
		rv_add(s, lits, "");
		rv_add(s, lits, cut);
	}
	rv_add(s, "\xc3\xa9", cut);
	rv_add(s, "a\n", "");
}

/* The corpus's regexes (comments and blank lines skipped), NULL when it
 * cannot be read; free each and the array. */
static char **
rv_corpus(const char *path, size_t *n)
{
	char line[4096], **res = NULL, **grown;
	FILE *f = fopen(path, "r");
	size_t len;

	*n = 0;
	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strcspn(line, "\n");
		line[len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		grown = realloc(res, (*n + 1) * sizeof(*res));
		if (grown == NULL || (grown[*n] = strdup(line)) == NULL) {
			fprintf(stderr, "out of memory\n");
			exit(99);
		}
		res = grown;
		(*n)++;
	}
	fclose(f);
	return res;
}

#endif
