/*
 * policy_pattern.c - patterns against claim values.
 *
 * Patterns follow Buildkite's branch-filter syntax: glob items where '*'
 * matches any run of bytes (slashes included), "!item" exclusions and
 * "/regex/" items anchored to the whole value (policy_regex.c).
 * Everything the decision needs is compiled at load time, so
 * pb_policy_decide() only reads the policy and allocates nothing: it is
 * safe to share one loaded policy between threads.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy_int.h"

int
pb_item_init(struct pb_item *it, char *text, size_t len, bool neg,
    bool is_re, bool compile, char *msg, size_t msglen)
{
	memset(it, 0, sizeof(*it));
	if (len == 0 && !is_re) {
		pb_msg(msg, msglen, "empty pattern item");
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		pb_msg(msg, msglen, "NUL byte in pattern");
		return -1;
	}
	it->text = text;
	it->len = len;
	it->neg = neg;
	it->is_re = is_re;
	if (!is_re)
		return 0;
	if (len == 0) {
		pb_msg(msg, msglen, "empty regex //");
		return -1;
	}
	pb_regex_must(text, len, &it->must_off, &it->must_len);
	if (compile)
		return pb_regex_build(text, len, &it->re, msg, msglen);
	return 0;
}

int
pb_pattern_add(struct pb_pattern *p, const char *item, size_t len,
    char *msg, size_t msglen)
{
	struct pb_item it;
	bool neg = false, is_re = false;
	char *text;

	if (len == 0) {
		pb_msg(msg, msglen, "empty pattern item");
		return -1;
	}
	if (memchr(item, '\0', len) != NULL) {
		pb_msg(msg, msglen, "NUL byte in pattern");
		return -1;
	}
	if (item[0] == '!') {
		neg = true;
		item++;
		len--;
		if (len == 0) {
			pb_msg(msg, msglen, "a lone \"!\" excludes nothing");
			return -1;
		}
	}
	if (len >= 2 && item[0] == '/' && item[len - 1] == '/') {
		is_re = true;
		item++;
		len -= 2;
	}
	text = strndup(item, len);
	if (text == NULL) {
		pb_msg(msg, msglen, "out of memory");
		return -1;
	}
	/* a policy parsed from YAML compiles every regex: that validates
	 * them, and the parse costs more than the compiling anyway */
	if (pb_item_init(&it, text, len, neg, is_re, true, msg, msglen) < 0) {
		free(text);
		return -1;
	}

	/* grow to the next power of two: no separate capacity field */
	if (p->n == 0 || (p->n & (p->n - 1)) == 0) {
		size_t cap = p->n ? p->n * 2 : 1;
		struct pb_item *n = reallocarray(p->items, cap, sizeof(*n));

		if (n == NULL) {
			pb_regex_free(it.re);
			free(it.text);
			pb_msg(msg, msglen, "out of memory");
			return -1;
		}
		p->items = n;
	}
	p->items[p->n++] = it;
	return 0;
}

void
pb_pattern_free(struct pb_pattern *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		pb_regex_free(p->items[i].re);
		free(p->items[i].text);
	}
	free(p->items);
	free(p->display);
	memset(p, 0, sizeof(*p));
}

/* Backtracking only to the last star keeps it O(len(p) * len(s)). */
bool
pb_glob_star(const char *p, size_t plen, const char *s, size_t slen, char star)
{
	size_t pi = 0, si = 0, last = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == star) {
			last = pi++;
			mark = si;
		} else if (pi < plen && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (last != SIZE_MAX) {
			pi = last + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == star)
		pi++;
	return pi == plen;
}

/* PB_TRUE when the item matches the whole value, PB_FALSE when not,
 * PB_UNDECIDED when the regex engine could not tell (why in msg), -1 when
 * its regex cannot be compiled now (why in msg). A snapshot's regexes are
 * compiled here, only those a login reaches, and only once the value
 * holds their literal. */
static int
item_match(const struct pb_item *it, const char *v, size_t len, char *msg,
    size_t msglen)
{
	struct pb_regex *local = NULL;
	int rc;

	if (!it->is_re)
		return pb_glob_star(it->text, it->len, v, len, '*') ? PB_TRUE :
		    PB_FALSE;
	if (it->must_len > 0 &&
	    memmem(v, len, it->text + it->must_off, it->must_len) == NULL)
		return PB_FALSE;
	if (it->re == NULL &&
	    pb_regex_build(it->text, it->len, &local, msg, msglen) < 0)
		return -1;
	rc = pb_regex_exec(it->re != NULL ? it->re : local, v, len, msg,
	    msglen);
	pb_regex_free(local);
	return rc < 0 ? PB_UNDECIDED : rc ? PB_TRUE : PB_FALSE;
}

/*
 * The positive items are alternatives and the "!" items exclusions: the
 * value must match one positive item (any value, when there are none)
 * and no exclusion. An item the engine could not decide may be either,
 * so the pattern is undecided unless the decided items settle it anyway
 * (Kleene's three-valued or and and).
 */
int
pb_pattern_match(const struct pb_pattern *p, const char *v, size_t len,
    char *msg, size_t msglen)
{
	int pos = PB_FALSE, neg = PB_FALSE, m;
	bool has_pos = false;
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct pb_item *it = &p->items[i];

		if (!it->neg)
			has_pos = true;
		if (!it->neg && pos == PB_TRUE)
			continue;
		if ((m = item_match(it, v, len, msg, msglen)) < 0)
			return -1;
		if (it->neg) {
			if (m == PB_TRUE)
				return PB_FALSE;
			if (m == PB_UNDECIDED)
				neg = PB_UNDECIDED;
		} else if (m == PB_TRUE || (m == PB_UNDECIDED &&
		    pos == PB_FALSE)) {
			pos = m;
		}
	}
	if (!has_pos)
		pos = PB_TRUE;
	if (pos == PB_FALSE)
		return PB_FALSE;
	return pos == PB_TRUE && neg == PB_FALSE ? PB_TRUE : PB_UNDECIDED;
}
