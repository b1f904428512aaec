#!/bin/bash
# Runs fsstress (xfstests' ltp/fsstress.c, built outside this repository) on a fresh persistfs mount:
# processes doing random operations at once in directories of their own (create, mkdir, rename, link,
# unlink, rmdir, truncate, writes, mapped IO, fallocate, xattrs, ...), then checks that the mount shows
# what the backing directory holds: every entry's type, size, link count, mode and owner, and every file's
# sha256. Ends with one line "fsstress (<transport> transport): N passed, N failed" (checks: the run, the
# reads of the tree without an error, the tree, the contents, the mount's log), which scripts/run-tests.mjs adds to the suite's count; the
# differences are printed. fsstress's verbose log of the operations is kept on failure and named.
# With FSSTRESS_REMOTE=1 the mount serves an S3 bucket of a Ceph of its own (scripts/ceph-s3.sh, memstore,
# stopped at the end): after the run it is unmounted (which uploads what is left) and mounted again through
# a fresh cache, and the tree and contents seen then must be those seen before (the bucket holds what the
# mount showed; the listing cache invented or kept nothing).
#
#   scripts/fsstress.sh [--transport kernel|fuse-native] <fsstress binary>
#   (or FSSTRESS=<binary>; TRANSPORT=<transport>, kernel by default; FSSTRESS_PROCS=<processes>, 8;
#   FSSTRESS_OPS=<operations a process>, 4000 (remote 1000); FSSTRESS_SEED=<seed>, 1; FSSTRESS_TIMEOUT=<seconds>, 900;
#   FSSTRESS_REMOTE=1 (with FSSTRESS_RGW_PORT=<radosgw's port>, 7690; FSSTRESS_MON_PORT and
#   FSSTRESS_MON_V1_PORT=<the monitor's ports>, 3490 and 3491);
#   MOUNT_ARGS="<more persistfs mount options>", as for fsx.sh)
set -u

# shellcheck source=scripts/scratch-mount.sh
. "$(dirname "$0")/scratch-mount.sh"
suite_args '<fsstress binary>' "${FSSTRESS:-}" "$@"
fsstress=$target
[ -x "$fsstress" ] || { echo "$fsstress is not an executable fsstress; see README.md, Tests" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fsstress.sh needs root (mount(2); fsstress chowns)" >&2; exit 2; }

# remote: fewer by default (every close uploads the whole file, a directory's rename copies what is under it;
# 8 x 4,000 outgrew the test cluster's memstore and took radosgw past the mount's 60 s request timeout)
remote=
[ "${FSSTRESS_REMOTE:-0}" = 1 ] && remote=1
procs=${FSSTRESS_PROCS:-8}
if [ -n "$remote" ]; then ops=${FSSTRESS_OPS:-1000}; else ops=${FSSTRESS_OPS:-4000}; fi
seed=${FSSTRESS_SEED:-1}

run_pid=
out=
stop_run() {
  # timeout passes the TERM on to fsstress and its processes
  [ -z "$run_pid" ] || { kill "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null; }
  run_pid=
  [ -z "$out" ] || rm -f "$out" "$work/tree.mnt" "$work/tree.back" "$work/sums.mnt" "$work/sums.back" "$work/errors"
}
on_cleanup=stop_run

if [ -n "$remote" ]; then
  scratch_dirs fsstress-s3 || exit 1
  scripts=$(cd "$(dirname "$0")" && pwd)
  # one cluster state per port, outside $work: a run killed before its cleanup leaves one that the next `up`
  # at that port stops
  rgw_port=${FSSTRESS_RGW_PORT:-7690}
  ceph_dir=${TMPDIR:-/tmp}/persistfs-fsstress-ceph.$rgw_port
  ceph() {
    CEPH_DIR=$ceph_dir CEPH_OWNER=$$ RGW_PORT=$rgw_port MON_PORT=${FSSTRESS_MON_PORT:-3490} \
      MON_V1_PORT=${FSSTRESS_MON_V1_PORT:-3491} bash "$scripts/ceph-s3.sh" "$@"
  }
  ceph_down() {
    # its data is thrown away: no need to wait for the daemons' own shutdown
    for pidfile in "$ceph_dir"/run/*.pid; do [ -f "$pidfile" ] && kill -KILL "$(cat "$pidfile")" 2>/dev/null; done
    ceph down >/dev/null 2>&1
    rm -f "$ceph_dir.lock"*
  }
  on_stopped=ceph_down
  echo "# starting a Ceph radosgw of its own (scripts/ceph-s3.sh, in $ceph_dir)"
  cluster=$(ceph up memstore) || { echo "could not start Ceph" >&2; exit 1; }
  read -r endpoint AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY <<<"$(tail -n 1 <<<"$cluster")"
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  source=s3://persistfs-fsstress/fsstress
  (cd "$scripts/.." && node --no-warnings --input-type=module -e "
    import { S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
    const s3 = new S3Client({ endpoint: process.argv[1], region: 'us-east-1', forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'persistfs-fsstress' }));
    s3.destroy();" "$endpoint") || { echo "could not make the bucket at $endpoint" >&2; exit 1; }
  mkdir "$backing/cache" "$backing/fresh"
  # shellcheck disable=SC2086 # MOUNT_ARGS is a list of options
  start_mount "$source" "$transport" --cache-dir "$backing/cache" --endpoint "$endpoint" ${MOUNT_ARGS:-} || exit 1
else
  # shellcheck disable=SC2086 # MOUNT_ARGS is a list of options
  scratch_mount fsstress "$transport" ${MOUNT_ARGS:-} || exit 1
fi
out=$work/fsstress.log
what="$transport transport${remote:+, $source}${MOUNT_ARGS:+ $MOUNT_ARGS}"
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
# the mount's view against the backing directory's (or, remote, the bucket's through a fresh cache), read
# in the same order
tree() { (cd "$1/s" && find . -printf '%y %s %n %m %U %G %p\n' 2>>"$work/errors" | LC_ALL=C sort); }
sums() { (cd "$1/s" && find . -type f -print0 2>>"$work/errors" | LC_ALL=C sort -z | xargs -0 -r sha256sum 2>>"$work/errors"); }
compare() { # compare <what the mount was compared with, in words>: the views saved against $compared's
  tree "$compared" >"$work/tree.back"
  sums "$compared" >"$work/sums.back"
  local entries files differences errors
  entries=$(wc -l <"$work/tree.back")
  files=$(grep -c '^f ' "$work/tree.back")
  errors=$(head -n 10 "$work/errors")
  check "$([ -z "$errors" ]; echo $?)" "every entry and file read without an error" "$errors"
  differences=$(diff "$work/tree.mnt" "$work/tree.back")
  check "$([ -z "$differences" ] && [ "$entries" -gt 1 ]; echo $?)" "the mount showed what $1 holds: $entries entries (type, size, links, mode, owner)" "$(head -n 20 <<<"$differences")"
  differences=$(diff "$work/sums.mnt" "$work/sums.back")
  check "$([ -z "$differences" ] && [ "$(wc -l <"$work/sums.back")" = "$files" ] && [ "$files" -gt 0 ]; echo $?)" "the mount read every file's contents as $1 holds them ($files files)" "$(head -n 20 <<<"$differences")"
}
: >"$work/errors"
tree "$mnt" >"$work/tree.mnt"
sums "$mnt" >"$work/sums.mnt"
if [ -n "$remote" ]; then
  # every upload done before the mount process ends (it waits for them at unmount)
  stop_mount 300
  check "$mount_status" "the mount ended with status 0 (status $mount_status)"
  echo "persistfs: (mounted again, through a fresh cache)" >>"$mount_log"
  # shellcheck disable=SC2086 # MOUNT_ARGS is a list of options
  if start_mount "$source" "$transport" --cache-dir "$backing/fresh" --endpoint "$endpoint" ${MOUNT_ARGS:-}; then
    compared=$mnt
    compare "the bucket, through a fresh cache after a remount,"
  else
    check 1 "the bucket mounted again through a fresh cache"
  fi
else
  compared=$backing
  compare "the backing directory"
fi

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
