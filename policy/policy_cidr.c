/*
 * policy_cidr.c - a rule's "from:" networks and the client address
 * PostgreSQL reports as PAM_RHOST.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "msg.h"
#include "policy_int.h"

int
pb_cidr_parse(const char *s, struct pb_cidr *out, char *msg, size_t msglen)
{
	char buf[INET6_ADDRSTRLEN + 8], q[96];
	const char *slash;
	size_t alen, len = strlen(s), max, i, nbytes;
	unsigned prefix;

	memset(out, 0, sizeof(*out));
	pb_quote(q, sizeof(q), s, len, 64);
	slash = memchr(s, '/', len);
	alen = slash ? (size_t)(slash - s) : len;
	if (alen == 0 || alen >= INET6_ADDRSTRLEN) {
		pb_msg(msg, msglen, "invalid CIDR %s", q);
		return -1;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		pb_msg(msg, msglen, "invalid CIDR %s: %s is not an IPv4 or "
		    "IPv6 address", q, buf);
		return -1;
	}
	prefix = (unsigned)max;
	if (slash != NULL) {
		const char *d = slash + 1;
		size_t dlen = len - alen - 1;

		if (dlen == 0 || dlen > 3 || (dlen > 1 && d[0] == '0')) {
			pb_msg(msg, msglen, "invalid CIDR %s: bad prefix "
			    "length", q);
			return -1;
		}
		prefix = 0;
		for (i = 0; i < dlen; i++) {
			if (d[i] < '0' || d[i] > '9') {
				pb_msg(msg, msglen, "invalid CIDR %s: bad "
				    "prefix length", q);
				return -1;
			}
			prefix = prefix * 10 + (unsigned)(d[i] - '0');
		}
		if (prefix > max) {
			pb_msg(msg, msglen, "invalid CIDR %s: prefix longer "
			    "than %zu bits", q, max);
			return -1;
		}
	}
	/* "10.1.2.3/8" is most likely a typo for a host or for 10.0.0.0/8:
	 * make the author say which */
	nbytes = max / 8;
	for (i = 0; i < nbytes; i++) {
		unsigned bits = prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
		unsigned char mask = bits >= 8 ? 0xff :
		    (unsigned char)(0xff00u >> bits);

		if (out->addr[i] & (unsigned char)~mask) {
			pb_msg(msg, msglen, "invalid CIDR %s: address bits set "
			    "beyond the /%u prefix", q, prefix);
			return -1;
		}
	}
	out->prefix = prefix;
	return 0;
}

/*
 * One address model: an IPv4 client is an IPv4 address whichever way it
 * is reported (a dual-stack socket reports it as ::ffff:a.b.c.d), and a
 * CIDR written in that mapped form (::ffff:a.b.c.d/n, n >= 96) is the
 * IPv4 CIDR a.b.c.d/(n - 96). So both spellings of a client match the
 * same rules, whichever way a rule is written. Other IPv6 CIDRs, ::/0
 * among them, hold IPv6 clients only, as 0.0.0.0/0 holds IPv4 ones only.
 */
static const unsigned char v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool
pb_addr_parse(const char *rhost, struct pb_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (rhost == NULL)
		return false;
	if (inet_pton(AF_INET, rhost, a->a) == 1) {
		a->v4 = true;
	} else if (inet_pton(AF_INET6, rhost, a->a) == 1) {
		if (memcmp(a->a, v4_mapped, sizeof(v4_mapped)) == 0) {
			memmove(a->a, a->a + 12, 4);
			memset(a->a + 4, 0, 12);
			a->v4 = true;
		}
	} else {
		return false;
	}
	a->known = true;
	return true;
}

static bool
prefix_eq(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (unsigned char)(0xff00u >> rest)) == 0;
}

bool
pb_cidr_contains(const struct pb_cidr *c, const struct pb_addr *a)
{
	if (!a->known)
		return false;
	if (c->family == AF_INET)
		return a->v4 && prefix_eq(c->addr, a->a, c->prefix);
	if (c->prefix >= 96 && memcmp(c->addr, v4_mapped,
	    sizeof(v4_mapped)) == 0)
		return a->v4 && prefix_eq(c->addr + 12, a->a, c->prefix - 96);
	return !a->v4 && prefix_eq(c->addr, a->a, c->prefix);
}
