#!/bin/bash
# A throwaway single-node Ceph cluster (one monitor, one OSD, one radosgw) serving S3 on 127.0.0.1, for the
# remote tier's tests and benchmarks. No authentication inside the cluster; one S3 user with fixed keys.
#   scripts/ceph-s3.sh up [memstore|bluestore]   start it (stopping one left from before), print the endpoint
#   scripts/ceph-s3.sh down                      stop it and remove its state
#   scripts/ceph-s3.sh rgw-stop [KILL]           stop only radosgw (SIGTERM, or the signal given): S3 goes away
#   scripts/ceph-s3.sh rgw-start                 start radosgw again (the data is still there)
# Environment: CEPH_DIR (state, default $TMPDIR/persistfs-ceph), RGW_PORT (default 7480), MON_PORT and
# MON_V1_PORT (the monitor's msgr2 and v1 ports, default 3300 and 6789).
# Needs Debian's ceph-mon, ceph-osd, radosgw (make test installs them). Ports MON_PORT, MON_V1_PORT, RGW_PORT
# and some of 6800-7300 (the OSD takes free ones): a second cluster at the same time needs its own CEPH_DIR,
# RGW_PORT, MON_PORT and MON_V1_PORT (the benchmark's remote section does that).
# One cluster per CEPH_DIR: `up` takes a lock (CEPH_LOCK, default CEPH_DIR.lock) that its caller (CEPH_OWNER,
# default the parent process) holds until `down` or until it exits, and waits (up to 15 minutes) while
# another holds it.
set -euo pipefail
DIR=${CEPH_DIR:-${TMPDIR:-/tmp}/persistfs-ceph}
PORT=${RGW_PORT:-7480}
MON_V2=${MON_PORT:-3300}
MON_V1=${MON_V1_PORT:-6789}
ACCESS=${CEPH_ACCESS_KEY:-PERSISTFSTESTKEY}
SECRET=${CEPH_SECRET_KEY:-PERSISTFSTESTSECRET}
LOCK=${CEPH_LOCK:-$DIR.lock}
HOLDER="$LOCK.holder"

# Holds the lock in the background for as long as process $1 lives (or until `down` kills the holder).
take_lock() {
  local owner=$1 ready="$LOCK.ready.$$"
  rm -f "$ready"
  setsid flock -w 900 "$LOCK" sh -c "echo \$\$ > '$HOLDER'; touch '$ready'; exec tail --pid=$owner -f /dev/null" </dev/null >/dev/null 2>&1 &
  local flocker=$!
  while [ ! -e "$ready" ]; do
    if ! kill -0 "$flocker" 2>/dev/null; then echo "could not take $LOCK: another cluster held it for 15 minutes" >&2; exit 1; fi
    sleep 0.2
  done
  rm -f "$ready"
}

release_lock() {
  # the holder is gone already when its owner exited
  if [ -f "$HOLDER" ]; then kill "$(cat "$HOLDER")" 2>/dev/null || true; fi
  rm -f "$HOLDER"
}

stop() {
  # radosgw first, the monitor last; each by its pid file, SIGKILL after 10 s
  for daemon in client.rgw.s3 osd.0 mon.a; do
    local pidfile="$DIR/run/$daemon.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

start_rgw() {
  CEPH_CONF="$DIR/ceph.conf" timeout 60 radosgw -n client.rgw.s3
  for _ in $(seq 240); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && return 0
    sleep 0.25
  done
  echo "radosgw did not answer on port $PORT" >&2
  return 1
}

case "${1:-}" in
  rgw-stop)
    pidfile="$DIR/run/client.rgw.s3.pid"
    pid=$(cat "$pidfile")
    kill "-${2:-TERM}" "$pid"
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    ;;
  rgw-start)
    start_rgw
    ;;
  down)
    stop
    rm -rf "$DIR"
    release_lock
    ;;
  up)
    store=${2:-memstore}
    take_lock "${CEPH_OWNER:-$PPID}"
    stop
    rm -rf "$DIR"
    mkdir -p "$DIR"/{mon.a,osd.0,run,log}
    fsid=$(cat /proc/sys/kernel/random/uuid)
    cat >"$DIR/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
mon data = $DIR/mon.\$id
osd data = $DIR/osd.\$id
osd objectstore = $store
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
paxos propose interval = 0.05
paxos min wait = 0.01
memstore device bytes = 4294967296
bluestore block path = $DIR/osd.\$id/block.file
bluestore block create = true
bluestore block size = 10737418240
osd memory target = 1073741824
[client.rgw.s3]
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
CONF
    export CEPH_CONF="$DIR/ceph.conf"
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" "$DIR/monmap" >/dev/null
    ceph-mon --mkfs -i a --monmap "$DIR/monmap"
    ceph-mon -i a
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    osd=$(ceph osd new "$osd_uuid")
    ceph-osd -i "$osd" --mkfs --osd-uuid "$osd_uuid" 2>/dev/null
    ceph-osd -i "$osd" 2>/dev/null
    start_rgw
    radosgw-admin user create --uid=persistfs --display-name=persistfs --access-key="$ACCESS" --secret-key="$SECRET" >/dev/null
    echo "http://127.0.0.1:$PORT $ACCESS $SECRET"
    ;;
  *)
    echo "usage: $0 up [memstore|bluestore] | down | rgw-stop [SIGNAL] | rgw-start" >&2
    exit 2
    ;;
esac
