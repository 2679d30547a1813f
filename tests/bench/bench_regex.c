/*
 * bench_regex.c - what each regex of the pathological corpus
 * (tests/bench/regex_corpus.txt) costs a login: compiling it, then
 * matching it against the worst of its adversarial 8 KiB values
 * (tests/regex_values.h), with the engine the module used before (glibc's
 * regcomp and regexec of "^(" RE ")$" with REG_EXTENDED) and the one it
 * uses now (pb_regex_build and pb_regex_exec: PCRE2 within set limits).
 *
 * glibc runs in a child process with an alarm and an address-space
 * limit, so a regex that would take minutes or gigabytes is reported as
 * "> N s" or "out of memory" instead of stopping the bench. PCRE2 runs
 * here: each figure is the best of three runs, so a scheduling hiccup
 * does not make a regex look costly. Benchmark code only; never part of
 * make check (tests/test_regex_bounds.c asserts the outcomes, untimed).
 */
#include "config.h"

#include <locale.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy_int.h"
#include "../regex_values.h"

/* What one engine made of one regex. */
struct outcome {
	double ms;              /* compile + worst match, when done */
	int state;              /* OUT_... */
	size_t undecided;       /* values PCRE2 could not decide */
	char why[96];           /* OUT_REFUSED: the engine's message */
};

enum { OUT_DONE, OUT_REFUSED, OUT_TIMEOUT, OUT_OOM, OUT_CRASH };

static unsigned alarm_s = 20;
static unsigned long limit_mb = 2048;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* In the child: glibc's compile and worst match, written to fd. */
static void
glibc_child(const char *re, const struct rv_set *vals, int fd)
{
	struct rlimit rl = { limit_mb << 20, limit_mb << 20 };
	struct outcome o;
	regmatch_t m;
	regex_t rx;
	char *wrapped;
	double t0, worst = 0;
	size_t i;
	int rc;

	memset(&o, 0, sizeof(o));
	setrlimit(RLIMIT_AS, &rl);
	alarm(alarm_s);
	if ((wrapped = malloc(strlen(re) + 5)) == NULL)
		_exit(3);
	sprintf(wrapped, "^(%s)$", re);
	t0 = now_ms();
	rc = regcomp(&rx, wrapped, REG_EXTENDED);
	o.ms = now_ms() - t0;
	if (rc != 0) {
		o.state = rc == REG_ESPACE ? OUT_OOM : OUT_REFUSED;
		regerror(rc, &rx, o.why, sizeof(o.why));
	} else {
		for (i = 0; i < vals->n && o.state == OUT_DONE; i++) {
			t0 = now_ms();
			rc = regexec(&rx, vals->v[i], 1, &m, 0);
			t0 = now_ms() - t0;
			if (t0 > worst)
				worst = t0;
			if (rc == REG_ESPACE)
				o.state = OUT_OOM;
		}
		o.ms += worst;
	}
	if (write(fd, &o, sizeof(o)) != (ssize_t)sizeof(o))
		_exit(3);
	_exit(0);
}

static void
glibc_run(const char *re, const struct rv_set *vals, struct outcome *o)
{
	int p[2], status;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	fflush(stdout);
	if (pipe(p) != 0 || (pid = fork()) < 0) {
		perror("bench_regex: fork");
		exit(2);
	}
	if (pid == 0) {
		close(p[0]);
		glibc_child(re, vals, p[1]);
	}
	close(p[1]);
	if (read(p[0], o, sizeof(*o)) != (ssize_t)sizeof(*o))
		o->state = OUT_CRASH;
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0)
		status = 0;
	if (o->state == OUT_CRASH && WIFSIGNALED(status))
		o->state = WTERMSIG(status) == SIGALRM ? OUT_TIMEOUT :
		    OUT_OOM;    /* a failed allocation glibc cannot report */
}

static void
pcre2_run(const char *re, const struct rv_set *vals, struct outcome *o)
{
	struct pb_regex *rx = NULL;
	char msg[512];
	double t0, t, best, worst = 0;
	size_t i;
	int k, rc = 0;

	memset(o, 0, sizeof(*o));
	best = 1e30;
	for (k = 0; k < 3; k++) {
		pb_regex_free(rx);
		t0 = now_ms();
		rc = pb_regex_build(re, strlen(re), &rx, msg, sizeof(msg));
		t = now_ms() - t0;
		best = t < best ? t : best;
	}
	o->ms = best;
	if (rc != 0) {
		o->state = OUT_REFUSED;
		snprintf(o->why, sizeof(o->why), "%.95s", msg);
		return;
	}
	for (i = 0; i < vals->n; i++) {
		best = 1e30;
		for (k = 0; k < 3; k++) {
			t0 = now_ms();
			rc = pb_regex_exec(rx, vals->v[i], RV_LEN, msg,
			    sizeof(msg));
			t = now_ms() - t0;
			best = t < best ? t : best;
		}
		if (rc < 0)
			o->undecided++;
		worst = best > worst ? best : worst;
	}
	o->ms += worst;
	pb_regex_free(rx);
}

static const char *
show(const struct outcome *o, char *buf, size_t len)
{
	switch (o->state) {
	case OUT_DONE:
		if (o->undecided > 0)
			snprintf(buf, len, "%.3f ms (%zu undecided)", o->ms,
			    o->undecided);
		else
			snprintf(buf, len, "%.3f ms", o->ms);
		break;
	case OUT_REFUSED:
		snprintf(buf, len, "refused %.3f ms", o->ms);
		break;
	case OUT_TIMEOUT:
		snprintf(buf, len, "> %u s", alarm_s);
		break;
	case OUT_OOM:
		snprintf(buf, len, "out of memory (%lu MB)", limit_mb);
		break;
	default:
		snprintf(buf, len, "crashed");
	}
	return buf;
}

/* The worst outcome so far: a cut-off run beats any time. */
static void
worse(struct outcome *w, const struct outcome *o)
{
	int rank_o = o->state == OUT_DONE || o->state == OUT_REFUSED ? 0 : 1,
	    rank_w = w->state == OUT_DONE || w->state == OUT_REFUSED ? 0 : 1;

	if (rank_o > rank_w || (rank_o == rank_w && o->ms > w->ms))
		*w = *o;
}

int
main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir"), *locale = "C.UTF-8";
	struct outcome g, p, gw, pw;
	struct rv_set *vals = malloc(sizeof(*vals));
	char path[4096], b1[64], b2[64], **corpus;
	size_t n, i;
	int c;

	while ((c = getopt(argc, argv, "t:m:l:")) != -1) {
		if (c == 't')
			alarm_s = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'm')
			limit_mb = strtoul(optarg, NULL, 10);
		else if (c == 'l')
			locale = optarg;
		else {
			fprintf(stderr, "usage: bench_regex [-t seconds] "
			    "[-m megabytes] [-l locale] [corpus]\n");
			return 2;
		}
	}
	if (optind < argc)
		snprintf(path, sizeof(path), "%s", argv[optind]);
	else
		snprintf(path, sizeof(path), "%s/tests/bench/regex_corpus.txt",
		    top != NULL && top[0] != '\0' ? top : ".");
	if (vals == NULL || (corpus = rv_corpus(path, &n)) == NULL) {
		fprintf(stderr, "bench_regex: cannot read %s\n", path);
		return 2;
	}
	if (setlocale(LC_ALL, locale) == NULL)
		fprintf(stderr, "bench_regex: no locale %s, glibc runs in C\n",
		    locale);
	printf("%zu regexes, values of %d bytes; glibc (%s locale) cut at "
	    "%u s or %lu MB\n", n, RV_LEN, locale, alarm_s, limit_mb);
	printf("compile + worst match per regex:\n");
	printf("%-44s %-24s %s\n", "regex", "glibc (before)",
	    "pcre2 (after)");
	memset(&gw, 0, sizeof(gw));
	memset(&pw, 0, sizeof(pw));
	for (i = 0; i < n; i++) {
		rv_make(corpus[i], vals);
		glibc_run(corpus[i], vals, &g);
		pcre2_run(corpus[i], vals, &p);
		printf("%-44.44s %-24s %s\n", corpus[i], show(&g, b1,
		    sizeof(b1)), show(&p, b2, sizeof(b2)));
		worse(&gw, &g);
		worse(&pw, &p);
		free(corpus[i]);
	}
	printf("worst per login: glibc %s, pcre2 %s\n", show(&gw, b1,
	    sizeof(b1)), show(&pw, b2, sizeof(b2)));
	free(corpus);
	free(vals);
	return 0;
}
