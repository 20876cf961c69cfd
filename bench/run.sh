#!/usr/bin/env bash
# The read-path benchmark: linkleaf's hot JSON and HTML reads against nginx serving the very same
# bytes as static files, alternated in one run, on loopback; and the page as its QR code opens it
# (`/bench?src=qr`: the same bytes, its view counted under the source `qr`).
#
#   bench/run.sh                 # 3 rounds of 8 s per server and representation, 64 connections
#   ROUNDS=5 DURATION=10 CONNS=64 WORKERS=1 bench/run.sh
#   BASE_BIN=/tmp/linkleaf-old bench/run.sh   # also an older build, alternated in the same run,
#                                             # against nginx serving that build's own bytes
#   BASE_URL_PAD=48 BASE_BIN=... bench/run.sh  # the older build's link URLs 48 bytes longer each,
#                                             # to give its page as many bytes as this one's
#   ENCODING=gzip bench/run.sh   # every request asks Accept-Encoding: gzip; nginx answers with
#                                # gzip_static from linkleaf's own gzip bytes (bench.gz)
#   ENCODING=br bench/run.sh     # the same with brotli and nginx's brotli_static (Debian's
#                                # libnginx-mod-http-brotli-static, installed when missing)
#
# Installs wrk and nginx from Debian's packages when missing (needs root or sudo). Prints, per
# representation, the median req/s and p99 of each server and the ratio linkleaf / nginx, and the
# server's own CPU time per answer (all its threads, from /proc/PID/task/*/schedstat) with its
# ratio nginx / server (above 1: less CPU per answer than nginx). Absolute figures drift on
# shared machines: only the ratios of one run mean anything.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}          # linkleaf's tokio workers (wrk takes the other core)
LINKS=${LINKS:-16}             # links on the benchmark profile (16 gives ~3.4 KB of JSON)
PORT=${PORT:-3900}
NGINX_PORT=${NGINX_PORT:-3902}
BASE_PORT=${BASE_PORT:-3904}
ENCODING=${ENCODING:-identity}  # identity, gzip or br

root=$(cd "$(dirname "$0")/.." && pwd)
need() { command -v "$1" >/dev/null 2>&1; }
install() {
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}
need wrk || install wrk
need nginx || [ -x /usr/sbin/nginx ] || install nginx-light || install nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
brotli_module=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
if [ "$ENCODING" = br ] && [ ! -f "$brotli_module" ]; then install libnginx-mod-http-brotli-static; fi
wrk_headers=()
[ "$ENCODING" = identity ] || wrk_headers=(-H "Accept-Encoding: $ENCODING")

echo "building linkleaf (release)..." >&2
(cd "$root" && cargo build --release -q -p linkleaf)
BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    [ -s "$work/nginx-error.log" ] && sed 's/^/nginx: /' "$work/nginx-error.log" >&2
    rm -rf "$work"
}
trap cleanup EXIT

export LINKLEAF_SERVER__WORKERS="$WORKERS"
export LINKLEAF_LOG__FILTER=warn

# A profile like a real one: a bio, an avatar, a theme and $LINKS links.
links=$(for i in $(seq 1 "$LINKS"); do
    printf '{"title":"Link number %d: something worth reading","url":"https://example.com/articles/%d/a-reasonably-long-path"},' "$i" "$i"
done)
body=$(printf '{"username":"bench","displayName":"Benchmark Profile","bio":"A profile of typical size, used by bench/run.sh.","avatarUrl":"https://cdn.example.com/avatars/bench.png","theme":{"preset":"dark","accentColor":"#ff8800"},"links":[%s]}' "${links%,}")

# start_linkleaf BIN PORT NAME: a fresh database, a key, the bench profile; ops on PORT+1
start_linkleaf() {
    local bin=$1 port=$2 name=$3
    export LINKLEAF_DATABASE__URL="sqlite://$work/$name.db"
    export LINKLEAF_SERVER__LISTEN="127.0.0.1:$port"
    export LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$((port + 1))"
    "$bin" migrate 2>/dev/null
    local key
    key=$("$bin" keys create --name bench --scopes profile:write 2>/dev/null)
    # in a directory of its own: the click spool (clicks.spool_dir) defaults to ./linkleaf-spool
    mkdir -p "$work/$name.d"
    (cd "$work/$name.d" && exec "$bin" serve 2>"$work/$name.log") &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((port + 1))/healthz" >/dev/null && break; sleep 0.1; done
    curl -fs -o /dev/null -X POST "http://127.0.0.1:$port/api/profiles" -H "authorization: Bearer $key" \
        -H 'content-type: application/json' -d "$body"
}
start_linkleaf "$BIN" "$PORT" linkleaf
if [ -n "${BASE_URL_PAD:-}" ]; then
    pad=$(printf -- "-%${BASE_URL_PAD}s" "" | tr ' ' p | cut -c1-"$BASE_URL_PAD")
    body=${body//a-reasonably-long-path/a-reasonably-long-path$pad}
fi
if [ -n "${BASE_BIN:-}" ]; then start_linkleaf "$BASE_BIN" "$BASE_PORT" base; fi

mkdir -p "$work/www/api/profiles"
curl -fs "http://127.0.0.1:$PORT/api/profiles/bench" -o "$work/www/api/profiles/bench"
curl -fs "http://127.0.0.1:$PORT/bench" -o "$work/www/bench"
json_bytes=$(wc -c <"$work/www/api/profiles/bench")
html_bytes=$(wc -c <"$work/www/bench")
# the compressed forms linkleaf made, for nginx's gzip_static / brotli_static to serve as they are
ext=""
case $ENCODING in gzip) ext=gz ;; br) ext=br ;; esac
if [ -n "$ext" ]; then
    for f in api/profiles/bench bench; do
        path=/$f
        curl -fs -H "accept-encoding: $ENCODING" "http://127.0.0.1:$PORT$path" -o "$work/www/$f.$ext"
    done
    json_bytes="$json_bytes ($(wc -c <"$work/www/api/profiles/bench.$ext") as $ENCODING)"
    html_bytes="$html_bytes ($(wc -c <"$work/www/bench.$ext") as $ENCODING)"
fi
# an older build may render other bytes (a page's markup changes): nginx serves its own too,
# under /base/, and its ratio is to those ("nginx-base")
if [ -n "${BASE_BIN:-}" ]; then
    mkdir -p "$work/www/base/api/profiles"
    curl -fs "http://127.0.0.1:$BASE_PORT/api/profiles/bench" -o "$work/www/base/api/profiles/bench"
    curl -fs "http://127.0.0.1:$BASE_PORT/bench" -o "$work/www/base/bench"
    base_json_bytes=$(wc -c <"$work/www/base/api/profiles/bench")
    base_html_bytes=$(wc -c <"$work/www/base/bench")
fi

# nginx's worker runs as another user: let it read the files (mktemp -d makes the folder 0700)
chmod 755 "$work"
chmod -R a+rX "$work/www"
load=""; static=""
case $ENCODING in
gzip) static="gzip_static on; gzip_vary on;" ;;
br) load="load_module $brotli_module;"; static="brotli_static on; gzip_vary on;" ;;
esac
cat >"$work/nginx.conf" <<NGINX
$load
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    $static
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $work/www;
        location = /api/profiles/bench { default_type application/json; }
        location = /bench { default_type text/html; }
        location = /base/api/profiles/bench { default_type application/json; }
        location = /base/bench { default_type text/html; }
    }
}
NGINX
"$NGINX" -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$NGINX_PORT/bench" && break; sleep 0.1; done
# both servers answer in the coding asked for, or the comparison is not the one claimed
if [ "$ENCODING" != identity ]; then
    for u in "http://127.0.0.1:$NGINX_PORT/bench" "http://127.0.0.1:$PORT/bench" \
        "http://127.0.0.1:$NGINX_PORT/api/profiles/bench" "http://127.0.0.1:$PORT/api/profiles/bench"; do
        got=$(curl -fs -D - -o /dev/null -H "accept-encoding: $ENCODING" "$u" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')
        [ "$got" = "$ENCODING" ] || { echo "$u answered content-encoding '$got', not $ENCODING" >&2; exit 1; }
    done
fi

# cpu_ns PID: the CPU time the process has used (all its threads), in nanoseconds
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# one wrk run against URL served by PID: prints "req_per_sec p99_ms cpu_ns_per_request"; the
# last is the server's own CPU time per answer, which drifts less than req/s when wrk and the
# server share two cores
measure() {
    local before after
    before=$(cpu_ns "$2")
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "${wrk_headers[@]}" "$1" >"$work/wrk.txt"
    after=$(cpu_ns "$2")
    # an error page is not the answer measured (nginx unable to read its files answers 403)
    if grep -q "Non-2xx" "$work/wrk.txt"; then
        echo "$1 answered errors:" >&2
        cat "$work/wrk.txt" >&2
        exit 1
    fi
    awk -v cpu=$((after - before)) '
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; p99 = v }
        END { printf "%.0f %.3f %.0f\n", rps, p99, n ? cpu / n : 0 }' "$work/wrk.txt"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A rps p99 cpu pid
pid[linkleaf]=${pids[0]}
pid[nginx]=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)   # the one worker
targets=(
    "json nginx http://127.0.0.1:$NGINX_PORT/api/profiles/bench"
    "json linkleaf http://127.0.0.1:$PORT/api/profiles/bench"
    "html nginx http://127.0.0.1:$NGINX_PORT/bench"
    "html linkleaf http://127.0.0.1:$PORT/bench"
    # the page as a QR code opens it: the same bytes, a view counted under the source qr
    "qr nginx http://127.0.0.1:$NGINX_PORT/bench?src=qr"
    "qr linkleaf http://127.0.0.1:$PORT/bench?src=qr"
)
servers=(nginx linkleaf)
if [ -n "${BASE_BIN:-}" ]; then
    pid[base]=${pids[1]}
    pid[nginx-base]=${pid[nginx]}
    targets+=("json nginx-base http://127.0.0.1:$NGINX_PORT/base/api/profiles/bench"
        "json base http://127.0.0.1:$BASE_PORT/api/profiles/bench"
        "html nginx-base http://127.0.0.1:$NGINX_PORT/base/bench"
        "html base http://127.0.0.1:$BASE_PORT/bench")
    servers+=(nginx-base base)
fi
# warm both servers
for t in "${targets[@]}"; do set -- $t; wrk -t1 -c8 -d1s "$3" >/dev/null; done
for r in $(seq 1 "$ROUNDS"); do
    for t in "${targets[@]}"; do
        set -- $t
        read -r q l c < <(measure "$3" "${pid[$2]}")
        rps[$1.$2]+="$q "
        p99[$1.$2]+="$l "
        cpu[$1.$2]+="$c "
        echo "round $r: $1 $2 $q req/s p99 ${l} ms, server CPU ${c} ns/request" >&2
    done
done

hits=$(curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" | awk '/^linkleaf_cache_hits_total\{cache="profile"\}/ { print $2 }')
views=$(curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" | awk '/^linkleaf_events_accepted_total\{kind="view"\}/ { print $2 }')
echo
echo "linkleaf read path vs nginx static, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t$THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds (medians), linkleaf workers=$WORKERS, Accept-Encoding: $ENCODING"
echo "JSON body $json_bytes bytes, HTML body $html_bytes bytes; linkleaf cache hits during the run: $hits; page views recorded: ${views:-0}"
[ -n "${BASE_BIN:-}" ] && echo "base = $BASE_BIN (JSON $base_json_bytes bytes, HTML $base_html_bytes bytes; its ratios are to nginx-base, nginx serving those)"
printf '%-6s %-10s %12s %10s %8s %14s %10s\n' repr server req/s p99_ms ratio cpu_ns/req cpu_ratio
for repr in json html qr; do
    for s in "${servers[@]}"; do
        [ "$repr" = qr ] && case $s in base | nginx-base) continue ;; esac
        ref=nginx
        case $s in base | nginx-base) ref=nginx-base ;; esac
        n=$(tr ' ' '\n' <<<"${rps[$repr.$ref]}" | grep . | median)
        nc=$(tr ' ' '\n' <<<"${cpu[$repr.$ref]}" | grep . | median)
        q=$(tr ' ' '\n' <<<"${rps[$repr.$s]}" | grep . | median)
        l=$(tr ' ' '\n' <<<"${p99[$repr.$s]}" | grep . | median)
        c=$(tr ' ' '\n' <<<"${cpu[$repr.$s]}" | grep . | median)
        printf '%-6s %-10s %12s %10s %8.2f %14s %10.2f\n' "$repr" "$s" "$q" "$l" \
            "$(awk -v a="$q" -v b="$n" 'BEGIN { print a / b }')" "$c" "$(awk -v a="$nc" -v b="$c" 'BEGIN { print a / b }')"
    done
done
