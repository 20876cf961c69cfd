#!/usr/bin/env bash
# The click pipeline end to end, in its production shape: `linkleaf serve` (clicks spooled, then
# forwarded to RabbitMQ with publisher confirms) and `linkleaf consume` (windows of the queue
# committed as rollups into PostgreSQL), on the machine's real servers. wrk follows /r/{link}
# over 160 links for DURATION seconds; then the script waits until the consumer has committed
# every click the server accepted, and prints the sustained rate: clicks accepted divided by the
# time from the first request to the last commit (the drain after the load included).
#
#   scripts/services && bench/pipeline.sh          # 30 s of load, the default 10 s window
#   DURATION=60 WINDOW=10 CONNS=64 bench/pipeline.sh
#
# Uses a database of its own (dropped at the end) and the queue linkleaf-bench-pipeline
# (deleted at the start and at the end). Installs wrk when missing.
set -euo pipefail

DURATION=${DURATION:-30}
WINDOW=${WINDOW:-10}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-1}
PORT=${PORT:-3960}
CONSUMER_OPS=${CONSUMER_OPS:-3963}
QUEUE=linkleaf-bench-pipeline
DB=linkleaf_bench_pipeline_$$

root=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null 2>&1 || {
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
}
echo "building linkleaf (release)..." >&2
(cd "$root" && cargo build --release -q -p linkleaf)
BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"

work=$(mktemp -d)
pids=()
drop_queue() {
    for q in "$QUEUE" "$QUEUE.dlq"; do rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true; done
}
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    drop_queue
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
drop_queue
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null

export LINKLEAF_LOG__FILTER=warn
export LINKLEAF_DATABASE__URL="postgres://postgres@127.0.0.1:5432/$DB"
export LINKLEAF_QUEUE__URL="amqp://guest:guest@127.0.0.1:5672/%2f" LINKLEAF_QUEUE__NAME="$QUEUE"
export LINKLEAF_ANALYTICS__WINDOW_SECS="$WINDOW"
export LINKLEAF_RATE_LIMIT__PER_MINUTE=1000000 LINKLEAF_RATE_LIMIT__BURST=1000000
"$BIN" migrate 2>/dev/null
key=$("$BIN" keys create --name bench --scopes profile:write 2>/dev/null)

LINKLEAF_SERVER__WORKERS="$WORKERS" LINKLEAF_ANALYTICS__CONSUME=false \
    LINKLEAF_CLICKS__SPOOL_DIR="$work/spool" \
    LINKLEAF_SERVER__LISTEN="127.0.0.1:$PORT" LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$((PORT + 1))" \
    "$BIN" serve 2>"$work/serve.log" &
pids+=($!)
start_consumer() {
    LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$CONSUMER_OPS" "$BIN" consume 2>>"$work/consume.log" &
    consumer=$!
    pids+=("$consumer")
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$CONSUMER_OPS/healthz" >/dev/null && break; sleep 0.1; done
}
start_consumer
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((PORT + 1))/healthz" >/dev/null && break; sleep 0.1; done

# 10 profiles of 16 links
ids=()
for p in $(seq 1 10); do
    links=$(for i in $(seq 1 16); do
        printf '{"title":"Link %d","url":"https://example.com/%d/%d"},' "$i" "$p" "$i"
    done)
    body=$(printf '{"username":"bench%d","displayName":"Bench %d","links":[%s]}' "$p" "$p" "${links%,}")
    while read -r id; do ids+=("$id"); done < <(curl -fs -X POST "http://127.0.0.1:$PORT/api/profiles" \
        -H "authorization: Bearer $key" -H 'content-type: application/json' -d "$body" |
        python3 -c 'import json,sys; [print(l["id"]) for l in json.load(sys.stdin)["links"]]')
done
{
    echo 'local ids = {'
    for id in "${ids[@]}"; do echo "\"$id\","; done
    echo '}'
    echo 'local n = 0'
    echo 'request = function() n = n + 1; return wrk.format("GET", "/r/" .. ids[(n % #ids) + 1], {["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}) end'
} >"$work/links.lua"

metric() { # port, series
    curl -fs "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}
now() { date +%s.%N; }

start=$(now)
wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$work/links.lua" "http://127.0.0.1:$PORT" >"$work/wrk.txt"
load_end=$(now)
accepted=$(metric $((PORT + 1)) 'linkleaf_events_accepted_total{kind="click"}')
accepted=${accepted%.*}
committed=0
for _ in $(seq 1200); do # ten minutes at most
    committed=$(metric "$CONSUMER_OPS" linkleaf_events_committed_total)
    committed=${committed%.*}
    [ "${committed:-0}" -ge "$accepted" ] && break
    sleep 0.5
done
done_at=$(now)
duplicates=$(metric "$CONSUMER_OPS" linkleaf_events_duplicate_total)
dlq=$(metric "$CONSUMER_OPS" linkleaf_dlq_depth)
stored=$(psql -qtA -h 127.0.0.1 -U postgres -d "$DB" -c 'SELECT coalesce(sum(click_count), 0) FROM links')

wrk_rps=$(awk '/Requests\/sec/ { print $2 }' "$work/wrk.txt")
p99=$(awk '/^ +99%/ { print $2 }' "$work/wrk.txt")
non3xx=$(awk '/Non-2xx or 3xx/ { print $NF }' "$work/wrk.txt")
echo
echo "pipeline: serve + consume on RabbitMQ and PostgreSQL, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t1 -c$CONNS -d${DURATION}s over ${#ids[@]} links, analytics.window_secs=$WINDOW, serve workers=$WORKERS"
echo "redirects answered: $wrk_rps req/s, p99 $p99${non3xx:+, non-3xx $non3xx}"
echo "clicks accepted: $accepted; committed by the consumer: ${committed:-0}; duplicates skipped: ${duplicates:-0}; dead-lettered: ${dlq:-0}; links.click_count sum: $stored"
awk -v a="$accepted" -v s="$start" -v l="$load_end" -v d="$done_at" 'BEGIN {
    printf "load %.1f s, last commit %.1f s after the load ended; end to end %.0f events/s\n", l - s, d - l, a / (d - s) }'
[ "${committed:-0}" -ge "$accepted" ] || { echo "the consumer did not catch up within ten minutes" >&2; exit 1; }

# Phase 2: the pipeline's own capacity, without wrk and the redirects competing for the two
# cores. The consumer is stopped; a second load piles its clicks up in RabbitMQ (the forwarder
# keeps publishing); then the consumer starts alone and its catch-up is timed.
kill -TERM "$consumer"; wait "$consumer" 2>/dev/null || true
wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$work/links.lua" "http://127.0.0.1:$PORT" >/dev/null
for _ in $(seq 1200); do
    [ "$(metric $((PORT + 1)) linkleaf_spool_backlog_frames)" = 0 ] && break
    sleep 0.5
done
total=$(metric $((PORT + 1)) 'linkleaf_events_accepted_total{kind="click"}')
backlog=$((${total%.*} - accepted))
queued=$(rabbitmqctl -q list_queues name messages | awk -v q="$QUEUE" '$1 == q { print $2 }')
start_consumer
catch_start=$(now)
for _ in $(seq 6000); do
    c=$(metric "$CONSUMER_OPS" linkleaf_events_committed_total)
    [ "${c%.*}" -ge "$backlog" ] && break
    sleep 0.1
done
catch_end=$(now)
commit_sum=$(metric "$CONSUMER_OPS" linkleaf_window_commit_seconds_sum)
commit_count=$(metric "$CONSUMER_OPS" linkleaf_window_commit_seconds_count)
consumer_cpu=$(ps -o times= -p "$consumer" | tr -d ' ')
stored=$(psql -qtA -h 127.0.0.1 -U postgres -d "$DB" -c 'SELECT coalesce(sum(click_count), 0) FROM links')
awk -v b="$backlog" -v q="$queued" -v s="$catch_start" -v e="$catch_end" -v st="$stored" -v t="${total%.*}" 'BEGIN {
    printf "catch-up: %d clicks waiting in RabbitMQ (%s messages) committed by a fresh consumer in %.1f s: %.0f events/s; links.click_count sum %d of %d accepted\n", b, q, e - s, b / (e - s), st, t }'
echo "catch-up: $commit_count windows committed in ${commit_sum} s of commits; the consumer used ${consumer_cpu} s of CPU"
