/*
 * policy_yaml.c - the YAML reader: libyaml's event API turned into a
 * small tree of nodes that keeps every node's position (policy_load.h).
 *
 * libyaml is not linked: it is dlopen'ed for the length of one load. A
 * login whose policy has a fresh compiled snapshot never reads YAML, and
 * every PostgreSQL backend would otherwise map libyaml and bind its
 * symbols for nothing. libyaml itself knows nothing of duplicate keys,
 * and expands aliases on request only, so both are refused here, as are
 * tags, documents after the first and nesting past MAX_DEPTH.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynload.h"
#include "msg.h"
#include "policy_load.h"

struct keyref {
	const struct node *key;
	size_t idx;
};

static void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	size_t align = sizeof(max_align_t);

	n = (n + align - 1) / align * align;
	if (b == NULL || b->size - b->used < n) {
		/* a request bigger than a block gets a block of its own */
		size_t size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->size = size;
		if (a->head != NULL && size != ARENA_BLOCK) {
			/* keep filling the current block */
			b->next = a->head->next;
			a->head->next = b;
			b->used = n;
			return b->data;
		}
		b->next = a->head;
		a->head = b;
	}
	b->used += n;
	return (char *)b->data + b->used - n;
}

void
pl_arena_free(struct arena *a)
{
	while (a->head != NULL) {
		struct arena_block *b = a->head;

		a->head = b->next;
		free(b);
	}
}

static struct node *
node_new(struct arena *a, size_t strlen_)
{
	struct node *n = arena_alloc(a, sizeof(*n) + strlen_ + 1);

	if (n != NULL)
		memset(n, 0, sizeof(*n) + strlen_ + 1);
	return n;
}

static int
node_add(struct arena *a, struct node *parent, struct node *kid)
{
	if (parent->n == parent->cap) {
		/* the old array stays in the arena: at most as much again */
		unsigned cap = parent->cap ? parent->cap * 2 : 4;
		struct node **k = arena_alloc(a, (size_t)cap * sizeof(*k));

		if (k == NULL)
			return -1;
		if (parent->n > 0)
			memcpy(k, parent->kids, parent->n * sizeof(*k));
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

static int
keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
	int c = memcmp(x->key->str, y->key->str, n);

	if (c != 0)
		return c;
	if (x->key->len != y->key->len)
		return x->key->len < y->key->len ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Keys must be strings and unique. Sorting keeps a mapping with very
 * many keys from costing quadratic time. */
static int
map_check(struct loader *l, const struct node *m)
{
	struct keyref *refs;
	const struct node *dup = NULL, *first = NULL;
	size_t i, dupi = 0, nk = m->n / 2;
	char b[160];

	for (i = 0; i < nk; i++) {
		const struct node *k = m->kids[2 * i];

		if (k->kind != N_SCALAR)
			return pl_fail(l, k, "mapping keys must be strings");
	}
	if (nk < 2)
		return 0;
	if (nk <= 16) {
		/* a rule's few keys: comparing pairs beats sorting */
		size_t j;

		for (i = 1; i < nk && dup == NULL; i++)
			for (j = 0; j < i; j++)
				if (m->kids[2 * i]->len ==
				    m->kids[2 * j]->len &&
				    memcmp(m->kids[2 * i]->str,
				    m->kids[2 * j]->str,
				    m->kids[2 * j]->len) == 0) {
					dup = m->kids[2 * i];
					first = m->kids[2 * j];
					break;
				}
		goto report;
	}
	refs = calloc(nk, sizeof(*refs));
	if (refs == NULL)
		return pl_oom(l, m);
	for (i = 0; i < nk; i++) {
		refs[i].key = m->kids[2 * i];
		refs[i].idx = i;
	}
	qsort(refs, nk, sizeof(*refs), keyref_cmp);
	/* report the earliest second occurrence, as a reader would */
	for (i = 0; i < nk; ) {
		size_t j = i + 1;

		while (j < nk && refs[j].key->len == refs[i].key->len &&
		    memcmp(refs[j].key->str, refs[i].key->str,
		    refs[i].key->len) == 0)
			j++;
		if (j - i > 1 && (dup == NULL || refs[i + 1].idx < dupi)) {
			dup = refs[i + 1].key;
			dupi = refs[i + 1].idx;
			first = refs[i].key;
		}
		i = j;
	}
	free(refs);
report:
	if (dup != NULL)
		return pl_fail(l, dup, "duplicate key %s (first at line %u, "
		    "column %u)", pl_q(b, sizeof(b), dup), first->line,
		    first->col);
	return 0;
}

static int
yaml_fail(struct loader *l, const yaml_parser_t *p, const char *buf,
    size_t len)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";
	yaml_mark_t m = p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR)
		return pl_fail_at(l, 1, 1, "out of memory");
	if (p->error == YAML_READER_ERROR) {
		/* the reader decodes ahead of the scanner and reports only a
		 * byte offset: count lines and characters up to it */
		size_t i, line = 1, col = 1, end = p->problem_offset;

		for (i = 0; i < end && i < len; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		return pl_fail_at(l, line, col, "%s", problem);
	}
	if (p->context != NULL)
		return pl_fail_at(l, m.line + 1, m.column + 1, "%s %s (line %zu, "
		    "column %zu)", problem, p->context,
		    p->context_mark.line + 1, p->context_mark.column + 1);
	return pl_fail_at(l, m.line + 1, m.column + 1, "%s", problem);
}

/* Explicit tags could turn a string into something else; only the one a
 * node already has by default is tolerated. */
static int
check_props(struct loader *l, const yaml_event_t *ev, const char *anchor,
    const char *tag, const char *deftag)
{
	size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
	char b[160];

	if (anchor != NULL)
		return pl_fail_at(l, line, col, "anchors and aliases are not "
		    "allowed");
	if (tag != NULL && strcmp(tag, deftag) != 0) {
		pb_quote(b, sizeof(b), tag, strlen(tag), 64);
		return pl_fail_at(l, line, col, "tags are not allowed (found "
		    "%s)", b);
	}
	return 0;
}

/* Loads libyaml into l->yaml unless it is there already. */
static int
yaml_open(struct loader *l)
{
	static const char *const names[] = {
		"yaml_parser_initialize", "yaml_parser_set_input_string",
		"yaml_parser_parse", "yaml_event_delete", "yaml_parser_delete",
	};
	struct yaml_api *y = l->yaml;
	pb_fn f[sizeof(names) / sizeof(names[0])];
	char why[PB_MSG_MAX];

	if (y->lib != NULL)
		return 0;
	y->lib = pb_dlopen_api(LIBYAML_SONAME, "libyaml-0-2", RTLD_NOW |
	    RTLD_LOCAL, names, f, sizeof(names) / sizeof(names[0]), why,
	    sizeof(why));
	if (y->lib == NULL)
		return pl_fail_at(l, 0, 0, "cannot read YAML: %s", why);
	y->parser_initialize = (int (*)(yaml_parser_t *))f[0];
	y->parser_set_input_string = (void (*)(yaml_parser_t *,
	    const unsigned char *, size_t))f[1];
	y->parser_parse = (int (*)(yaml_parser_t *, yaml_event_t *))f[2];
	y->event_delete = (void (*)(yaml_event_t *))f[3];
	y->parser_delete = (void (*)(yaml_parser_t *))f[4];
	return 0;
}

/* The tree being built from one document's events. */
struct tree {
	struct arena *a;
	struct node *stack[MAX_DEPTH];  /* the open sequences and mappings */
	size_t depth;
	int docs;
	struct node **root;
};

/* A scalar event's node, or NULL after pl_fail_at. */
static struct node *
scalar_node(struct loader *l, struct arena *a, const yaml_event_t *ev,
    size_t line, size_t col)
{
	struct node *n;

	if (check_props(l, ev, (const char *)ev->data.scalar.anchor,
	    (const char *)ev->data.scalar.tag, YAML_STR_TAG) < 0)
		return NULL;
	if (ev->data.scalar.length > MAX_SCALAR) {
		pl_fail_at(l, line, col, "value longer than %d bytes",
		    MAX_SCALAR);
		return NULL;
	}
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) !=
	    NULL) {
		pl_fail_at(l, line, col, "NUL byte in a value");
		return NULL;
	}
	if ((n = node_new(a, ev->data.scalar.length)) == NULL) {
		pl_fail_at(l, line, col, "out of memory");
		return NULL;
	}
	n->kind = N_SCALAR;
	memcpy(n->str, ev->data.scalar.value, ev->data.scalar.length);
	n->len = (unsigned)ev->data.scalar.length;
	n->plain = ev->data.scalar.tag == NULL &&
	    ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return n;
}

/* A sequence or mapping start event's node, or NULL after pl_fail_at. */
static struct node *
collection_node(struct loader *l, struct tree *t, const yaml_event_t *ev,
    size_t line, size_t col)
{
	bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
	struct node *n;

	if (seq ? check_props(l, ev,
	    (const char *)ev->data.sequence_start.anchor,
	    (const char *)ev->data.sequence_start.tag, YAML_SEQ_TAG) < 0 :
	    check_props(l, ev, (const char *)ev->data.mapping_start.anchor,
	    (const char *)ev->data.mapping_start.tag, YAML_MAP_TAG) < 0)
		return NULL;
	if (t->depth >= MAX_DEPTH) {
		pl_fail_at(l, line, col, "nested deeper than %d levels",
		    MAX_DEPTH);
		return NULL;
	}
	if ((n = node_new(t->a, 0)) == NULL) {
		pl_fail_at(l, line, col, "out of memory");
		return NULL;
	}
	n->kind = seq ? N_SEQ : N_MAP;
	return n;
}

/* Places n under the innermost open collection, or as the root. */
static int
attach(struct loader *l, struct tree *t, struct node *n, size_t line,
    size_t col)
{
	n->line = (unsigned)line;
	n->col = (unsigned)col;
	if (t->depth > 0) {
		if (node_add(t->a, t->stack[t->depth - 1], n) < 0)
			return pl_fail_at(l, line, col, "out of memory");
	} else if (*t->root == NULL) {
		*t->root = n;
	} else {
		/* not reached: one document has one root */
		return pl_fail_at(l, line, col, "only one YAML document is "
		    "allowed");
	}
	if (n->kind != N_SCALAR)
		t->stack[t->depth++] = n;
	return 0;
}

/* One event into the tree: 0, 1 at the end of the stream, or -1 after
 * pl_fail_at. */
static int
take_event(struct loader *l, struct tree *t, const yaml_event_t *ev)
{
	size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
	struct node *n;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (++t->docs > 1)
			return pl_fail_at(l, line, col, "only one YAML "
			    "document is allowed");
		return 0;
	case YAML_ALIAS_EVENT:
		return pl_fail_at(l, line, col, "anchors and aliases are not "
		    "allowed");
	case YAML_SCALAR_EVENT:
		n = scalar_node(l, t->a, ev, line, col);
		return n == NULL ? -1 : attach(l, t, n, line, col);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		n = collection_node(l, t, ev, line, col);
		return n == NULL ? -1 : attach(l, t, n, line, col);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (t->depth == 0)
			return 0;       /* libyaml guarantees balance */
		n = t->stack[--t->depth];
		return n->kind == N_MAP ? map_check(l, n) : 0;
	default:
		return 0;
	}
}

int
pl_parse_tree(struct loader *l, struct arena *a, const char *buf, size_t len,
    struct node **root)
{
	const struct yaml_api *y = l->yaml;
	struct tree t = { a, { NULL }, 0, 0, root };
	yaml_parser_t p;
	yaml_event_t ev;
	int r = 0;

	*root = NULL;
	if (yaml_open(l) < 0)
		return -1;
	if (!y->parser_initialize(&p))
		return pl_fail_at(l, 1, 1, "out of memory");
	y->parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (r == 0) {
		if (!y->parser_parse(&p, &ev)) {
			yaml_fail(l, &p, buf, len);
			r = -1;
			break;
		}
		r = take_event(l, &t, &ev);
		y->event_delete(&ev);
	}
	if (r < 0)
		*root = NULL;
	y->parser_delete(&p);
	return r < 0 ? -1 : 0;
}
