/*
 * policy_load.h - what the files of the YAML load share: the node tree
 * of policy_yaml.c, the loader's state, and each file's entry points.
 * Private to policy/; the order below is the order of the layers, each
 * file calling only those listed before it.
 */
#ifndef PB_POLICY_LOAD_H
#define PB_POLICY_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <yaml.h>

#include "policy_int.h"

#define MAX_FILE        (4 * 1024 * 1024)
#define MAX_SCALAR      (64 * 1024)
#define MAX_DEPTH       32
#define MAX_INCLUDES    1000

#define LIBYAML_SONAME  "libyaml-0.so.2"

#define DEFAULT_ISSUER  "https://agent.buildkite.com"
#define DEFAULT_JWKS    "https://agent.buildkite.com/.well-known/jwks"
#define DEFAULT_CACHE   "/var/cache/pam_buildkite"

enum nkind { N_SCALAR, N_SEQ, N_MAP };

/* Kept small, with the scalar's bytes inline: a 4 MiB file of tiny
 * values makes millions of these. The file cap keeps every count below
 * 2^32. */
struct node {
	unsigned char kind;     /* enum nkind */
	bool plain;             /* an untagged plain scalar */
	unsigned line, col;     /* 1-based */
	unsigned len;           /* of str */
	unsigned n, cap;        /* kids */
	struct node **kids;     /* list items; for maps key, value, ... */
	char str[];             /* scalar value, NUL-terminated */
};

/* The libyaml functions of one load. */
struct yaml_api {
	void *lib;
	int (*parser_initialize)(yaml_parser_t *);
	void (*parser_set_input_string)(yaml_parser_t *, const unsigned char *,
	    size_t);
	int (*parser_parse)(yaml_parser_t *, yaml_event_t *);
	void (*event_delete)(yaml_event_t *);
	void (*parser_delete)(yaml_parser_t *);
};

struct loader {
	struct pb_error *err;
	struct yaml_api *yaml;  /* opened by the first file's parse */
	struct pb_policy *pol;
	const char *file;       /* name used in messages */
	const char *from;       /* "file:line:col" of the include: key */
	char *dir;              /* absolute directory of file, lazily */
	bool include;           /* an included file: rules only */
	struct pb_sources *keep;        /* the files read, for a snapshot */
	uid_t uid;              /* judged as this user (trusted_file.h) */
};

/* The nodes of one file live in an arena: a 10,000-rule policy makes
 * about 150,000 of them, and handing each back to malloc cost more than
 * parsing did. Nothing in the arena is freed before the whole file is. */
struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
};

#define ARENA_BLOCK     (64 * 1024)

/* policy_model.c: the settings' defaults */
int pl_config_defaults(struct pb_config *c);

/* policy_values.c: errors (a message at a node, "file:line:col: ..." in l->err) and scalars */
int __attribute__((format(printf, 3, 4))) pl_fail(struct loader *l, const
    struct node *n, const char *fmt, ...);
int __attribute__((format(printf, 4, 5))) pl_fail_at(struct loader *l,
    size_t line, size_t col, const char *fmt, ...);
int pl_oom(struct loader *l, const struct node *n);
const char *pl_q(char *buf, size_t buflen, const struct node *n);
bool pl_is_null(const struct node *n);
const char *pl_kind_name(const struct node *n);
bool pl_key_is(const struct node *k, const char *name);
int pl_want_string(struct loader *l, const struct node *n, const char *what,
    bool nonempty);
int pl_set_string(struct loader *l, const struct node *n, const char *what,
    char **dst);
int pl_set_path(struct loader *l, const struct node *n, const char *what,
    char **dst);
int pl_set_bool(struct loader *l, const struct node *n, const char *what,
    bool *dst);
int pl_set_duration(struct loader *l, const struct node *n,
    const char *what, long long lo, long long hi, long long *dst);
int pl_set_enum(struct loader *l, const struct node *n, const char *what,
    const char *const *names, const char *expected);
int pl_unknown_key(struct loader *l, const struct node *k,
    const char *where, const char *expected);
int pl_want_map(struct loader *l, const struct node *n, const char *what);

/* policy_yaml.c: the YAML reader */
void pl_arena_free(struct arena *a);
int pl_parse_tree(struct loader *l, struct arena *a, const char *buf,
    size_t len, struct node **root);

/* policy_config.c: the settings schema */
int pl_load_token(struct loader *l, const struct node *m);
int pl_load_jwks(struct loader *l, const struct node *m);
int pl_load_audit(struct loader *l, const struct node *m);
int pl_load_session(struct loader *l, const struct node *m);
/* unlimited, token or a duration of 1s to PB_LIFETIME_MAX */
int pl_set_lifetime(struct loader *l, const struct node *n, const char *what,
    long long *dst);

/* policy_rules.c: the rules schema */
int pl_load_rules(struct loader *l, const struct node *n);
int pl_check_names(struct pb_policy *pol, struct pb_error *err);

/* policy_include.c: a file and its includes */
int pl_load_file(struct loader *l);

#endif
