#!/usr/bin/env bash
# User-space instructions per hot read, counted by valgrind's callgrind: repeatable for the same
# binary and inputs whatever else the machine is doing (throughput on these shared machines
# drifts by a fifth). Each binary serves two runs of keep-alive GETs of one cached profile
# (N1 and N2 requests, 8 connections, ab); instructions per request = the difference of the two
# totals over N2 - N1, so what does not grow with the requests cancels out. Instruments only
# the load: callgrind starts with collection off and is switched on once the server is warm —
# the profile created, its page and link cached, and one click and view through the consumer
# (whose first window builds the user-agent classifier once: ~1 billion instructions that,
# landing in one run and not the other, made the difference meaningless). Kernel work (the
# socket) is not counted: this measures what our code and its libraries add.
#
#   bench/instructions.sh                                  # the release build
#   BASE_BIN=/tmp/linkleaf-old bench/instructions.sh       # and an older build, for A/B
#   BIN=/tmp/linkleaf-new BASE_BIN=... bench/instructions.sh   # a build made before (no build)
#   PATHS="/api/profiles/bench /bench /r/first" N1=2000 N2=12000 bench/instructions.sh
#
# /r/first is the redirect of the profile's first link (its id is known once it is created):
# a 302 whose click is written to the spool before it leaves.
set -euo pipefail
N1=${N1:-2000}
N2=${N2:-12000}
PATHS=${PATHS:-/api/profiles/bench /bench /r/first}
PORT=${PORT:-3920}
LINKS=${LINKS:-16}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind >/dev/null && command -v ab >/dev/null || {
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind apache2-utils >/dev/null
}
if [ -z "${BIN:-}" ]; then
    (cd "$root" && cargo build --release -q -p linkleaf)
    BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"
fi
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
    export LINKLEAF_ANALYTICS__WINDOW_SECS=0.2
    "$bin" migrate 2>/dev/null
    local key out="$work/cg.out"
    key=$("$bin" keys create --name bench --scopes profile:write 2>/dev/null)
    # in a directory of its own: the click spool (clicks.spool_dir) defaults to ./linkleaf-spool
    mkdir -p "$db.d"
    (cd "$db.d" && exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$bin" serve 2>"$work/vg.log") &
    local pid=$!
    for _ in $(seq 300); do curl -fs "http://127.0.0.1:$((PORT + 1))/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
    local made
    made=$(curl -fs -X POST "http://127.0.0.1:$PORT/api/profiles" -H "authorization: Bearer $key" \
        -H 'content-type: application/json' -d "$body")
    if [ "$path" = /r/first ]; then
        path="/r/$(printf '%s' "$made" | python3 -c 'import json, sys; print(json.load(sys.stdin)["links"][0]["id"])')"
    fi
    curl -fs -o /dev/null "http://127.0.0.1:$PORT$path"   # the miss: the rest are hits
    # warm: a click and a view counted by the consumer (its classifiers built), then measure
    local first
    first=$(printf '%s' "$made" | python3 -c 'import json, sys; print(json.load(sys.stdin)["links"][0]["id"])')
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/r/$first"
    curl -fs -o /dev/null -A 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0' \
        "http://127.0.0.1:$PORT/bench"
    for _ in $(seq 600); do
        # both (the view's browser is classified by uap-core and isbot's patterns, each
        # compiled on first use: hundreds of millions of instructions that must not land in
        # one measured run and not the other)
        curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" |
            grep -qE '^linkleaf_events_committed_total ([2-9]|[1-9][0-9]+)$' && break
        sleep 0.5
    done
    callgrind_control -i on "$pid" >/dev/null 2>&1
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
