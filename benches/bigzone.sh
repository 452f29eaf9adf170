#!/usr/bin/env bash
# bigzone.sh — a 1,000,000-record zone: load time, reload time, memory, and queries during the
# reload, for geosteer, NSD and Knot in one run, on loopback.
#
#   benches/bigzone.sh [--records N] [--rate QPS]          (from the repository root)
#
# For each server: start it on the generated zone and time until it answers the zone's SOA (load);
# then, while dnsperf sends QPS queries a second for names of the zone, change the SOA serial and
# reload (geosteer: `geosteer reload`; NSD: `nsd-control reload`; Knot: `knotc zone-reload`), and
# time until the new serial is served (reload). RSS is summed over the server's processes: after
# the load, and the peak sampled every 20 ms during the reload. dnsperf's lost queries and its
# non-NOERROR answers during the reload are reported. Needs: dnsperf, nsd, knot, dig.
set -euo pipefail
records=1000000 rate=5000
while [ $# -gt 0 ]; do
    case $1 in
        --records) records=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        *) echo "usage: $0 [--records N] [--rate QPS]" >&2; exit 2 ;;
    esac
done
for c in dnsperf nsd nsd-control-setup knotd knotc dig python3; do
    command -v "$c" >/dev/null || { echo "$c not found" >&2; exit 1; }
done
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin=$root/target/release/geosteer
work=$(mktemp -d /tmp/geosteer-bigzone.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

mkdir -p "$work/zones"
python3 - "$work/zones/big.test.zone" "$work/queries.txt" "$records" <<'PY'
import random, sys
zone, queries, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(zone, "w") as f:
    f.write("$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n")
    for i in range(n - 3):
        f.write(f"h{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n")
random.seed(7)
with open(queries, "w") as f:
    for _ in range(100000):
        f.write(f"h{random.randrange(n - 3)}.big.test A\n")
PY

rss() { # summed RSS in MB of the processes of session $1
    ps -o rss= -s "$1" 2>/dev/null | awk '{s += $1} END {printf "%.0f", s / 1024}'
}
serial() { dig +short +tries=1 +time=1 @127.0.0.1 -p "$1" big.test SOA 2>/dev/null | awk '{print $3}'; }
wait_serial() { # port serial → seconds waited
    local t0; t0=$(date +%s.%N)
    until [ "$(serial "$1")" = "$2" ]; do sleep 0.02; done
    echo "$(date +%s.%N) - $t0" | bc
}
bump() { sed -i "s/^@ SOA ns1 hostmaster $1 /@ SOA ns1 hostmaster $2 /" "$3"; }

echo "| server | load s | RSS after load MB | reload s | peak RSS during reload MB | queries during reload | lost | not NOERROR |"
echo "|---|---|---|---|---|---|---|---|"
run() { # name port zonefile start-cmd reload-cmd
    local name=$1 port=$2 zf=$3 start=$4 reload=$5
    local t0; t0=$(date +%s.%N)
    setsid bash -c "exec $start" >"$work/$name.out" 2>&1 &
    local pid=$!; pids+=("$pid")
    until [ "$(serial "$port")" = "1" ]; do
        kill -0 "$pid" 2>/dev/null || { echo "$name died: $(tail -3 "$work/$name.out")" >&2; return; }
        sleep 0.05
    done
    local load; load=$(echo "$(date +%s.%N) - $t0" | bc)
    local rss_load; rss_load=$(rss "$pid")
    dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -Q "$rate" -l 600 -c 1 -T 1 -t 2 \
        >"$work/$name.dnsperf" 2>&1 &
    local perf=$!
    sleep 1
    bump 1 2 "$zf"
    local peak=0 r
    ( eval "$reload" ) >"$work/$name.reload" 2>&1 &
    local t1; t1=$(date +%s.%N)
    until [ "$(serial "$port")" = "2" ]; do
        r=$(rss "$pid"); [ "${r:-0}" -gt "$peak" ] && peak=$r
        sleep 0.02
    done
    local took; took=$(echo "$(date +%s.%N) - $t1" | bc)
    sleep 1
    kill -INT "$perf"; wait "$perf" || true
    local sent lost codes
    sent=$(awk '/Queries sent:/ {print $3}' "$work/$name.dnsperf")
    lost=$(awk '/Queries lost:/ {print $3}' "$work/$name.dnsperf")
    codes=$(awk '/Response codes:/ {sub(/.*Response codes: /, ""); print}' "$work/$name.dnsperf")
    local bad; bad=$(echo "$codes" | tr ',' '\n' | { grep -v NOERROR || true; } | awk '{s += $2} END {print s + 0}')
    printf '| %s | %.2f | %s | %.2f | %s | %s | %s | %s |\n' "$name" "$load" "$rss_load" "$took" "$peak" "$sent" "$lost" "$bad"
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    bump 2 1 "$zf"
}

# geosteer: file watching off, so the reload measured is the one `geosteer reload` asks for
mkdir -p "$work/gs/zones" && cp "$work/zones/big.test.zone" "$work/gs/zones/"
cat > "$work/gs/geosteer.toml" <<C
zones = "zones"
listen = ["127.0.0.1:5491"]
http = "127.0.0.1:9491"
geoip = []
threads = 2
[reload]
watch = false
check_interval = "0s"
C
run geosteer 5491 "$work/gs/zones/big.test.zone" "$bin serve --config $work/gs/geosteer.toml" \
    "$bin reload --http 127.0.0.1:9491"

# NSD, with its control channel for `nsd-control reload`
mkdir -p "$work/nsd/zones" && cp "$work/zones/big.test.zone" "$work/nsd/zones/"
nsd-control-setup -d "$work/nsd" >/dev/null 2>&1
cat > "$work/nsd/nsd.conf" <<C
server:
  ip-address: 127.0.0.1@5492
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$work/nsd/zones"
  database: ""
  zonelistfile: "$work/nsd/zone.list"
  xfrdfile: "$work/nsd/xfrd.state"
  xfrdir: "$work/nsd"
  pidfile: "$work/nsd/nsd.pid"
  logfile: "$work/nsd/nsd.log"
  rrl-ratelimit: 0
remote-control:
  control-enable: yes
  control-interface: 127.0.0.1
  control-port: 8492
  server-key-file: "$work/nsd/nsd_server.key"
  server-cert-file: "$work/nsd/nsd_server.pem"
  control-key-file: "$work/nsd/nsd_control.key"
  control-cert-file: "$work/nsd/nsd_control.pem"
zone:
  name: big.test
  zonefile: big.test.zone
C
run nsd 5492 "$work/nsd/zones/big.test.zone" "nsd -d -c $work/nsd/nsd.conf" \
    "nsd-control -c $work/nsd/nsd.conf reload big.test"

# Knot
mkdir -p "$work/knot/zones" "$work/knot/db" && cp "$work/zones/big.test.zone" "$work/knot/zones/"
cat > "$work/knot/knot.conf" <<C
server:
    rundir: "$work/knot"
    listen: 127.0.0.1@5493
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$work/knot/db"
template:
  - id: default
    storage: "$work/knot/zones"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
    zonefile-load: whole
    semantic-checks: off
zone:
  - domain: big.test
C
run knot 5493 "$work/knot/zones/big.test.zone" "knotd -c $work/knot/knot.conf" \
    "knotc -c $work/knot/knot.conf zone-reload big.test"
echo
echo "$records records, $rate queries/s during the reload; raw output in $work"
