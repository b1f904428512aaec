#!/bin/bash
# Runs fsx (the file system exerciser of xfstests, ltp/fsx.c, built outside this repository) on a fresh
# persistfs mount: random reads, writes, mapped reads and writes, truncates, fallocate, punch hole, zero
# range and copy_file_range on one file each, every read checked against fsx's own copy of what the file
# must hold. Several runs, two at a time, each on a file of its own (the RUNS below: sizes, close and reopen
# with the caches dropped, fsync and invalidate, O_SYNC, O_DIRECT, io_uring IO, a whole-file check after
# every operation); each uses a fixed seed, so a failure replays (FSX_SEED=<n> changes them all; 0: from
# the clock). Ends with one line "fsx (<transport> transport): N passed, N failed" (runs), which
# scripts/run-tests.mjs adds to the suite's count; a run fails when fsx finds a difference or an error, or
# does not end in time; the mount fails the whole when it logs a warning or an error or does not end well.
# A failing run's fsx logs (.fsxlog: the operations before the difference; .fsxops: replay them with
# `fsx --replay-ops=<file>`) are kept under /tmp/persistfs-fsx-failed.* and named.
#
#   scripts/fsx.sh [--transport kernel|fuse-native] <fsx binary>
#   (or FSX=<binary>; TRANSPORT=<transport>, kernel by default; FSX_OPS=<operations a run>, 20000;
#   FSX_TIMEOUT=<seconds a run>, 600; MOUNT_ARGS="<more persistfs mount options>", e.g.
#   "--no-writeback-cache", "--passthrough", "--io-mode sync" or "--fuse-uring on")
set -u

# shellcheck source=scripts/scratch-mount.sh
. "$(dirname "$0")/scratch-mount.sh"
suite_args '<fsx binary>' "${FSX:-}" "$@"
fsx=$target
[ -x "$fsx" ] || { echo "$fsx is not an executable fsx; see README.md, Tests" >&2; exit 2; }
# the reopen run drops the caches (as root) so that reads after it come from the mount
[ "$(id -u)" = 0 ] || { echo "fsx.sh needs root (mount(2), and the runs that drop the page cache)" >&2; exit 2; }

ops=${FSX_OPS:-20000}
seed=${FSX_SEED:-}

# name | fsx options (the seed is added: the run's number, or FSX_SEED)
RUNS=(
  "plain|-l 1048576 -o 131072"
  "small|-l 8192 -o 1024"
  "reopen|-c 8 -N $((ops / 8))"
  "flush|-f -l 524288"
  "osync|-y -N $((ops / 4))"
  "direct|-Z -R -W -r 4096 -w 4096 -t 4096 -l 1048576"
  "uring|-U -l 1048576"
  "verify|-X -N $((ops / 4))"
)

logs=
pids=()
stop_runs() {
  # the runs' timeouts, which pass the TERM on to their fsx
  [ ${#pids[@]} = 0 ] || { kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; }
  pids=()
  [ -z "$logs" ] || rm -rf "$logs"
}
on_cleanup=stop_runs

# shellcheck disable=SC2086 # MOUNT_ARGS is a list of options
scratch_mount fsx "$transport" ${MOUNT_ARGS:-} || exit 1
logs=$work/logs
mkdir "$logs"
what="$transport transport${MOUNT_ARGS:+ $MOUNT_ARGS}"
echo "# fsx $fsx on a persistfs mount ($what) at $mnt, ${#RUNS[@]} runs of up to $ops operations"

# start <number> <name> <options>: fsx on $mnt/<name> in the background (its output in $logs/<name>.out),
# under timeout; its pid (timeout's, which passes a TERM on to fsx) goes in `pids`
start() {
  local name=$2 options=$3
  # shellcheck disable=SC2086 # options is a list
  timeout "${FSX_TIMEOUT:-600}" "$fsx" -q -N "$ops" -S "${seed:-$1}" -P "$logs" $options "$mnt/$name" >"$logs/$name.out" 2>&1 &
  pids+=($!)
}

passed=0
failed=0
report() {
  local name=$1 started=$2 status=$3
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
    echo "ok $name ($(($(date +%s) - started)) s): $(tail -n 1 "$logs/$name.out")"
  else
    failed=$((failed + 1))
    echo "not ok $name: fsx exit status $status$([ "$status" = 124 ] && echo ' (timed out)')"
    # what went wrong (before fsx's dump of the operations), then where its logs went
    sed -n '/^LOG DUMP/q;p' "$logs/$name.out" | head -n 12 | sed 's/^/#   /'
    tail -n 4 "$logs/$name.out" | sed 's/^/#   /'
  fi
}

# two at a time, each on its own file
for ((i = 0; i < ${#RUNS[@]}; i += 2)); do
  started=$(date +%s)
  names=()
  for ((j = i; j < i + 2 && j < ${#RUNS[@]}; j++)); do
    name=${RUNS[j]%%|*}
    names+=("$name")
    start $((j + 1)) "$name" "${RUNS[j]#*|}"
  done
  statuses=()
  for pid in "${pids[@]}"; do
    wait "$pid"
    statuses+=($?)
  done
  pids=()
  for k in "${!names[@]}"; do report "${names[k]}" "$started" "${statuses[k]}"; done
done

stop_mount
messages=$(mount_messages)
if [ "$mount_status" != 0 ] || [ -n "$messages" ]; then
  echo "not ok the mount process ended with status $mount_status; it logged:"
  sed 's/^/#   /' <<<"$messages"
  failed=$((failed + 1))
fi
if [ "$failed" -gt 0 ]; then
  kept=$(mktemp -d -t persistfs-fsx-failed.XXXXXX)
  cp -r "$logs/." "$kept/"
  echo "# fsx's logs kept in $kept (replay a run: $fsx --replay-ops=$kept/<name>.fsxops <file>)"
fi
echo "fsx ($what): $passed passed, $failed failed"
[ "$failed" = 0 ]
