/*
 * junit.c - JUnit XML for "pam-buildkite test --junit": one <testcase>
 * per case, a <failure> for each that failed, in the form Buildkite's
 * test reports (and most CI systems) read.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "junit.h"

/* Text as XML character data or an attribute value. XML 1.0 has no way
 * to write most control characters, so they become '?'; the input is
 * UTF-8 (libyaml checks the cases file), passed through. */
static void
put_xml(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '&')
			fputs("&amp;", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '"')
			fputs("&quot;", f);
		else if (c == '\'')
			fputs("&apos;", f);
		else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			fputc('?', f);
		else
			fputc(c, f);
	}
}

int
junit_write(const char *path, const char *suite, const char *classname,
    const char *file, const struct junit_case *cases, size_t n)
{
	size_t i, failed = 0;
	FILE *f;

	for (i = 0; i < n; i++)
		failed += cases[i].failure != NULL;
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<testsuites tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n"
	    "  <testsuite name=\"", n, failed);
	put_xml(f, suite);
	fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
	    "skipped=\"0\">\n", n, failed);
	for (i = 0; i < n; i++) {
		fputs("    <testcase classname=\"", f);
		put_xml(f, classname);
		fputs("\" name=\"", f);
		put_xml(f, cases[i].name);
		fputs("\" file=\"", f);
		put_xml(f, file);
		fprintf(f, "\" line=\"%u\"", cases[i].line);
		if (cases[i].failure == NULL) {
			fputs("/>\n", f);
			continue;
		}
		fputs(">\n      <failure type=\"policy\" message=\"", f);
		put_xml(f, cases[i].failure);
		fputs("\">", f);
		put_xml(f, cases[i].failure);
		fputs("</failure>\n    </testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	if (ferror(f)) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}
