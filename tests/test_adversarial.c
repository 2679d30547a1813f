/*
 * test_adversarial.c - hostile tokens and key sets against the module in
 * a real libpam stack.
 *
 * Every case is one row of the table below: how to build the token (its
 * header text, payload changes, signing key, surgery on the compact
 * form) and the key set, and what a user must see: the PAM return code,
 * acct_mgmt's verdict, and exactly one audit line with the expected
 * result and reason, parsable (logfmt or JSON) with each field once, no
 * raw control bytes, no claim before the signature verified, every
 * logged claim equal to what the token said, and no part of the token.
 *
 * Like test_pam_stack it uses pam_start_confdir with service files
 * written at run time (no root, no pam_wrapper). The audit lines come
 * from tests/syslog_capture.so: the program re-executes itself once with
 * the shim preloaded (after libasan in the sanitizer build). Keys come
 * from static jwks.file sets, so no case may reach the network; a local
 * listener named by the jku and x5u headers proves none was made.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <dirent.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <security/pam_appl.h>

#include "b64url.h"
#include "tap.h"
#include "tokmint.h"

#define AUDIT_MAX_VALUE 256     /* audit.h: longer values are cut */
#define CASE_SECONDS_MAX 10     /* bounded work: generous for ASan */
#define DEFAULT_HDR "{\"kid\":\"k1\",\"alg\":\"RS256\"}"

/* ------------------------------------------------------------ the table */

enum keyid {
	K_RSA,          /* kid k1 in the main set */
	K_EVIL,         /* an attacker's RSA key, in no set */
	K_EC256,        /* kid e1 */
	K_EC384,        /* kid e384 */
	K_RSA512,
	K_RSA1024,
	K_RSA_E3,       /* public exponent 3 */
	K_N,
	K_OCT = K_N,    /* HS*: the secret of the "oct" key */
};

enum gen {
	G_NONE,
	G_PAY_RAW,      /* raw is the whole payload */
	G_PAY_TRAIL,    /* garbage after the payload object */
	G_WS_AROUND,    /* surrounding whitespace (trimmed) */
	G_VT_LEADING,   /* a vertical tab, which is not trimmed */
	G_SPACE_INSIDE,
	G_TAB_INSIDE,
	G_NL_INSIDE,
	G_TRAIL_DOTX,
	G_FOURTH,
	G_PAD_HDR,
	G_PAD_PAY,
	G_PAD_SIG,
	G_STD_SIG,      /* '+' and '/' for '-' and '_' */
	G_STD_PAY,
	G_EMPTY_HDR,
	G_EMPTY_PAY,
	G_EMPTY_SIG,
	G_ONLY_DOTS,
	G_EMPTY,
	G_BLANK,
	G_SIG_BITS,     /* non-zero unused bits in the last character */
	G_SIG_SHORT,
	G_SIG_ZERO,
	G_SIG_EC_ZERO,  /* r = s = 0 ("psychic signature") */
	G_SIG_EC_ORDER, /* r = s = n */
	G_SIG_EC_DER,   /* DER instead of JOSE r||s */
	G_SWAP_PAY,     /* payload of another token */
	G_HDR_RS384,    /* header swapped to RS384 */
	G_FORGE_E1,     /* signature = the padded digest, for e = 1 */
	G_LEN16K,       /* a genuine token of exactly 16384 bytes */
	G_LEN16K1,      /* ... of 16385 bytes */
	G_LEN16K_WS,    /* 16384 bytes plus surrounding whitespace */
	G_LEN64K,
	G_WS_GARBAGE,   /* valid token, 20000 spaces, then garbage */
};

enum jwksid {
	J_MAIN,         /* k1 (RSA), e1 (P-256), e384 (P-384), small */
	J_RSA512,
	J_RSA1024,
	J_E1,
	J_E3,
	J_E_EVEN,
	J_RSA_HUGE,
	J_EC_OFFCURVE,
	J_EC384_AS_E1,
	J_EC_SHORT_X,
	J_EC_LONG_X,
	J_EC_ZERO,
	J_USE_ENC,
	J_ALG_RS384,
	J_KEYOPS_ENC,
	J_KEYOPS_VERIFY,
	J_OCT,
	J_DUP_KID,
	J_5000_RSA,
	J_5000_OCT,
	J_64_LAST,
	J_65_LAST,
	J_DEEP,
	J_EMPTY,
	J_SINGLE_NOKID,
};

enum pol { P_MAIN, P_JSON, P_RS256_ONLY };

struct acase {
	const char *name;
	const char *hdr;        /* header JSON text; NULL: DEFAULT_HDR */
	const char *drop;       /* default claims removed, space-separated */
	const char *raw;        /* JSON members put first in the payload */
	const char *salg;       /* signing algorithm; NULL: RS256 */
	enum keyid key;
	enum gen gen;
	enum jwksid jwks;
	enum pol pol;
	const char *role;       /* NULL: alice, whom rule r allows */
	const char *rhost;      /* PAM_RHOST, NULL: none */
	int rc;
	const char *reason;
};

#define AUTH PAM_AUTH_ERR
#define UNAVAIL PAM_AUTHINFO_UNAVAIL
#define OK PAM_SUCCESS
/* A token whose only fault is a forged claim: refused by the policy
 * (role bob is in no rule) after the signature, so the claims are
 * logged. */
#define BOB "bob"
/* Times long past: refused as expired after the signature. */
#define OLD "\"exp\":1000,\"iat\":700,\"nbf\":700"

static const struct acase cases[] = {
	/* Duplicate members: JSON_REJECT_DUPLICATES, header and payload. */
	{ "header: two alg",
	  "{\"kid\":\"k1\",\"alg\":\"RS256\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: alg none then RS256",
	  "{\"alg\":\"none\",\"kid\":\"k1\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: two kid",
	  "{\"kid\":\"e1\",\"kid\":\"k1\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "payload: two aud", .raw = "\"aud\":\"other\"",
	  .rc = AUTH, .reason = "malformed" },
	{ "payload: two exp", .raw = "\"exp\":99999999999",
	  .rc = AUTH, .reason = "malformed" },
	{ "payload: two pipeline_slug", .raw = "\"pipeline_slug\":\"admin\"",
	  .rc = AUTH, .reason = "malformed" },
	{ "payload: two organization_slug",
	  .raw = "\"organization_slug\":\"evil-inc\"",
	  .rc = AUTH, .reason = "malformed" },

	/* Nesting: jansson's depth limit, and the 16 KiB cap first. */
	{ "header: 5000 nested arrays",
	  "{\"kid\":\"k1\",\"alg\":\"RS256\",\"x\":@DEEP5K@}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: 10000 nested arrays",
	  "{\"kid\":\"k1\",\"alg\":\"RS256\",\"x\":@DEEP10K@}",
	  .rc = AUTH, .reason = "malformed" },
	{ "payload: 5000 nested arrays in a claim", .raw = "\"x\":@DEEP5K@",
	  .rc = AUTH, .reason = "malformed" },
	{ "payload: 10000 nested arrays in a claim", .raw = "\"x\":@DEEP10K@",
	  .rc = AUTH, .reason = "malformed" },

	/* Header structure and kid. */
	{ "header: an array", "[\"kid\",\"k1\",\"alg\",\"RS256\"]",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: truncated JSON", "{\"kid\":\"k1\",\"alg\":\"RS256\"",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: garbage after the object", DEFAULT_HDR " x",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: \\u0000 in kid",
	  "{\"kid\":\"k1\\u0000x\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: newline and result=allow in kid",
	  "{\"kid\":\"k1\\nresult=allow\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: kid a number", "{\"kid\":1,\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: kid ../../../../etc/passwd",
	  "{\"kid\":\"../../../../../../etc/passwd\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "unknown_key" },
	{ "header: kid naming a key file (attacker's key)",
	  "{\"kid\":\"@DIR@/evil.jwks\",\"alg\":\"RS256\"}", .key = K_EVIL,
	  .rc = AUTH, .reason = "unknown_key" },
	{ "header: kid of 256 bytes",
	  "{\"kid\":\"@KID256@\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "unknown_key" },
	{ "header: kid of 257 bytes",
	  "{\"kid\":\"@KID257@\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: kid of 10 KB", "{\"kid\":\"@KID10K@\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: no kid, four keys in the set", "{\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "unknown_key" },
	{ "header: kid empty", "{\"kid\":\"\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: kid null", "{\"kid\":null,\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: kid with U+2028, a quote and result=allow",
	  "{\"kid\":\"k1\\u2028\\\" result=allow\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "unknown_key" },
	{ "header: kid with C1 controls", "{\"kid\":\"k1\\u0085\\u009b2J\","
	  "\"alg\":\"RS256\"}", .rc = AUTH, .reason = "unknown_key" },
	{ "header: kid of 80 U+2028 (cut inside a character)",
	  "{\"kid\":\"@KIDLS@\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "unknown_key" },
	{ "header: typ JWS",
	  "{\"kid\":\"k1\",\"alg\":\"RS256\",\"typ\":\"JWS\"}",
	  .rc = AUTH, .reason = "malformed" },

	/* Extensions and keys named by the token: refused, never followed. */
	{ "header: crit",
	  "{\"kid\":\"k1\",\"alg\":\"RS256\",\"crit\":[\"b64\"],\"b64\":false}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: jku to a local listener",
	  "{\"kid\":\"k1\",\"alg\":\"RS256\","
	  "\"jku\":\"https://127.0.0.1:@PORT@/jwks\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: x5u to a local listener",
	  "{\"kid\":\"k1\",\"alg\":\"RS256\","
	  "\"x5u\":\"http://127.0.0.1:@PORT@/cert.pem\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "header: jku, signed by the attacker",
	  "{\"kid\":\"evil\",\"alg\":\"RS256\","
	  "\"jku\":\"http://127.0.0.1:@PORT@/jwks\"}", .key = K_EVIL,
	  .rc = AUTH, .reason = "malformed" },
	{ "header: embedded jwk of the attacker's key",
	  "{\"kid\":\"evil\",\"alg\":\"RS256\",\"jwk\":@EVILJWK@}",
	  .key = K_EVIL, .rc = AUTH, .reason = "malformed" },
	{ "header: x5c",
	  "{\"kid\":\"k1\",\"alg\":\"RS256\",\"x5c\":[\"MIIB\"]}",
	  .rc = AUTH, .reason = "malformed" },

	/* Algorithms. */
	{ "alg none", "{\"kid\":\"k1\",\"alg\":\"none\"}", .salg = "none",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg None", "{\"kid\":\"k1\",\"alg\":\"None\"}", .salg = "none",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg NONE without kid", "{\"alg\":\"NONE\"}", .salg = "none",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg HS256 keyed with the RSA public key PEM",
	  "{\"kid\":\"k1\",\"alg\":\"HS256\"}", .salg = "HS256",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg hs256 keyed with the RSA public key PEM",
	  "{\"kid\":\"k1\",\"alg\":\"hs256\"}", .salg = "HS256",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg RS256 carrying an HMAC keyed with the public key PEM",
	  .salg = "HS256", .rc = AUTH, .reason = "signature" },
	{ "alg missing", "{\"kid\":\"k1\"}",
	  .rc = AUTH, .reason = "malformed" },
	{ "alg of 10 KB", "{\"kid\":\"k1\",\"alg\":\"RS256@KID10K@\"}",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg a number", "{\"kid\":\"k1\",\"alg\":256}",
	  .rc = AUTH, .reason = "malformed" },
	{ "alg empty", "{\"kid\":\"k1\",\"alg\":\"\"}",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg rs256", "{\"kid\":\"k1\",\"alg\":\"rs256\"}",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg PS256", "{\"kid\":\"k1\",\"alg\":\"PS256\"}",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg ES256 when the policy allows only RS256",
	  "{\"kid\":\"e1\",\"alg\":\"ES256\"}", .salg = "ES256", .key = K_EC256,
	  .pol = P_RS256_ONLY, .rc = AUTH, .reason = "algorithm" },
	{ "alg ES256 naming the RSA key", "{\"kid\":\"k1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .rc = AUTH, .reason = "algorithm" },
	{ "alg RS256 naming the EC key", "{\"kid\":\"e1\",\"alg\":\"RS256\"}",
	  .rc = AUTH, .reason = "algorithm" },
	{ "alg RS256 signature under an RS384 header", .gen = G_HDR_RS384,
	  .rc = AUTH, .reason = "algorithm" },

	/* Numbers. */
	{ "exp 2^63", .drop = "exp", .raw = "\"exp\":9223372036854775808",
	  .rc = AUTH, .reason = "malformed" },
	{ "iat 2^63", .drop = "iat", .raw = "\"iat\":9223372036854775808",
	  .rc = AUTH, .reason = "malformed" },
	{ "nbf 2^63", .drop = "nbf", .raw = "\"nbf\":9223372036854775808",
	  .rc = AUTH, .reason = "malformed" },
	{ "build_number 2^63", .drop = "build_number",
	  .raw = "\"build_number\":9223372036854775808",
	  .rc = AUTH, .reason = "malformed" },
	{ "exp -2^63-1", .drop = "exp", .raw = "\"exp\":-9223372036854775809",
	  .rc = AUTH, .reason = "malformed" },
	{ "exp 2^63-1", .drop = "exp", .raw = "\"exp\":9223372036854775807",
	  .rc = AUTH, .reason = "lifetime" },
	{ "exp -2^63", .drop = "exp", .raw = "\"exp\":-9223372036854775808",
	  .rc = AUTH, .reason = "expired" },
	{ "iat -2^63", .drop = "iat", .raw = "\"iat\":-9223372036854775808",
	  .rc = AUTH, .reason = "lifetime" },
	{ "nbf 2^63-1", .drop = "nbf", .raw = "\"nbf\":9223372036854775807",
	  .rc = AUTH, .reason = "not_yet_valid" },
	{ "exp -1", .drop = "exp", .raw = "\"exp\":-1",
	  .rc = AUTH, .reason = "expired" },
	{ "build_number -1 (an integer: accepted)", .drop = "build_number",
	  .raw = "\"build_number\":-1", .rc = OK, .reason = "ok" },
	{ "exp a string", .drop = "exp", .raw = "\"exp\":\"99999999999\"",
	  .rc = AUTH, .reason = "malformed" },
	{ "exp 1.7e9", .drop = "exp", .raw = "\"exp\":1.7e9",
	  .rc = AUTH, .reason = "malformed" },
	{ "exp 1700000000.0", .drop = "exp", .raw = "\"exp\":1700000000.0",
	  .rc = AUTH, .reason = "malformed" },
	{ "exp true", .drop = "exp", .raw = "\"exp\":true",
	  .rc = AUTH, .reason = "malformed" },
	{ "exp null", .drop = "exp", .raw = "\"exp\":null",
	  .rc = AUTH, .reason = "malformed" },
	{ "exp missing", .drop = "exp", .rc = AUTH, .reason = "malformed" },
	{ "iat 1.7e9", .drop = "iat", .raw = "\"iat\":1.7e9",
	  .rc = AUTH, .reason = "malformed" },
	{ "nbf a string", .drop = "nbf", .raw = "\"nbf\":\"0\"",
	  .rc = AUTH, .reason = "malformed" },
	{ "2000 nested arrays in an unknown claim (within the depth limit)",
	  .raw = "\"x\":@DEEP2K@", .rc = OK, .reason = "ok" },
	{ "build_number a string", .drop = "build_number",
	  .raw = "\"build_number\":\"42\"", .rc = AUTH, .reason = "malformed" },
	{ "aud an empty array", .drop = "aud", .raw = "\"aud\":[]",
	  .rc = AUTH, .reason = "malformed" },
	{ "aud an array holding a number", .drop = "aud",
	  .raw = "\"aud\":[\"aud\",1]", .rc = AUTH, .reason = "malformed" },
	{ "agent_tag a number", .raw = "\"agent_tag:queue\":1",
	  .rc = AUTH, .reason = "malformed" },
	{ "payload an array",
	  .raw = "[{\"iss\":\"https://agent.buildkite.com\"}]",
	  .gen = G_PAY_RAW, .rc = AUTH, .reason = "malformed" },
	{ "payload with garbage after the object", .gen = G_PAY_TRAIL,
	  .rc = AUTH, .reason = "malformed" },
	{ "pipeline_slug holding \\u0000", .drop = "pipeline_slug",
	  .raw = "\"pipeline_slug\":\"api\\u0000admin\"",
	  .rc = AUTH, .reason = "malformed" },

	/* Control characters in signed claims refused after the signature:
	 * logged, and unable to forge a line or a field. */
	{ "pipeline_slug with a newline and a forged event",
	  .drop = "pipeline_slug",
	  .raw = "\"pipeline_slug\":\"api\\n<84>Nov 23 "
	  "pam_buildkite(c0:auth): result=allow reason=ok role=alice\"",
	  .rc = AUTH, .reason = "no_rule" },
	{ "build_branch closing the quote: \" result=allow",
	  .drop = "build_branch",
	  .raw = "\"build_branch\":\"main\\\" result=allow reason=ok x=\\\"\"",
	  .role = BOB, .rc = AUTH, .reason = "no_rule" },
	{ "build_branch with \\r result=allow", .drop = "build_branch",
	  .raw = "\"build_branch\":\"main\\r result=allow reason=ok\"",
	  .role = BOB, .rc = AUTH, .reason = "no_rule" },
	{ "sub with a lone surrogate \\ud800", .drop = "sub",
	  .raw = "\"sub\":\"x\\ud800y\"", .rc = AUTH, .reason = "malformed" },
	{ "build_branch with U+10FFFF", .drop = "build_branch",
	  .raw = "\"build_branch\":\"main\\udbff\\udfff\"",
	  .role = BOB, .rc = AUTH, .reason = "no_rule" },
	{ "sub with U+2028 and U+2029", .drop = "sub",
	  .raw = "\"sub\":\"organization:acme-inc\\u2028result=allow\\u2029x\"",
	  .role = BOB, .rc = AUTH, .reason = "no_rule" },
	{ "jti with ESC sequences (expired)", .drop = "jti exp iat nbf",
	  .raw = "\"jti\":\"\\u001b[2K\\u001b[1Aresult=allow\\u001b[0m\"," OLD,
	  .rc = AUTH, .reason = "expired" },
	{ "job_id with DEL (expired)", .drop = "job_id exp iat nbf",
	  .raw = "\"job_id\":\"job\\u007f\\u007f result=allow\"," OLD,
	  .rc = AUTH, .reason = "expired" },
	{ "step_key with tab and NEL", .drop = "step_key",
	  .raw = "\"step_key\":\"a\\tb\\u0085c result=allow\"",
	  .role = BOB, .rc = AUTH, .reason = "no_rule" },
	{ "build_tag with a backslash before a quote", .drop = "build_tag",
	  .raw = "\"build_tag\":\"v1\\\\\\\" result=allow\\\\\"",
	  .role = BOB, .rc = AUTH, .reason = "no_rule" },
	{ "agent_id with '=' and spaces", .drop = "agent_id",
	  .raw = "\"agent_id\":\"x=1 result=allow reason=ok\"",
	  .role = BOB, .rc = AUTH, .reason = "no_rule" },
	{ "build_source with every C0 control", .drop = "build_source",
	  .raw = "\"build_source\":\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006"
	  "\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012"
	  "\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b"
	  "\\u001c\\u001d\\u001e\\u001f\"",
	  .role = BOB, .rc = AUTH, .reason = "no_rule" },
	{ "pipeline_slug of 1000 bytes with newlines", .drop = "pipeline_slug",
	  .raw = "\"pipeline_slug\":\"@LONG1000@\"",
	  .rc = AUTH, .reason = "no_rule" },
	{ "role (PAM user) with a newline and result=allow",
	  .role = "alice\nresult=allow reason=ok role=alice",
	  .rc = AUTH, .reason = "no_rule" },
	{ "rhost with a newline and result=allow", .role = BOB,
	  .rhost = "10.0.0.1\nresult=allow reason=ok", .rc = AUTH,
	  .reason = "no_rule" },
	{ "json: rhost with a newline", .role = BOB, .pol = P_JSON,
	  .rhost = "10.0.0.1\n{\"result\":\"allow\"}", .rc = AUTH,
	  .reason = "no_rule" },
	{ "iss with a newline", .drop = "iss",
	  .raw = "\"iss\":\"https://evil.example\\nresult=allow\"",
	  .rc = AUTH, .reason = "issuer" },
	{ "organization_slug with a quote", .drop = "organization_slug",
	  .raw = "\"organization_slug\":\"acme-inc\\\" result=allow\"",
	  .rc = AUTH, .reason = "organization" },
	{ "json: pipeline_slug with a newline and a forged event",
	  .drop = "pipeline_slug",
	  .raw = "\"pipeline_slug\":\"api\\n{\\\"result\\\""
	  ":\\\"allow\\\"}\"", .pol = P_JSON, .rc = AUTH, .reason = "no_rule" },
	{ "json: build_branch closing the string", .drop = "build_branch",
	  .raw = "\"build_branch\":\"main\\\",\\\"result\\\":\\\"allow\"",
	  .role = BOB, .pol = P_JSON, .rc = AUTH, .reason = "no_rule" },
	{ "json: sub with U+2028", .drop = "sub",
	  .raw = "\"sub\":\"x\\u2028{\\\"result\\\":\\\"allow\\\"}\"",
	  .role = BOB, .pol = P_JSON, .rc = AUTH, .reason = "no_rule" },
	{ "json: jti with ESC (expired)", .drop = "jti exp iat nbf",
	  .raw = "\"jti\":\"\\u001b[2K}{\\\"result\\\":\\\"allow\\\"\"," OLD,
	  .pol = P_JSON, .rc = AUTH, .reason = "expired" },
	{ "json: job_id with DEL and a backslash (expired)",
	  .drop = "job_id exp iat nbf",
	  .raw = "\"job_id\":\"\\u007f\\\\\\\"\"," OLD,
	  .pol = P_JSON, .rc = AUTH, .reason = "expired" },
	{ "json: role with a newline and a quote",
	  .role = "alice\"}\n{\"result\":\"allow", .pol = P_JSON,
	  .rc = AUTH, .reason = "no_rule" },
	{ "json: every C0 control in build_source", .drop = "build_source",
	  .raw = "\"build_source\":\"\\u0001\\u0002\\u0007\\b\\t\\n\\u000b"
	  "\\f\\r\\u001b\\u001f\\u007f\"",
	  .role = BOB, .pol = P_JSON, .rc = AUTH, .reason = "no_rule" },

	/* The compact form. */
	{ "valid RS256 token (control)", .rc = OK, .reason = "ok" },
	{ "valid ES256 token (control)", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .rc = OK, .reason = "ok" },
	{ "json: valid token (control)", .pol = P_JSON, .rc = OK,
	  .reason = "ok" },
	{ "surrounding whitespace is trimmed", .gen = G_WS_AROUND,
	  .rc = OK, .reason = "ok" },
	{ "surrounding whitespace around a forged signature",
	  .gen = G_WS_AROUND, .key = K_EVIL,
	  .rc = AUTH, .reason = "signature" },
	{ "leading vertical tab", .gen = G_VT_LEADING,
	  .rc = AUTH, .reason = "malformed" },
	{ "space inside", .gen = G_SPACE_INSIDE,
	  .rc = AUTH, .reason = "malformed" },
	{ "tab inside", .gen = G_TAB_INSIDE,
	  .rc = AUTH, .reason = "malformed" },
	{ "newline inside", .gen = G_NL_INSIDE,
	  .rc = AUTH, .reason = "malformed" },
	{ "trailing .x", .gen = G_TRAIL_DOTX,
	  .rc = AUTH, .reason = "malformed" },
	{ "a fourth segment", .gen = G_FOURTH,
	  .rc = AUTH, .reason = "malformed" },
	{ "'=' padding on the header", .gen = G_PAD_HDR,
	  .rc = AUTH, .reason = "malformed" },
	{ "'=' padding on the payload", .gen = G_PAD_PAY,
	  .rc = AUTH, .reason = "malformed" },
	{ "'=' padding on the signature", .gen = G_PAD_SIG,
	  .rc = AUTH, .reason = "malformed" },
	{ "standard base64 '+' '/' in the signature", .gen = G_STD_SIG,
	  .rc = AUTH, .reason = "malformed" },
	{ "standard base64 '+' '/' in the payload", .gen = G_STD_PAY,
	  .rc = AUTH, .reason = "malformed" },
	{ "empty header segment", .gen = G_EMPTY_HDR,
	  .rc = AUTH, .reason = "malformed" },
	{ "empty payload segment", .gen = G_EMPTY_PAY,
	  .rc = AUTH, .reason = "malformed" },
	{ "empty signature segment", .gen = G_EMPTY_SIG,
	  .rc = AUTH, .reason = "malformed" },
	{ "only dots", .gen = G_ONLY_DOTS, .rc = AUTH, .reason = "malformed" },
	{ "empty password", .gen = G_EMPTY, .rc = AUTH, .reason = "malformed" },
	{ "whitespace only", .gen = G_BLANK,
	  .rc = AUTH, .reason = "malformed" },
	{ "signature with non-zero unused bits", .gen = G_SIG_BITS,
	  .rc = AUTH, .reason = "malformed" },
	{ "signature three bytes short", .gen = G_SIG_SHORT,
	  .rc = AUTH, .reason = "signature" },
	{ "signature of zero bytes", .gen = G_SIG_ZERO,
	  .rc = AUTH, .reason = "signature" },
	{ "signature by the attacker's key", .key = K_EVIL,
	  .rc = AUTH, .reason = "signature" },
	{ "payload of another token", .gen = G_SWAP_PAY,
	  .rc = AUTH, .reason = "signature" },
	{ "ES256 r = s = 0", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .gen = G_SIG_EC_ZERO,
	  .rc = AUTH, .reason = "signature" },
	{ "ES256 r = s = n", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .gen = G_SIG_EC_ORDER,
	  .rc = AUTH, .reason = "signature" },
	{ "ES256 signature in DER", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .gen = G_SIG_EC_DER,
	  .rc = AUTH, .reason = "signature" },
	{ "a genuine token of exactly 16384 bytes", .gen = G_LEN16K,
	  .rc = OK, .reason = "ok" },
	{ "a genuine token of 16385 bytes", .gen = G_LEN16K1,
	  .rc = AUTH, .reason = "malformed" },
	{ "16384 bytes plus surrounding whitespace", .gen = G_LEN16K_WS,
	  .rc = OK, .reason = "ok" },
	{ "a 64 KiB password", .gen = G_LEN64K,
	  .rc = AUTH, .reason = "malformed" },
	{ "a valid token, 20000 spaces and garbage", .gen = G_WS_GARBAGE,
	  .rc = AUTH, .reason = "malformed" },

	/* Key sets. */
	{ "RSA key of 512 bits", .key = K_RSA512, .jwks = J_RSA512,
	  .rc = AUTH, .reason = "unknown_key" },
	{ "RSA key of 1024 bits", .key = K_RSA1024, .jwks = J_RSA1024,
	  .rc = AUTH, .reason = "unknown_key" },
	{ "RSA e = 1 with the padded digest as signature", .gen = G_FORGE_E1,
	  .jwks = J_E1, .rc = AUTH, .reason = "unknown_key" },
	{ "RSA e = 3 (a genuine key: accepted)", .key = K_RSA_E3,
	  .jwks = J_E3, .rc = OK, .reason = "ok" },
	{ "RSA e even", .jwks = J_E_EVEN, .rc = AUTH, .reason = "unknown_key" },
	{ "RSA modulus of 16384 bits", .jwks = J_RSA_HUGE,
	  .rc = AUTH, .reason = "unknown_key" },
	{ "EC point off the curve", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .jwks = J_EC_OFFCURVE,
	  .rc = AUTH, .reason = "unknown_key" },
	{ "P-384 key for ES256", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES384", .key = K_EC384, .jwks = J_EC384_AS_E1,
	  .rc = AUTH, .reason = "algorithm" },
	{ "EC x of 31 bytes", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .jwks = J_EC_SHORT_X,
	  .rc = UNAVAIL, .reason = "jwks_unavailable" },
	{ "EC x of 33 bytes", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .jwks = J_EC_LONG_X,
	  .rc = UNAVAIL, .reason = "jwks_unavailable" },
	{ "key use enc", .jwks = J_USE_ENC, .rc = AUTH, .reason = "algorithm" },
	{ "key alg RS384, header RS256", .jwks = J_ALG_RS384,
	  .rc = AUTH, .reason = "algorithm" },
	{ "key_ops without verify", .jwks = J_KEYOPS_ENC,
	  .rc = AUTH, .reason = "algorithm" },
	{ "key_ops with verify (control)", .jwks = J_KEYOPS_VERIFY,
	  .rc = OK, .reason = "ok" },
	{ "HS256 keyed with an oct key's secret",
	  "{\"kid\":\"hk\",\"alg\":\"HS256\"}", .salg = "HS256", .key = K_OCT,
	  .jwks = J_OCT, .rc = AUTH, .reason = "algorithm" },
	{ "RS256 naming an oct key", "{\"kid\":\"hk\",\"alg\":\"RS256\"}",
	  .jwks = J_OCT, .rc = AUTH, .reason = "unknown_key" },
	{ "two keys under one kid", .jwks = J_DUP_KID,
	  .rc = UNAVAIL, .reason = "jwks_unavailable" },
	{ "5000 RSA keys, the right one last (size cap)", .jwks = J_5000_RSA,
	  .rc = UNAVAIL, .reason = "jwks_unavailable" },
	{ "5000 oct keys, the right one last (key cap)", .jwks = J_5000_OCT,
	  .rc = UNAVAIL, .reason = "jwks_unavailable" },
	{ "64 keys, the right one last", .jwks = J_64_LAST,
	  .rc = OK, .reason = "ok" },
	{ "65 keys, the right one last", .jwks = J_65_LAST,
	  .rc = UNAVAIL, .reason = "jwks_unavailable" },
	{ "key set with 10000 nested arrays", .jwks = J_DEEP,
	  .rc = UNAVAIL, .reason = "jwks_unavailable" },
	{ "EC point (0, 0)", "{\"kid\":\"e1\",\"alg\":\"ES256\"}",
	  .salg = "ES256", .key = K_EC256, .jwks = J_EC_ZERO,
	  .rc = AUTH, .reason = "unknown_key" },
	{ "key set with no keys", .jwks = J_EMPTY,
	  .rc = UNAVAIL, .reason = "jwks_unavailable" },
	{ "single key without kid, token without kid (control)",
	  "{\"alg\":\"RS256\"}", .jwks = J_SINGLE_NOKID,
	  .rc = OK, .reason = "ok" },
	{ "single key without kid, token with kid", .jwks = J_SINGLE_NOKID,
	  .rc = AUTH, .reason = "unknown_key" },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ------------------------------------------------------------ fixture */

static struct {
	char dir[256];
	char capture[300];
	char *builddir;
	struct tm_key *keys[K_N];
	char *pem;              /* k1's public key PEM: the HMAC key */
	size_t pem_len;
	unsigned char oct[32];  /* the "oct" key's secret */
	json_t *jwk[K_N];       /* each key's JWK: kids k1 ... */
	char *main_jwks;
	int lsock, port;
	long long now;
} fx;

static void
bail(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(1);
}

/* A growing string. */
struct str {
	char *p;
	size_t len, cap;
};

static void
put(struct str *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 256;

		while (cap < s->len + n + 1)
			cap *= 2;
		if ((s->p = realloc(s->p, cap)) == NULL)
			bail("out of memory");
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void
puts_(struct str *s, const char *p)
{
	put(s, p, strlen(p));
}

static void
putrep(struct str *s, const char *p, size_t times)
{
	while (times-- > 0)
		puts_(s, p);
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		bail("out of memory");
	return p;
}

static void
write_file(const char *name, const char *text, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx.dir, name);
	if ((f = fopen(path, "w")) == NULL || fwrite(text, 1, len, f) != len ||
	    fclose(f) != 0)
		bail("cannot write a fixture file");
}

/* Replaces the @NAME@ placeholders of the table's text. */
static char *
subst(const char *text)
{
	struct str s = { NULL, 0, 0 };
	char num[32];
	const char *p = text;
	size_t i;

	puts_(&s, "");
	while (*p) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			puts_(&s, fx.dir);
			p += 5;
		} else if (strncmp(p, "@PORT@", 6) == 0) {
			snprintf(num, sizeof(num), "%d", fx.port);
			puts_(&s, num);
			p += 6;
		} else if (strncmp(p, "@DEEP5K@", 8) == 0) {
			putrep(&s, "[", 5000);
			putrep(&s, "]", 5000);
			p += 8;
		} else if (strncmp(p, "@DEEP10K@", 9) == 0) {
			putrep(&s, "[", 10000);
			putrep(&s, "]", 10000);
			p += 9;
		} else if (strncmp(p, "@KID256@", 8) == 0) {
			putrep(&s, "a", 256);
			p += 8;
		} else if (strncmp(p, "@KID257@", 8) == 0) {
			putrep(&s, "a", 257);
			p += 8;
		} else if (strncmp(p, "@DEEP2K@", 8) == 0) {
			putrep(&s, "[", 2000);
			putrep(&s, "]", 2000);
			p += 8;
		} else if (strncmp(p, "@KIDLS@", 7) == 0) {
			putrep(&s, "\\u2028", 80);
			p += 7;
		} else if (strncmp(p, "@KID10K@", 8) == 0) {
			putrep(&s, "../", 3414);
			p += 8;
		} else if (strncmp(p, "@LONG1000@", 10) == 0) {
			for (i = 0; i < 100; i++)
				puts_(&s, "api\\nx=y\\r ");
			p += 10;
		} else if (strncmp(p, "@EVILJWK@", 9) == 0) {
			char *j = json_dumps(fx.jwk[K_EVIL], JSON_COMPACT);

			if (j == NULL)
				bail("out of memory");
			puts_(&s, j);
			free(j);
			p += 9;
		} else {
			put(&s, p, 1);
			p++;
		}
	}
	return s.p;
}

static char *
b64(const void *buf, size_t len)
{
	char *s = tm_b64url(buf, len);

	if (s == NULL)
		bail("out of memory");
	return s;
}

/* Wraps an OpenSSL key in a tm_key through a PEM file. */
static struct tm_key *
wrap_pkey(EVP_PKEY *pkey)
{
	char path[512];
	struct tm_key *k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/key.pem", fx.dir);
	if (pkey == NULL || (f = fopen(path, "w")) == NULL)
		bail("cannot make a key");
	if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1)
		bail("cannot write a key");
	fclose(f);
	EVP_PKEY_free(pkey);
	k = tm_key_load(path);
	unlink(path);
	if (k == NULL)
		bail("cannot load a key");
	return k;
}

static EVP_PKEY *
rsa_e3(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pkey = NULL;
	BIGNUM *e = BN_new();

	if (ctx == NULL || e == NULL || !BN_set_word(e, 3) ||
	    EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) <= 0 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) <= 0 ||
	    EVP_PKEY_keygen(ctx, &pkey) <= 0)
		pkey = NULL;
	BN_free(e);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* A JWK of key with members of the JSON text extra changed. */
static json_t *
jwk_with(enum keyid k, const char *kid, const char *extra)
{
	json_t *x = extra ? json_loads(extra, 0, NULL) : NULL;
	json_t *j = tm_jwk(fx.keys[k], kid, x);

	json_decref(x);
	if (j == NULL)
		bail("cannot make a JWK");
	return j;
}

static char *
jwks_of(json_t **keys, size_t n)
{
	char *s = tm_jwks_string(keys, n);
	size_t i;

	for (i = 0; i < n; i++)
		json_decref(keys[i]);
	if (s == NULL)
		bail("cannot make a key set");
	return s;
}

/* A P-256 coordinate changed: how 0 flips its last bit (off the curve),
 * 1 drops a byte, 2 adds a leading zero byte. */
static char *
coord_changed(const char *b64coord, int how)
{
	unsigned char *raw, buf[64];
	size_t len;
	char *out;

	if (pb_b64url_decode(b64coord, strlen(b64coord), &raw, &len) != 0 ||
	    len != 32)
		bail("bad coordinate");
	if (how == 0) {                 /* the last bit flipped */
		raw[31] ^= 1;
		out = b64(raw, 32);
	} else if (how == 1) {          /* 31 bytes */
		out = b64(raw + 1, 31);
	} else {                        /* 33 bytes, a leading zero */
		buf[0] = 0;
		memcpy(buf + 1, raw, 32);
		out = b64(buf, 33);
	}
	free(raw);
	return out;
}

static char *
make_jwks(enum jwksid id)
{
	json_t *k[8], *j;
	struct str s = { NULL, 0, 0 };
	char kid[32], *one, *v;
	int i;

	switch (id) {
	case J_MAIN:
		k[0] = jwk_with(K_RSA, "k1", NULL);
		k[1] = jwk_with(K_EC256, "e1", NULL);
		k[2] = jwk_with(K_EC384, "e384", NULL);
		k[3] = jwk_with(K_RSA1024, "small", NULL);
		return jwks_of(k, 4);
	case J_RSA512:
		k[0] = jwk_with(K_RSA512, "k1", NULL);
		return jwks_of(k, 1);
	case J_RSA1024:
		k[0] = jwk_with(K_RSA1024, "k1", NULL);
		return jwks_of(k, 1);
	case J_E1:
		k[0] = jwk_with(K_RSA, "k1", "{\"e\":\"AQ\"}");
		return jwks_of(k, 1);
	case J_E3:
		k[0] = jwk_with(K_RSA_E3, "k1", NULL);
		if (strcmp(json_string_value(json_object_get(k[0], "e")),
		    "Aw") != 0)
			bail("the e=3 key does not have e=3");
		return jwks_of(k, 1);
	case J_E_EVEN:
		k[0] = jwk_with(K_RSA, "k1", "{\"e\":\"AQAA\"}");
		return jwks_of(k, 1);
	case J_RSA_HUGE: {
		unsigned char n[2048];

		memset(n, 0xc5, sizeof(n));
		v = b64(n, sizeof(n));
		j = json_pack("{s:s}", "n", v);
		free(v);
		k[0] = tm_jwk(fx.keys[K_RSA], "k1", j);
		json_decref(j);
		return jwks_of(k, 1);
	}
	case J_EC_OFFCURVE:
	case J_EC_SHORT_X:
	case J_EC_LONG_X:
		k[0] = jwk_with(K_EC256, "e1", NULL);
		v = coord_changed(json_string_value(json_object_get(k[0],
		    id == J_EC_OFFCURVE ? "y" : "x")), id == J_EC_OFFCURVE ? 0 :
		    id == J_EC_SHORT_X ? 1 : 2);
		json_object_set_new(k[0], id == J_EC_OFFCURVE ? "y" : "x",
		    json_string(v));
		free(v);
		return jwks_of(k, 1);
	case J_EC_ZERO: {
		unsigned char zero[32] = { 0 };

		v = b64(zero, sizeof(zero));
		j = json_pack("{s:s,s:s}", "x", v, "y", v);
		free(v);
		k[0] = tm_jwk(fx.keys[K_EC256], "e1", j);
		json_decref(j);
		return jwks_of(k, 1);
	}
	case J_EC384_AS_E1:
		/* No alg on the key: the curve alone must refuse it. */
		k[0] = jwk_with(K_EC384, "e1", "{\"alg\":null}");
		return jwks_of(k, 1);
	case J_USE_ENC:
		k[0] = jwk_with(K_RSA, "k1", "{\"use\":\"enc\"}");
		return jwks_of(k, 1);
	case J_ALG_RS384:
		k[0] = jwk_with(K_RSA, "k1", "{\"alg\":\"RS384\"}");
		return jwks_of(k, 1);
	case J_KEYOPS_ENC:
		k[0] = jwk_with(K_RSA, "k1", "{\"key_ops\":[\"encrypt\"],"
		    "\"use\":null}");
		return jwks_of(k, 1);
	case J_KEYOPS_VERIFY:
		k[0] = jwk_with(K_RSA, "k1", "{\"key_ops\":[\"verify\"],"
		    "\"use\":null}");
		return jwks_of(k, 1);
	case J_OCT:
		v = b64(fx.oct, sizeof(fx.oct));
		k[0] = json_pack("{s:s,s:s,s:s,s:s}", "kty", "oct", "kid", "hk",
		    "alg", "HS256", "k", v);
		free(v);
		k[1] = jwk_with(K_RSA, "k1", NULL);
		return jwks_of(k, 2);
	case J_DUP_KID:
		k[0] = jwk_with(K_EVIL, "k1", NULL);
		k[1] = jwk_with(K_RSA, "k1", NULL);
		return jwks_of(k, 2);
	case J_5000_RSA:
	case J_5000_OCT:
	case J_64_LAST:
	case J_65_LAST: {
		int n = id == J_64_LAST ? 63 : id == J_65_LAST ? 64 : 4999;

		puts_(&s, "{\"keys\":[");
		for (i = 0; i < n; i++) {
			snprintf(kid, sizeof(kid), "d%d", i);
			if (id == J_5000_OCT) {
				j = json_pack("{s:s,s:s,s:s}", "kty", "oct",
				    "kid", kid, "k", "AAAA");
			} else {
				j = jwk_with(K_EVIL, kid, NULL);
			}
			one = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
			json_decref(j);
			if (one == NULL)
				bail("out of memory");
			puts_(&s, one);
			puts_(&s, ",");
			free(one);
		}
		j = jwk_with(K_RSA, "k1", NULL);
		one = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(j);
		if (one == NULL)
			bail("out of memory");
		puts_(&s, one);
		puts_(&s, "]}");
		free(one);
		return s.p;
	}
	case J_DEEP:
		j = jwk_with(K_RSA, "k1", NULL);
		one = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(j);
		if (one == NULL)
			bail("out of memory");
		puts_(&s, "{\"keys\":[");
		puts_(&s, one);
		puts_(&s, "],\"x\":");
		putrep(&s, "[", 10000);
		putrep(&s, "]", 10000);
		puts_(&s, "}");
		free(one);
		return s.p;
	case J_EMPTY:
		return xstrdup("{\"keys\":[]}");
	case J_SINGLE_NOKID:
		k[0] = jwk_with(K_RSA, NULL, NULL);
		return jwks_of(k, 1);
	}
	bail("unknown key set");
	return NULL;
}

/* ------------------------------------------------------------ tokens */

struct parts {
	char *h, *p, *s;
};

static void
split(const char *tok, struct parts *pt)
{
	const char *d1 = strchr(tok, '.'), *d2;

	if (d1 == NULL || (d2 = strchr(d1 + 1, '.')) == NULL)
		bail("minted token is not three parts");
	pt->h = strndup(tok, (size_t)(d1 - tok));
	pt->p = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
	pt->s = xstrdup(d2 + 1);
	if (pt->h == NULL || pt->p == NULL)
		bail("out of memory");
}

static char *
join(const char *a, const char *b, const char *c, const char *d)
{
	struct str s = { NULL, 0, 0 };

	puts_(&s, a);
	puts_(&s, b);
	puts_(&s, c);
	if (d != NULL)
		puts_(&s, d);
	return s.p;
}

static char *
compact(const char *h, const char *p, const char *s)
{
	struct str t = { NULL, 0, 0 };

	puts_(&t, h);
	puts_(&t, ".");
	puts_(&t, p);
	puts_(&t, ".");
	puts_(&t, s);
	return t.p;
}

/* The default claims, less c->drop. */
static json_t *
base_claims(const struct acase *c)
{
	json_t *claims = tm_default_claims(fx.now, "aud", "acme-inc");
	char *names, *name, *save = NULL;

	if (claims == NULL)
		bail("cannot make claims");
	if (c->drop != NULL) {
		names = xstrdup(c->drop);
		for (name = strtok_r(names, " ", &save); name != NULL;
		    name = strtok_r(NULL, " ", &save))
			json_object_del(claims, name);
		free(names);
	}
	return claims;
}

static char *
payload_text(const struct acase *c, const json_t *claims)
{
	char *dumped = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *raw, *out;

	if (dumped == NULL)
		bail("out of memory");
	if (c->gen == G_PAY_RAW) {
		free(dumped);
		return subst(c->raw);
	}
	if (c->gen == G_PAY_TRAIL) {
		out = join(dumped, " x", "", NULL);
		free(dumped);
		return out;
	}
	if (c->raw == NULL)
		return dumped;
	raw = subst(c->raw);
	out = join("{", raw, ",", dumped + 1);
	free(raw);
	free(dumped);
	return out;
}

static char *
sign(const struct acase *c, const char *hdr, const char *payload)
{
	const char *alg = c->salg ? c->salg : "RS256";
	const unsigned char *hk = NULL;
	size_t hl = 0;
	char *tok;

	if (strncmp(alg, "HS", 2) == 0) {
		if (c->key == K_OCT) {
			hk = fx.oct;
			hl = sizeof(fx.oct);
		} else {
			hk = (const unsigned char *)fx.pem;
			hl = fx.pem_len;
		}
	}
	tok = tm_sign_raw(hdr, strlen(hdr), payload, strlen(payload), alg,
	    c->key < K_N ? fx.keys[c->key] : NULL, hk, hl);
	if (tok == NULL)
		bail("cannot sign");
	return tok;
}

/* A genuine token of exactly want bytes, padded with a claim. The
 * base64url length of n bytes is never 1 mod 4, so the header's
 * whitespace is varied too. */
static char *
token_of_length(const struct acase *c, size_t want)
{
	static const char *const hdrs[] = {
		"{\"kid\":\"k1\",\"alg\":\"RS256\"}",
		"{\"kid\":\"k1\", \"alg\":\"RS256\"}",
		"{\"kid\":\"k1\",  \"alg\":\"RS256\"}",
		"{ \"kid\":\"k1\",  \"alg\":\"RS256\"}",
	};
	json_t *claims = base_claims(c);
	size_t hi, base, pad, siglen = (2048 / 8 * 4 + 2) / 3;
	char *payload, *tok, *fill;

	json_object_set_new(claims, "pad", json_string(""));
	payload = payload_text(c, claims);
	base = strlen(payload);
	free(payload);
	for (hi = 0; hi < sizeof(hdrs) / sizeof(hdrs[0]); hi++) {
		size_t hlen = (strlen(hdrs[hi]) * 4 + 2) / 3;

		for (pad = 0; pad < want; pad++) {
			size_t plen = ((base + pad) * 4 + 2) / 3;

			if (hlen + plen + siglen + 2 == want)
				goto found;
			if (hlen + plen + siglen + 2 > want)
				break;
		}
	}
	bail("no padding gives the wanted length");
found:
	if ((fill = malloc(pad + 1)) == NULL)
		bail("out of memory");
	memset(fill, 'a', pad);
	fill[pad] = '\0';
	json_object_set_new(claims, "pad", json_string(fill));
	free(fill);
	payload = payload_text(c, claims);
	tok = sign(c, hdrs[hi], payload);
	free(payload);
	json_decref(claims);
	if (strlen(tok) != want)
		bail("padded token has the wrong length");
	return tok;
}

/* Replaces '-' and '_' by '+' and '/'; the text must change. */
static void
std_alphabet(char *s)
{
	bool changed = false;

	for (; *s; s++) {
		if (*s == '-' || *s == '_') {
			*s = *s == '-' ? '+' : '/';
			changed = true;
		}
	}
	if (!changed)
		bail("segment has no '-' or '_' to change");
}

/* EMSA-PKCS1-v1_5 of SHA-256(input) as long as k1's modulus: with e = 1
 * this is a valid "signature". */
static char *
forge_e1(const char *input)
{
	static const unsigned char prefix[] = {
		0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
	};
	unsigned char em[256], md[32];
	unsigned int mdlen = 0;
	size_t ps = sizeof(em) - 3 - sizeof(prefix) - sizeof(md);

	if (EVP_Digest(input, strlen(input), md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen != 32)
		bail("digest failed");
	em[0] = 0x00;
	em[1] = 0x01;
	memset(em + 2, 0xff, ps);
	em[2 + ps] = 0x00;
	memcpy(em + 3 + ps, prefix, sizeof(prefix));
	memcpy(em + 3 + ps + sizeof(prefix), md, sizeof(md));
	return b64(em, sizeof(em));
}

static char *
ec_der(const char *s64)
{
	unsigned char *raw, *der = NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	size_t len;
	int n;
	char *out;

	if (es == NULL || pb_b64url_decode(s64, strlen(s64), &raw, &len) != 0 ||
	    len != 64)
		bail("bad EC signature");
	if (!ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, NULL),
	    BN_bin2bn(raw + 32, 32, NULL)) ||
	    (n = i2d_ECDSA_SIG(es, &der)) <= 0)
		bail("cannot make DER");
	out = b64(der, (size_t)n);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	free(raw);
	return out;
}

/* The password case c sends, malloc'd. */
static char *
make_token(const struct acase *c)
{
	static const unsigned char order[32] = {
		0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
		0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
	};
	unsigned char buf[256];
	struct parts pt;
	json_t *claims;
	char *hdr, *payload, *tok, *out = NULL, *t, *in;
	struct str s = { NULL, 0, 0 };
	size_t n;

	switch (c->gen) {
	case G_LEN16K:
		return token_of_length(c, 16384);
	case G_LEN16K1:
		return token_of_length(c, 16385);
	case G_LEN16K_WS:
		t = token_of_length(c, 16384);
		out = join(" \t\r\n ", t, "\n\t ", NULL);
		free(t);
		return out;
	case G_LEN64K:
		putrep(&s, "eyJhbGciOiJSUzI1NiJ9", 65536 / 20);
		return s.p;
	case G_EMPTY:
		return xstrdup("");
	case G_BLANK:
		return xstrdup(" \t \r\n ");
	case G_ONLY_DOTS:
		return xstrdup("..");
	default:
		break;
	}

	hdr = subst(c->hdr ? c->hdr : DEFAULT_HDR);
	claims = base_claims(c);
	/* "~~~" encodes as "fn5-": a character the other alphabet spells
	 * differently, wherever the claim lands. */
	if (c->gen == G_STD_PAY)
		json_object_set_new(claims, "x", json_string("~~~~~~"));
	payload = payload_text(c, claims);
	tok = sign(c, hdr, payload);
	split(tok, &pt);

	switch (c->gen) {
	case G_WS_AROUND:
		out = join(" \t\r\n", tok, "\r\n\t ", NULL);
		break;
	case G_WS_GARBAGE:
		puts_(&s, tok);
		putrep(&s, " ", 20000);
		puts_(&s, "garbage");
		out = s.p;
		break;
	case G_VT_LEADING:
		out = join("\v", tok, "", NULL);
		break;
	case G_SPACE_INSIDE:
		out = join(pt.h, ". ", pt.p, NULL);
		t = out;
		out = join(t, ".", pt.s, NULL);
		free(t);
		break;
	case G_TAB_INSIDE:
	case G_NL_INSIDE:
		n = strlen(pt.p) / 2;
		in = strndup(pt.p, n);
		t = join(in, c->gen == G_TAB_INSIDE ? "\t" : "\n", pt.p + n,
		    NULL);
		out = compact(pt.h, t, pt.s);
		free(in);
		free(t);
		break;
	case G_TRAIL_DOTX:
		out = join(tok, ".x", "", NULL);
		break;
	case G_FOURTH:
		out = join(tok, ".", pt.h, NULL);
		break;
	case G_PAD_HDR:
		t = join(pt.h, "=", "", NULL);
		out = compact(t, pt.p, pt.s);
		free(t);
		break;
	case G_PAD_PAY:
		t = join(pt.p, "==", "", NULL);
		out = compact(pt.h, t, pt.s);
		free(t);
		break;
	case G_PAD_SIG:
		t = join(pt.s, "==", "", NULL);
		out = compact(pt.h, pt.p, t);
		free(t);
		break;
	case G_STD_SIG:
		std_alphabet(pt.s);
		out = compact(pt.h, pt.p, pt.s);
		break;
	case G_STD_PAY:
		std_alphabet(pt.p);
		out = compact(pt.h, pt.p, pt.s);
		break;
	case G_EMPTY_HDR:
		out = compact("", pt.p, pt.s);
		break;
	case G_EMPTY_PAY:
		out = compact(pt.h, "", pt.s);
		break;
	case G_EMPTY_SIG:
		out = compact(pt.h, pt.p, "");
		break;
	case G_SIG_BITS: {
		/* 256 bytes are 342 characters, the last holding 4 unused
		 * bits, zero in the canonical form: set the lowest. */
		static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_";
		const char *at;

		n = strlen(pt.s);
		if (n % 4 != 2 || (at = strchr(al, pt.s[n - 1])) == NULL)
			bail("unexpected signature length");
		pt.s[n - 1] = al[(at - al) | 1];
		out = compact(pt.h, pt.p, pt.s);
		break;
	}
	case G_SIG_SHORT: {
		unsigned char *raw;

		/* Re-encoded, so the base64url stays canonical. */
		if (pb_b64url_decode(pt.s, strlen(pt.s), &raw, &n) != 0 ||
		    n < 4)
			bail("bad signature");
		t = b64(raw, n - 3);
		free(raw);
		out = compact(pt.h, pt.p, t);
		free(t);
		break;
	}
	case G_SIG_ZERO:
		memset(buf, 0, sizeof(buf));
		t = b64(buf, 256);
		out = compact(pt.h, pt.p, t);
		free(t);
		break;
	case G_SIG_EC_ZERO:
		memset(buf, 0, 64);
		t = b64(buf, 64);
		out = compact(pt.h, pt.p, t);
		free(t);
		break;
	case G_SIG_EC_ORDER:
		memcpy(buf, order, 32);
		memcpy(buf + 32, order, 32);
		t = b64(buf, 64);
		out = compact(pt.h, pt.p, t);
		free(t);
		break;
	case G_SIG_EC_DER:
		t = ec_der(pt.s);
		out = compact(pt.h, pt.p, t);
		free(t);
		break;
	case G_SWAP_PAY: {
		struct parts o;
		char *other;

		json_object_set_new(claims, "pipeline_slug",
		    json_string("admin"));
		free(payload);
		payload = payload_text(c, claims);
		other = sign(c, hdr, payload);
		split(other, &o);
		out = compact(pt.h, o.p, pt.s);
		free(o.h);
		free(o.p);
		free(o.s);
		free(other);
		break;
	}
	case G_HDR_RS384: {
		static const char h384[] = "{\"kid\":\"k1\",\"alg\":\"RS384\"}";

		t = b64(h384, strlen(h384));
		out = compact(t, pt.p, pt.s);
		free(t);
		break;
	}
	case G_FORGE_E1:
		in = join(pt.h, ".", pt.p, NULL);
		t = forge_e1(in);
		out = compact(pt.h, pt.p, t);
		free(t);
		free(in);
		break;
	default:
		out = xstrdup(tok);
		break;
	}
	if (out == NULL)
		bail("out of memory");
	free(pt.h);
	free(pt.p);
	free(pt.s);
	free(tok);
	free(payload);
	free(hdr);
	json_decref(claims);
	return out;
}

/* The claims the token carries, as far as they parse: the defaults less
 * drop, then the raw members. What the audit line must show when claims
 * are logged. */
static json_t *
expected_claims(const struct acase *c)
{
	json_t *claims = base_claims(c), *raw;
	char *text, *r;

	if (c->raw != NULL && c->gen != G_PAY_RAW) {
		r = subst(c->raw);
		text = join("{", r, "}", NULL);
		raw = json_loads(text, JSON_ALLOW_NUL, NULL);
		if (raw != NULL)
			json_object_update(claims, raw);
		json_decref(raw);
		free(text);
		free(r);
	}
	return claims;
}

/* ------------------------------------------------------------ PAM */

struct conv_state {
	const char *answer;
};

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	struct conv_state *st = data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	int i;

	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			r[i].resp = st->answer ? strdup(st->answer) : NULL;
	*resp = r;
	return PAM_SUCCESS;
}

/* Writes the key set, policy and service file of case i. */
static void
setup_case(size_t i, const struct acase *c)
{
	char name[64], jwks_path[512], text[2048];
	char *jwks;

	if (c->jwks == J_MAIN) {
		snprintf(jwks_path, sizeof(jwks_path), "%s/main.jwks", fx.dir);
	} else {
		jwks = make_jwks(c->jwks);
		snprintf(name, sizeof(name), "c%zu.jwks", i);
		write_file(name, jwks, strlen(jwks));
		free(jwks);
		snprintf(jwks_path, sizeof(jwks_path), "%s/%s", fx.dir, name);
	}
	snprintf(text, sizeof(text), "version: 1\ntoken:\n  audience: aud\n"
	    "  organization: acme-inc\n%sjwks:\n  file: %s\n%s"
	    "rules:\n  - name: r\n    pipeline: api\n    roles: [alice]\n",
	    c->pol == P_RS256_ONLY ? "" :
	    "  algorithms: [RS256, RS384, ES256, ES384]\n", jwks_path,
	    c->pol == P_JSON ? "audit:\n  format: json\n" : "");
	snprintf(name, sizeof(name), "c%zu.yaml", i);
	write_file(name, text, strlen(text));
	snprintf(text, sizeof(text),
	    "auth required %s/.libs/pam_buildkite.so config=%s/c%zu.yaml\n"
	    "account required %s/.libs/pam_buildkite.so\n",
	    fx.builddir, fx.dir, i, fx.builddir);
	snprintf(name, sizeof(name), "c%zu", i);
	write_file(name, text, strlen(text));
}

static off_t
capture_size(void)
{
	struct stat st;

	return stat(fx.capture, &st) == 0 ? st.st_size : 0;
}

/* What the capture file gained since offset off. */
static char *
capture_since(off_t off)
{
	struct str s = { NULL, 0, 0 };
	char buf[8192];
	size_t n;
	FILE *f = fopen(fx.capture, "r");

	puts_(&s, "");
	if (f == NULL)
		return s.p;
	if (fseeko(f, off, SEEK_SET) == 0)
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			put(&s, buf, n);
	fclose(f);
	return s.p;
}

/* ------------------------------------------------------------ audit lines */

struct field {
	char key[32];
	char *val;
	bool quoted;
};

#define MAX_FIELDS 40

static void
utf8_put(struct str *s, unsigned cp)
{
	char b[4];

	if (cp < 0x80) {
		b[0] = (char)cp;
		put(s, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		put(s, b, 2);
	} else {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		put(s, b, 3);
	}
}

/* Parses a logfmt line strictly: key=value separated by single spaces,
 * values bare or quoted with the escapes \" \\ \n \r \t \uXXXX. Returns
 * the number of fields, or -1. */
static int
parse_logfmt(const char *p, struct field *f)
{
	int n = 0;

	while (*p) {
		struct str v = { NULL, 0, 0 };
		size_t k = 0;

		if (n == MAX_FIELDS)
			return -1;
		while ((*p >= 'a' && *p <= 'z') || *p == '_') {
			if (k + 1 >= sizeof(f[n].key))
				return -1;
			f[n].key[k++] = *p++;
		}
		f[n].key[k] = '\0';
		if (k == 0 || *p++ != '=')
			return -1;
		puts_(&v, "");
		if (*p == '"') {
			f[n].quoted = true;
			for (p++; *p != '"'; p++) {
				if (*p == '\0') {
					free(v.p);
					return -1;
				}
				if (*p != '\\') {
					put(&v, p, 1);
					continue;
				}
				p++;
				if (*p == '"' || *p == '\\')
					put(&v, p, 1);
				else if (*p == 'n')
					puts_(&v, "\n");
				else if (*p == 'r')
					puts_(&v, "\r");
				else if (*p == 't')
					puts_(&v, "\t");
				else if (*p == 'u' && strspn(p + 1,
				    "0123456789abcdefABCDEF") >= 4) {
					char hex[5];

					memcpy(hex, p + 1, 4);
					hex[4] = '\0';
					utf8_put(&v, (unsigned)strtoul(hex,
					    NULL, 16));
					p += 4;
				} else {
					free(v.p);
					return -1;
				}
			}
			p++;
		} else {
			f[n].quoted = false;
			while (*p && *p != ' ') {
				if (*p == '"' || *p == '=' || *p == '\\') {
					free(v.p);
					return -1;
				}
				put(&v, p++, 1);
			}
			if (v.len == 0) {
				free(v.p);
				return -1;
			}
		}
		f[n++].val = v.p;
		if (*p == ' ' && p[1] != '\0')
			p++;
		else if (*p != '\0') {
			return -1;
		}
	}
	return n;
}

static const struct {
	const char *field, *claim;
} claim_fields[] = {
	{ "org", "organization_slug" }, { "pipeline", "pipeline_slug" },
	{ "branch", "build_branch" }, { "tag", "build_tag" },
	{ "step", "step_key" }, { "build", "build_number" },
	{ "job", "job_id" }, { "agent", "agent_id" },
	{ "source", "build_source" }, { "sub", "sub" }, { "jti", "jti" },
};

/* A field of the parsed event as text (JSON: strings, integers). */
static bool
event_get(json_t *obj, struct field *f, int nf, const char *key,
    char *num, size_t numlen, const char **out)
{
	int i;

	*out = NULL;
	if (obj != NULL) {
		json_t *v = json_object_get(obj, key);

		if (v == NULL)
			return false;
		if (json_is_integer(v)) {
			snprintf(num, numlen, "%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
			*out = num;
		} else if (json_is_string(v)) {
			*out = json_string_value(v);
		}
		return true;
	}
	for (i = 0; i < nf; i++) {
		if (strcmp(f[i].key, key) == 0) {
			*out = f[i].val;
			return true;
		}
	}
	return false;
}

static bool
reason_before_signature(const char *reason)
{
	return strcmp(reason, "malformed") == 0 ||
	    strcmp(reason, "algorithm") == 0 ||
	    strcmp(reason, "unknown_key") == 0 ||
	    strcmp(reason, "signature") == 0 ||
	    strcmp(reason, "jwks_unavailable") == 0;
}

/* Raw bytes no log line may hold: C0 controls and DEL (the newline that
 * ends the capture line aside), C1 controls, U+2028 and U+2029. */
static const char *
bad_bytes(const char *line, size_t len)
{
	const unsigned char *s = (const unsigned char *)line;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return "a control byte";
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 &&
		    s[i + 1] <= 0x9f)
			return "a C1 control";
		if (s[i] == 0xe2 && i + 2 < len && s[i + 1] == 0x80 &&
		    (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))
			return "U+2028 or U+2029";
	}
	return NULL;
}

/* A logged kid is the header's, or its start cut at a character
 * boundary (an escaped lone byte would show a split sequence). */
static void
check_kid(const struct acase *c, json_t *obj, struct field *f, int nf,
    char *why, size_t whylen)
{
	char *text = subst(c->hdr ? c->hdr : DEFAULT_HDR), num[32];
	json_t *hdr = json_loads(text, JSON_DECODE_ANY, NULL);
	const json_t *kid = json_is_object(hdr) ? json_object_get(hdr, "kid") :
	    NULL;
	const char *v;

	free(text);
	if (event_get(obj, f, nf, "kid", num, sizeof(num), &v)) {
		if (!json_is_string(kid) || v == NULL)
			snprintf(why, whylen, "kid logged, not a string kid");
		else if (strlen(v) == 0 || strlen(v) > 128 ||
		    strncmp(v, json_string_value(kid), strlen(v)) != 0 ||
		    strstr(v, "\\x") != NULL)
			snprintf(why, whylen, "kid logged as \"%.80s\"", v);
	}
	json_decref(hdr);
}

static void
run_case(size_t i, const struct acase *c)
{
	const char *role = c->role ? c->role : "alice";
	bool allow = c->rc == PAM_SUCCESS, json = c->pol == P_JSON;
	char svc[32], prefix[128], why[512] = "", num[32];
	struct conv_state st;
	struct pam_conv pc = { conv, &st };
	struct field f[MAX_FIELDS];
	pam_handle_t *pamh = NULL;
	json_t *obj = NULL, *want = NULL;
	struct timespec t0, t1;
	double secs;
	char *tok, *got, *nl, *msg;
	const char *v;
	int rc, arc, nf = 0, k, j;
	off_t off;
	bool ok1, ok2 = false, ok3 = false, ok4 = false;

	setup_case(i, c);
	tok = make_token(c);
	snprintf(svc, sizeof(svc), "c%zu", i);
	off = capture_size();
	st.answer = tok;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pam_start_confdir(svc, role, &pc, fx.dir, &pamh) != PAM_SUCCESS)
		bail("pam_start_confdir failed");
	if (c->rhost != NULL &&
	    pam_set_item(pamh, PAM_RHOST, c->rhost) != PAM_SUCCESS)
		bail("cannot set PAM_RHOST");
	rc = pam_authenticate(pamh, 0);
	arc = pam_acct_mgmt(pamh, 0);
	pam_end(pamh, rc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	ok1 = rc == c->rc && arc == (allow ? PAM_SUCCESS : PAM_PERM_DENIED) &&
	    secs < CASE_SECONDS_MAX;
	ok(ok1, "%s: pam_authenticate %d (want %d), acct_mgmt %d, %.3fs",
	    c->name, rc, c->rc, arc, secs);

	/* Exactly one line, at the level the verdict implies. */
	got = capture_since(off);
	nl = strchr(got, '\n');
	snprintf(prefix, sizeof(prefix), "authpriv.%s <%d> "
	    "pam_buildkite(%s:auth): ", allow ? "notice" : "warning",
	    allow ? 85 : 84, svc);
	if (nl == NULL)
		snprintf(why, sizeof(why), "no audit line");
	else if (nl[1] != '\0')
		snprintf(why, sizeof(why), "more than one line: %.300s", got);
	else if (strncmp(got, prefix, strlen(prefix)) != 0)
		snprintf(why, sizeof(why), "unexpected prefix: %.300s", got);
	else
		ok2 = true;
	ok(ok2, "%s: exactly one audit line%s%s", c->name,
	    ok2 ? "" : ": ", why);
	if (!ok2) {
		ok(0, "%s: audit line parses", c->name);
		ok(0, "%s: claims logged only after the signature",
		    c->name);
		goto out;
	}
	*nl = '\0';
	msg = got + strlen(prefix);

	/* The line parses, each field once, result and reason right. */
	if ((v = bad_bytes(got, strlen(got))) != NULL) {
		snprintf(why, sizeof(why), "the line holds %s", v);
	} else if (json) {
		json_error_t err;

		obj = json_loads(msg, JSON_REJECT_DUPLICATES, &err);
		if (!json_is_object(obj))
			snprintf(why, sizeof(why), "not one JSON object: %s",
			    err.text);
	} else if ((nf = parse_logfmt(msg, f)) < 0) {
		nf = 0;
		snprintf(why, sizeof(why), "not logfmt");
	} else {
		for (k = 0; k < nf && why[0] == '\0'; k++)
			for (j = k + 1; j < nf; j++)
				if (strcmp(f[k].key, f[j].key) == 0)
					snprintf(why, sizeof(why),
					    "field %s twice", f[k].key);
	}
	if (why[0] == '\0') {
		const char *res, *rea, *ro, *rh;

		event_get(obj, f, nf, "result", num, sizeof(num), &res);
		event_get(obj, f, nf, "reason", num, sizeof(num), &rea);
		event_get(obj, f, nf, "role", num, sizeof(num), &ro);
		event_get(obj, f, nf, "rhost", num, sizeof(num), &rh);
		if (res == NULL || strcmp(res, allow ? "allow" : "deny") != 0)
			snprintf(why, sizeof(why), "result is %s", res ? res :
			    "absent");
		else if (rea == NULL || strcmp(rea, c->reason) != 0)
			snprintf(why, sizeof(why), "reason is %s", rea ? rea :
			    "absent");
		else if (ro == NULL || strcmp(ro, role) != 0)
			snprintf(why, sizeof(why), "role is not the PAM user");
		else if ((rh == NULL) != (c->rhost == NULL) ||
		    (rh != NULL && strcmp(rh, c->rhost) != 0))
			snprintf(why, sizeof(why), "rhost is not PAM_RHOST");
		else
			ok3 = true;
	}
	ok(ok3, "%s: audit line parses, result=%s reason=%s%s%s", c->name,
	    allow ? "allow" : "deny", c->reason, ok3 ? "" : ": ", why);
	if (!ok3)
		diag("line: %.600s", got);

	/* Claims only after the signature, each as the token said it;
	 * never a part of the token. */
	why[0] = '\0';
	want = expected_claims(c);
	for (k = 0; k < (int)(sizeof(claim_fields) / sizeof(claim_fields[0]));
	    k++) {
		const json_t *w = json_object_get(want, claim_fields[k].claim);
		bool present = event_get(obj, f, nf, claim_fields[k].field, num,
		    sizeof(num), &v);
		char wn[32];
		const char *ws = NULL;

		if (reason_before_signature(c->reason)) {
			if (present)
				snprintf(why, sizeof(why), "%s logged before "
				    "the signature verified",
				    claim_fields[k].field);
			continue;
		}
		if (json_is_null(w)) {
			/* null is logged as null, not left out */
			if (!present || (v != NULL && strcmp(v, "null") != 0))
				snprintf(why, sizeof(why), "%s (null) not "
				    "logged as null", claim_fields[k].field);
			continue;
		}
		if (json_is_integer(w)) {
			snprintf(wn, sizeof(wn), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(w));
			ws = wn;
		} else if (json_is_string(w)) {
			ws = json_string_value(w);
		}
		if (ws == NULL && present)
			snprintf(why, sizeof(why), "%s logged, not in the "
			    "token", claim_fields[k].field);
		else if (ws != NULL && (!present || v == NULL))
			snprintf(why, sizeof(why), "%s not logged",
			    claim_fields[k].field);
		else if (ws != NULL && strlen(ws) <= AUDIT_MAX_VALUE &&
		    strcmp(ws, v) != 0)
			snprintf(why, sizeof(why), "%s logged as \"%.100s\"",
			    claim_fields[k].field, v);
		else if (ws != NULL && strlen(ws) > AUDIT_MAX_VALUE &&
		    strlen(v) > AUDIT_MAX_VALUE + 3)
			snprintf(why, sizeof(why), "%s not cut",
			    claim_fields[k].field);
	}
	if (why[0] == '\0' && strlen(tok) > 40 && strchr(tok, '.') != NULL &&
	    strchr(strchr(tok, '.') + 1, '.') != NULL) {
		const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
		char probe[33];

		/* 32 characters of the payload and of the signature. */
		if (d2 - d1 > 33) {
			memcpy(probe, d1 + 1, 32);
			probe[32] = '\0';
			if (strstr(got, probe) != NULL)
				snprintf(why, sizeof(why), "the payload is "
				    "logged");
		}
		if (strlen(d2 + 1) >= 32) {
			memcpy(probe, d2 + 1, 32);
			probe[32] = '\0';
			if (strstr(got, probe) != NULL)
				snprintf(why, sizeof(why), "the signature is "
				    "logged");
		}
	}
	if (why[0] == '\0')
		check_kid(c, obj, f, nf, why, sizeof(why));
	ok4 = why[0] == '\0';
	ok(ok4, "%s: %s%s%s", c->name,
	    reason_before_signature(c->reason) ? "no claim logged" :
	    "every claim logged as signed", ok4 ? "" : ": ", why);

out:
	for (k = 0; k < nf; k++)
		free(f[k].val);
	json_decref(obj);
	json_decref(want);
	free(got);
	free(tok);
}

/* ------------------------------------------------------------ setup */

static int
find_lib(struct dl_phdr_info *info, size_t size, void *data)
{
	const char **want = data;

	(void)size;
	if (info->dlpi_name != NULL &&
	    strstr(info->dlpi_name, want[0]) != NULL) {
		want[1] = info->dlpi_name;
		return 1;
	}
	return 0;
}

/* The path of a loaded library whose name holds needle, or NULL. */
static const char *
loaded(const char *needle)
{
	const char *want[2] = { needle, NULL };

	dl_iterate_phdr(find_lib, want);
	return want[1];
}

/* Runs this program again with the syslog shim preloaded. */
static void
reexec_with_capture(char **argv)
{
	char shim[512], *preload;
	const char *asan = loaded("libasan.so");
	const char *old = getenv("LD_PRELOAD");
	struct str s = { NULL, 0, 0 };

	if (getenv("PB_ADVERSARIAL_CHILD") != NULL)
		return;
	snprintf(shim, sizeof(shim), "%s/tests/.libs/syslog_capture.so",
	    fx.builddir);
	if (access(shim, R_OK) != 0)
		bail("tests/.libs/syslog_capture.so not built");
	puts_(&s, "");
	if (asan != NULL) {
		puts_(&s, asan);
		puts_(&s, " ");
	}
	puts_(&s, shim);
	if (old != NULL && old[0] != '\0') {
		puts_(&s, " ");
		puts_(&s, old);
	}
	preload = s.p;
	setenv("LD_PRELOAD", preload, 1);
	setenv("PB_ADVERSARIAL_CHILD", "1", 1);
	fflush(stdout);
	execv("/proc/self/exe", argv);
	bail("cannot re-execute with the syslog shim");
}

static void
listen_local(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fx.lsock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fx.lsock < 0 || bind(fx.lsock, (struct sockaddr *)&a,
	    sizeof(a)) != 0 || listen(fx.lsock, 16) != 0 ||
	    getsockname(fx.lsock, (struct sockaddr *)&a, &al) != 0)
		bail("cannot listen on 127.0.0.1");
	fx.port = ntohs(a.sin_port);
}

/* Names this test writes in its directory; anything else was written
 * by the module. */
static bool
ours(const char *name)
{
	size_t n = strspn(name + (name[0] == 'c'), "0123456789");

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strcmp(name, "main.jwks") == 0 || strcmp(name, "evil.jwks") == 0 ||
	    strcmp(name, "syslog") == 0 || strcmp(name, "other") == 0)
		return true;
	if (name[0] != 'c' || n == 0)
		return false;
	name += 1 + n;
	return *name == '\0' || strcmp(name, ".yaml") == 0 ||
	    strcmp(name, ".jwks") == 0;
}

int
main(int argc, char **argv)
{
	const char *types[K_N] = {
		"rsa2048", "rsa2048", "ec256", "ec384", NULL, "rsa1024", NULL,
	};
	char *strange = NULL;
	struct dirent *de;
	json_t *evil;
	char *ev, cmd[600];
	size_t i;
	DIR *d;

	(void)argc;
	/* libpam reads a relative module path under its own directory. */
	fx.builddir = realpath(getenv("top_builddir") ? getenv("top_builddir") :
	    ".", NULL);
	if (fx.builddir == NULL)
		bail("no top_builddir");
	reexec_with_capture(argv);

	snprintf(fx.dir, sizeof(fx.dir), "%s/pbadv.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(fx.dir) == NULL)
		bail("cannot make a directory");
	snprintf(fx.capture, sizeof(fx.capture), "%s/syslog", fx.dir);
	setenv("PB_SYSLOG_CAPTURE", fx.capture, 1);
	fx.now = (long long)time(NULL);
	listen_local();

	for (i = 0; i < K_N; i++) {
		if (types[i] != NULL)
			fx.keys[i] = tm_key_generate(types[i]);
		else if (i == K_RSA512)
			fx.keys[i] = wrap_pkey(EVP_PKEY_Q_keygen(NULL, NULL,
			    "RSA", (size_t)512));
		else
			fx.keys[i] = wrap_pkey(rsa_e3());
		if (fx.keys[i] == NULL)
			bail("cannot make keys");
	}
	fx.jwk[K_EVIL] = tm_jwk(fx.keys[K_EVIL], "evil", NULL);
	if ((fx.pem = tm_public_pem(fx.keys[K_RSA], &fx.pem_len)) == NULL ||
	    fx.jwk[K_EVIL] == NULL)
		bail("cannot make keys");
	memset(fx.oct, 0x5a, sizeof(fx.oct));
	fx.main_jwks = make_jwks(J_MAIN);
	write_file("main.jwks", fx.main_jwks, strlen(fx.main_jwks));
	/* A key set holding the attacker's key under the kid that names
	 * this very file. */
	ev = join(fx.dir, "/evil.jwks", "", NULL);
	evil = tm_jwk(fx.keys[K_EVIL], ev, NULL);
	free(ev);
	ev = jwks_of(&evil, 1);
	write_file("evil.jwks", ev, strlen(ev));
	free(ev);
	ev = xstrdup("auth required pam_deny.so\naccount required "
	    "pam_deny.so\n");
	write_file("other", ev, strlen(ev));
	free(ev);

	diag("%zu cases, 4 checks each", NCASES);
	for (i = 0; i < NCASES; i++)
		run_case(i, &cases[i]);

	/* Nothing reached for the network or wrote beside the policy. */
	ok(accept(fx.lsock, NULL, NULL) < 0 && (errno == EAGAIN ||
	    errno == EWOULDBLOCK), "no connection reached the listener that "
	    "jku and x5u named");
	ok(loaded("libcurl") == NULL, "libcurl was never loaded: no case "
	    "fetched anything");
	if ((d = opendir(fx.dir)) == NULL)
		bail("cannot list the directory");
	while ((de = readdir(d)) != NULL)
		if (strange == NULL && !ours(de->d_name))
			strange = strdup(de->d_name);
	closedir(d);
	ok(strange == NULL, "the module wrote no file (%s)", strange ?
	    strange : "none");
	free(strange);

	close(fx.lsock);
	for (i = 0; i < K_N; i++) {
		tm_key_free(fx.keys[i]);
		json_decref(fx.jwk[i]);
	}
	free(fx.pem);
	free(fx.main_jwks);
	free(fx.builddir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	if (done_testing() != 0) {
		diag("kept %s", fx.dir);
		return 1;
	}
	if (system(cmd) != 0)
		diag("could not remove %s", fx.dir);
	return 0;
}
