#!/bin/bash
# Runs fsstress (xfstests' ltp/fsstress.c, built outside this repository) on a fresh persistfs mount:
# processes doing random operations at once in directories of their own (create, mkdir, rename, link,
# unlink, rmdir, truncate, writes, mapped IO, fallocate, xattrs, ...), then checks that the mount shows
# what the backing directory holds: every entry's type, size, link count, mode and owner, and every file's
# sha256. Ends with one line "fsstress (<transport> transport): N passed, N failed" (checks: the run, the
# tree, the contents, the mount's log), which scripts/run-tests.mjs adds to the suite's count; the
# differences are printed. fsstress's verbose log of the operations is kept on failure and named.
#
#   scripts/fsstress.sh [--transport kernel|fuse-native] <fsstress binary>
#   (or FSSTRESS=<binary>; TRANSPORT=<transport>, kernel by default; FSSTRESS_PROCS=<processes>, 8;
#   FSSTRESS_OPS=<operations a process>, 4000; FSSTRESS_SEED=<seed>, 1; FSSTRESS_TIMEOUT=<seconds>, 900;
#   MOUNT_ARGS="<more persistfs mount options>", as for fsx.sh)
set -u

# shellcheck source=scripts/scratch-mount.sh
. "$(dirname "$0")/scratch-mount.sh"
suite_args '<fsstress binary>' "${FSSTRESS:-}" "$@"
fsstress=$target
[ -x "$fsstress" ] || { echo "$fsstress is not an executable fsstress; see README.md, Tests" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fsstress.sh needs root (mount(2); fsstress chowns)" >&2; exit 2; }

procs=${FSSTRESS_PROCS:-8}
ops=${FSSTRESS_OPS:-4000}
seed=${FSSTRESS_SEED:-1}

run_pid=
out=
stop_run() {
  # timeout passes the TERM on to fsstress and its processes
  [ -z "$run_pid" ] || { kill "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null; }
  run_pid=
  [ -z "$out" ] || rm -f "$out" "$work/tree.mnt" "$work/tree.back" "$work/sums.mnt" "$work/sums.back"
}
on_cleanup=stop_run

# shellcheck disable=SC2086 # MOUNT_ARGS is a list of options
scratch_mount fsstress "$transport" ${MOUNT_ARGS:-} || exit 1
out=$work/fsstress.log
what="$transport transport${MOUNT_ARGS:+ $MOUNT_ARGS}"
echo "# fsstress $fsstress on a persistfs mount ($what) at $mnt: $procs processes x $ops operations, seed $seed"

started=$(date +%s)
timeout "${FSSTRESS_TIMEOUT:-900}" "$fsstress" -v -d "$mnt/s" -p "$procs" -n "$ops" -s "$seed" >"$out" 2>&1 &
run_pid=$!
wait "$run_pid"
status=$?
run_pid=

passed=0
failed=0
check() { # check <ok?> <what> [details]
  if [ "$1" = 0 ]; then
    passed=$((passed + 1))
    echo "ok $2"
  else
    failed=$((failed + 1))
    echo "not ok $2"
    [ -z "${3:-}" ] || sed 's/^/#   /' <<<"$3"
  fi
}
check "$status" "fsstress ran to its end ($(($(date +%s) - started)) s, exit status $status$([ "$status" = 124 ] && echo ': timed out'))" "$(tail -n 5 "$out")"

# fuse-native: another name of a hard-linked file may show stale attributes for the attribute timeout
# (libfuse 2 gives each name a node of its own; README.md, Transports): compared after it (1 s, or
# MOUNT_ARGS' --attr-timeout), with a second to spare
if [ "$transport" = fuse-native ]; then
  attr_timeout=$(sed -nE 's/.*--attr-timeout[ =]([0-9.]+).*/\1/p' <<<"${MOUNT_ARGS:-}")
  sleep "$(awk -v t="${attr_timeout:-1}" 'BEGIN { print t + 1 }')"
fi
# the mount's view against the backing directory's, read in the same order
tree() { (cd "$1/s" && find . -printf '%y %s %n %m %U %G %p\n' | LC_ALL=C sort); }
sums() { (cd "$1/s" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum); }
tree "$mnt" >"$work/tree.mnt"
tree "$backing" >"$work/tree.back"
entries=$(wc -l <"$work/tree.back")
differences=$(diff "$work/tree.mnt" "$work/tree.back")
check "$([ -z "$differences" ] && [ "$entries" -gt 1 ]; echo $?)" "the mount shows the backing directory's $entries entries (type, size, links, mode, owner)" "$(head -n 20 <<<"$differences")"
sums "$mnt" >"$work/sums.mnt"
sums "$backing" >"$work/sums.back"
differences=$(diff "$work/sums.mnt" "$work/sums.back")
check "$([ -z "$differences" ] && [ -s "$work/sums.back" ]; echo $?)" "the mount reads every file's contents as the backing directory holds them ($(wc -l <"$work/sums.back") files)" "$(head -n 20 <<<"$differences")"

stop_mount
messages=$(mount_messages)
check "$([ "$mount_status" = 0 ] && [ -z "$messages" ]; echo $?)" "the mount ended with status 0, logging no warning (status $mount_status)" "$messages"
if [ "$failed" -gt 0 ]; then
  kept=$(mktemp -t persistfs-fsstress-failed.XXXXXX.log)
  cp "$out" "$kept"
  echo "# fsstress's log of the operations kept in $kept"
fi
echo "fsstress ($what): $passed passed, $failed failed"
[ "$failed" = 0 ]
