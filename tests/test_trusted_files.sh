#!/bin/sh
# test_trusted_files.sh - every file a login reads is refused when anyone
# but root and the module's user could write it or put another in its
# place: jwks.file, the policy and its includes, the snapshot, the replay
# store, the JWKS cache and jwks.ca_file. Real pamtester logins (as in
# test_pam.sh), then real PostgreSQL logins with the server as nobody;
# each refusal is one audit line with its reason and a detail naming the
# path and why.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -f "$MODULE" ] || skip_all "module not built"
[ -x "$MINT" ] || skip_all "mint-token not built"
[ -n "$PAMTESTER" ] && [ -x "$PAMTESTER" ] || skip_all "pamtester not installed"
[ -n "$PAM_WRAPPER_LIB" ] && [ -f "$PAM_WRAPPER_LIB" ] ||
	skip_all "libpam-wrapper not installed"
[ "$(id -u)" = 0 ] || skip_all "needs root (files owned by nobody)"

make_keys || { echo "Bail out! cannot make keys"; exit 1; }
chmod 755 "$TMP"
mkdir "$TMP/pam.d"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' >"$TMP/pam.d/other"
LOG="$TMP/syslog"
SERVICE=buildkite
NOBODY=$(id -u nobody)

# use POLICY : the service loads POLICY.
use() {
	printf 'auth required %s config=%s\naccount required %s config=%s\n' \
		"$MODULE" "$1" "$MODULE" "$1" >"$TMP/pam.d/$SERVICE"
}

# policy FILE [JWKS-FILE] : the fixture policy with its keys from
# JWKS-FILE (default the good one), mode 0644.
policy() {
	write_policy "$1"
	sed -i "s|^  file: .*|  file: ${2:-$TMP/jwks.json}|" "$1"
	chmod 644 "$1"
}

good=$(mint --key "$TMP/rsa.pem" --kid rsa-1)

# refused WHAT REASON DETAIL : the last login was refused, with exactly
# one audit line of reason REASON whose detail holds DETAIL (fixed text).
refused() {
	n=$(grep -c 'pam_buildkite(' "$LOG")
	line=$(grep 'pam_buildkite(' "$LOG")
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$n" -eq 1 ] &&
		printf '%s\n' "$line" | grep -q -E "result=deny reason=$2 " &&
		printf '%s\n' "$line" | grep -q -F -- "$3"; then
		ok 0 "$1: refused, reason=$2, detail names it"
	else
		ok 1 "$1: refused, reason=$2, detail names it"
		diag "rc=$rc lines=$n: $line"
	fi
}

allowed() { # allowed WHAT
	n=$(grep -c 'result=allow' "$LOG")
	[ $rc -eq 0 ] && [ "$n" -eq 1 ]
	ok $? "$1: logs in"
	[ $rc -eq 0 ] || diag "$(cat "$LOG")"
}

# ------------------------------------------------------------- jwks.file
K=$TMP/keys
mkdir -m 755 "$K"
policy "$TMP/k.yaml" "$K/jwks.json"
use "$TMP/k.yaml"

cp "$TMP/jwks.json" "$K/jwks.json"
chmod 644 "$K/jwks.json"
pt "$good" api_migrator
allowed "jwks.file 0644, owned by root"

chmod 666 "$K/jwks.json"
pt "$good" api_migrator
refused "jwks.file world-writable (0666)" jwks_unavailable \
	"cannot read jwks.file $K/jwks.json: group- or world-writable (mode 0666)"
chmod 646 "$K/jwks.json"
pt "$good" api_migrator
refused "jwks.file writable by others only (0646)" jwks_unavailable \
	"jwks.file $K/jwks.json: group- or world-writable (mode 0646)"
chmod 664 "$K/jwks.json"
pt "$good" api_migrator
refused "jwks.file group-writable (0664)" jwks_unavailable \
	"jwks.file $K/jwks.json: group- or world-writable (mode 0664)"
chmod 620 "$K/jwks.json"
pt "$good" api_migrator
refused "jwks.file group-writable, unreadable by others (0620)" \
	jwks_unavailable "jwks.file $K/jwks.json: group- or world-writable (mode 0620)"
chmod 644 "$K/jwks.json"
chown nobody "$K/jwks.json"
pt "$good" api_migrator
refused "jwks.file 0644 owned by nobody" jwks_unavailable \
	"jwks.file $K/jwks.json: owned by uid $NOBODY, not root or uid 0"
rm -f "$K/jwks.json"

mkfifo "$K/jwks.json"
pt "$good" api_migrator
[ $rc -ne 124 ] && [ "$(grep -c 'pam_buildkite(' "$LOG")" -eq 1 ]
ok $? "jwks.file a FIFO: the login returns (no writer needed) with one audit line"
refused "jwks.file a FIFO" jwks_unavailable \
	"jwks.file $K/jwks.json: not a regular file"
rm -f "$K/jwks.json"

mkdir "$K/jwks.json"
pt "$good" api_migrator
refused "jwks.file a directory" jwks_unavailable \
	"jwks.file $K/jwks.json: not a regular file"
rmdir "$K/jwks.json"

policy "$TMP/kz.yaml" /dev/zero
use "$TMP/kz.yaml"
pt "$good" api_migrator
refused "jwks.file /dev/zero" jwks_unavailable \
	"jwks.file /dev/zero: not a regular file"
use "$TMP/k.yaml"

cp "$TMP/jwks.json" "$K/real.json"
chmod 644 "$K/real.json"
ln -s real.json "$K/jwks.json"
pt "$good" api_migrator
allowed "jwks.file a symbolic link to a trusted file"
chmod 666 "$K/real.json"
pt "$good" api_migrator
refused "jwks.file a symbolic link to a world-writable file" \
	jwks_unavailable "jwks.file $K/jwks.json: group- or world-writable (mode 0666)"
rm -f "$K/jwks.json"

mkdir -m 777 "$TMP/open"
cp "$TMP/jwks.json" "$TMP/open/jwks.json"
chmod 644 "$TMP/open/jwks.json"
ln -s ../open/jwks.json "$K/jwks.json"
pt "$good" api_migrator
refused "jwks.file a symbolic link through a world-writable directory" \
	jwks_unavailable "jwks.file $K/jwks.json: directory $TMP/open is writable by others (mode 0777) and not sticky"
rm -f "$K/jwks.json"
ln -s "$TMP/open/./../keys/../open/jwks.json" "$K/jwks.json"
pt "$good" api_migrator
refused "... the same by an absolute link with . and .." jwks_unavailable \
	"directory $TMP/open is writable by others (mode 0777) and not sticky"
rm -f "$K/jwks.json"
ln -s loop "$K/loop"
ln -s loop "$K/jwks.json"
rm "$K/loop"
ln -s jwks.json "$K/loop"
pt "$good" api_migrator
refused "jwks.file a loop of symbolic links" jwks_unavailable \
	"jwks.file $K/jwks.json: more than 16 symbolic links"
rm -f "$K/jwks.json" "$K/loop"

# ---------------------------------------------------- policy and include
# in_dir DIR MODE : DIR/policy.yaml (keys trusted), the service on it,
# and one login.
in_dir() {
	mkdir -p "$1"
	policy "$1/policy.yaml"
	chmod "$2" "$1"
	use "$1/policy.yaml"
	pt "$good" api_migrator
}
in_dir "$TMP/p1" 777
refused "policy in a 0777 directory" config \
	"policy not loaded: $TMP/p1/policy.yaml: directory $TMP/p1 is writable by others (mode 0777) and not sticky"
in_dir "$TMP/p1" 1777
allowed "policy in a 1777 directory owned by root"
chown nobody "$TMP/p1"
pt "$good" api_migrator
refused "policy in a 1777 directory owned by nobody" config \
	"directory $TMP/p1 is owned by uid $NOBODY, not root or uid 0"
chown root "$TMP/p1"
mkdir -p "$TMP/p2/a/b"
chmod 755 "$TMP/p2/a" "$TMP/p2/a/b"
in_dir "$TMP/p2/a/b" 755
chmod 777 "$TMP/p2"
pt "$good" api_migrator
refused "policy two levels below a 0777 directory" config \
	"policy not loaded: $TMP/p2/a/b/policy.yaml: directory $TMP/p2 is writable by others (mode 0777) and not sticky"
chmod 1777 "$TMP/p2"
pt "$good" api_migrator
allowed "policy two levels below a 1777 directory owned by root"
chmod 775 "$TMP/p2"
pt "$good" api_migrator
refused "policy two levels below a group-writable (0775) directory" config \
	"directory $TMP/p2 is writable by others (mode 0775) and not sticky"

# inc DIR : the policy $TMP/inc.yaml includes DIR/*.yaml, one rule for
# the role inc_role.
mkdir -m 755 "$TMP/i"
policy "$TMP/i/inc.yaml"
use "$TMP/i/inc.yaml"
inc() {
	sed -i '/^include:/d' "$TMP/i/inc.yaml"
	printf 'include: %s/*.yaml\n' "$1" >>"$TMP/i/inc.yaml"
	mkdir -p "$1"
	printf 'rules:\n  - name: included\n    pipeline: api\n    roles: [inc_role]\n' >"$1/50-inc.yaml"
	chmod 644 "$1/50-inc.yaml"
}
inc "$TMP/i1"
chmod 755 "$TMP/i1"
pt "$good" inc_role
allowed "a role from an include in a trusted directory"
chmod 777 "$TMP/i1"
pt "$good" inc_role
refused "an include in a 0777 directory" config \
	"$TMP/i1/50-inc.yaml: directory $TMP/i1 is writable by others (mode 0777) and not sticky"
pt "$good" api_migrator
refused "... refuses the whole policy, every role" config "$TMP/i1/50-inc.yaml"
chmod 1777 "$TMP/i1"
pt "$good" inc_role
allowed "an include in a 1777 directory owned by root"
mkdir -p "$TMP/i2/x"
chmod 755 "$TMP/i2/x"
inc "$TMP/i2/x/d"
chmod 755 "$TMP/i2/x/d"
chmod 777 "$TMP/i2"
pt "$good" inc_role
refused "an include two levels below a 0777 directory" config \
	"$TMP/i2/x/d/50-inc.yaml: directory $TMP/i2 is writable by others (mode 0777) and not sticky"
chmod 1777 "$TMP/i2"
pt "$good" inc_role
allowed "an include two levels below a 1777 directory owned by root"
chmod 644 "$TMP/i2/x/d/50-inc.yaml"
chown nobody "$TMP/i2/x/d/50-inc.yaml"
pt "$good" inc_role
refused "an include owned by nobody" config \
	"$TMP/i2/x/d/50-inc.yaml: owned by uid $NOBODY, not root or uid 0"

# ------------------------------------------------------------- snapshot
TOOL="$top_builddir/pam-buildkite"
if [ -x "$TOOL" ]; then
	mkdir -m 755 "$TMP/s"
	policy "$TMP/s/policy.yaml"
	"$TOOL" compile -c "$TMP/s/policy.yaml" >/dev/null
	use "$TMP/s/policy.yaml"
	pt "$good" api_migrator
	allowed "a compiled policy in a trusted directory"
	chmod 777 "$TMP/s"
	pt "$good" api_migrator
	refused "a snapshot (and its policy) in a 0777 directory" config \
		"policy not loaded: $TMP/s/policy.yaml: directory $TMP/s is writable by others (mode 0777) and not sticky"
else
	ok 0 "# SKIP pam-buildkite not built"
	ok 0 "# SKIP pam-buildkite not built"
fi

# --------------------------------------------------------- replay store
mkdir -p "$TMP/r/store"
chmod 700 "$TMP/r/store"
chmod 755 "$TMP/r"
policy "$TMP/r.yaml"
sed -i "s|^token:|token:\n  single_use: true\n  replay_dir: $TMP/r/store|" "$TMP/r.yaml"
use "$TMP/r.yaml"
once=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --set "jti=\"trust-1-$$\"")
pt "$once" api_migrator
allowed "single_use with the replay store in a trusted directory"
chmod 777 "$TMP/r"
once=$(mint --key "$TMP/rsa.pem" --kid rsa-1 --set "jti=\"trust-2-$$\"")
pt "$once" api_migrator
refused "the replay store below a 0777 directory" config \
	"token.single_use: replay directory $TMP/r/store: directory $TMP/r is writable by others (mode 0777) and not sticky"
chmod 755 "$TMP/r"

# ------------------------------------------------------------ JWKS cache
# A valid cache file for a URL nothing answers: a login takes its keys
# from the cache when it trusts it, and is refused when it does not.
URL="https://127.0.0.1:1/jwks"
mkdir -p "$TMP/c/cache"
chmod 755 "$TMP/c" "$TMP/c/cache"
h=$(printf '%s' "$URL" | sha256sum | cut -c1-32)
printf '{"url":"%s","fetched_at":%s,"jwks":%s}' "$URL" "$(date +%s)" \
	"$(cat "$TMP/jwks.json")" >"$TMP/c/cache/jwks-$h.json"
chmod 644 "$TMP/c/cache/jwks-$h.json"
policy "$TMP/c.yaml"
sed -i "s|^  file: .*|  url: $URL\n  cache: $TMP/c/cache\n  timeout: 1|" "$TMP/c.yaml"
use "$TMP/c.yaml"
pt "$good" api_migrator
allowed "keys from a cache in a trusted directory"
chmod 777 "$TMP/c"
pt "$good" api_migrator
refused "the cache directory below a 0777 directory" jwks_unavailable \
	"cache ignored: cache directory $TMP/c/cache: directory $TMP/c is writable by others (mode 0777) and not sticky"
chmod 755 "$TMP/c"

# -------------------------------------------------------- jwks.ca_file
cp "$TMP/jwks.json" "$TMP/c/ca.pem"
chmod 666 "$TMP/c/ca.pem"
policy "$TMP/ca.yaml"
sed -i "s|^  file: .*|  url: $URL\n  cache: $TMP/c/nocache\n  ca_file: $TMP/c/ca.pem\n  timeout: 1|" "$TMP/ca.yaml"
use "$TMP/ca.yaml"
pt "$good" api_migrator
refused "a world-writable jwks.ca_file" jwks_unavailable \
	"jwks.ca_file $TMP/c/ca.pem: group- or world-writable (mode 0666)"

# --------------------------------------------------- pam-buildkite check
# check says the same of the same files, judged as the user given.
if [ -x "$TOOL" ]; then
	chmod 666 "$K/real.json"
	ln -s real.json "$K/jwks.json"
	out=$("$TOOL" check -c "$TMP/k.yaml" 2>&1)
	[ $? -eq 1 ] && printf '%s\n' "$out" | grep -q -F "pam-buildkite: jwks.file $K/jwks.json: group- or world-writable (mode 0666); logins are refused (jwks_unavailable)"
	ok $? "check: a world-writable jwks.file (through a link) exits 1 and says why"
	chmod 644 "$K/real.json"
	chown nobody "$K/real.json"
	out=$("$TOOL" check -c "$TMP/k.yaml" 2>&1)
	[ $? -eq 1 ] && printf '%s\n' "$out" | grep -q -F "jwks.file $K/jwks.json: owned by uid $NOBODY, not root or uid 0"
	ok $? "check: a jwks.file owned by nobody is refused as root would"
	out=$("$TOOL" check -c "$TMP/k.yaml" --user nobody 2>&1)
	ok $? "check --user nobody: ... and accepted as nobody would ($out)"
	chown root "$K/real.json"
	chmod 777 "$TMP/p1"
	out=$("$TOOL" check -c "$TMP/p1/policy.yaml" 2>&1)
	[ $? -eq 1 ] && printf '%s\n' "$out" | grep -q -F "$TMP/p1/policy.yaml: directory $TMP/p1 is writable by others (mode 0777) and not sticky"
	ok $? "check: a policy in a 0777 directory exits 1 and says why"
	chmod 777 "$TMP/r"
	out=$("$TOOL" check -c "$TMP/r.yaml" 2>&1)
	[ $? -eq 1 ] && printf '%s\n' "$out" | grep -q -F "token.single_use: replay directory $TMP/r/store: directory $TMP/r is writable by others (mode 0777) and not sticky; logins are refused (config)"
	ok $? "check: a replay store below a 0777 directory exits 1"
	chmod 755 "$TMP/r"
	chmod 777 "$TMP/c"
	out=$("$TOOL" check -c "$TMP/c.yaml" 2>&1)
	[ $? -eq 0 ] && printf '%s\n' "$out" | grep -q -F "warning: cache directory $TMP/c/cache: directory $TMP/c is writable by others (mode 0777) and not sticky; logins ignore the cache"
	ok $? "check: a cache below a 0777 directory is warned about"
	chmod 755 "$TMP/c"
	out=$("$TOOL" check -c "$TMP/ca.yaml" 2>&1)
	[ $? -eq 1 ] && printf '%s\n' "$out" | grep -q -F "jwks.ca_file $TMP/c/ca.pem: group- or world-writable (mode 0666)"
	ok $? "check: a world-writable jwks.ca_file exits 1"
	chown nobody "$TMP/c/cache"
	out=$("$TOOL" check -c "$TMP/c.yaml" --user nobody 2>&1)
	[ $? -eq 0 ] && ! printf '%s\n' "$out" | grep -q "cache directory"
	ok $? "check --user nobody: a cache directory owned by nobody draws no warning"
	out=$("$TOOL" check -c "$TMP/c.yaml" 2>&1)
	printf '%s\n' "$out" | grep -q -F "warning: cache directory $TMP/c/cache is owned by uid $NOBODY, not root or uid 0"
	ok $? "check as root: ... which root's logins would ignore"
	chown root "$TMP/c/cache"
	rm -f "$K/jwks.json"
else
	for _ in 1 2 3 4 5 6 7 8 9; do ok 0 "# SKIP pam-buildkite not built"; done
fi

# ----------------------------------------------------------- PostgreSQL
# The server runs as nobody, the module's user there: files owned by
# nobody are trusted, files of another user (daemon) are not.
if [ -z "$PG_BINDIR" ] || [ ! -x "$PG_BINDIR/initdb" ] || [ -n "$SAN_CFLAGS" ]; then
	diag "no PostgreSQL (or a sanitizer build): real-server cases skipped"
	done_testing
	exit 0
fi
mkdir -m 755 "$TMP/pgp"
cp "$TMP/jwks.json" "$TMP/pgp/jwks.json"
chmod 644 "$TMP/pgp/jwks.json"
policy "$TMP/pgp/policy.yaml" "$TMP/pgp/jwks.json"
pg_start "$TMP/pgp/policy.yaml" || { echo "Bail out! PostgreSQL did not start"; exit 1; }
LOG="$PB_SYSLOG"
psql -h "$TMP/pg" -p "$PORT" -U admin -d postgres -q -c \
	"create role api_migrator login" >/dev/null ||
	{ echo "Bail out! cannot create roles"; exit 1; }
login() {
	: >"$LOG"
	out=$(PGPASSWORD=$1 PGCONNECT_TIMEOUT=20 psql -X -w -At \
		"host=127.0.0.1 port=$PORT user=api_migrator dbname=postgres" \
		-c "select current_user" 2>&1)
	rc=$?
}
login "$good"
allowed "PostgreSQL: jwks.file owned by root"
chown nobody "$TMP/pgp/jwks.json"
login "$good"
allowed "PostgreSQL: jwks.file owned by nobody, the server's user"
chown daemon "$TMP/pgp/jwks.json"
login "$good"
refused "PostgreSQL: jwks.file owned by daemon" jwks_unavailable \
	"jwks.file $TMP/pgp/jwks.json: owned by uid $(id -u daemon), not root or uid $NOBODY"
chown root "$TMP/pgp/jwks.json"
chmod 666 "$TMP/pgp/jwks.json"
login "$good"
refused "PostgreSQL: world-writable jwks.file" jwks_unavailable \
	"jwks.file $TMP/pgp/jwks.json: group- or world-writable (mode 0666)"
echo "$out" | grep -q 'PAM authentication failed for user "api_migrator"'
ok $? "... psql is told the authentication failed"
chmod 644 "$TMP/pgp/jwks.json"
chmod 777 "$TMP/pgp"
login "$good"
refused "PostgreSQL: the policy in a 0777 directory" config \
	"policy not loaded: $TMP/pgp/policy.yaml: directory $TMP/pgp is writable by others (mode 0777) and not sticky"
chmod 755 "$TMP/pgp"
chown nobody "$TMP/pgp"
login "$good"
allowed "PostgreSQL: the policy in a directory owned by nobody"

done_testing
