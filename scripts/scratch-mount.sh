# Sourced by the scripts that run an outside test suite on a fresh persistfs mount (pjdfstest.sh, fsx.sh):
# a new backing directory and mount point under one temporary directory, `persistfs mount` as root in the
# background, and its stop (SIGINT, as Ctrl-C; SIGKILL and a lazy unmount if it hangs) with the
# temporaries removed, also on failure or Ctrl-C. The caller names in `on_cleanup` a function that stops
# what it started and removes what it put in $work (run first), and in `on_stopped` one run once the mount
# is stopped (a service the mount used).
#
#   suite_args <usage of the path> <default path> "$@"   parses [--transport kernel|fuse-native] <path>: sets
#                                                         transport (TRANSPORT, else kernel) and target (resolved)
#   scratch_dirs <tag>                                    sets work, backing, mnt, mount_log (made, nothing mounted)
#   start_mount <source> <transport> [mount options...]  mounts <source> at $mnt; 1 if no mount
#   scratch_mount <tag> <transport> [mount options...]   both: a mount of $backing; 1 if no mount
#   stop_mount [seconds]                                  sets mount_status (the mount process's exit status);
#                                                         SIGKILL after the seconds (10)
#   mount_messages                                        what the mount logged beyond its banner

cli=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/dist/mount/cli.js
work=
backing=
mnt=
mount_log=
mount_pid=
mount_status=0
on_cleanup=:
on_stopped=:

is_mounted() { [ -n "$mnt" ] && mountpoint -q "$mnt"; }

stop_mount() {
  if [ -n "$mount_pid" ]; then
    kill -INT "$mount_pid" 2>/dev/null
    for _ in $(seq $((${1:-10} * 10))); do kill -0 "$mount_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$mount_pid" 2>/dev/null
    wait "$mount_pid"
    mount_status=$?
  fi
  mount_pid=
  if is_mounted; then umount -l "$mnt"; fi
}

scratch_cleanup() {
  cd /
  $on_cleanup
  stop_mount
  $on_stopped
  [ -n "$work" ] || return 0
  # the mount point is removed with rmdir only: never recurse into something still mounted there
  rm -rf "$backing" "$mount_log"
  rmdir "$mnt" "$work"
}
trap scratch_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE # a reader of our output that went (| head): the mount is still stopped
trap 'exit 143' TERM

scratch_dirs() {
  work=$(mktemp -d -t "persistfs-$1.XXXXXX") || { work=; return 1; }
  backing=$work/data
  mnt=$work/mnt
  mount_log=$work/mount.log
  mkdir "$backing" "$mnt"
  chmod 755 "$work" "$backing" "$mnt"
}

scratch_mount() {
  local tag=$1 transport=$2
  shift 2
  scratch_dirs "$tag" || return 1
  start_mount "$backing" "$transport" "$@"
}

start_mount() {
  local source=$1 transport=$2
  shift 2
  node "$cli" mount "$source" "$mnt" --transport "$transport" --log-level warn "$@" >>"$mount_log" 2>&1 &
  mount_pid=$!
  for _ in $(seq 150); do
    is_mounted && return 0
    kill -0 "$mount_pid" 2>/dev/null || break
    sleep 0.1
  done
  is_mounted && return 0
  echo "persistfs did not mount $mnt:" >&2
  cat "$mount_log" >&2
  return 1
}

mount_messages() { grep -v '^persistfs: ' "$mount_log"; }

suite_args() {
  local usage="usage: $0 [--transport kernel|fuse-native] $1   (built outside this repository: README.md, Tests)"
  target=$2
  shift 2
  transport=${TRANSPORT:-kernel}
  while [ $# -gt 0 ]; do
    case "$1" in
      --transport) [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }; transport=$2; shift 2 ;;
      --transport=*) transport=${1#--transport=}; shift ;;
      -*) echo "$usage" >&2; exit 2 ;;
      *) target=$1; shift ;;
    esac
  done
  [ -n "$target" ] || { echo "$usage" >&2; exit 2; }
  target=$(realpath -e "$target") || exit 2
  case "$transport" in kernel|fuse-native) ;; *) echo "unknown transport: $transport" >&2; exit 2 ;; esac
  [ -f "$cli" ] || { echo "$cli is missing: run make build" >&2; exit 2; }
}
