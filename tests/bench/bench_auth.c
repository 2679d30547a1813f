/*
 * bench_auth.c - the module's whole authentication timed in one process,
 * against one bare RS256 signature verification.
 *
 * Each iteration is what a PostgreSQL backend does once: a fresh PAM
 * handle (libpam reads the service file and loads the module), then
 * pam_authenticate (policy and keys read from disk, token verified,
 * decision, audit line) and pam_acct_mgmt, then pam_end. The baseline is
 * EVP_DigestVerify of the same token's signature with a key already
 * parsed: the one piece of work no implementation can skip. Each login
 * is timed twice: whole (pam_start to pam_end, libpam loading the module
 * afresh) and the module alone (its entry points on a fresh handle, the
 * module loaded once, as in a backend). With -P, a baseline module
 * (pam_permit: libpam's own share) is timed in turn with each login, and
 * the module's cost is the median of the differences. Medians are
 * reported, so a stray scheduling hiccup does not move the figures.
 * Benchmark code only; never installed, never part of make check.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <security/pam_appl.h>

#include "b64url.h"

static const char *token_text;

static void
die(const char *what)
{
	fprintf(stderr, "bench_auth: %s\n", what);
	exit(2);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The client's side of the password prompt: the token. */
static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	int i;

	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF &&
		    (r[i].resp = strdup(token_text)) == NULL) {
			free(r);
			return PAM_BUF_ERR;
		}
	*resp = r;
	return PAM_SUCCESS;
}

/* The module's own work on a fresh handle: pam_authenticate and
 * pam_acct_mgmt timed, the handle's creation and end not. The caller
 * holds the module loaded, so libpam's dlopen only counts a reference,
 * as in a backend, which loads it once. */
static int
module_login(const char *confdir, const char *service, const char *user,
    const char *rhost, double *us)
{
	struct pam_conv c = { conv, NULL };
	pam_handle_t *pamh = NULL;
	double t0;
	int rc;

	if (pam_start_confdir(service, user, &c, confdir, &pamh) !=
	    PAM_SUCCESS)
		return -1;
	rc = rhost != NULL ? pam_set_item(pamh, PAM_RHOST, rhost) :
	    PAM_SUCCESS;
	t0 = now_us();
	if (rc == PAM_SUCCESS)
		rc = pam_authenticate(pamh, 0);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(pamh, 0);
	*us = now_us() - t0;
	pam_end(pamh, rc);
	return rc == PAM_SUCCESS ? 0 : -1;
}

/* One login as a backend does it; 0 when allowed. */
static int
login(const char *confdir, const char *service, const char *user,
    const char *rhost)
{
	double us;

	return module_login(confdir, service, user, rhost, &us);
}

/* A login in a fresh process, as each PostgreSQL connection gets one:
 * the child of a process that, like the postmaster, has libpam and
 * libcrypto loaded and OpenSSL's generator seeded does the whole login
 * and leaves through exit(), which runs OPENSSL_cleanup as a backend's
 * proc_exit does. Timed from fork to reaping. */
static int
fresh_login(const char *confdir, const char *service, const char *user,
    const char *rhost, double *us)
{
	double t0;
	pid_t pid;
	int st;

	fflush(NULL);   /* the child's exit must not print it again */
	t0 = now_us();
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0)
		exit(login(confdir, service, user, rhost) == 0 ? 0 : 1);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	*us = now_us() - t0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* One RS256 verification of the token's own signature, the key parsed
 * once beforehand: the work no implementation can skip. */
struct bare {
	EVP_MD_CTX *md;
	EVP_PKEY *pkey;
	unsigned char *sig;
	size_t siglen, signed_len;
};

static void
bare_init(struct bare *b, const char *keyfile)
{
	const char *dot2 = strrchr(token_text, '.');
	FILE *f;

	if (dot2 == NULL || pb_b64url_decode(dot2 + 1, strlen(dot2 + 1),
	    &b->sig, &b->siglen) != 0)
		die("token is not a compact JWS");
	b->signed_len = (size_t)(dot2 - token_text);
	if ((f = fopen(keyfile, "r")) == NULL)
		die("cannot open the key");
	b->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (b->pkey == NULL || (b->md = EVP_MD_CTX_new()) == NULL)
		die("cannot read the key");
}

static double
bare_once(struct bare *b)
{
	double t0 = now_us(), us;
	int ok;

	ok = EVP_DigestVerifyInit(b->md, NULL, EVP_sha256(), NULL,
	    b->pkey) == 1 &&
	    EVP_DigestVerify(b->md, b->sig, b->siglen,
	    (const unsigned char *)token_text, b->signed_len) == 1;
	us = now_us() - t0;
	if (!ok)
		die("the bare verification failed: wrong key?");
	EVP_MD_CTX_reset(b->md);
	return us;
}

static void
bare_free(struct bare *b)
{
	free(b->sig);
	EVP_MD_CTX_free(b->md);
	EVP_PKEY_free(b->pkey);
}

static void
report(const char *what, const char *label, long iters, double *t,
    double bare)
{
	double m = median(t, (size_t)iters);

	printf("%s policy=%s iters=%ld median_us=%.1f", what, label, iters,
	    m);
	if (bare > 0)
		printf(" ratio_to_bare=%.2f", m / bare);
	printf("\n");
}

static char *
read_token(const char *path)
{
	static char buf[32768];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		die("cannot open the token file");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return buf;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_auth -M MODULE.so -k KEY.pem -t TOKEN "
	    "-u ROLE [-h RHOST] [-n ITERS] [-P BASE.so] [-B] [-L] [-F] [-O] "
	    "LABEL=POLICY...\n"
	    "  -P: a baseline module (pam_permit) timed in turn with each "
	    "login;\n"
	    "      reports its median and the median of the paired "
	    "differences\n"
	    "  -B: skip the bare verification\n"
	    "  -L: module logins only, no libpam reload each time (leak "
	    "runs)\n"
	    "  -F: only logins in a fresh process each (fork, login, exit)\n"
	    "  -O: with -P, the module loaded after BASE.so \"sufficient\" "
	    "and never\n"
	    "      called: what loading it costs\n");
	exit(2);
}

/* With first, that module "sufficient" before each line: libpam still
 * loads the module at pam_start, but never calls it. */
static void
write_service(const char *confdir, const char *name, const char *first,
    const char *module, const char *policy)
{
	const char *stack[] = { "auth", "account" };
	char path[4200];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s/%s", confdir, name);
	if ((f = fopen(path, "w")) == NULL)
		die("cannot write the service files");
	for (i = 0; i < 2; i++) {
		if (first != NULL)
			fprintf(f, "%s sufficient %s\n", stack[i], first);
		fprintf(f, "%s required %s config=%s\n", stack[i], module,
		    policy);
	}
	fclose(f);
}

/* One measured login of the kind the loop times. */
static double
one(int fresh, const char *confdir, const char *service, const char *user,
    const char *rhost)
{
	double us;

	if ((fresh ? fresh_login(confdir, service, user, rhost, &us) :
	    module_login(confdir, service, user, rhost, &us)) != 0)
		die("a login was refused");
	return us;
}

/* The module-only (or fresh-process) loop. With a baseline, each
 * iteration times the module's login and the baseline's, the order
 * alternating, so drift on a shared machine moves both alike; with the
 * bare verification, one of those too, which then runs with the caches
 * the logins leave (alone, in a tight loop, it is faster). The figure
 * that matters, the module's cost over the baseline, is the median of
 * the per-iteration differences, and its ratio is to the faster bare
 * figure, alone, unless said otherwise. */
static void
timed(int fresh, const char *confdir, const char *label, const char *base,
    struct bare *bare, double alone, const char *user, const char *rhost,
    long iters)
{
	double *t, *b, *d, *r, mb = 0, md;
	const char *what = fresh ? "fresh_process" : "module";
	long i;

	t = calloc((size_t)iters, sizeof(*t));
	b = calloc((size_t)iters, sizeof(*b));
	d = calloc((size_t)iters, sizeof(*d));
	r = calloc((size_t)iters, sizeof(*r));
	if (t == NULL || b == NULL || d == NULL || r == NULL)
		die("out of memory");
	for (i = 0; i < iters; i++) {
		if (base != NULL && i % 2 == 1)
			b[i] = one(fresh, confdir, "baseline", user, rhost);
		t[i] = one(fresh, confdir, label, user, rhost);
		if (base != NULL && i % 2 == 0)
			b[i] = one(fresh, confdir, "baseline", user, rhost);
		d[i] = t[i] - b[i];
		if (bare != NULL)
			r[i] = bare_once(bare);
	}
	if (bare != NULL) {
		mb = median(r, (size_t)iters);
		printf("bare_rs256_verify interleaved iters=%ld "
		    "median_us=%.1f\n", iters, mb);
	}
	report(what, label, iters, t, alone);
	if (base != NULL) {
		report(what, base, iters, b, 0);
		md = median(d, (size_t)iters);
		printf("%s policy=%s minus %s: %.1f us", what, label, base,
		    md);
		if (alone > 0)
			printf(", ratio_to_bare=%.2f", md / alone);
		if (mb > 0)
			printf(", ratio_to_bare_interleaved=%.2f", md / mb);
		printf("\n");
	}
	free(t);
	free(b);
	free(d);
	free(r);
}

int
main(int argc, char **argv)
{
	const char *module = NULL, *keyfile = NULL, *user = NULL;
	const char *rhost = "127.0.0.1", *base_mod = NULL;
	char confdir[] = "/tmp/pbbench.XXXXXX", path[4200], base[64] = "";
	struct bare bare;
	double *t, alone = 0;
	long iters = 2000, i;
	struct rusage ru;
	void *dl;
	int opt, bare_on = 1, whole_on = 1, fresh_on = 0, loaded_only = 0, a;
	FILE *f;

	while ((opt = getopt(argc, argv, "M:k:t:u:h:n:P:BLFO")) != -1) {
		switch (opt) {
		case 'M': module = optarg; break;
		case 'k': keyfile = optarg; break;
		case 't': token_text = read_token(optarg); break;
		case 'u': user = optarg; break;
		case 'h': rhost = optarg[0] ? optarg : NULL; break;
		case 'n': iters = strtol(optarg, NULL, 10); break;
		case 'P': base_mod = optarg; break;
		case 'B': bare_on = 0; break;
		case 'L': whole_on = 0; break;
		case 'F': fresh_on = 1; bare_on = 0; break;
		case 'O': loaded_only = 1; break;
		default: usage();
		}
	}
	if (module == NULL || token_text == NULL || user == NULL ||
	    optind >= argc || iters < 1 || (bare_on && keyfile == NULL) ||
	    (loaded_only && base_mod == NULL))
		usage();
	if (mkdtemp(confdir) == NULL)
		die("mkdtemp");
	if (base_mod != NULL) {
		/* "pam_permit" for .../pam_permit.so, in the report */
		const char *slash = strrchr(base_mod, '/');
		const char *name = slash != NULL ? slash + 1 : base_mod;

		snprintf(base, sizeof(base), "%.*s", (int)strcspn(name, "."),
		    name);
	}

	snprintf(path, sizeof(path), "%s/other", confdir);
	if ((f = fopen(path, "w")) == NULL)
		die("cannot write the service files");
	fputs("auth required pam_deny.so\naccount required pam_deny.so\n", f);
	fclose(f);
	if ((t = calloc((size_t)iters, sizeof(*t))) == NULL)
		die("out of memory");
	if (bare_on) {
		bare_init(&bare, keyfile);
		for (i = 0; i < iters; i++)
			t[i] = bare_once(&bare);
		alone = median(t, (size_t)iters);
		printf("bare_rs256_verify alone iters=%ld median_us=%.1f\n",
		    iters, alone);
	}

	for (a = optind; a < argc; a++) {
		const char *eq = strchr(argv[a], '=');
		char label[64];

		if (eq == NULL || (size_t)(eq - argv[a]) >= sizeof(label))
			usage();
		snprintf(label, sizeof(label), "%.*s", (int)(eq - argv[a]),
		    argv[a]);
		write_service(confdir, label, loaded_only ? base_mod : NULL,
		    module, eq + 1);
		if (base_mod != NULL)
			write_service(confdir, "baseline", NULL, base_mod,
			    eq + 1);
		if (fresh_on) {
			unsigned char seed[16];

			/* Before any login here, so no child inherits what
			 * one left behind. */
			if (RAND_bytes(seed, sizeof(seed)) != 1)
				die("RAND_bytes");
			timed(1, confdir, label, base_mod ? base : NULL, NULL,
			    0, user, rhost, iters);
			goto next;
		}
		/* The first login pays for page faults and libpam's own
		 * first-use costs once; a backend pays them too, but they
		 * are not this module's. */
		if (login(confdir, label, user, rhost) != 0 ||
		    (base_mod != NULL &&
		    login(confdir, "baseline", user, rhost) != 0))
			die("the warm-up login was refused: check the policy "
			    "and token");
		for (i = 0; whole_on && i < iters; i++) {
			double t0 = now_us();
			int rc = login(confdir, label, user, rhost);

			t[i] = now_us() - t0;
			if (rc != 0)
				die("a login was refused");
		}
		if (whole_on)
			report("login", label, iters, t, 0);
		/* Held loaded for the module-only figure. */
		if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL)
			die("cannot load the module");
		timed(0, confdir, label, base_mod ? base : NULL,
		    bare_on ? &bare : NULL, alone, user, rhost, iters);
		dlclose(dl);
next:
		snprintf(path, sizeof(path), "%s/%s", confdir, label);
		unlink(path);
		snprintf(path, sizeof(path), "%s/baseline", confdir);
		unlink(path);
	}
	if (bare_on)
		bare_free(&bare);
	getrusage(RUSAGE_SELF, &ru);
	printf("peak_rss_kb=%ld\n", ru.ru_maxrss);
	snprintf(path, sizeof(path), "%s/other", confdir);
	unlink(path);
	rmdir(confdir);
	free(t);
	return 0;
}
