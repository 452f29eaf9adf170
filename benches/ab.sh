#!/usr/bin/env bash
# ab.sh — two geosteer binaries on the wire, interleaved: the same VM noise for both.
#
#   benches/ab.sh [--rounds N] [--secs S] [--input FILE] BINARY_A BINARY_B
#
# Both binaries serve the shared bench's scenario (../shared/bench/scenario/zones and its GeoIP
# database, one UDP worker, one tokio thread) side by side, server CPUs SERVER_CPUS (default 0),
# dnsperf on PERF_CPUS (default 1). Rounds alternate A, B, A, B, ...: dnsperf saturates one for
# S seconds while the other idles, and the server's user and system CPU time over the round (from
# /proc/PID/task/*/stat) is divided by the queries answered. Comparing two builds one after the
# other on a shared 2-core VM measures the VM; alternating short rounds does not. INPUT is a file
# of the bench's query cache (static.txt, geo-ecs.bin, ...; default static.txt), made by
# ../shared/bench/run.sh on first use. Needs: dnsperf, dig, taskset.
set -euo pipefail
rounds=5 secs=6 input=static.txt
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --secs) secs=$2; shift 2 ;;
        --input) input=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--rounds N] [--secs S] [--input FILE] BINARY_A BINARY_B" >&2; exit 2; }
for c in dnsperf dig taskset; do command -v "$c" >/dev/null || { echo "$c not found" >&2; exit 1; }; done
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH:-$root/../shared/bench}
cache=${BENCH_CACHE:-$HOME/.cache/geosteer-bench}
queries=$cache/queries/$input geoip=$cache/geodata/iptoasn-country-geoip2.mmdb
for f in "$queries" "$geoip"; do
    [ -f "$f" ] || { echo "no $f: run ../shared/bench/run.sh once" >&2; exit 1; }
done
fmt=-e; [[ $input == *.bin ]] && fmt=-B
SERVER_CPUS=${SERVER_CPUS:-0} PERF_CPUS=${PERF_CPUS:-1}
work=$(mktemp -d /tmp/geosteer-ab.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# user and system ticks of every thread of PID
ticks() {
    local u=0 s=0 uu ss
    for t in /proc/"$1"/task/*/stat; do
        read -r uu ss < <(sed 's/.*) //' "$t" | awk '{print $12, $13}')
        u=$((u + uu)) s=$((s + ss))
    done
    echo "$u $s"
}
ports=(5611 5612) bins=("$1" "$2") names=(A B)
for i in 0 1; do
    taskset -c "$SERVER_CPUS" "${bins[$i]}" serve --zones "$bench/scenario/zones" --geoip "$geoip" \
        --listen "127.0.0.1:${ports[$i]}" --threads 1 --udp-workers 1 > "$work/${names[$i]}.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 150); do
        dig +short +time=1 +tries=1 -p "${ports[$i]}" @127.0.0.1 example.com SOA 2>/dev/null | grep -q . && break
        sleep 0.2
    done
done
hz=$(getconf CLK_TCK)
echo "A: $1"
echo "B: $2"
echo "$input, $rounds rounds of $secs s each, servers on CPUs $SERVER_CPUS, dnsperf on $PERF_CPUS"
echo
echo "| round | server | answered | µs/query | user | system |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$rounds"); do
    for i in 0 1; do
        read -r u0 s0 < <(ticks "${pids[$i]}")
        q=$(taskset -c "$PERF_CPUS" dnsperf -s 127.0.0.1 -p "${ports[$i]}" -d "$queries" $fmt -c 4 -T 1 \
            -q 500 -l "$secs" 2>&1 | awk '/Queries completed/ {print $3}')
        read -r u1 s1 < <(ticks "${pids[$i]}")
        awk -v r="$r" -v n="${names[$i]}" -v q="$q" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" 'BEGIN {
            k = 1e6 / hz / q
            printf "| %d | %s | %d | %.2f | %.2f | %.2f |\n", r, n, q, (u + s) * k, u * k, s * k }'
    done
done
