#!/usr/bin/env bash
# Does cache.max_bytes bound the process's memory? The release binary runs with a small bound;
# wrk then reads (1) hundreds of thousands of distinct unknown names (negative entries, with a
# long negative TTL so none expire) and (2) many real profiles, each in turn, round and round,
# so that every read after the cache is full evicts something. RSS is read from /proc before and
# after each phase and compared with the bound plus the stated fixed overhead:
#   - SQLite's page cache, up to 2 MB per pooled connection (database.max_connections = 8);
#   - moka's frequency sketch and tables, sized for the entries the bound admits;
#   - the allocator's free pages that it has not yet returned.
#
#   bench/memory.sh                                   # 64 MiB bound, 100,000 profiles
#   BOUND=33554432 PROFILES=20000 UNKNOWN_SECS=10 bench/memory.sh
set -euo pipefail
BOUND=${BOUND:-67108864}
PROFILES=${PROFILES:-100000}
UNKNOWN_SECS=${UNKNOWN_SECS:-30}
READ_SECS=${READ_SECS:-60}
CONNS=${LINKLEAF_DATABASE__MAX_CONNECTIONS:-8}
FIXED_MB=${FIXED_MB:-$((12 + 5 * CONNS))}
PORT=${PORT:-3950}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null && command -v sqlite3 >/dev/null || {
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk sqlite3 >/dev/null
}
(cd "$root" && cargo build --release -q -p linkleaf)
BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

cat >"$work/unknown.lua" <<'EOF'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/api/profiles/nobody" .. counter)
end
EOF
cat >"$work/create.lua" <<'EOF'
counter = tonumber(os.getenv("FROM"))
local links = {}
for i = 1, 16 do
  links[#links + 1] = string.format('{"title":"Link number %d: something worth reading","url":"https://example.com/articles/%d/a-reasonably-long-path"}', i, i)
end
local linkjson = table.concat(links, ",")
request = function()
  counter = counter + 1
  local body = string.format('{"username":"user%d","displayName":"Benchmark Profile %d","bio":"A profile of typical size, used by the memory bench.","avatarUrl":"https://cdn.example.com/avatars/%d.png","theme":{"preset":"dark","accentColor":"#ff8800"},"links":[%s]}', counter, counter, counter, linkjson)
  return wrk.format("POST", "/api/profiles", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("KEY")}, body)
end
EOF
cat >"$work/readall.lua" <<'EOF'
counter = 0
local n = tonumber(os.getenv("PROFILES"))
request = function()
  counter = counter % n + 1
  return wrk.format("GET", "/user" .. counter)
end
EOF

export LINKLEAF_DATABASE__URL="sqlite://$work/mem.db" LINKLEAF_LOG__FILTER=warn
export LINKLEAF_CLICKS__SPOOL_DIR="$work/spool"
export LINKLEAF_SERVER__LISTEN="127.0.0.1:$PORT" LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$((PORT + 1))"
export LINKLEAF_RATE_LIMIT__PER_MINUTE=100000000 LINKLEAF_RATE_LIMIT__BURST=100000000
export LINKLEAF_CACHE__MAX_BYTES=$BOUND LINKLEAF_CACHE__NEGATIVE_TTL_SECS=86400
"$BIN" migrate 2>/dev/null
export KEY; KEY=$("$BIN" keys create --name mem --scopes profile:write 2>/dev/null)
start() {
    "$BIN" serve 2>"$work/server.log" &
    pid=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((PORT + 1))/healthz" >/dev/null && break; sleep 0.1; done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$pid/status"; }
metric() { curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

echo "creating $PROFILES profiles through the API..." >&2
start
made=0
while [ "$made" -lt "$PROFILES" ]; do
    FROM=$made wrk -t1 -c1 -d5s -s "$work/create.lua" "http://127.0.0.1:$PORT" >/dev/null
    made=$(sqlite3 "$work/mem.db" 'select count(*) from profiles')
    echo "  $made" >&2
done
stop
# (wrk calls request() once at set-up without sending it, so user1 may not exist)
some=$(sqlite3 "$work/mem.db" 'select username from profiles limit 1')

report() {
    local phase=$1 before=$2 after=$3 requests=$4
    local grown=$(( (after - before) / 1024 ))
    local allowed=$(( BOUND / 1048576 + FIXED_MB ))
    local verdict=ok; [ "$grown" -le "$allowed" ] || verdict=OVER
    printf '%-34s %10s %9s MB %9s MB %9s MB  %s\n' "$phase" "$requests" "$((before / 1024))" "$((after / 1024))" "$grown" "$verdict"
}

echo
echo "memory bound, $(date -u +%Y-%m-%d): cache.max_bytes = $((BOUND / 1048576)) MiB, allowed growth = bound + $FIXED_MB MB fixed"
printf '%-34s %10s %12s %12s %12s\n' phase requests rss_before rss_after grown
start
curl -fs -o /dev/null "http://127.0.0.1:$PORT/$some"
base=$(rss_kb)
wrk -t1 -c8 -d"${UNKNOWN_SECS}s" -s "$work/unknown.lua" "http://127.0.0.1:$PORT" >"$work/w1.txt"
report "distinct unknown names" "$base" "$(rss_kb)" "$(awk '/requests in/ { print $1 }' "$work/w1.txt")"
stop

start
curl -fs -o /dev/null "http://127.0.0.1:$PORT/$some"
base=$(rss_kb)
PROFILES=$PROFILES wrk -t1 -c8 -d"${READ_SECS}s" -s "$work/readall.lua" "http://127.0.0.1:$PORT" >"$work/w2.txt"
report "$PROFILES profiles, each in turn" "$base" "$(rss_kb)" "$(awk '/requests in/ { print $1 }' "$work/w2.txt")"
echo "  loads: $(metric 'linkleaf_origin_loads_total{cache="profile",outcome="found"}'), hits: $(metric 'linkleaf_cache_hits_total{cache="profile"}')"
stop
