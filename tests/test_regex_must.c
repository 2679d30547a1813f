/*
 * test_regex_must.c - the literal prefilter of /regex/ pattern items.
 *
 * pb_regex_must derives, for each regex, a literal that every value the
 * regex matches must contain, and item_match skips the regex engine when
 * a value lacks it. A literal that is not really required would make a
 * deny rule miss, so besides a table of the rules this checks the
 * derivation against the engine itself (pb_regex_build and
 * pb_regex_exec) on a few hundred thousand random regexes and values,
 * and the decision end to end. The same random regexes check that the
 * engine decides as glibc's POSIX regexec does, wherever both take the
 * regex.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "msg.h"
#include "policy.h"
#include "policy_int.h"
#include "policy_claims.h"
#include "tap.h"

/* ------------------------------------------------------------- table */

struct must_case {
	const char *re;
	size_t len;             /* 0: strlen(re) */
	const char *want;       /* NULL: no literal */
};

static const struct must_case must_cases[] = {
	/* the common cases */
	{ "release-[0-9]+\\.1", 0, "release-" },
	{ "v[0-9]+\\..*", 0, "v" },
	{ "feature/.*", 0, "feature/" },
	{ "(main|master)", 0, NULL },
	{ "deploy-.+-prod", 0, "deploy-" },
	{ "main", 0, "main" },
	{ "[a-z]+-[0-9]+", 0, "-" },
	/* alternation at the top level: nothing */
	{ "a|b", 0, NULL },
	{ "abc|abd", 0, NULL },
	{ "(a|b)cd|e", 0, NULL },
	{ "abc|", 0, NULL },
	/* groups are unknown atoms, at any depth, repeated or not */
	{ "x(y|z)w", 0, "x" },
	{ "ab(cd|ef)gh", 0, "ab" },
	{ "x(a|(b|c))yz", 0, "yz" },
	{ "(ab)", 0, NULL },
	{ "(abc)*de", 0, "de" },
	{ "(abc)?", 0, NULL },
	{ "a(bcd){2}e", 0, "a" },
	{ "()ab", 0, "ab" },
	/* bracket expressions are unknown atoms */
	{ "[]a]", 0, NULL },
	{ "[]a]bc", 0, "bc" },
	{ "x[]a]yz", 0, "yz" },
	{ "[[:digit:]]+ab", 0, "ab" },
	{ "[[:alpha:]]xyz", 0, "xyz" },
	{ "a[[=b=]]cd", 0, "cd" },
	{ "[[.].]]ab", 0, "ab" },
	{ "[[:alpha:]]]ab", 0, "ab" },
	{ "[|]ab", 0, "ab" },
	{ "[(]ab", 0, "ab" },
	{ "a[)]bc", 0, "bc" },
	{ "[ab", 0, NULL },
	{ "x[[:alpha:", 0, NULL },
	/* escapes are unknown atoms, and their second byte is no literal */
	{ "\\.abc", 0, "abc" },
	{ "ab\\.c", 0, "ab" },
	{ "\\wab", 0, "ab" },
	{ "a\\bcd", 0, "cd" },
	{ "a\\<bc\\>", 0, "bc" },
	{ "\\`ab\\'", 0, "ab" },
	{ "a\\|b", 0, "a" },
	{ "\\(ab", 0, "ab" },
	{ "x\\)yz", 0, "yz" },
	{ "ab\\", 0, "ab" },
	{ "\\", 0, NULL },
	{ "\\abc", 0, "bc" },
	/* a repeated byte is no part of a run */
	{ "ab*c", 0, "a" },
	{ "abc*", 0, "ab" },
	{ "ab+c", 0, "a" },
	{ "ab?cd", 0, "cd" },
	{ "x?", 0, NULL },
	{ "x+", 0, NULL },
	{ "x*", 0, NULL },
	{ "xy?", 0, "x" },
	{ "ab{2}cd", 0, "cd" },
	{ "ab{2,3}c", 0, "a" },
	{ "abc{,2}de", 0, "ab" },
	{ "a{123}", 0, NULL },
	{ "a{1,2}bc", 0, "bc" },
	{ "a{1,}", 0, NULL },
	{ "a{0}bc", 0, "bc" },
	{ "ab{", 0, "a" },
	{ "ab}cd", 0, "ab" },
	/* anchors anywhere, even escaped or in a bracket: nothing */
	{ "^ab", 0, NULL },
	{ "ab$", 0, NULL },
	{ "a\\$b", 0, NULL },
	{ "[^a]bc", 0, NULL },
	{ "(^a)bcd", 0, NULL },
	/* any other byte breaks the run */
	{ "a.b", 0, "a" },
	{ ".*", 0, NULL },
	{ "...", 0, NULL },
	{ "ab`cde", 0, "cde" },
	{ "a\nbc", 0, "bc" },
	{ "a\tbc", 0, "bc" },
	{ "AB*", 0, "A" },
	/* non-ASCII and NUL bytes anywhere: nothing */
	{ "caf\xc3\xa9", 0, NULL },
	{ "abc\xff", 0, NULL },
	{ "a\0bc", 4, NULL },
	{ "abcd\0", 5, NULL },
	/* parentheses that do not balance: nothing */
	{ "a)(b", 0, NULL },
	{ "ab)", 0, NULL },
	{ "(ab", 0, NULL },
	{ "abc(", 0, NULL },
	/* every plain byte */
	{ "a b-c_d/e:f@g=h,i~j%k#l!m<n>o;p&q'r\"s", 0,
	  "a b-c_d/e:f@g=h,i~j%k#l!m<n>o;p&q'r\"s" },
	{ "Z9", 0, "Z9" },
	/* ties: the first */
	{ "ab.cd", 0, "ab" },
	{ "a.bc.de", 0, "bc" },
	{ "", 0, NULL },
};

static void
test_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(must_cases) / sizeof(must_cases[0]); i++) {
		const struct must_case *c = &must_cases[i];
		size_t len = c->len ? c->len : strlen(c->re);
		size_t off = 12345, mlen = 12345, wlen;
		char q[160], got[160];
		bool good;

		pb_regex_must(c->re, len, &off, &mlen);
		wlen = c->want != NULL ? strlen(c->want) : 0;
		good = mlen == wlen && (mlen == 0 ? off == 0 :
		    off + mlen <= len && memcmp(c->re + off, c->want, wlen) == 0);
		pb_quote(q, sizeof(q), c->re, len, 64);
		if (!ok(good, "must %s", q)) {
			if (mlen <= len && off <= len - mlen)
				pb_quote(got, sizeof(got), c->re + off, mlen,
				    64);
			else
				snprintf(got, sizeof(got), "(out of range)");
			diag("got off %zu len %zu %s, want %s", off, mlen,
			    got, c->want ? c->want : "(none)");
		}
	}
}

/* ------------------------------------------------------- differential */

/* splitmix64: a fixed seed makes every run test the same regexes */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
rnd_below(uint64_t *s, size_t n)
{
	return (size_t)(rnd(s) % n);
}

/* Pieces of random regexes: mostly single bytes, letters and digits more
 * often, and a few multi-byte pieces that single bytes would rarely form
 * (classes, collating symbols, escapes, bounds). */
static const char *const pieces[] = {
	"a", "a", "a", "a", "b", "b", "b", "b", "0", "0", "1", "1",
	"-", "-", "/", "/", ":", ",", ".", ".", "*", "*", "+", "?",
	"|", "(", "(", ")", ")", "[", "]", "^", "$", "\\", "{", "}",
	"[:digit:]", "[[:alpha:]]", "[=a=]", "[.-.]", "[[.].]]", "\\.",
	"\\w", "\\b", "\\<", "\\`", "\\'", "{2}", "{0,1}", "{1,}", "{,2}",
	"[^a]", "[]a]", "[ab]", "[0-1]", "(a|b)", "[|]",
};

#define N_PIECES (sizeof(pieces) / sizeof(pieces[0]))

static const char value_abc[] = "ab-/.01";

struct diff_stats {
	size_t tried, accepted, with_lit, matches, lit_matches,
	    lit_misses, violations, reports, undecided, glibc_both,
	    glibc_differ, glibc_reports;
};

/* Does glibc match the whole value, as the module did before PCRE2? */
static bool
glibc_match(const regex_t *re, const char *v, size_t len)
{
	regmatch_t m;

	return regexec(re, v, 1, &m, 0) == 0 && m.rm_so == 0 &&
	    (size_t)m.rm_eo == len;
}

/* The same value through glibc, when glibc takes the regex too: PCRE2
 * must decide as POSIX does. */
static void
diff_glibc(const char *re, size_t len, const regex_t *rx, bool has_glibc,
    const char *v, size_t vlen, int m, struct diff_stats *st)
{
	char q[160], qv[64];

	if (!has_glibc)
		return;
	st->glibc_both++;
	if (glibc_match(rx, v, vlen) == (m == 1))
		return;
	st->glibc_differ++;
	if (st->glibc_reports++ < 5) {
		pb_quote(q, sizeof(q), re, len, 64);
		pb_quote(qv, sizeof(qv), v, vlen, 32);
		diag("regex %s on %s: glibc %d, module %d", q, qv, !m, m);
	}
}

static void
diff_one(const char *re, size_t len, uint64_t *seed, struct diff_stats *st)
{
	char wrapped[320], abc[64], v[16], q[160], qv[64], msg[PB_MSG_MAX];
	size_t off, mlen, i, j, nabc = 0;
	struct pb_regex *prx;
	regex_t rx;
	bool reported = false, has_glibc;

	if (pb_regex_build(re, len, &prx, msg, sizeof(msg)) != 0)
		return;
	st->accepted++;
	/* glibc, for comparison (back-references are refused before) */
	snprintf(wrapped, sizeof(wrapped), "^(%.*s)$", (int)len, re);
	has_glibc = regcomp(&rx, wrapped, REG_EXTENDED) == 0;
	pb_regex_must(re, len, &off, &mlen);
	if (mlen > 0)
		st->with_lit++;
	if (mlen > len || off > len - mlen) {
		if (++st->violations <= 5)
			diag("regex %s: literal out of range", re);
		goto done;
	}
	/* half the values from a fixed alphabet, half from the regex's own
	 * letters, digits and punctuation, which match far more often */
	for (i = 0; i < len && nabc < sizeof(abc) - 1; i++)
		if (strchr("ab01-/:,", re[i]) != NULL &&
		    memchr(abc, re[i], nabc) == NULL)
			abc[nabc++] = re[i];
	if (nabc == 0)
		abc[nabc++] = 'a';
	abc[nabc++] = '.';
	for (i = 0; i < 30; i++) {
		size_t vlen = rnd_below(seed, 9);
		int m;

		for (j = 0; j < vlen; j++)
			v[j] = i % 2 ? abc[rnd_below(seed, nabc)] :
			    value_abc[rnd_below(seed, sizeof(value_abc) - 1)];
		v[vlen] = '\0';
		m = pb_regex_exec(prx, v, vlen, msg, sizeof(msg));
		if (m < 0) {
			if (st->undecided++ < 5)
				diag("regex %s undecided: %s", re, msg);
			continue;
		}
		diff_glibc(re, len, &rx, has_glibc, v, vlen, m, st);
		if (!m) {
			if (mlen > 0 && memmem(v, vlen, re + off, mlen) == NULL)
				st->lit_misses++;
			continue;
		}
		st->matches++;
		if (mlen == 0)
			continue;
		st->lit_matches++;
		if (memmem(v, vlen, re + off, mlen) == NULL) {
			/* one report per regex */
			st->violations++;
			if (!reported && st->reports < 5) {
				reported = true;
				st->reports++;
				pb_quote(q, sizeof(q), re, len, 64);
				pb_quote(qv, sizeof(qv), v, vlen, 32);
				diag("regex %s matches %s, which lacks the "
				    "literal \"%.*s\"", q, qv, (int)mlen,
				    re + off);
			}
		}
	}
done:
	if (has_glibc)
		regfree(&rx);
	pb_regex_free(prx);
}

static void
test_differential(const char *locale, size_t n, uint64_t seed)
{
	struct diff_stats st;
	char re[256];
	size_t k;

	if (setlocale(LC_ALL, locale) == NULL) {
		diag("locale %s is not available: differential test skipped",
		    locale);
		return;
	}
	memset(&st, 0, sizeof(st));
	for (k = 0; k < n; k++) {
		size_t npieces = rnd_below(&seed, 13), len = 0, i;

		for (i = 0; i < npieces; i++) {
			const char *p = pieces[rnd_below(&seed, N_PIECES)];
			size_t plen = strlen(p);

			memcpy(re + len, p, plen);
			len += plen;
		}
		re[len] = '\0';
		st.tried++;
		diff_one(re, len, &seed, &st);
	}
	setlocale(LC_ALL, "C");
	diag("%s: %zu random regexes, %zu accepted by the loader, %zu of "
	    "them with a literal", locale, st.tried, st.accepted,
	    st.with_lit);
	diag("%s: %zu whole-value matches, %zu of a regex with a literal; "
	    "%zu values skipped by the literal", locale, st.matches,
	    st.lit_matches, st.lit_misses);
	ok_eq(st.violations, 0, "%s: every value a regex matches holds its "
	    "literal (%zu violations)", locale, st.violations);
	ok(st.with_lit > n / 200, "%s: the prefilter is exercised (%zu "
	    "regexes with a literal)", locale, st.with_lit);
	ok(st.lit_matches > n / 200, "%s: regexes with a literal do match "
	    "(%zu matches)", locale, st.lit_matches);
	ok_eq(st.undecided, 0, "%s: every short value is decided (%zu "
	    "undecided)", locale, st.undecided);
	ok(st.glibc_differ == 0 && st.glibc_both > n, "%s: PCRE2 decides "
	    "as glibc's POSIX regexec (%zu values of regexes both take, %zu "
	    "differ)", locale, st.glibc_both, st.glibc_differ);
}

/* Any bytes at all, each in a buffer of exactly its length (so a
 * sanitizer build catches a read past the end): the literal must lie
 * within the regex, and be made of plain bytes only. */
static void
test_garbage(void)
{
	static const char special[] = "[]()|\\{}*+?^$.:=,ab";
	uint64_t seed = 0x5eed0003;
	size_t k, bad = 0, with_lit = 0;

	for (k = 0; k < 100000; k++) {
		size_t len = rnd_below(&seed, 17), off, mlen, i;
		char *re = malloc(len ? len : 1);

		if (re == NULL) {
			printf("Bail out! out of memory\n");
			exit(99);
		}
		for (i = 0; i < len; i++)
			re[i] = rnd_below(&seed, 2) ?
			    special[rnd_below(&seed, sizeof(special) - 1)] :
			    (char)rnd_below(&seed, 256);
		pb_regex_must(re, len, &off, &mlen);
		if (mlen > 0)
			with_lit++;
		if (mlen > len || off > len - mlen ||
		    (mlen == 0 && off != 0))
			bad++;
		for (i = 0; mlen <= len && off <= len - mlen && i < mlen; i++)
			if (strchr("[]()|\\{}*+?^$.", re[off + i]) != NULL ||
			    (unsigned char)re[off + i] >= 0x80 ||
			    (unsigned char)re[off + i] < 0x20)
				bad++;
		free(re);
	}
	ok(bad == 0 && with_lit > 0, "garbage: 100000 random byte strings, "
	    "%zu with a literal, %zu out of range or not plain", with_lit,
	    bad);
}

/* -------------------------------------------------------- pb_pattern_add */

static void
test_pattern_add(void)
{
	struct pb_pattern p;
	char msg[PB_MSG_MAX];
	const struct pb_item *it;

	memset(&p, 0, sizeof(p));
	if (!ok(pb_pattern_add(&p, "!/release-[0-9]+/", 17, msg,
	    sizeof(msg)) == 0 && pb_pattern_add(&p, "/a|b/", 5, msg,
	    sizeof(msg)) == 0 && pb_pattern_add(&p, "feature/*", 9, msg,
	    sizeof(msg)) == 0 && p.n == 3, "pattern_add: items load")) {
		pb_pattern_free(&p);
		return;
	}
	it = &p.items[0];
	ok(it->neg && it->is_re && it->must_len == 8 &&
	    memcmp(it->text + it->must_off, "release-", 8) == 0,
	    "pattern_add: a negated regex gets its literal");
	ok(p.items[1].is_re && p.items[1].must_len == 0,
	    "pattern_add: an alternation gets none");
	ok(!p.items[2].is_re && p.items[2].must_len == 0,
	    "pattern_add: a glob gets none");
	pb_pattern_free(&p);
}

/* ---------------------------------------------------------- end to end */

/* allow release-N.1; deny release-N9.1 and any step but migrate-* */
static const char e2e_policy[] = HDR "rules:\n"
    "  - name: releases\n    pipeline: api\n"
    "    branch: '/release-[0-9]+\\.1/'\n    roles: [x]\n"
    "  - name: no nines\n    effect: deny\n    pipeline: api\n"
    "    branch: '/release-[0-9]*9\\.1/'\n    roles: [x]\n"
    "  - name: migrations only\n    effect: deny\n    pipeline: api\n"
    "    step: '!/migrate-[a-z]+/'\n    roles: [x]\n";

struct e2e_case {
	const char *branch, *step;
	enum pb_verdict verdict;
	const char *rule;
};

static const struct e2e_case e2e_cases[] = {
	{ "release-12.1", "migrate-db", PB_VERDICT_ALLOW, "releases" },
	{ "release-0.1", "migrate-x", PB_VERDICT_ALLOW, "releases" },
	{ "release-19.1", "migrate-db", PB_VERDICT_DENIED, "no nines" },
	{ "release-9.1", "migrate-db", PB_VERDICT_DENIED, "no nines" },
	/* hold the literal, yet do not match */
	{ "release-12.2", "migrate-db", PB_VERDICT_NO_RULE, NULL },
	{ "release-.1", "migrate-db", PB_VERDICT_NO_RULE, NULL },
	{ "xrelease-12.1", "migrate-db", PB_VERDICT_NO_RULE, NULL },
	{ "release-12.1x", "migrate-db", PB_VERDICT_NO_RULE, NULL },
	/* lack it */
	{ "main", "migrate-db", PB_VERDICT_NO_RULE, NULL },
	{ "releas-12.1", "migrate-db", PB_VERDICT_NO_RULE, NULL },
	{ "", "migrate-db", PB_VERDICT_NO_RULE, NULL },
	/* the negated deny: a step without "migrate-" cannot match it, so
	 * the exclusion holds and the rule denies */
	{ "release-12.1", "build", PB_VERDICT_DENIED, "migrations only" },
	{ "release-12.1", "migrate", PB_VERDICT_DENIED, "migrations only" },
	{ "release-12.1", "migrate-", PB_VERDICT_DENIED, "migrations only" },
	{ "release-12.1", "xmigrate-db", PB_VERDICT_DENIED,
	  "migrations only" },
	{ "main", "build", PB_VERDICT_DENIED, "migrations only" },
};

static const char *
verdict_name(enum pb_verdict v)
{
	return v == PB_VERDICT_ALLOW ? "allow" :
	    v == PB_VERDICT_DENIED ? "denied" : "no_rule";
}

static void
test_end_to_end(void)
{
	const char *base = getenv("TMPDIR");
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct pb_policy *pol = NULL;
	struct pb_error err;
	json_error_t je;
	json_t *claims;
	FILE *f;
	size_t i;

	snprintf(dir, sizeof(dir), "%s/test_regex_must.XXXXXX",
	    base && base[0] ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		exit(99);
	}
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	f = fopen(path, "w");
	if (f == NULL || fputs(e2e_policy, f) == EOF || fclose(f) != 0) {
		printf("Bail out! cannot write %s: %s\n", path,
		    strerror(errno));
		exit(99);
	}
	memset(&err, 0, sizeof(err));
	if (!ok(pb_policy_load(path, &pol, &err) == 0 && pol != NULL,
	    "end to end: policy loads"))
		diag("%s", err.text);
	unlink(path);
	rmdir(dir);
	if (pol == NULL)
		return;
	claims = json_loads(base_claims, 0, &je);
	if (claims == NULL) {
		printf("Bail out! base claims: %s\n", je.text);
		exit(99);
	}
	for (i = 0; i < sizeof(e2e_cases) / sizeof(e2e_cases[0]); i++) {
		const struct e2e_case *c = &e2e_cases[i];
		struct pb_decision d;
		int rc;

		json_object_set_new(claims, "build_branch",
		    json_string(c->branch));
		json_object_set_new(claims, "step_key", json_string(c->step));
		memset(&d, 0, sizeof(d));
		rc = pb_policy_decide(pol, claims, "x", NULL, &d, NULL, NULL);
		if (!ok(rc == 0 && d.verdict == c->verdict &&
		    (c->rule == NULL ? d.rule == NULL : d.rule != NULL &&
		    strcmp(d.rule, c->rule) == 0),
		    "end to end: branch \"%s\", step \"%s\": %s", c->branch,
		    c->step, verdict_name(c->verdict)))
			diag("rc %d, got %s by %s", rc,
			    verdict_name(d.verdict), d.rule ? d.rule :
			    "(none)");
	}
	json_decref(claims);
	pb_policy_free(pol);
}

/* ----------------------------------------------------------------- main */

int
main(void)
{
	test_table();
	test_garbage();
	test_pattern_add();
	test_end_to_end();
	test_differential("C", 200000, 0x5eed0001);
	test_differential("C.UTF-8", 50000, 0x5eed0002);
	return done_testing();
}
