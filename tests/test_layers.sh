#!/bin/sh
# test_layers.sh - the tree is the architecture: its folders are layers,
# from the bottom common/, policy/, pam_buildkite/ up to the extension
# pg_buildkite/ and the tool/. A file
# sees only its own folder and the layers below it, in what it includes
# and in what it calls; no two files call each other, however
# indirectly; no source file outgrows what a reader holds in mind.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

command -v nm >/dev/null || skip_all "nm not installed"
command -v tsort >/dev/null || skip_all "tsort not installed"

LAYERS="common policy pam_buildkite pg_buildkite tool"
MAX_LINES=600

layer() { # layer FOLDER: its rank, bottom first; 9 for anything else
	n=0
	for l in $LAYERS; do
		[ "$1" = "$l" ] && { echo $n; return; }
		n=$((n + 1))
	done
	echo 9
}

# Which folder holds the project header NAME, "" when none does.
header_folder() {
	for l in $LAYERS; do
		[ -f "$top_srcdir/$l/$1" ] && { echo "$l"; return; }
	done
}

# 1. Includes: a file includes headers of its own folder or a lower one,
# and the policy's private headers only inside policy/.
bad=""
for l in $LAYERS; do
	for f in "$top_srcdir/$l"/*.[ch]; do
		for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
			[ "$h" = config.h ] && continue
			hf=$(header_folder "$h")
			# the extension's server headers are PostgreSQL's
			[ -z "$hf" ] && [ "$l" = pg_buildkite ] &&
				[ -f "$PG_INCLUDEDIR_SERVER/$h" ] && continue
			if [ -z "$hf" ]; then
				bad="$bad $l/${f##*/}->$h(missing)"
			elif [ "$(layer "$hf")" -gt "$(layer "$l")" ]; then
				bad="$bad $l/${f##*/}->$hf/$h"
			fi
		done
	done
done
ok "$([ -z "$bad" ]; echo $?)" \
	"every include is of the file's own layer or a lower one (expected none upward, got:${bad:- none})"

private=$(grep -l -E '^#include "(policy_int|policy_load|policy_snapshot)\.h"' \
	"$top_srcdir"/common/*.[ch] "$top_srcdir"/pam_buildkite/*.[ch] \
	"$top_srcdir"/tool/*.[ch] "$top_srcdir"/pg_buildkite/*.[ch] 2>/dev/null | sed "s|^$top_srcdir/||" | tr '\n' ' ')
ok "$([ -z "$private" ]; echo $?)" \
	"the policy's private headers are included only inside policy/ (expected none outside, got: ${private:-none})"

# 2. Calls, from the built objects: who defines each symbol, who uses it.
objs=$(cd "$top_builddir" && find $LAYERS \
	-name '*.o' \( -path '*/.libs/*' -o -path 'tool/*' \) 2>/dev/null | sort)
[ -n "$objs" ] || skip_all "objects not built"
# "folder/file" for an object: tool/pam_buildkite-cmd_check.o is
# tool/cmd_check, policy/.libs/libpbpolicy_la-policy_yaml.o policy/policy_yaml
name_of() {
	printf '%s\n' "$1" | sed -E 's|/\.libs/|/|; s|/[a-z_]*la-|/|; s|/pam_buildkite-|/|; s|\.o$||'
}
defs="$TMP/defs"
uses="$TMP/uses"
: >"$defs"
: >"$uses"
for o in $objs; do
	n=$(name_of "$o")
	# an object whose source is gone (a stale build tree) is no file
	[ -f "$top_srcdir/$n.c" ] || continue
	nm --defined-only "$top_builddir/$o" |
		awk -v n="$n" '$2 ~ /^[TDBRGSVW]$/ {print $3, n}' >>"$defs"
	nm --undefined-only "$top_builddir/$o" |
		awk -v n="$n" '{print $2, n}' >>"$uses"
done
sort -u -o "$defs" "$defs"
sort -u -o "$uses" "$uses"
# "user definer" for each call across files
join "$uses" "$defs" | awk '$2 != $3 {print $2, $3}' | sort -u >"$TMP/edges"
nfiles=$(awk '{print $2}' "$defs" | sort -u | wc -l)
nedges=$(wc -l <"$TMP/edges")
ok "$([ "$nedges" -gt "$nfiles" ]; echo $?)" \
	"the call graph was read ($nfiles files, $nedges calls between them; expected more calls than files)"

up=$(while read -r user def; do
	if [ "$(layer "${def%%/*}")" -gt "$(layer "${user%%/*}")" ]; then
		printf ' %s->%s' "$user" "$def"
	fi
done <"$TMP/edges")
ok "$([ -z "$up" ]; echo $?)" \
	"no file calls into a higher layer (expected none, got:${up:- none})"

# tsort names a loop on stderr when the graph has one.
loops=$( { awk '{print $1, $1; print $0}' "$TMP/edges" | tsort >/dev/null; } 2>&1 |
	sed 's/^tsort: //' | tr '\n' ' ')
ok "$([ -z "$loops" ]; echo $?)" \
	"no cycle between files (expected none, got: ${loops:-none})"

# 3. Size.
big=$(for l in $LAYERS; do
	wc -l "$top_srcdir/$l"/*.[ch] | awk -v m=$MAX_LINES -v l=$l \
		'$2 != "total" && $1 > m {n = $2; sub(".*/", "", n); printf " %s/%s(%d)", l, n, $1}'
done)
ok "$([ -z "$big" ]; echo $?)" \
	"no source file over $MAX_LINES lines (expected none, got:${big:- none})"

done_testing
