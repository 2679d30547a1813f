#!/bin/sh
# test_faults.sh - the module when the host misbehaves: a policy that is
# missing, unreadable, cut short or replaced while logins run, an
# included file that vanishes, a read-only or full JWKS cache directory,
# and no syslog socket. Each fault must fail closed, or degrade as
# doc/keys.md, doc/pam.md and doc/audit.md say, and leave an audit line
# saying why.
# Logins are real PAM conversations: pamtester under pam_wrapper, as
# tests/test_pam.sh runs them.
#
# The read-only and the full cache directories are faults that
# tests/fault_inject.c gives the C library calls (EROFS, ENOSPC), so they
# need no mount and no privileges: the suite runs the same in a container
# or a chroot. As root an unreadable policy is read as nobody. A host's
# /dev/log is hidden in a private mount namespace where one can be made
# (glibc's own syslog(3) then finds no socket), and otherwise the shim
# drops what syslog(3) is given, as glibc does without a socket.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
[ -n "$PAMTESTER" ] && [ -x "$PAMTESTER" ] || skip_all "pamtester not installed"
[ -n "$PAM_WRAPPER_LIB" ] && [ -f "$PAM_WRAPPER_LIB" ] ||
	skip_all "libpam-wrapper not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
[ -x /usr/bin/python3 ] || skip_all "python3 not installed"
command -v timeout >/dev/null || skip_all "timeout (coreutils) not installed"

root=false
[ "$(id -u)" = 0 ] && root=true
if $root; then
	command -v setpriv >/dev/null || skip_all "setpriv (util-linux) not installed"
fi

# Background writers go before lib.sh's cleanups, so nothing is still
# writing when $TMP is removed; INT and TERM end the
# script through the same path.
bg_pids=""
fault_cleanup() {
	for p in $bg_pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	bg_pids=""
}
cleanup="fault_cleanup; $cleanup"
trap 'exit 130' INT
trap 'exit 143' TERM

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
"$MINT" genkey rsa2048 "$TMP/rsa2.pem" || { echo "Bail out! cannot make keys"; exit 1; }
mkdir "$TMP/pam.d" "$TMP/lib"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$TMP/pam.d/other"
# Copies in $TMP, which nobody can read: the build tree may sit in a
# directory only root can enter (a clone under /root).
FAULT_SHIM="$top_builddir/tests/.libs/fault_inject.so"
cp "$MODULE" "$SHIM" "$FAULT_SHIM" "$TMP/lib/" ||
	{ echo "Bail out! cannot copy the module and the shims"; exit 1; }
chmod 755 "$TMP/lib"/*
MODULE="$TMP/lib/$(basename "$MODULE")"
SHIM="$TMP/lib/$(basename "$SHIM")"
FAULT_SHIM="$TMP/lib/$(basename "$FAULT_SHIM")"
svc() { # svc NAME POLICY
	printf 'auth required %s config=%s\naccount required %s config=%s\n' \
		"$MODULE" "$2" "$MODULE" "$2" >"$TMP/pam.d/$1"
}
LOG="$TMP/syslog"
: >"$LOG"
chmod 666 "$LOG"

# pt SERVICE TOKEN ROLE : authenticate + acct_mgmt with TOKEN on stdin;
# sets rc, out and line (the captured audit line). $AS runs pamtester as
# another user; NOSHIM=1 leaves syslog(3) alone; CAPTURE= (empty) has
# the capture shim drop every message; $NS wraps the run (a private mount
# namespace); $FAULT is the fault shim's setting, if any
# (PB_FAULT_ROFS=DIR ...). Bounded: a hang is exit status 124.
AS=""
NS=""
NOSHIM=0
FAULT=""
pt() {
	: >"$LOG"
	if [ "$NOSHIM" = 1 ]; then
		pre="$(san_preload) $PAM_WRAPPER_LIB $FAULT_SHIM"
	else
		pre="$(san_preload) $PAM_WRAPPER_LIB $FAULT_SHIM $SHIM"
	fi
	out=$(printf '%s\n' "$2" | $NS timeout 30 $AS env $FAULT \
		LD_PRELOAD="$pre" PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
		PB_SYSLOG_CAPTURE="${CAPTURE-$LOG}" \
		"$PAMTESTER" -v "$1" "$3" authenticate acct_mgmt 2>&1)
	rc=$?
	line=$(grep 'pam_buildkite(' "$LOG")
}
# The outcome of the last pt as "allow|deny REASON RULE", checked for
# consistency: one audit line, and pamtester succeeded exactly when it
# says allow.
outcome() {
	n=$(grep -c 'pam_buildkite(' "$LOG")
	res=$(printf '%s\n' "$line" | sed -n -E 's/.* result=([a-z]+) reason=([a-z_]+) .*/\1 \2/p')
	rul=$(printf '%s\n' "$line" | sed -n -E 's/.* rule="([^"]*)".*/\1/p')
	if [ "$n" -ne 1 ] || [ -z "$res" ]; then
		echo "broken ($n audit lines, rc $rc)"
	elif { [ $rc -eq 0 ] && [ "${res%% *}" != allow ]; } ||
		{ [ $rc -ne 0 ] && [ "${res%% *}" = allow ]; }; then
		echo "inconsistent (rc $rc, $res)"
	else
		echo "$res $rul"
	fi
}
refused() { [ $rc -ne 0 ] && [ $rc -ne 124 ]; }

# The policy head every policy here shares: static keys unless $1 names
# a jwks: block. jwks: comes before token: so that a prefix of the file
# (3a, 3c) either lacks token: and is refused, or has its jwks: whole: a
# prefix with no jwks: would mean the default url, a fetch from Buildkite.
policy_head() {
	cat <<HEAD
version: 1
${1:-jwks:
  file: $TMP/jwks.json}
token:
  max_lifetime: 1d
  audience: postgres://db.test
  organization: acme-inc
HEAD
}

# Used from here to the end, which takes minutes on a loaded machine:
# a day's lifetime (lib.sh's mint), which every policy here accepts.
good=$(mint --key "$TMP/rsa.pem" --kid rsa-1)
forged=$(mint --key "$TMP/evil.pem" --kid rsa-1)

# ------------------------------------------------ 1. no policy file

svc missing "$TMP/missing.yaml"
pt missing "$good" api_migrator
refused
ok $? "1. a missing policy file refuses the login"
echo "$out" | grep -q "Error in service module"
ok $? "... with PAM_SERVICE_ERR"
audit_has "$LOG" "result=deny reason=config role=api_migrator .*detail=\"policy not loaded: $TMP/missing\\.yaml: cannot open: No such file or directory\""
ok $? "... audited as reason=config naming the path and \"No such file\""

# ------------------------------------------------ 2. unreadable policy

# Root reads any file, so the login runs as an unprivileged user, as
# PostgreSQL's backends do.
if $root; then
	AS="setpriv --reuid=$(id -u nobody) --regid=$(id -g nobody) --clear-groups"
fi
write_policy "$TMP/p000.yaml"
chmod 000 "$TMP/p000.yaml"
svc unreadable "$TMP/p000.yaml"
pt unreadable "$good" api_migrator
refused && echo "$out" | grep -q "Error in service module"
ok $? "2. a policy of mode 000 refuses the login with PAM_SERVICE_ERR"
audit_has "$LOG" "result=deny reason=config .*detail=\"policy not loaded: $TMP/p000\\.yaml: cannot open: Permission denied\""
ok $? "... audited as reason=config naming the path and \"Permission denied\""
mkdir "$TMP/locked"
write_policy "$TMP/locked/policy.yaml"
chmod 644 "$TMP/locked/policy.yaml"
chmod 000 "$TMP/locked"
svc locked "$TMP/locked/policy.yaml"
pt locked "$good" api_migrator
refused && audit_has "$LOG" "reason=config .*detail=\"policy not loaded: $TMP/locked/policy\\.yaml: cannot open: Permission denied\""
ok $? "... and so does a readable policy in a directory the user cannot search"
chmod 755 "$TMP/locked"
pt locked "$good" api_migrator
ok $rc "... which logs in once the directory is searchable (the control)"
AS=""

# ------------------------------------------------ 3. half-written policies

# A: the role swap_r is allowed, swap_admin denied by a deny rule, swap_s
# has no rule. B: swap_r denied by a deny rule, swap_s allowed, swap_admin
# has no rule. Deny rules come first, each with effect: before roles:, so
# that no prefix of either file grants more than the whole file (see the
# note at 3c).
policy_head >"$TMP/A.yaml"
cat >>"$TMP/A.yaml" <<'EOF'
rules:
  - name: A denies admin from ui
    effect: deny
    pipeline: "*"
    source: ui
    roles: [swap_admin]
  - name: A allows r
    pipeline: api
    branch: main
    roles: [swap_r, swap_admin]
EOF
policy_head >"$TMP/B.yaml"
cat >>"$TMP/B.yaml" <<'EOF'
rules:
  - name: B denies r
    effect: deny
    pipeline: api
    roles: [swap_r]
  - name: B allows s
    pipeline: api
    branch: main
    roles:
      - swap_s
      - swap_r
EOF
# Each role's outcome under A and under B.
want() { # want A|B ROLE
	case "$1:$2" in
	A:swap_r) echo "allow ok A allows r" ;;
	A:swap_s) echo "deny no_rule " ;;
	A:swap_admin) echo "deny denied A denies admin from ui" ;;
	B:swap_r) echo "deny denied B denies r" ;;
	B:swap_s) echo "allow ok B allows s" ;;
	B:swap_admin) echo "deny no_rule " ;;
	esac
}
svc swap "$TMP/policy.yaml"
cp "$TMP/A.yaml" "$TMP/policy.yaml"
for r in swap_r swap_s swap_admin; do
	pt swap "$good" $r
	[ "$(outcome)" = "$(want A $r)" ] || diag "A $r: $(outcome)"
done
cp "$TMP/B.yaml" "$TMP/policy.yaml"
bad=0
for r in swap_r swap_s swap_admin; do
	pt swap "$good" $r
	[ "$(outcome)" = "$(want B $r)" ] || { diag "B $r: $(outcome)"; bad=1; }
done
ok $bad "3. policies A and B decide swap_r, swap_s and swap_admin as intended"

# 3a: a file cut in the middle of a rule is refused with file:line:col.
# (A cut in A's allow rule, before its roles, and one inside B's list.)
cut_at() { # cut_at FILE TEXT : FILE up to and including the first TEXT
	awk -v t="$2" '{ i = index($0, t) } i { printf "%s", substr($0, 1, i + length(t) - 1); exit } { print }' "$1"
}
cut_at "$TMP/A.yaml" "    branch: ma" >"$TMP/policy.yaml"
pt swap "$good" swap_r
refused && echo "$out" | grep -q "Error in service module"
ok $? "3a. a policy cut inside a rule refuses the login with PAM_SERVICE_ERR"
audit_has "$LOG" "reason=config .*detail=\"policy not loaded: $TMP/policy\\.yaml:[0-9]+:[0-9]+: allow rule .*A allows r.* has no roles"
ok $? "... audited as reason=config with file:line:col ($(echo "$line" | sed 's/.*detail=//'))"
cut_at "$TMP/B.yaml" "roles: [swap" >"$TMP/policy.yaml"
pt swap "$good" swap_admin
refused && audit_has "$LOG" "reason=config .*detail=\"policy not loaded: $TMP/policy\\.yaml:[0-9]+:[0-9]+: "
ok $? "... and so does one cut inside a flow list ($(echo "$line" | sed 's/.*detail=//'))"
: >"$TMP/policy.yaml"
pt swap "$good" swap_r
refused && audit_has "$LOG" "reason=config .*policy\\.yaml:1:1: the policy is empty"
ok $? "... and an empty file (what \"cat new > policy\" leaves first) too"

# Every line-boundary prefix of A and of B: a prefix is either refused
# (a broken policy, no rule, or a deny rule cut before its roles:, which
# then denies every role) or allows exactly what the whole file allows.
bad=0
for v in A B; do
	nl=$(wc -l <"$TMP/$v.yaml")
	k=0
	while [ $k -lt "$nl" ]; do
		head -n $k "$TMP/$v.yaml" >"$TMP/policy.yaml"
		for r in swap_r swap_s swap_admin; do
			pt swap "$good" $r
			o=$(outcome)
			case "$o" in
			"$(want $v $r)") ;;
			"deny "*) ;;
			*) diag "$v cut after $k lines, $r: $o"; bad=1 ;;
			esac
		done
		k=$((k + 1))
	done
done
ok $bad "3a. no line-boundary prefix of A or B allows what the whole file does not"

# swap_loop MODE : rewrites policy.yaml with A and B alternately until
# killed; MODE atomic renames a complete copy over it (what an admin
# should do), MODE inplace truncates it and writes it line by line (what
# "cat new > policy" or an editor without a backup file does).
swap_loop() {
	i=0
	while :; do
		for v in A B; do
			if [ "$1" = atomic ]; then
				cp "$TMP/$v.yaml" "$TMP/policy.tmp"
				mv -f "$TMP/policy.tmp" "$TMP/policy.yaml"
			else
				n=0
				while IFS= read -r l; do
					printf '%s\n' "$l"
					n=$((n + 1))
					[ $((n % 6)) -eq 0 ] && sleep 0.002
				done <"$TMP/$v.yaml" >"$TMP/policy.yaml"
			fi
			i=$((i + 1))
			echo $i >"$TMP/swaps"
		done
	done
}
stop_loop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	bg_pids=$(echo "$bg_pids" | sed "s/\\b$1\\b//")
}
roles="swap_r swap_s swap_admin"

# 3b: atomic replacement while logins run: every login sees A or B whole.
cp "$TMP/A.yaml" "$TMP/policy.yaml"
echo 0 >"$TMP/swaps"
swap_loop atomic &
loop=$!
bg_pids="$bg_pids $loop"
bad=0 seen_a=0 seen_b=0 i=0
while [ $i -lt 200 ]; do
	set -- $roles
	shift $((i % 3))
	r=$1
	pt swap "$good" "$r"
	o=$(outcome)
	if [ "$o" = "$(want A "$r")" ] && [ "$o" = "$(want B "$r")" ]; then
		:
	elif [ "$o" = "$(want A "$r")" ]; then
		seen_a=$((seen_a + 1))
	elif [ "$o" = "$(want B "$r")" ]; then
		seen_b=$((seen_b + 1))
	else
		diag "3b login $i as $r: $o (${line#*detail=})"
		bad=1
	fi
	i=$((i + 1))
done
stop_loop $loop
diag "3b: $(cat "$TMP/swaps") renames; $seen_a logins decided by A, $seen_b by B"
ok $bad "3b. 200 logins while A and B are renamed into place: each is A's or B's decision, never config"
[ $seen_a -gt 0 ] && [ $seen_b -gt 0 ]
ok $? "... and both versions decided some (the race was exercised)"

# 3c: in-place rewrites while logins run. A reader may see an empty file,
# any prefix, or a file that changes under it: each login must be A's or
# B's decision, or refused as config (or no_rule, for a prefix holding
# none of the rules for the role) - never an allow neither file grants.
#
# The module cannot tell a file cut at a line boundary from a whole one:
# such a prefix is a valid, smaller policy. It never grants more than the
# whole file only because deny rules come before the allow rules they
# restrict, and effect: deny before roles:. Admins must replace the
# policy atomically (write a temporary file, then rename it).
echo 0 >"$TMP/swaps"
swap_loop inplace &
loop=$!
bg_pids="$bg_pids $loop"
bad=0 seen_a=0 seen_b=0 seen_cfg=0 seen_part=0 i=0
while [ $i -lt 200 ]; do
	set -- $roles
	shift $((i % 3))
	r=$1
	pt swap "$good" "$r"
	o=$(outcome)
	case "$o" in
	"deny config "*)
		seen_cfg=$((seen_cfg + 1))
		[ $seen_cfg -eq 1 ] && diag "3c: e.g. ${line#*detail=}" ;;
	"$(want A "$r")")
		seen_a=$((seen_a + 1)) ;;
	"$(want B "$r")")
		seen_b=$((seen_b + 1)) ;;
	"deny "*)
		# no rule yet for the role, or a deny rule cut before
		# its roles: (denying every role)
		seen_part=$((seen_part + 1)) ;;
	*)
		diag "3c login $i as $r: $o"
		bad=1 ;;
	esac
	i=$((i + 1))
done
stop_loop $loop
diag "3c: $(cat "$TMP/swaps") rewrites; A $seen_a, B $seen_b, config $seen_cfg, other denials from a prefix $seen_part"
ok $bad "3c. 200 logins while A and B are rewritten in place: a correct decision or config, never a wrong allow"
[ $seen_a -gt 0 ] && [ $seen_b -gt 0 ]
ok $? "... and both versions decided some"

# ------------------------------------------------ 4. vanishing includes

mkdir "$TMP/inc"
policy_head >"$TMP/incl.yaml"
cat >>"$TMP/incl.yaml" <<'EOF'
include: inc/*.yaml
rules:
  - name: main allows reader
    pipeline: "*"
    roles: [inc_reader]
EOF
cat >"$TMP/base.src" <<'EOF'
rules:
  - name: base allows base
    pipeline: "*"
    roles: [inc_base]
EOF
cat >"$TMP/extra.src" <<'EOF'
rules:
  - name: extra allows migrator
    pipeline: api
    branch: main
    roles: [inc_migrator]
EOF
cp "$TMP/base.src" "$TMP/inc/00-base.yaml"
cp "$TMP/extra.src" "$TMP/inc/50-extra.yaml"
svc incl "$TMP/incl.yaml"
pt incl "$good" inc_migrator
ok $rc "4. a rule from an included file logs in"
audit_has "$LOG" 'result=allow reason=ok role=inc_migrator .*rule="extra allows migrator"'
ok $? "... audited with the included rule's name"
rm "$TMP/inc/50-extra.yaml"
pt incl "$good" inc_migrator
refused && audit_has "$LOG" 'result=deny reason=no_rule role=inc_migrator '
ok $? "... with that file deleted, the login is refused no_rule"
pt incl "$good" inc_base
ok $rc "... while the rules of the remaining include still log in"
rm "$TMP/inc/00-base.yaml"
pt incl "$good" inc_reader
refused && echo "$out" | grep -q "Error in service module"
ok $? "... with no file left, the glob matches nothing: the whole policy fails closed"
audit_has "$LOG" "reason=config .*detail=\"policy not loaded: $TMP/incl\\.yaml:[0-9]+:[0-9]+: include \\\\\"$TMP/inc/\\*\\.yaml\\\\\" matches no file"
ok $? "... audited as reason=config: the include matches no file, with file:line:col"
rmdir "$TMP/inc"
pt incl "$good" inc_reader
refused && audit_has "$LOG" "reason=config .*detail=\"policy not loaded: $TMP/incl\\.yaml:[0-9]+:[0-9]+: include \\\\\"$TMP/inc/\\*\\.yaml\\\\\": directory \\\\\"$TMP/inc\\\\\": No such file or directory"
ok $? "... and so does a missing include directory, named with the error"
mkdir "$TMP/inc"
cp "$TMP/base.src" "$TMP/inc/00-base.yaml"
pt incl "$good" inc_reader
ok $rc "... which logs in again once a file is back"

# The extra file deleted and recreated (non-atomically) in a loop while
# logins run. inc_migrator: allowed by the extra rule, or refused no_rule
# (file absent or still empty), or config (the file vanished between the
# glob and the open, or was read half-written). inc_base: allowed, or
# config for the same reasons. Never another allow.
( while :; do
	rm -f "$TMP/inc/50-extra.yaml"
	sleep 0.003
	cp "$TMP/extra.src" "$TMP/inc/50-extra.yaml"
	sleep 0.003
done ) &
loop=$!
bg_pids="$bg_pids $loop"
bad=0 seen_allow=0 seen_none=0 seen_cfg=0 i=0
while [ $i -lt 150 ]; do
	if [ $((i % 2)) -eq 0 ]; then r=inc_migrator; else r=inc_base; fi
	pt incl "$good" $r
	o=$(outcome)
	case "$r:$o" in
	"inc_migrator:allow ok extra allows migrator")
		seen_allow=$((seen_allow + 1)) ;;
	"inc_migrator:deny no_rule ")
		seen_none=$((seen_none + 1)) ;;
	"inc_base:allow ok base allows base") ;;
	*":deny config "*)
		seen_cfg=$((seen_cfg + 1))
		[ $seen_cfg -eq 1 ] && diag "4: e.g. ${line#*detail=}"
		echo "$line" | grep -q -E 'detail="policy not loaded: .*(50-extra\.yaml|incl\.yaml:[0-9]+:[0-9]+)' ||
			{ diag "4 login $i as $r: config without cause: $line"; bad=1; } ;;
	*)
		diag "4 login $i as $r: $o"
		bad=1 ;;
	esac
	i=$((i + 1))
done
stop_loop $loop
diag "4: inc_migrator allowed $seen_allow, no_rule $seen_none; config $seen_cfg"
ok $bad "4. 150 logins while an include is deleted and recreated: never a wrong allow, every config names the file"
[ $seen_allow -gt 0 ] && [ $seen_none -gt 0 ]
ok $? "... and both states were seen"

# ------------------------------------------------ JWKS from a url

mkdir -p "$TMP/issuer"
cp "$TMP/jwks.json" "$TMP/issuer/jwks.json"
jwks_server_start "$TMP/issuer" || { echo "Bail out! no JWKS server"; exit 1; }
url_policy() { # url_policy FILE CACHEDIR
	policy_head "jwks:
  url: $JWKS_URL
  ca_file: $TMP/issuer/ca.pem
  cache: $2
  refresh: 1h
  max_stale: 1d
  timeout: 3s" >"$1"
	cat >>"$1" <<'EOF'
rules:
  - name: api migrations from main
    pipeline: api
    branch: main
    roles: [api_migrator]
EOF
}
cache_file() { ls "$1"/jwks-*.json 2>/dev/null | head -1; }
age_cache() { # age_cache DIR SECONDS
	f=$(cache_file "$1")
	sed -i "s/\"fetched_at\": *[0-9]*/\"fetched_at\":$(($(date +%s) - $2))/" "$f"
}
reqs() { requests "$TMP/issuer"; }

# ------------------------------------------------ 5. read-only cache

RO="$TMP/rocache"
mkdir "$RO"
# make_ro / make_rw: the directory as on a file system mounted read-only
# (EROFS from every call that would change it, root's included).
make_ro() { FAULT="PB_FAULT_ROFS=$RO"; }
make_rw() { FAULT=""; }
rofs="Read-only file system"
url_policy "$TMP/ro.yaml" "$RO"
svc ro "$TMP/ro.yaml"
pt ro "$good" api_migrator
ok $rc "5. with jwks.url, the first login fetches the keys and logs in"
n0=$(reqs)
f=$(cache_file "$RO")
[ "$n0" -eq 1 ] && [ -n "$f" ] && audit_has "$LOG" 'detail="keys: cache refreshed \(2 keys\)"'
ok $? "... and writes the cache (1 request, audited as cache refreshed)"
make_ro
pt ro "$good" api_migrator
ok $rc "5. a fresh cache in a read-only directory logs in"
[ "$(reqs)" -eq "$n0" ] && ! echo "$line" | grep -q 'detail='
ok $? "... with no request to the issuer and nothing to report"
pt ro "$forged" api_migrator
refused && audit_has "$LOG" 'reason=signature'
ok $? "... and still refuses a forged token"

# Stale (2 h, within max_stale 1 d) and read-only: the module cannot
# create or open the lock file, so it does not fetch (every backend would,
# with no lock to take turns) and uses the stale keys read-only.
make_rw
age_cache "$RO" 7200
make_ro
cks=$(cksum <"$f")
pt ro "$good" api_migrator
ok $rc "5. a stale cache in a read-only directory still logs in (max_stale)"
[ "$(reqs)" -eq "$n0" ]
ok $? "... without fetching"
audit_has "$LOG" "result=allow reason=ok .*detail=\"keys: cannot open lock $RO/jwks-[0-9a-f]+\\.lock: $rofs; cache stale \\(age 7[0-9]{3}s\\), used read-only\""
ok $? "... audited: the lock cannot be opened ($rofs), the stale cache used read-only"
# A new signing key while the cache cannot be written: the module will
# not refetch without the lock's stamp (no bound on refetches), so a
# token of a key the stale cache lacks is refused until max_stale.
"$MINT" jwks "$TMP/rsa.pem" rsa-1 "$TMP/ec.pem" ec-1 "$TMP/rsa2.pem" rsa-2 \
	>"$TMP/issuer/jwks.json"
rotated=$(mint --key "$TMP/rsa2.pem" --kid rsa-2)
pt ro "$rotated" api_migrator
refused && echo "$out" | grep -q "Authentication failure"
ok $? "5. a token of a new key is refused while the cache cannot be written"
audit_has "$LOG" "result=deny reason=unknown_key .*detail=\".*cannot open lock $RO/jwks-[0-9a-f]+\\.lock: $rofs; no refetch"
ok $? "... audited as unknown_key: no refetch without the lock"
[ "$(reqs)" -eq "$n0" ] && [ "$(cksum <"$f")" = "$cks" ]
ok $? "... with no request, the cache file unchanged"
# Too stale (2 d): keys fetched for this login only, kept in memory.
make_rw
age_cache "$RO" 172800
make_ro
cks=$(cksum <"$f")
pt ro "$rotated" api_migrator
ok $rc "5. a cache past max_stale in a read-only directory: the keys are fetched for this login"
[ "$(reqs)" -eq $((n0 + 1)) ] && [ "$(cksum <"$f")" = "$cks" ]
ok $? "... one request, the cache file left as it was"
audit_has "$LOG" "result=allow reason=ok .*detail=\"keys: cannot open lock $RO/jwks-[0-9a-f]+\\.lock: $rofs; cache too stale \\(age 172[0-9]{3}s, max_stale 86400s\\); fetched 3 keys for this login only \\(kept in memory\\)\""
ok $? "... audited: lock error, cache too stale, keys fetched for this login only"
make_rw
"$MINT" jwks "$TMP/rsa.pem" rsa-1 "$TMP/ec.pem" ec-1 >"$TMP/issuer/jwks.json"

# ------------------------------------------------ 6. no syslog socket

# syslog(3) reports nothing to its caller: with no /dev/log the message
# is dropped (no LOG_CONS here, so nothing reaches a console). The login
# is decided as usual, not refused: a refused login would turn a logging
# outage into a database outage, and the module cannot know it happened
# anyway. pam_unix and sshd behave the same; audit delivery is the
# syslog daemon's to monitor.
cp "$TMP/A.yaml" "$TMP/policy.yaml"
pt swap "$good" swap_r
ref_out=$out
NOSHIM=1
# A host with a syslog daemon: hide its socket in a private mount
# namespace (connect(2) on /dev/null is refused) where one can be made;
# where not (a container, a chroot, another user), the fault shim drops
# the messages instead.
nsrun() { unshare -m -- sh -c 'mount --bind /dev/null /dev/log && exec "$0" "$@"' "$@"; }
if [ ! -e /dev/log ]; then
	sh -c '[ ! -S /dev/log ]'
	ok $? "6. no syslog socket where pamtester runs"
elif $root && command -v unshare >/dev/null && nsrun true 2>/dev/null; then
	NS=nsrun
	$NS sh -c '[ ! -S /dev/log ]'
	ok $? "6. no syslog socket where pamtester runs (a private mount namespace)"
else
	NOSHIM=0
	CAPTURE=""
	[ -f "$SHIM" ]
	ok $? "6. no syslog socket where pamtester runs (no namespace here: the capture shim, with nowhere to capture to, drops syslog(3)'s messages as glibc does without /dev/log)"
fi
{
	pt swap "$good" swap_r
	ok $rc "... an allowed token still logs in"
	[ -z "$line" ]
	ok $? "... and nothing reached the capture file"
	[ "$out" = "$ref_out" ]
	ok $? "... and the client sees exactly what it sees with syslog working"
	pt swap "$forged" swap_r
	refused && echo "$out" | grep -q "Authentication failure"
	ok $? "... a forged token is still refused (PAM_AUTH_ERR), without hanging"
	echo "$out" | grep -q -i -E 'pam_buildkite|result=|sanitizer|runtime error'
	ok "$([ $? -ne 0 ]; echo $?)" "... and nothing of the audit event reaches the client"
	pt missing "$good" swap_r
	refused && echo "$out" | grep -q "Error in service module"
	ok $? "... a missing policy is still PAM_SERVICE_ERR"
	NS=""
	unset CAPTURE
}
NOSHIM=0

# ------------------------------------------------ 7. disk full

{
	FULL="$TMP/fullcache"
	mkdir "$FULL"
	url_policy "$TMP/full.yaml" "$FULL"
	svc full "$TMP/full.yaml"
	pt full "$good" api_migrator
	f=$(cache_file "$FULL")
	[ $rc -eq 0 ] && [ -n "$f" ]
	ok $? "7. a login fills the cache"
	age_cache "$FULL" 7200
	# The file system is full from here: no block left for data.
	FAULT="PB_FAULT_NOSPACE=$FULL"
	! env LD_PRELOAD="$(san_preload) $FAULT_SHIM" $FAULT \
		dd if=/dev/zero of="$FULL/filler" bs=1 count=1 2>/dev/null
	ok $? "... which is then full (a 1-byte write fails)"
	cks=$(cksum <"$f")
	n0=$(reqs)
	pt full "$good" api_migrator
	ok $rc "7. a stale cache on a full disk: the login succeeds"
	[ "$(reqs)" -eq $((n0 + 1)) ]
	ok $? "... on keys it fetched (one request)"
	audit_has "$LOG" "result=allow reason=ok .*detail=\"keys: fetched 2 keys but could not update the cache: $FULL/jwks-[0-9a-f]+\\.json: cannot write: No space left on device\""
	ok $? "... audited: the cache could not be written, ENOSPC"
	[ "$(ls -A "$FULL" | grep -c -v -E '^(jwks-[0-9a-f]+\.(json|lock|attempt)|filler)$')" -eq 0 ]
	ok $? "... no temporary file left in the cache directory ($(ls -A "$FULL" | tr '\n' ' '))"
	[ "$(cksum <"$f")" = "$cks" ]
	ok $? "... and the old cache file is intact"
	rm -f "$FULL/filler"
	FAULT=""
	pt full "$good" api_migrator
	[ $rc -eq 0 ] && audit_has "$LOG" 'detail="keys: cache refreshed \(2 keys\)"' &&
		[ "$(cksum <"$f")" != "$cks" ]
	ok $? "... and once there is room, the next login refreshes the cache"
}

done_testing
