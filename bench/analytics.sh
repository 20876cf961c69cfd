#!/usr/bin/env bash
# The analytics query over 10 million recorded clicks: crates/linkleaf/examples/analytics_query.rs
# loads them (one profile, 20 links, 30 days, realistic agents, countries and referrers) through
# the consumer's rollup and commit code into a database of its own, prunes as the hourly job
# does, then times the store's report query (a report-cache miss) for a dashboard's ranges.
#
#   scripts/services && bench/analytics.sh                 # PostgreSQL, 10 million clicks
#   BACKEND=sqlite CLICKS=10000000 bench/analytics.sh      # the embedded default
set -euo pipefail
BACKEND=${BACKEND:-postgres}
export CLICKS=${CLICKS:-10000000}
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && cargo build --release -q -p linkleaf --example analytics_query)
EXE="${CARGO_TARGET_DIR:-$root/target}/release/examples/analytics_query"
work=$(mktemp -d)
DB=linkleaf_bench_analytics_$$
cleanup() {
    [ "$BACKEND" = postgres ] && psql -q -h 127.0.0.1 -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
if [ "$BACKEND" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null
    url="postgres://postgres@127.0.0.1:5432/$DB"
else
    url="sqlite://$work/analytics.db"
fi
echo "analytics query bench, $(date -u +%Y-%m-%d), $(nproc) cores, $BACKEND"
"$EXE" "$url"
