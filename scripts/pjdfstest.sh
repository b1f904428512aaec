#!/bin/bash
# Runs pjdfstest (the POSIX conformance suite, github.com/pjd/pjdfstest, built outside this repository)
# on a fresh persistfs mount: a new backing directory and mount point, `persistfs mount` as root in the
# background, `prove -r <pjdfstest-dir>/tests` inside the mount, then the mount is stopped (SIGINT) and
# the temporaries removed, also on failure or Ctrl-C. Ends with the failing tests and one line
# "pjdfstest (<transport> transport): N passed, N failed" (subtests), which scripts/run-tests.mjs adds to
# the suite's count; exits 1 when any subtest failed, the run did not finish or the mount did not end well.
#
#   scripts/pjdfstest.sh [--transport kernel|fuse-native] <pjdfstest-dir>
#   (or PJDFSTEST_DIR=<dir>; TRANSPORT=<transport>, kernel by default; PJDFSTEST_TIMEOUT=<seconds>, 3600;
#   MOUNT_ARGS="<more persistfs mount options>", e.g. "--no-writeback-cache" or "--fuse-uring on")
set -u

# shellcheck source=scripts/scratch-mount.sh
. "$(dirname "$0")/scratch-mount.sh"
suite_args '<pjdfstest-dir>' "${PJDFSTEST_DIR:-}" "$@"
suite=$target
[ -x "$suite/pjdfstest" ] && [ -d "$suite/tests" ] || { echo "$suite has no built pjdfstest (pjdfstest and tests/); see README.md, Tests" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "pjdfstest needs root (chown, mknod, other users' permissions)" >&2; exit 2; }
command -v prove >/dev/null || { echo "prove (perl) is not installed" >&2; exit 2; }

prove_log=
prove_pid=

# timeout runs prove in a process group of its own, out of reach of Ctrl-C: it passes our TERM on to it
stop_prove() {
  if [ -n "$prove_pid" ]; then
    kill -TERM "$prove_pid" 2>/dev/null
    wait "$prove_pid"
  fi
  prove_pid=
  [ -z "$prove_log" ] || rm -f "$prove_log"
}
on_cleanup=stop_prove

# shellcheck disable=SC2086 # MOUNT_ARGS is a list of options
scratch_mount pjdfstest "$transport" --allow-other ${MOUNT_ARGS:-} || exit 1
prove_log=$work/prove.log

echo "# pjdfstest $suite on a persistfs mount ($transport transport${MOUNT_ARGS:+ $MOUNT_ARGS}) at $mnt"
cd "$mnt" || exit 1
# in the background, so that a Ctrl-C interrupts the wait at once; tail shows the progress
timeout "${PJDFSTEST_TIMEOUT:-3600}" prove -r "$suite/tests" >"$prove_log" 2>&1 &
prove_pid=$!
tail -n +1 -f --pid="$prove_pid" "$prove_log" &
tail_pid=$!
wait "$prove_pid"
prove_status=$?
prove_pid=
wait "$tail_pid"
cd /
stop_mount
# what it logged beyond its "serving ... stop with Ctrl-C" banner: warnings and errors
messages=$(mount_messages)
if [ "$mount_status" != 0 ] || [ -n "$messages" ]; then
  echo "# the mount process ended with status $mount_status; it logged:"
  sed 's/^/#   /' <<<"$messages"
fi

# prove's "Test Summary Report" names each file that failed ("<file> (Wstat: .. Tests: N Failed: F)",
# then "Failed tests: ..." lines, maybe wrapped); a file with a bad plan or a non-zero exit but no failed
# subtest counts as one failure. Passed = the subtests run ("Files=.., Tests=N") less the failed ones.
summary=$(awk -v prefix="$suite/tests/" -v transport="$transport transport${MOUNT_ARGS:+ $MOUNT_ARGS}" -v prove_status="$prove_status" '
  function end_file() {
    if (file != "" && (failed > 0 || broken)) {
      failures += failed > 0 ? failed : 1
      failed_subtests += failed
      lines = lines sprintf("#   %s: %s\n", file, failed > 0 ? "failed subtests " detail : "did not run to its plan, or exited non-zero")
    }
    file = ""
  }
  /^Test Summary Report/ { report = 1; next }
  /^Files=[0-9]+, Tests=[0-9]+/ { end_file(); report = 0; totals = $0; split($2, t, "="); tests = t[2] + 0; next }
  !report || /^-+$/ { next }
  /^[^ ]/ {
    end_file()
    file = index($1, prefix) == 1 ? substr($1, length(prefix) + 1) : $1
    failed = $0; sub(/.*Failed: /, "", failed); failed += 0
    broken = 0; detail = ""
    next
  }
  /^  (Parse errors|Non-zero (exit|wait) status)/ { broken = 1; next }
  /^  Failed tests?:/ { sub(/^  Failed tests?: +/, ""); detail = $0; next }
  /^   / && detail != "" { gsub(/^ +/, ""); detail = detail ", " $0; next }
  END {
    end_file()
    if (totals == "") {
      why = prove_status == 124 ? ": timed out" : (prove_status > 128 ? ": signal " (prove_status - 128) : "")
      printf "#   prove did not finish (exit status %d%s; no Files=.., Tests=.. line)\n", prove_status, why
      failures += 1
    }
    else print "# " totals
    printf "%s", lines
    printf "pjdfstest (%s): %d passed, %d failed\n", transport, tests - failed_subtests, failures
  }
' "$prove_log")
echo "# pjdfstest summary:"
echo "$summary"
failed=$(tail -n 1 <<<"$summary" | sed -E 's/.* ([0-9]+) failed$/\1/')
[ "$failed" = 0 ] && [ "$prove_status" = 0 ] && [ "$mount_status" = 0 ]
