#!/usr/bin/env bash
# The read path's three tiers beside nginx, in one run, on PostgreSQL and Redis:
#   - L1 hit: one hot profile from the in-process cache (what bench/run.sh measures);
#   - L2 hit: an instance whose L1 holds nothing (cache.max_bytes = 1), so every read is
#     answered from Redis; wrk rotates over PROFILES profiles, so single-flight cannot merge
#     concurrent reads into one;
#   - origin: an instance without Redis whose L1 holds nothing, so every read is a PostgreSQL
#     read and a render, over the same rotation;
#   - nginx serving the same JSON from a file.
#
#   bench/tiers.sh                        # 3 rounds of 8 s, 64 connections, linkleaf workers=1
#   ROUNDS=5 DURATION=10 PROFILES=1000 bench/tiers.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (a database is created and dropped) and Redis on 6379 (a key
# prefix of its own); scripts/services starts them.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-1}
PROFILES=${PROFILES:-1000}
PORT=${PORT:-3960}
NGINX_PORT=${NGINX_PORT:-3969}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

root=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || {
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light >/dev/null
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
(cd "$root" && cargo build --release -q -p linkleaf)
BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"

work=$(mktemp -d)
db="linkleaf_bench_$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    sleep 0.5
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$PG_ADMIN" -qc "CREATE DATABASE $db" >/dev/null
export LINKLEAF_DATABASE__URL="${PG_ADMIN%/*}/$db"
export LINKLEAF_REDIS__PREFIX="bench$$"
export LINKLEAF_LOG__FILTER=warn LINKLEAF_SERVER__WORKERS=$WORKERS
export LINKLEAF_RATE_LIMIT__PER_MINUTE=100000000 LINKLEAF_RATE_LIMIT__BURST=100000000
"$BIN" migrate 2>/dev/null
KEY=$("$BIN" keys create --name bench --scopes profile:write 2>/dev/null)

# start NAME PORT [ENV=VALUE...]: an instance with its ops listener on PORT+1
start() {
    local name=$1 port=$2; shift 2
    env "$@" LINKLEAF_SERVER__LISTEN="127.0.0.1:$port" LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$((port + 1))" \
        LINKLEAF_CLICKS__SPOOL_DIR="$work/spool-$name" \
        "$BIN" serve 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((port + 1))/healthz" >/dev/null && return; sleep 0.1; done
    echo "$name did not start" >&2; exit 1
}
start l1 "$PORT" LINKLEAF_REDIS__URL="$REDIS_URL"
start l2 "$((PORT + 2))" LINKLEAF_REDIS__URL="$REDIS_URL" LINKLEAF_CACHE__MAX_BYTES=1
start origin "$((PORT + 4))" LINKLEAF_CACHE__MAX_BYTES=1

echo "creating $PROFILES profiles..." >&2
links=$(for i in $(seq 1 16); do printf '{"title":"Link number %d: something worth reading","url":"https://example.com/articles/%d/a-reasonably-long-path"},' "$i" "$i"; done)
for i in $(seq 1 "$PROFILES"); do
    printf '{"username":"user%d","displayName":"Benchmark Profile","bio":"A profile of typical size.","avatarUrl":"https://cdn.example.com/avatars/bench.png","theme":{"preset":"dark","accentColor":"#ff8800"},"links":[%s]}\n' "$i" "${links%,}"
done >"$work/bodies"
xargs -P 4 -d '\n' -I{} curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/api/profiles" \
    -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d {} <"$work/bodies"

mkdir -p "$work/www/api/profiles"
curl -fs "http://127.0.0.1:$PORT/api/profiles/user1" -o "$work/www/api/profiles/user1"
# nginx's worker runs as another user (nobody): let it read the files (mktemp -d makes 0700);
# without this it answered 403 and the comparison measured its error page
chmod 755 "$work"
chmod -R a+rX "$work/www"
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
    server { listen 127.0.0.1:$NGINX_PORT; root $work/www; location /api/profiles/ { default_type application/json; } }
}
NGINX
"$NGINX" -c "$work/nginx.conf" -p "$work"
cat >"$work/rotate.lua" <<EOF
counter = 0
request = function()
  counter = counter % $PROFILES + 1
  return wrk.format("GET", "/api/profiles/user" .. counter)
end
EOF

measure() { # url [script]
    local script=()
    [ -n "${2:-}" ] && script=(-s "$2")
    wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${script[@]}" "$1" | awk '
        /Requests\/sec/ { rps = $2 }
        /Non-2xx/ { bad = 1 }
        /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; p99 = v }
        END { if (bad) { print "errors answered: not measured" > "/dev/stderr"; exit 1 }; printf "%.0f %.3f\n", rps, p99 }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A rps p99
targets=(
    "nginx http://127.0.0.1:$NGINX_PORT/api/profiles/user1 -"
    "L1 http://127.0.0.1:$PORT/api/profiles/user1 -"
    "L2 http://127.0.0.1:$((PORT + 2)) $work/rotate.lua"
    "origin http://127.0.0.1:$((PORT + 4)) $work/rotate.lua"
)
for t in "${targets[@]}"; do set -- $t; s=$3; [ "$s" = - ] && s=""; wrk -t1 -c8 -d1s ${s:+-s "$s"} "$2" >/dev/null; done
for r in $(seq 1 "$ROUNDS"); do
    for t in "${targets[@]}"; do
        set -- $t; s=$3; [ "$s" = - ] && s=""
        read -r q l < <(measure "$2" "$s")
        rps[$1]+="$q "; p99[$1]+="$l "
        echo "round $r: $1 $q req/s p99 $l ms" >&2
    done
done
metric() { curl -fs "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
echo
echo "read tiers vs nginx, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t1 -c$CONNS -d${DURATION}s, $ROUNDS rounds (medians), linkleaf workers=$WORKERS, $PROFILES profiles"
echo "L2 instance: tier hits $(metric $((PORT + 3)) 'linkleaf_l2_requests_total{cache="profile",outcome="hit"}'), origin loads $(metric $((PORT + 3)) 'linkleaf_origin_loads_total{cache="profile",outcome="found"}'); origin instance: database reads $(metric $((PORT + 5)) 'linkleaf_db_page_reads_total{from="replica"}')"
n=$(tr ' ' '\n' <<<"${rps[nginx]}" | grep . | median)
printf '%-8s %12s %10s %8s\n' tier req/s p99_ms vs_nginx
for s in nginx L1 L2 origin; do
    q=$(tr ' ' '\n' <<<"${rps[$s]}" | grep . | median)
    l=$(tr ' ' '\n' <<<"${p99[$s]}" | grep . | median)
    printf '%-8s %12s %10s %8.2f\n' "$s" "$q" "$l" "$(awk -v a="$q" -v b="$n" 'BEGIN { print a / b }')"
done
