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
 * module loaded once, as in a backend). Medians are
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

/* Median microseconds of one RS256 verification of the token's own
 * signature, the key parsed once beforehand. */
static double
bare_verify(const char *keyfile, long iters)
{
	const char *dot2 = strrchr(token_text, '.');
	unsigned char *sig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY *pkey;
	double *t, m;
	size_t siglen;
	FILE *f;
	long i;

	if (dot2 == NULL || pb_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig,
	    &siglen) != 0)
		die("token is not a compact JWS");
	if ((f = fopen(keyfile, "r")) == NULL)
		die("cannot open the key");
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL || md == NULL)
		die("cannot read the key");
	if ((t = calloc((size_t)iters, sizeof(*t))) == NULL)
		die("out of memory");
	for (i = 0; i < iters; i++) {
		double t0 = now_us();
		int ok;

		ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
		    pkey) == 1 &&
		    EVP_DigestVerify(md, sig, siglen,
		    (const unsigned char *)token_text,
		    (size_t)(dot2 - token_text)) == 1;
		t[i] = now_us() - t0;
		if (!ok)
			die("the bare verification failed: wrong key?");
		EVP_MD_CTX_reset(md);
	}
	m = median(t, (size_t)iters);
	free(t);
	free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return m;
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
	    "-u ROLE [-h RHOST] [-n ITERS] [-B] LABEL=POLICY...\n"
	    "  -B: skip the bare verification\n"
	    "  -L: module logins only, no libpam reload each time (leak "
	    "runs)\n"
	    "  -F: only logins in a fresh process each (fork, login, exit)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *module = NULL, *keyfile = NULL, *user = NULL;
	const char *rhost = "127.0.0.1";
	char confdir[] = "/tmp/pbbench.XXXXXX", path[4200];
	double bare = 0, *t;
	long iters = 2000, i;
	struct rusage ru;
	void *dl;
	int opt, bare_on = 1, whole_on = 1, fresh_on = 0, a;
	FILE *f;

	while ((opt = getopt(argc, argv, "M:k:t:u:h:n:BLF")) != -1) {
		switch (opt) {
		case 'M': module = optarg; break;
		case 'k': keyfile = optarg; break;
		case 't': token_text = read_token(optarg); break;
		case 'u': user = optarg; break;
		case 'h': rhost = optarg[0] ? optarg : NULL; break;
		case 'n': iters = strtol(optarg, NULL, 10); break;
		case 'B': bare_on = 0; break;
		case 'L': whole_on = 0; break;
		case 'F': fresh_on = 1; bare_on = 0; break;
		default: usage();
		}
	}
	if (module == NULL || token_text == NULL || user == NULL ||
	    optind >= argc || iters < 1 || (bare_on && keyfile == NULL))
		usage();
	if (mkdtemp(confdir) == NULL)
		die("mkdtemp");

	snprintf(path, sizeof(path), "%s/other", confdir);
	if ((f = fopen(path, "w")) == NULL)
		die("cannot write the service files");
	fputs("auth required pam_deny.so\naccount required pam_deny.so\n", f);
	fclose(f);
	if ((t = calloc((size_t)iters, sizeof(*t))) == NULL)
		die("out of memory");

	if (bare_on) {
		bare = bare_verify(keyfile, iters);
		printf("bare_rs256_verify iters=%ld median_us=%.1f\n", iters,
		    bare);
	}
	for (a = optind; a < argc; a++) {
		const char *eq = strchr(argv[a], '=');
		char label[64];

		if (eq == NULL || (size_t)(eq - argv[a]) >= sizeof(label))
			usage();
		snprintf(label, sizeof(label), "%.*s", (int)(eq - argv[a]),
		    argv[a]);
		snprintf(path, sizeof(path), "%s/%s", confdir, label);
		if ((f = fopen(path, "w")) == NULL)
			die("cannot write the service files");
		fprintf(f, "auth required %s config=%s\n"
		    "account required %s config=%s\n", module, eq + 1,
		    module, eq + 1);
		fclose(f);
		if (fresh_on) {
			unsigned char seed[16];

			/* Before any login here, so no child inherits what
			 * one left behind. */
			if (RAND_bytes(seed, sizeof(seed)) != 1)
				die("RAND_bytes");
			for (i = 0; i < iters; i++)
				if (fresh_login(confdir, label, user, rhost,
				    &t[i]) != 0)
					die("a login was refused");
			report("fresh_process", label, iters, t, bare);
			unlink(path);
			continue;
		}
		/* The first login pays for page faults and libpam's own
		 * first-use costs once; a backend pays them too, but they
		 * are not this module's. */
		if (login(confdir, label, user, rhost) != 0)
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
			report("login", label, iters, t, bare);
		/* Held loaded for the module-only figure. */
		if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL)
			die("cannot load the module");
		for (i = 0; i < iters; i++)
			if (module_login(confdir, label, user, rhost,
			    &t[i]) != 0)
				die("a login was refused");
		report("module", label, iters, t, bare);
		dlclose(dl);
		unlink(path);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("peak_rss_kb=%ld\n", ru.ru_maxrss);
	snprintf(path, sizeof(path), "%s/other", confdir);
	unlink(path);
	rmdir(confdir);
	free(t);
	return 0;
}
