#!/usr/bin/env bash
# instructions.sh — user-space instructions per answered query, geosteer beside the peers, counted
# by valgrind (callgrind): a figure that does not move with the machine's noise, where the CPU
# time of ../shared/bench/run.sh moves ±10–20 % between runs on a shared 2-core VM.
#
#   benches/instructions.sh [--queries N] [--rate QPS] [--inputs LIST] [SERVER...]
#       SERVER: geosteer gdnsd knot knot-geoip nsd (default: geosteer gdnsd knot knot-geoip nsd)
#
# Each server is configured by the shared bench's own peer scripts (../shared/bench/peers, the
# same scenario, zones, steering and databases as run.sh), started under
# `valgrind --tool=callgrind --trace-children=yes`, sent N queries of each input by dnsperf at a
# fixed rate, and its counters are read after exactly those queries (zeroed before, dumped
# after). The figure is every instruction the server's processes executed in user space, divided
# by the queries answered: the query path, the receive and send loop, metrics, timers, whatever
# else runs. The kernel's share (most of the CPU per query, the same for every server) is not in
# it. At the default rate each query arrives on its own (no batching), the same for every server;
# `--rate 30000` saturates the slowed-down servers instead (batches as wide as each server takes).
#
# Needs: valgrind, dnsperf, the peers (../shared/bench/install.sh) and the bench's geodata and
# query files (made by ../shared/bench/run.sh on first use, in BENCH_CACHE). geosteer is
# target/release/geosteer (GEOSTEER overrides). Output: a markdown table on stdout.
set -euo pipefail
queries=20000 rate=2000 inputs=static.txt,geo-ecs.bin servers=()
while [ $# -gt 0 ]; do
    case $1 in
        --queries) queries=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --inputs) inputs=$2; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) servers+=("$1"); shift ;;
    esac
done
[ ${#servers[@]} -gt 0 ] || servers=(geosteer gdnsd knot knot-geoip nsd)
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${BENCH:-$root/../shared/bench}
cache=${BENCH_CACHE:-$HOME/.cache/geosteer-bench}
for c in valgrind callgrind_control dnsperf dig; do
    command -v "$c" >/dev/null || { echo "$c not found" >&2; exit 1; }
done
[ -d "$bench/peers" ] || { echo "no peer scripts in $bench/peers" >&2; exit 1; }
for f in ${inputs//,/ }; do
    [ -f "$cache/queries/$f" ] || { echo "no $cache/queries/$f: run ../shared/bench/run.sh once" >&2; exit 1; }
done
export MMDB_GEOIP2=$cache/geodata/iptoasn-country-geoip2.mmdb MMDB_FLAT=$cache/geodata/iptoasn-country.mmdb
export GEOSTEER=${GEOSTEER:-$root/target/release/geosteer}
export GEOSTEER_ARGS=${GEOSTEER_ARGS:-"serve --zones {zones} --geoip {geoip} --listen {listen} --threads 1 --udp-workers {workers}"}
declare -A steers=([geosteer]=1 [gdnsd]=1 [knot-geoip]=1)
work=$(mktemp -d /tmp/geosteer-instructions.XXXXXX)
port=${PORT:-5380}
vg=
cleanup() { [ -n "$vg" ] && kill "$vg" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

# measure SERVER INPUT -> "answered instructions"
measure() {
    local name=$1 input=$2 dir=$work/$1-${2%%.*} fmt=-e answered
    [[ $input == *.bin ]] && fmt=-B
    mkdir -p "$dir"
    "$bench/peers/$name.sh" "$port" 1 "$dir" > "$dir/config.log" 2>&1
    valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/cg.%p" \
        "$dir/start" > "$dir/server.log" 2>&1 &
    vg=$!
    for _ in $(seq 600); do
        dig +short +tries=1 +time=1 -p "$port" @127.0.0.1 example.com SOA 2>/dev/null | grep -q . && break
        sleep 0.2
    done
    callgrind_control -z > /dev/null 2>&1
    answered=$(dnsperf -s 127.0.0.1 -p "$port" -d "$cache/queries/$input" $fmt -c 4 -T 1 -q 50 \
        -n 100 -Q "$rate" -l $(((queries + rate - 1) / rate)) 2>&1 | awk '/Queries completed/ {print $3}')
    callgrind_control -d > /dev/null 2>&1
    sleep 1
    kill "$vg" 2>/dev/null; wait "$vg" 2>/dev/null || true; vg=
    # the explicit dump of every process the server is (NSD forks): files cg.PID.1
    echo "$answered $(cat "$dir"/cg.*.1 2>/dev/null | awk '/^summary:/ {s += $2} END {print s + 0}')"
}

echo "valgrind --tool=callgrind, $queries queries per input at $rate queries/s, one worker each ($(date '+%Y-%m-%d %H:%M'))"
echo
echo "| server | input | answered | user-space instructions per answered query |"
echo "|---|---|---|---|"
for s in "${servers[@]}"; do
    for input in ${inputs//,/ }; do
        if [[ $input == *geo* || $input == *ecs* ]] && [ -z "${steers[$s]:-}" ]; then continue; fi
        read -r answered instr < <(measure "$s" "$input")
        awk -v s="$s" -v i="$input" -v a="$answered" -v n="$instr" \
            'BEGIN { printf "| %s | %s | %d | %s |\n", s, i, a, (a > 0 ? sprintf("%.0f", n / a) : "–") }'
    done
done
echo "work directory: $work" >&2
