#!/usr/bin/env bash
# The mobile audit of the dashboard: Lighthouse 12.2.3 (pinned in bench/lighthouse/; 13.x needs
# Node 22) driving Debian's Chromium, at its default mobile settings (a phone's screen, a slow
# 4G link and a 4× slower CPU, simulated), over the sign-in page, the editor and the analytics
# page of a signed-in creator whose page has 12 links and some clicks. Each page is audited
# RUNS times (default 3) and the median performance run is printed with its accessibility and
# best-practices scores, its largest contentful paint, total blocking time, layout shift and
# the bytes it transferred (compressed, everything the page loaded).
#
#   bench/lighthouse.sh            # RUNS=3 PORT=3950
#   KEEP=/tmp/lh bench/lighthouse.sh   # also keeps each page's reports there
#
# Installs Lighthouse into bench/lighthouse/node_modules from its lockfile when missing, and
# Debian's chromium when missing (needs root or sudo). Builds linkleaf in release.
set -euo pipefail

RUNS=${RUNS:-3}
PORT=${PORT:-3950}
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/browser" >/dev/null
if [ ! -x "$root/bench/lighthouse/node_modules/.bin/lighthouse" ]; then
    (cd "$root/bench/lighthouse" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "building linkleaf (release)..." >&2
(cd "$root" && cargo build --release -q -p linkleaf)
BIN="${CARGO_TARGET_DIR:-$root/target}/release/linkleaf"

work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

base="http://localhost:$PORT"
export LINKLEAF_DATABASE__URL="sqlite://$work/lh.db"
export LINKLEAF_SERVER__LISTEN="127.0.0.1:$PORT"
export LINKLEAF_SERVER__OPS_LISTEN="127.0.0.1:$((PORT + 1))"
export LINKLEAF_SERVER__PUBLIC_URL="$base"
export LINKLEAF_LOG__FILTER=warn
"$BIN" migrate 2>/dev/null
printf '%s\n' 'a long and private phrase' |
    "$BIN" accounts create --email ada@example.com --password-stdin >/dev/null 2>&1
mkdir -p "$work/d"
(cd "$work/d" && exec "$BIN" serve 2>"$work/serve.log") &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((PORT + 1))/healthz" >/dev/null && break; sleep 0.1; done

cookie=$(curl -fsS -D - -o /dev/null "$base/api/session" -H 'content-type: application/json' \
    -d '{"email":"ada@example.com","password":"a long and private phrase"}' |
    sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1)
form() { curl -fsS -o /dev/null "$base$1" -H "cookie: $cookie" -H "origin: $base" --data "$2"; }
form /dashboard 'username=ada&display_name=Ada+Lovelace'
version() { curl -fsS "$base/dashboard/ada" -H "cookie: $cookie" | grep -o 'name="version" value="[0-9]*"' | head -1 | grep -o '[0-9]*"$' | tr -d '"'; }
for i in $(seq 1 12); do
    form /dashboard/ada/links "version=$(version)&title=Link+number+$i%3A+something+worth+reading&url=https%3A%2F%2Fexample.com%2Farticles%2F$i"
done
# some visits and clicks, from a phone
ua='Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
for id in $(curl -fsS "$base/ada" | grep -o 'href="/r/[^"]*' | cut -c10- | head -5); do
    curl -fs -o /dev/null -A "$ua" "$base/ada"
    curl -fs -o /dev/null -A "$ua" "$base/r/$id"
done

export CHROME_PATH=/usr/bin/chromium
lh="$root/bench/lighthouse/node_modules/.bin/lighthouse"
headers=$(printf '{"Cookie":"%s"}' "$cookie")
printf '%-26s %6s %6s %6s %8s %6s %6s %9s\n' page perf a11y best "LCP ms" "TBT" CLS "bytes"
for page in /login /dashboard/ada /dashboard/ada/analytics; do
    for r in $(seq 1 "$RUNS"); do
        extra=()
        [ "$page" = /login ] || extra=(--extra-headers="$headers")
        "$lh" "$base$page" --quiet --output=json --output-path="$work/run-$r.json" \
            --only-categories=performance,accessibility,best-practices \
            --chrome-flags="--headless=new --no-sandbox --disable-dev-shm-usage" "${extra[@]}" \
            >/dev/null 2>&1
    done
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        for r in $(seq 1 "$RUNS"); do cp "$work/run-$r.json" "$KEEP/$(echo "$page" | tr / _)-$r.json"; done
    fi
    PAGE="$page" node -e '
        const fs = require("fs");
        const runs = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f)));
        runs.sort((a, b) => a.categories.performance.score - b.categories.performance.score);
        const m = runs[Math.floor(runs.length / 2)];
        const a = m.audits, c = m.categories;
        const pct = (s) => Math.round(s * 100);
        console.log([process.env.PAGE.padEnd(26), pct(c.performance.score), pct(c.accessibility.score),
            pct(c["best-practices"].score), Math.round(a["largest-contentful-paint"].numericValue),
            Math.round(a["total-blocking-time"].numericValue), a["cumulative-layout-shift"].numericValue.toFixed(3),
            a["total-byte-weight"].numericValue].map(String).map((s, i) => i ? s.padStart(i === 4 ? 8 : i === 7 ? 9 : 6) : s).join(" "));
        const failed = Object.values(a).filter((x) => x.score !== null && x.score < 0.9 && x.scoreDisplayMode === "binary").map((x) => x.id);
        if (failed.length) console.log("  failed: " + failed.join(", "));
    ' $(for r in $(seq 1 "$RUNS"); do echo "$work/run-$r.json"; done) 2>/dev/null ||
        PAGE="$page" node -e 'console.log(process.env.PAGE + ": no report")'
done
