#!/usr/bin/env bash
# dnsperf.sh — geosteer beside NSD on the same zones and the same queries, on loopback.
#
#   benches/dnsperf.sh [--secs N] [--reps N]        (from the repository root)
#
# Each server runs pinned to CPU 1 (taskset), dnsperf pinned to CPU 0 (SERVER_CPUS and PERF_CPUS
# change that, as in ../shared/bench/run.sh). For every run the script
# reads the server's user+system CPU time from /proc and reports queries/s and server CPU µs per
# answered query; the ratio geosteer/NSD is the figure to compare (the machine is shared and noisy:
# absolute numbers move between runs, ratios within one run do not). geosteer runs in four ways:
# its default (metrics on), metrics off, the query log on at its default sampling, response rate
# limiting counting every response (at a limit the benchmark does not reach) and off, and behind
# hickory-server's transport. Beside them runs the floor: benches/echo.c, a batched responder
# that does no DNS work (recvmmsg/sendmmsg, one thread), built with cc. Needs: dnsperf, nsd, dig, cc
# (Debian: dnsperf nsd bind9-dnsutils gcc). Results: a markdown table on stdout.
set -euo pipefail
secs=8 reps=3
while [ $# -gt 0 ]; do
    case $1 in
        --secs) secs=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        *) echo "usage: $0 [--secs N] [--reps N]" >&2; exit 2 ;;
    esac
done
for c in dnsperf nsd dig taskset cc; do command -v "$c" >/dev/null || { echo "$c not found" >&2; exit 1; }; done
root=$(cd "$(dirname "$0")/.." && pwd)
SERVER_CPUS=${SERVER_CPUS:-1} PERF_CPUS=${PERF_CPUS:-0}
export SERVER_CPUS PERF_CPUS
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin=$root/target/release/geosteer
work=$(mktemp -d /tmp/geosteer-dnsperf.XXXXXX)
port_nsd=${PORT_NSD:-5391} port_gs=${PORT_GS:-5392} port_hk=${PORT_HK:-5393}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# the same zone for both: the shipped example
mkdir -p "$work/zones"
cp "$root/zones/example.com.zone" "$work/zones/"
# a fixed query mix over the example zone: answers, CNAME chains, wildcards, NXDOMAIN, referrals
python3 - "$work/queries.txt" <<'PY'
import random, sys
random.seed(7)
names = [("www","A"),("www","AAAA"),("","MX"),("","NS"),("","SOA"),("api","A"),("cdn","A"),
         ("blog","A"),("mail","A"),("_dmarc","TXT"),("_submission._tcp","SRV"),("status","A"),
         ("shop.customers","A"),("nx","A"),("host.lab","A"),("www","TXT")]
with open(sys.argv[1], "w") as f:
    for _ in range(100000):
        n, t = random.choice(names)
        f.write(f"{n + '.' if n else ''}example.com {t}\n")
PY

cat > "$work/nsd.conf" <<C
server:
  ip-address: 127.0.0.1@$port_nsd
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$work/zones"
  database: ""
  zonelistfile: "$work/zone.list"
  xfrdfile: "$work/xfrd.state"
  xfrdir: "$work"
  pidfile: "$work/nsd.pid"
  logfile: "$work/nsd.log"
  hide-version: yes
  rrl-ratelimit: 0
  minimal-responses: yes
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: example.com.zone
C

ticks() { # user+system ticks of every process in the server's session (NSD forks its workers)
    local total=0 p t
    for p in $(ps -s "$1" -o pid= 2>/dev/null); do
        t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || continue
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

start() { # start NAME CMD... -> sets PID
    setsid taskset -c "$SERVER_CPUS" "${@:2}" > "$work/$1.log" 2>&1 &
    PID=$!
    pids+=("$PID")
}

wait_ready() {
    for _ in $(seq 100); do
        dig +short +tries=1 +time=1 -p "$1" @127.0.0.1 example.com SOA 2>/dev/null | grep -q hostmaster && return
        sleep 0.1
    done
    echo "server on port $1 did not answer" >&2; exit 1
}

measure() { # measure NAME PORT PID REP: one run
    local name=$1 port=$2 pid=$3 rep=$4 hz; hz=$(getconf CLK_TCK)
    {
        local c0 c1 out qps done
        c0=$(ticks "$pid")
        out=$(taskset -c "$PERF_CPUS" dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -e -c 4 -T 1 -q 500 -l "$secs" 2>&1)
        c1=$(ticks "$pid")
        qps=$(awk '/Queries per second:/ {print $4}' <<< "$out")
        done=$(awk '/Queries completed:/ {print $3}' <<< "$out")
        awk -v n="$name" -v r="$rep" -v q="$qps" -v d="$done" -v t=$((c1 - c0)) -v hz="$hz" -v s="$secs" \
            'BEGIN { cpu = t / hz; printf "%s,%d,%.0f,%.3f,%.1f\n", n, r, q, cpu / d * 1e6, cpu / s * 100 }'
    }
}

start nsd nsd -d -c "$work/nsd.conf"; nsd_pid=$PID
wait_ready "$port_nsd"
start geosteer "$bin" serve --zones "$work/zones" --listen "127.0.0.1:$port_gs" --threads 1; gs_pid=$PID
wait_ready "$port_gs"
# the same engine behind hickory-server's own UDP/TCP loops ([dns] transport = "hickory")
printf 'zones = "%s"\n[dns]\ntransport = "hickory"\n' "$work/zones" > "$work/hickory.toml"
start geosteer-hickory "$bin" serve --config "$work/hickory.toml" --listen "127.0.0.1:$port_hk" --threads 1; hk_pid=$PID
wait_ready "$port_hk"
# the cost of observability: metrics off, and the query log on at its default sampling (1 in 100,
# at most 1000 lines a second); the plain geosteer row above has metrics on (the default)
port_nm=${PORT_NM:-5394} port_ql=${PORT_QL:-5395}
printf 'zones = "%s"\n[metrics]\nenabled = false\n' "$work/zones" > "$work/nometrics.toml"
start geosteer-nometrics "$bin" serve --config "$work/nometrics.toml" --listen "127.0.0.1:$port_nm" --threads 1; nm_pid=$PID
wait_ready "$port_nm"
printf 'zones = "%s"\n[query_log]\npath = "%s"\n' "$work/zones" "$work/queries.jsonl" > "$work/querylog.toml"
start geosteer-querylog "$bin" serve --config "$work/querylog.toml" --listen "127.0.0.1:$port_ql" --threads 1; ql_pid=$PID
wait_ready "$port_ql"
# response rate limiting: the default exempts loopback, so here every response is counted
# (exempt = []) at a limit no run reaches; and RRL off
port_rl=${PORT_RL:-5396} port_nr=${PORT_NR:-5397} port_echo=${PORT_ECHO:-5398}
printf 'zones = "%s"
[rrl]
responses_per_second = 100000000
exempt = []
' "$work/zones" > "$work/rrl.toml"
start geosteer-rrl "$bin" serve --config "$work/rrl.toml" --listen "127.0.0.1:$port_rl" --threads 1; rl_pid=$PID
wait_ready "$port_rl"
printf 'zones = "%s"
[rrl]
responses_per_second = 0
' "$work/zones" > "$work/norrl.toml"
start geosteer-norrl "$bin" serve --config "$work/norrl.toml" --listen "127.0.0.1:$port_nr" --threads 1; nr_pid=$PID
wait_ready "$port_nr"
# the floor: a batched echo responder
cc -O2 -o "$work/echo" "$root/benches/echo.c"
start echo "$work/echo" "$port_echo"; echo_pid=$PID
for _ in $(seq 50); do
    dig +tries=1 +time=1 -p "$port_echo" @127.0.0.1 example.com SOA 2>/dev/null | grep -q "status:" && break
    sleep 0.1
done

# interleaved: every server once per round, so a slow stretch of the machine hits all of them
for rep in $(seq "$reps"); do
    measure nsd "$port_nsd" "$nsd_pid" "$rep"
    measure geosteer "$port_gs" "$gs_pid" "$rep"
    measure geosteer-nometrics "$port_nm" "$nm_pid" "$rep"
    measure geosteer-querylog "$port_ql" "$ql_pid" "$rep"
    measure geosteer-hickory "$port_hk" "$hk_pid" "$rep"
    measure geosteer-rrl "$port_rl" "$rl_pid" "$rep"
    measure geosteer-norrl "$port_nr" "$nr_pid" "$rep"
    measure echo "$port_echo" "$echo_pid" "$rep"
done > "$work/runs.csv"
echo "query log lines written: $(wc -l < "$work/queries.jsonl")" >&2

python3 - "$work/runs.csv" "$secs" "$reps" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
by = {}
for n, r, q, us, core in rows:
    by.setdefault(n, []).append((float(q), float(us), float(core)))
med = {n: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
           statistics.median(x[2] for x in v), min(x[1] for x in v), max(x[1] for x in v)) for n, v in by.items()}
import os
print(f"dnsperf -c 4 -T 1 -q 500 -l {sys.argv[2]}, {sys.argv[3]} run(s) each, server on CPU {os.environ['SERVER_CPUS']}, dnsperf on CPU {os.environ['PERF_CPUS']}\n")
print("| server | QPS (median) | server µs/query (median, min–max) | × NSD | × floor (echo) | server core busy |")
print("|---|---|---|---|---|---|")
for n in ("echo", "nsd", "geosteer-nometrics", "geosteer", "geosteer-querylog", "geosteer-rrl",
          "geosteer-norrl", "geosteer-hickory"):
    q, us, core, lo, hi = med[n]
    print(f"| {n} | {q/1000:.0f}k | {us:.2f} ({lo:.2f}–{hi:.2f}) | {us/med['nsd'][1]:.2f} | {us/med['echo'][1]:.2f} | {core:.0f} % |")
# the pairs to compare: RRL counting every response vs off, per round (interleaved)
rl = {r: float(us) for n, r, q, us, core in rows if n == "geosteer-rrl"}
nr = {r: float(us) for n, r, q, us, core in rows if n == "geosteer-norrl"}
print("\nRRL on / off per round: " + ", ".join(f"{rl[r]/nr[r]:.3f}" for r in sorted(rl) if r in nr))
PY
echo "raw runs: $work/runs.csv" >&2
