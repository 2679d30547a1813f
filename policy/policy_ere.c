/*
 * policy_ere.c - a /regex/ item's POSIX extended regular expression,
 * checked and rewritten in the PCRE2 syntax that means the same.
 *
 * Policies are written in POSIX ERE (what grep -E and glibc's regcomp
 * read) but matched by PCRE2, whose syntax overlaps ERE without being
 * it: a backslash inside brackets, \d, \1, (?, a*+, a+?, {,n} and a '{'
 * that is no bound all mean something else, or nothing, in one of them.
 * So nothing of the regex reaches PCRE2 as written. Every construct is
 * parsed here and written out again in a form PCRE2 cannot read another
 * way (every literal that is not a letter or digit escaped, every group
 * non-capturing, every bound normalised); whatever POSIX leaves undefined
 * or glibc and PCRE2 read differently is refused, naming the construct
 * and its offset, so a policy never means one thing to its author and
 * another to the module.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy_int.h"
#include "msg.h"

/* POSIX's RE_DUP_MAX (_POSIX_RE_DUP_MAX) */
#define ERE_DUP_MAX   255

/* what a repetition operator would apply to */
enum ere_prev {
	PREV_NONE,      /* the start, '(' or '|': nothing */
	PREV_ANCHOR,    /* '^' or '$' */
	PREV_ATOM,      /* a character, '.', a bracket expression, a group */
	PREV_REPEAT     /* a repetition */
};

struct ere {
	const char *re;         /* the regex, len bytes */
	size_t len;
	char *out;              /* the translation, cap bytes */
	size_t cap, n;
	char *msg;
	size_t msglen;
};

static int
fail(struct ere *e, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "invalid regex "RE" at offset OFF: WHY" */
static int
fail(struct ere *e, size_t off, const char *fmt, ...)
{
	char why[256], q[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pb_quote(q, sizeof(q), e->re, e->len, 64);
	pb_msg(e->msg, e->msglen, "invalid regex %s at offset %zu: %s", q,
	    off, why);
	return -1;
}

static void
put(struct ere *e, const char *s, size_t n)
{
	/* pb_ere_max_out bounds what any regex turns into */
	if (n <= e->cap - e->n) {
		memcpy(e->out + e->n, s, n);
		e->n += n;
	}
}

/*
 * The code point of the UTF-8 sequence at re[i], its length in *n; -1
 * when the bytes are no valid UTF-8 (overlong forms, surrogates and
 * values past U+10FFFF included), as PCRE2_UTF would refuse them.
 */
static int32_t
utf8_at(const char *re, size_t len, size_t i, size_t *n)
{
	const unsigned char *s = (const unsigned char *)re + i;
	size_t left = len - i, k, need;
	uint32_t cp, min;

	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (left < need)
		return -1;
	for (k = 1; k < need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*n = need;
	return (int32_t)cp;
}

/* The character at re[*i], advancing *i past it; -1 (and the message)
 * when it is no valid UTF-8. */
static int32_t
char_at(struct ere *e, size_t *i)
{
	size_t n;
	int32_t c = utf8_at(e->re, e->len, *i, &n);

	if (c < 0 || c == 0) {
		fail(e, *i, c == 0 ? "a NUL byte" :
		    "a byte that is not valid UTF-8");
		return -1;
	}
	*i += n;
	return c;
}

static bool
is_alnum(int32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* The character c, standing for itself wherever it lands in PCRE2's
 * syntax: letters and digits as they are, every other character as a
 * \x{...} escape, which no context reads as anything but c. */
static void
put_char(struct ere *e, int32_t c)
{
	char b[16];
	int n;

	if (is_alnum(c)) {
		b[0] = (char)c;
		n = 1;
	} else {
		n = snprintf(b, sizeof(b), "\\x{%x}", (unsigned)c);
	}
	put(e, b, (size_t)n);
}

static const char *const posix_classes[] = {
	"alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower",
	"print", "punct", "space", "upper", "xdigit",
};

/*
 * "[:name:]" at re[i] inside a bracket expression: written out as it is
 * (PCRE2 knows the same twelve, ASCII-only without PCRE2_UCP, as in the C
 * locale); returns the index past it, or 0 after failing.
 */
static size_t
bracket_class(struct ere *e, size_t i)
{
	size_t j = i + 2, k;

	while (j + 1 < e->len && !(e->re[j] == ':' && e->re[j + 1] == ']'))
		j++;
	if (j + 1 >= e->len) {
		fail(e, i, "\"[:\" opens a character class that does not "
		    "close with \":]\"");
		return 0;
	}
	for (k = 0; k < sizeof(posix_classes) / sizeof(posix_classes[0]);
	    k++) {
		if (strlen(posix_classes[k]) == j - (i + 2) &&
		    memcmp(posix_classes[k], e->re + i + 2, j - (i + 2)) ==
		    0) {
			put(e, e->re + i, j + 2 - i);
			return j + 2;
		}
	}
	fail(e, i, "unknown character class \"%.*s\"",
	    (int)(j + 2 - i > 40 ? 40 : j + 2 - i), e->re + i);
	return 0;
}

/* Does "[:", "[=" or "[." open at re[i]? */
static bool
bracket_special(const struct ere *e, size_t i)
{
	return e->re[i] == '[' && i + 1 < e->len && (e->re[i + 1] == ':' ||
	    e->re[i + 1] == '=' || e->re[i + 1] == '.');
}

/*
 * The bracket expression opening at re[i]: returns the index past its
 * ']', or 0 after failing. In POSIX a backslash is a literal there, a ']'
 * first (after an optional '^') is a literal, a '-' first or last is a
 * literal; each element is written out as put_char's escape, so PCRE2
 * sees only escapes, ranges and classes.
 */
static size_t
bracket(struct ere *e, size_t i)
{
	size_t open = i, start;

	put(e, "[", 1);
	i++;
	if (i < e->len && e->re[i] == '^') {
		put(e, "^", 1);
		i++;
	}
	start = i;
	while (i < e->len && (e->re[i] != ']' || i == start)) {
		size_t at = i;
		int32_t lo, hi;

		if (bracket_special(e, i)) {
			if (e->re[i + 1] != ':')
				return fail(e, i, "collating elements and "
				    "equivalence classes (\"[.\", \"[=\") are "
				    "not supported"), 0;
			if ((i = bracket_class(e, i)) == 0)
				return 0;
			if (i + 1 < e->len && e->re[i] == '-' &&
			    e->re[i + 1] != ']')
				return fail(e, i, "a range cannot start at a "
				    "character class"), 0;
			continue;
		}
		if (e->re[i] == '-' && at != start && i + 1 < e->len &&
		    e->re[i + 1] != ']')
			return fail(e, i, "a '-' that is neither first, last "
			    "nor a range's end (write it first or last)"), 0;
		if ((lo = char_at(e, &i)) < 0)
			return 0;
		if (i + 1 < e->len && e->re[i] == '-' && e->re[i + 1] != ']') {
			i++;
			if (bracket_special(e, i))
				return fail(e, i, "a range cannot end at a "
				    "character class or collating element"), 0;
			if ((hi = char_at(e, &i)) < 0)
				return 0;
			if (hi < lo)
				return fail(e, at, "the range \"%.*s\" ends "
				    "before it starts", (int)(i - at),
				    e->re + at), 0;
			put_char(e, lo);
			put(e, "-", 1);
			put_char(e, hi);
			continue;
		}
		put_char(e, lo);
	}
	if (i >= e->len)
		return fail(e, open, "unterminated bracket expression '['"), 0;
	put(e, "]", 1);
	return i + 1;
}

/* Digits at re[*i] as a bound's number, saturating past ERE_DUP_MAX;
 * false when there are none. */
static bool
bound_number(const struct ere *e, size_t *i, unsigned *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < e->len && e->re[*i] >= '0' && e->re[*i] <= '9') {
		if (*v <= ERE_DUP_MAX)
			*v = *v * 10 + (unsigned)(e->re[*i] - '0');
		(*i)++;
	}
	return *i > start;
}

/*
 * The repetition at re[i] ('*', '+', '?' or a bound {m}, {m,}, {m,n}):
 * returns the index past it, or 0 after failing. Only a single character,
 * '.', a bracket expression or a group may be repeated: POSIX leaves a
 * repetition of nothing, of an anchor or of a repetition undefined, and
 * PCRE2 reads a*+, a+? and a?? as possessive or lazy forms.
 */
static size_t
repetition(struct ere *e, size_t i, enum ere_prev prev)
{
	char b[32];
	unsigned m, n;
	size_t j = i + 1;
	bool comma = false, has_n;
	int len;

	if (prev == PREV_NONE)
		return fail(e, i, "'%c' repeats nothing (at the start, after "
		    "'(' or after '|'; write \\%c for the character)",
		    e->re[i], e->re[i]), 0;
	if (prev == PREV_ANCHOR)
		return fail(e, i, "'%c' repeats an anchor '^' or '$'",
		    e->re[i]), 0;
	if (prev == PREV_REPEAT)
		return fail(e, i, "a repetition of a repetition (such as "
		    "a**, a+? or a*+) is not allowed"), 0;
	if (e->re[i] != '{') {
		put(e, e->re + i, 1);
		return i + 1;
	}
	if (j < e->len && e->re[j] == ',')
		return fail(e, i, "the bound {,n} is not POSIX (write "
		    "{0,n})"), 0;
	if (!bound_number(e, &j, &m))
		return fail(e, i, "'{' does not start a bound {m}, {m,} or "
		    "{m,n} (write \\{ for the character)"), 0;
	if (j < e->len && e->re[j] == ',') {
		comma = true;
		j++;
	}
	has_n = comma && bound_number(e, &j, &n);
	if (j >= e->len || e->re[j] != '}')
		return fail(e, i, "'{' does not start a bound {m}, {m,} or "
		    "{m,n} (write \\{ for the character)"), 0;
	if (m > ERE_DUP_MAX || (has_n && n > ERE_DUP_MAX))
		return fail(e, i, "a bound above %d", ERE_DUP_MAX), 0;
	if (has_n && n < m)
		return fail(e, i, "the bound {%u,%u} has its maximum below "
		    "its minimum", m, n), 0;
	if (!comma)
		len = snprintf(b, sizeof(b), "{%u}", m);
	else if (!has_n)
		len = snprintf(b, sizeof(b), "{%u,}", m);
	else
		len = snprintf(b, sizeof(b), "{%u,%u}", m, n);
	put(e, b, (size_t)len);
	return j + 1;
}

/*
 * A backslash at re[i]: POSIX defines it before a special character
 * only; before a letter or digit it is a back-reference, a GNU or PCRE
 * class (\w, \d), or an escape PCRE2 reads otherwise (\n, \Q), and \<,
 * \>, \` and \' are GNU anchors PCRE2 takes as literals: all refused.
 * Returns the index past it, or 0 after failing.
 */
static size_t
escape(struct ere *e, size_t i)
{
	size_t j = i + 1;
	int32_t c;

	if (j >= e->len)
		return fail(e, i, "a trailing backslash"), 0;
	if (e->re[j] >= '1' && e->re[j] <= '9')
		return fail(e, i, "back-references (\\%c) are not supported",
		    e->re[j]), 0;
	if (is_alnum((unsigned char)e->re[j]))
		return fail(e, i, "\\%c is not POSIX (a backslash may only "
		    "precede a special character)", e->re[j]), 0;
	if (strchr("<>`'", e->re[j]) != NULL)
		return fail(e, i, "the GNU anchor \\%c is not supported",
		    e->re[j]), 0;
	if ((c = char_at(e, &j)) < 0)
		return 0;
	put_char(e, c);
	return j;
}

size_t
pb_ere_max_out(size_t len)
{
	/* the longest piece per byte: '(' as "(?:", a control character as
	 * "\x{1f}" (6), a range "a-b" of two bytes as 13 */
	return len * 7 + 8;
}

int
pb_ere_translate(const char *re, size_t len, char *out, size_t cap,
    size_t *outlen, char *msg, size_t msglen)
{
	struct ere e = { re, len, out, cap, 0, msg, msglen };
	enum ere_prev prev = PREV_NONE;
	size_t i = 0, depth = 0, opens[PB_ERE_MAX_DEPTH];

	while (i < len) {
		char c = re[i];
		size_t next;

		if (c == '*' || c == '+' || c == '?' || c == '{') {
			if ((i = repetition(&e, i, prev)) == 0)
				return -1;
			prev = PREV_REPEAT;
			continue;
		}
		prev = PREV_ATOM;
		if (c == '(') {
			if (depth == PB_ERE_MAX_DEPTH)
				return fail(&e, i, "groups nested deeper "
				    "than %d", PB_ERE_MAX_DEPTH);
			opens[depth++] = i;
			put(&e, "(?:", 3);
			prev = PREV_NONE;
			i++;
		} else if (c == ')') {
			if (depth == 0)
				return fail(&e, i, "unbalanced ')' (write "
				    "\\) for a literal parenthesis)");
			depth--;
			put(&e, ")", 1);
			i++;
		} else if (c == '|') {
			put(&e, "|", 1);
			prev = PREV_NONE;
			i++;
		} else if (c == '^' || c == '$' || c == '.') {
			put(&e, &c, 1);
			if (c != '.')
				prev = PREV_ANCHOR;
			i++;
		} else if (c == '[') {
			if ((next = bracket(&e, i)) == 0)
				return -1;
			i = next;
		} else if (c == '\\') {
			if ((next = escape(&e, i)) == 0)
				return -1;
			i = next;
		} else {
			int32_t ch = char_at(&e, &i);

			if (ch < 0)
				return -1;
			put_char(&e, ch);
		}
	}
	if (depth != 0)
		return fail(&e, opens[depth - 1], "unbalanced '('");
	if (e.n >= cap)
		return fail(&e, 0, "translation too long");
	out[e.n] = '\0';
	*outlen = e.n;
	return 0;
}
