/*
 * syslog_capture.c - LD_PRELOAD shim that records syslog(3) calls.
 *
 * Test machines (and CI containers) often have no syslog daemon. Preloaded
 * into pamtester or a PostgreSQL server, this replaces syslog(3) so that
 * every message, with the facility and level the caller chose, is appended
 * as one line "facility.level <PRI> message" to the file named by
 * $PB_SYSLOG_CAPTURE. With that variable empty or unset the messages are
 * dropped, as glibc drops them on a host without /dev/log, which is how
 * the fault tests make a host without a syslog socket without a mount
 * namespace. Test code only; never installed.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

void syslog(int pri, const char *fmt, ...);
void vsyslog(int pri, const char *fmt, va_list ap);
void __syslog_chk(int pri, int flag, const char *fmt, ...);
void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap);
void openlog(const char *ident, int option, int facility);
void closelog(void);

static const char *
facility_name(int fac)
{
	static const char *const names[] = {
		"kern", "user", "mail", "daemon", "auth", "syslog", "lpr",
		"news", "uucp", "cron", "authpriv", "ftp", "ntp", "security",
		"console", "cron2", "local0", "local1", "local2", "local3",
		"local4", "local5", "local6", "local7",
	};

	if (fac < 0 || fac >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[fac];
}

static const char *
level_name(int level)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "err", "warning", "notice", "info",
		"debug",
	};

	return names[level & 7];
}

void
vsyslog(int pri, const char *fmt, va_list ap)
{
	const char *path = getenv("PB_SYSLOG_CAPTURE");
	char msg[16384], line[16500];
	int fac, fd, n;

	if (path == NULL || path[0] == '\0')
		return;
	/* Like glibc: no facility in pri means the default, LOG_USER. */
	fac = (pri & LOG_FACMASK) ? (pri & LOG_FACMASK) : LOG_USER;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = snprintf(line, sizeof(line), "%s.%s <%d> %s\n",
	    facility_name(fac >> 3), level_name(pri), fac | (pri & 7), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	/* One write per line: O_APPEND keeps concurrent backends' lines
	 * whole. */
	if (write(fd, line, (size_t)n) < 0)
		(void)0;
	close(fd);
}

void
syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(pri, fmt, ap);
	va_end(ap);
}

void
__vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	vsyslog(pri, fmt, ap);
}

void
__syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	vsyslog(pri, fmt, ap);
	va_end(ap);
}

void
openlog(const char *ident, int option, int facility)
{
	(void)ident;
	(void)option;
	(void)facility;
}

void
closelog(void)
{
}
