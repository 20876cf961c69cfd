#!/usr/bin/env bash
# Bytes on the wire per page view: what one visit to the benchmark profile's page costs (the
# answer's head and body), for this build and optionally an older one (BASE_BIN), as a browser
# asks (Accept-Encoding: gzip, deflate, br, zstd), with gzip only, and with no compression;
# and what the first visit adds (the stylesheet, once a year per browser).
#
#   bench/bytes.sh
#   BASE_BIN=/tmp/linkleaf-old bench/bytes.sh
set -euo pipefail
PORT=${PORT:-3940}
BASE_PORT=${BASE_PORT:-3944}
LINKS=${LINKS:-16}
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && cargo build --release -q -p linkleaf)
BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
export LINKLEAF_LOG__FILTER=warn
links=$(for i in $(seq 1 "$LINKS"); do
    printf '{"title":"Link number %d: something worth reading","url":"https://example.com/articles/%d/a-reasonably-long-path"},' "$i" "$i"
done)
body=$(printf '{"username":"bench","displayName":"Benchmark Profile","bio":"A profile of typical size, used by bench/run.sh.","avatarUrl":"https://cdn.example.com/avatars/bench.png","theme":{"preset":"dark","accentColor":"#ff8800"},"links":[%s]}' "${links%,}")
start() { # bin port name
    export LINKLEAF_DATABASE__URL="sqlite://$work/$3.db"
    export LINKLEAF_SERVER__LISTEN="127.0.0.1:$2"
    export LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$(($2 + 1))"
    "$1" migrate 2>/dev/null
    local key
    key=$("$1" keys create --name bench --scopes profile:write 2>/dev/null)
    mkdir -p "$work/$3.d"
    (cd "$work/$3.d" && exec "$1" serve 2>"$work/$3.log") &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$(($2 + 1))/healthz" >/dev/null && break; sleep 0.1; done
    curl -fs -o /dev/null -X POST "http://127.0.0.1:$2/api/profiles" -H "authorization: Bearer $key" \
        -H 'content-type: application/json' -d "$body"
}
# bytes URL ACCEPT-ENCODING: head + body bytes as received
bytes() { curl -s -o /dev/null -H "accept-encoding: $2" -w '%{size_header} %{size_download}' "$1"; }
report() { # name port
    local base="http://127.0.0.1:$2"
    printf '%-6s' "$1"
    for enc in "gzip, deflate, br, zstd" "gzip" "identity"; do
        read -r h b < <(bytes "$base/bench" "$enc") || true
        printf ' %8s' "$((h + b))"
    done
    local css
    css=$(curl -s "$base/bench" | sed -n 's/.*<link rel="stylesheet" href="\([^"]*\)".*/\1/p')
    if [ -n "$css" ]; then
        read -r h b < <(bytes "$base$css" "gzip, deflate, br, zstd") || true
        printf ' %10s' "$((h + b))"
    else
        printf ' %10s' "(inline)"
    fi
    echo
}
start "$BIN" "$PORT" this
[ -n "${BASE_BIN:-}" ] && start "$BASE_BIN" "$BASE_PORT" base
echo "bytes on the wire per view of the benchmark page ($LINKS links), head + body"
printf '%-6s %8s %8s %8s %10s\n' build browser gzip none stylesheet
report this "$PORT"
[ -n "${BASE_BIN:-}" ] && report base "$BASE_PORT"
exit 0
