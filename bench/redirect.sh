#!/usr/bin/env bash
# The redirect benchmark: linkleaf's GET /r/{link} — the click written to the spool (group
# commit) before the 302 leaves — against nginx answering `return 302` with the same Location,
# alternated in one run, on loopback. (The page read, whose views are recorded too, is
# bench/run.sh's.) The consumer runs as it does in production, catching up in the background.
#
#   bench/redirect.sh                          # 3 rounds of 8 s each, 64 connections
#   ROUNDS=5 DURATION=10 CONNS=64 WORKERS=1 FSYNC=interval bench/redirect.sh
#
# Installs wrk and nginx from Debian's packages when missing. Prints medians of req/s and p99,
# the ratio to nginx, and what the spool took during the run (every 302 is a click written).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-1}
FSYNC=${FSYNC:-interval}
PORT=${PORT:-3940}
NGINX_PORT=${NGINX_PORT:-3942}

root=$(cd "$(dirname "$0")/.." && pwd)
need() { command -v "$1" >/dev/null 2>&1; }
install() {
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}
need wrk || install wrk
need nginx || [ -x /usr/sbin/nginx ] || install nginx-light || install nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

echo "building linkleaf (release)..." >&2
(cd "$root" && cargo build --release -q -p linkleaf)
BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"

work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export LINKLEAF_SERVER__WORKERS="$WORKERS" LINKLEAF_LOG__FILTER=warn
export LINKLEAF_DATABASE__URL="sqlite://$work/bench.db" LINKLEAF_CLICKS__SPOOL_DIR="$work/spool"
export LINKLEAF_CLICKS__FSYNC="$FSYNC"
export LINKLEAF_SERVER__LISTEN="127.0.0.1:$PORT" LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$((PORT + 1))"
"$BIN" migrate 2>/dev/null
key=$("$BIN" keys create --name bench --scopes profile:write 2>/dev/null)
"$BIN" serve 2>"$work/linkleaf.log" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((PORT + 1))/healthz" >/dev/null && break; sleep 0.1; done
links=$(for i in $(seq 1 16); do
    printf '{"title":"Link number %d: something worth reading","url":"https://example.com/articles/%d/a-reasonably-long-path"},' "$i" "$i"
done)
body=$(printf '{"username":"bench","displayName":"Benchmark Profile","bio":"A profile of typical size.","avatarUrl":"https://cdn.example.com/avatars/bench.png","theme":{"preset":"dark","accentColor":"#ff8800"},"links":[%s]}' "${links%,}")
link=$(curl -fs -X POST "http://127.0.0.1:$PORT/api/profiles" -H "authorization: Bearer $key" \
    -H 'content-type: application/json' -d "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["links"][0]["id"])')
location=$(curl -fs -o /dev/null -w '%{redirect_url}' "http://127.0.0.1:$PORT/r/$link")
mkdir -p "$work/www"
curl -fs "http://127.0.0.1:$PORT/bench" -o "$work/www/bench"

cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $work/www;
        location /r/ { add_header Cache-Control no-store; return 302 $location; }
        location = /bench { default_type text/html; }
    }
}
NGINX
"$NGINX" -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$NGINX_PORT/bench" && break; sleep 0.1; done

measure() {
    wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$1" | awk '
        /Requests\/sec/ { rps = $2 }
        /Non-2xx or 3xx/ { bad = $NF }
        /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; p99 = v }
        END { printf "%.0f %.3f\n", rps, p99 }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
metric() { curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

declare -A rps p99
targets=(
    "redirect nginx http://127.0.0.1:$NGINX_PORT/r/$link"
    "redirect linkleaf http://127.0.0.1:$PORT/r/$link"
)
for t in "${targets[@]}"; do set -- $t; wrk -t1 -c8 -d1s "$3" >/dev/null; done
clicks_before=$(metric 'linkleaf_events_accepted_total{kind="click"}')
for r in $(seq 1 "$ROUNDS"); do
    for t in "${targets[@]}"; do
        set -- $t
        read -r q l < <(measure "$3")
        rps[$1.$2]+="$q "
        p99[$1.$2]+="$l "
        echo "round $r: $1 $2 $q req/s p99 ${l} ms" >&2
    done
done
clicks=$(metric 'linkleaf_events_accepted_total{kind="click"}')
dropped=$(curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" | awk '/^linkleaf_events_dropped_total/ { s += $2 } END { print s + 0 }')
unrecorded=$(metric linkleaf_clicks_unrecorded_total)

echo
echo "linkleaf /r/{link} vs nginx return 302, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t1 -c$CONNS -d${DURATION}s, $ROUNDS rounds (medians), linkleaf workers=$WORKERS, clicks.fsync=$FSYNC"
echo "clicks written during the measured runs: $((${clicks%.*} - ${clicks_before%.*})); events dropped: $dropped; clicks unrecorded: ${unrecorded:-0}"
printf '%-9s %-9s %12s %10s %8s\n' what server req/s p99_ms ratio
for what in redirect; do
    n=$(tr ' ' '\n' <<<"${rps[$what.nginx]}" | grep . | median)
    for s in nginx linkleaf; do
        q=$(tr ' ' '\n' <<<"${rps[$what.$s]}" | grep . | median)
        l=$(tr ' ' '\n' <<<"${p99[$what.$s]}" | grep . | median)
        printf '%-9s %-9s %12s %10s %8.2f\n' "$what" "$s" "$q" "$l" "$(awk -v a="$q" -v b="$n" 'BEGIN { print a / b }')"
    done
done
