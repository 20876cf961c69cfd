#!/usr/bin/env bash
# User-space instructions per hot read, counted by valgrind's callgrind: repeatable for the same
# binary and inputs whatever else the machine is doing (throughput on these shared machines
# drifts by a fifth). Each binary serves two runs of keep-alive GETs of one cached profile
# (N1 and N2 requests, 8 connections, ab); instructions per request = the difference of the two
# totals over N2 - N1, so start-up and shutdown cancel out. Kernel work (the socket) is not
# counted: this measures what our code and its libraries add.
#
#   bench/instructions.sh                                  # the release build
#   BASE_BIN=/tmp/linkleaf-old bench/instructions.sh       # and an older build, for A/B
#   PATHS="/api/profiles/bench /bench" N1=2000 N2=12000 bench/instructions.sh
set -euo pipefail
N1=${N1:-2000}
N2=${N2:-12000}
PATHS=${PATHS:-/api/profiles/bench /bench}
PORT=${PORT:-3920}
LINKS=${LINKS:-16}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind >/dev/null && command -v ab >/dev/null || {
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind apache2-utils >/dev/null
}
(cd "$root" && cargo build --release -q -p linkleaf)
BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

links=$(for i in $(seq 1 "$LINKS"); do
    printf '{"title":"Link number %d: something worth reading","url":"https://example.com/articles/%d/a-reasonably-long-path"},' "$i" "$i"
done)
body=$(printf '{"username":"bench","displayName":"Benchmark Profile","bio":"A profile of typical size.","avatarUrl":"https://cdn.example.com/avatars/bench.png","theme":{"preset":"dark","accentColor":"#ff8800"},"links":[%s]}' "${links%,}")

# count BIN PATH N: total instructions of a server that answered N requests for PATH
count() {
    local bin=$1 path=$2 n=$3 db="$work/i-$RANDOM.db"
    export LINKLEAF_DATABASE__URL="sqlite://$db" LINKLEAF_LOG__FILTER=warn LINKLEAF_SERVER__WORKERS=1
    export LINKLEAF_SERVER__LISTEN="127.0.0.1:$PORT" LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$((PORT + 1))"
    "$bin" migrate 2>/dev/null
    local key out="$work/cg.out"
    key=$("$bin" keys create --name bench --scopes profile:write 2>/dev/null)
    # in a directory of its own: the click spool (clicks.spool_dir) defaults to ./linkleaf-spool
    mkdir -p "$db.d"
    (cd "$db.d" && exec valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve 2>"$work/vg.log") &
    local pid=$!
    for _ in $(seq 300); do curl -fs "http://127.0.0.1:$((PORT + 1))/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
    curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/api/profiles" -H "authorization: Bearer $key" \
        -H 'content-type: application/json' -d "$body"
    curl -fs -o /dev/null "http://127.0.0.1:$PORT$path"   # the miss: the rest are hits
    ab -q -k -n "$n" -c 8 "http://127.0.0.1:$PORT$path" >"$work/ab.txt" 2>&1
    grep -q "Failed requests:        0" "$work/ab.txt" || { cat "$work/ab.txt" >&2; exit 1; }
    kill -TERM "$pid"; wait "$pid" || true
    awk '/^summary:/ { print $2 }' "$out"
    rm -rf "$out" "$db"*
}

echo "user-space instructions per request (callgrind), $(date -u +%Y-%m-%d), N2-N1 = $((N2 - N1)) requests"
printf '%-22s %-12s %14s\n' path binary instr/request
for path in $PATHS; do
    for b in "$BIN" ${BASE_BIN:-}; do
        a=$(count "$b" "$path" "$N1")
        z=$(count "$b" "$path" "$N2")
        name=current; [ "$b" = "$BIN" ] || name=base
        printf '%-22s %-12s %14.0f\n' "$path" "$name" "$(awk -v a="$a" -v z="$z" -v d="$((N2 - N1))" 'BEGIN { print (z - a) / d }')"
    done
done
