/*
 * diff_settings.c - "pam-buildkite diff": the policy's settings (token:,
 * jwks:, session:) that changed, each as "changed setting NAME: OLD ->
 * NEW". An audience, an organization or a key source decides who can log
 * in as much as the rules do.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "diff.h"

static bool
text_changed(const char *name, const char *a, const char *b)
{
	if (a == NULL)
		a = "(none)";
	if (b == NULL)
		b = "(none)";
	if (strcmp(a, b) == 0)
		return false;
	printf("changed setting %s: %s -> %s\n", name, a, b);
	return true;
}

static bool
number_changed(const char *name, long long a, long long b)
{
	char x[32], y[32];

	snprintf(x, sizeof(x), "%lld", a);
	snprintf(y, sizeof(y), "%lld", b);
	return text_changed(name, x, y);
}

/* The audiences as one text, "a, b". */
static const char *
audiences(const struct pb_config *c, char *buf, size_t len)
{
	size_t i, o = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < c->token.n_audiences && o < len; i++) {
		n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
		    c->token.audiences[i]);
		o += n > 0 ? (size_t)n : 0;
	}
	return buf;
}

bool
diff_settings(const struct pb_config *a, const struct pb_config *b)
{
	char x[1024], y[1024], la[32], lb[32];
	bool changed = false;

	changed |= text_changed("token.issuer", a->token.issuer,
	    b->token.issuer);
	changed |= text_changed("token.audience", audiences(a, x, sizeof(x)),
	    audiences(b, y, sizeof(y)));
	changed |= text_changed("token.organization", a->token.organization,
	    b->token.organization);
	changed |= text_changed("token.organization_id",
	    a->token.organization_id, b->token.organization_id);
	changed |= number_changed("token.algorithms (mask)",
	    a->token.algorithms, b->token.algorithms);
	changed |= number_changed("token.leeway (s)", a->token.leeway,
	    b->token.leeway);
	changed |= number_changed("token.max_lifetime (s)",
	    a->token.max_lifetime, b->token.max_lifetime);
	changed |= text_changed("token.single_use", a->token.single_use ?
	    "true" : "false", b->token.single_use ? "true" : "false");
	changed |= text_changed("jwks.url", a->jwks.url, b->jwks.url);
	changed |= text_changed("jwks.file", a->jwks.file, b->jwks.file);
	changed |= text_changed("jwks.writer", a->jwks.writer ==
	    PB_WRITER_TOOL ? "tool" : "module", b->jwks.writer ==
	    PB_WRITER_TOOL ? "tool" : "module");
	changed |= text_changed("jwks.login_fetch", a->jwks.login_fetch ?
	    "true" : "false", b->jwks.login_fetch ? "true" : "false");
	changed |= text_changed("session.lifetime",
	    pb_lifetime_text(a->session.lifetime, la, sizeof(la)),
	    pb_lifetime_text(b->session.lifetime, lb, sizeof(lb)));
	return changed;
}
