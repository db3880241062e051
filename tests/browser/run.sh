#!/usr/bin/env bash
# Browser test of volley's HTML reports: renders a synthetic result (markup in its URL, every
# chart), a real run against `volley serve-demo`, a comparison, a scaling sweep (seed 003's
# comparison, throughput and latency per instance count), its re-rendering by `volley report`,
# a capacity sweep (`scale --capacity`),
# and a capacity search (the knee charts), then opens each page in headless Chromium
# (check-report.mjs). Screenshots go to $OUT (default target/browser).
#
# Needs: /usr/bin/chromium (Debian's `chromium` package), node + npm, a built `volley`
# (cargo build). Usage from the repository root: bash tests/browser/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-target/browser}
VOLLEY=${VOLLEY:-${CARGO_TARGET_DIR:-target}/debug/volley}
mkdir -p "$OUT"

(cd tests/browser && npm ci --no-audit --no-fund --silent)

# 1. Synthetic: two minutes of ramp into saturation, failures, server samples, `<script>` in the URL.
cargo run -q -p volley-report --example synth_result -- "$OUT/synth.json" 120
"$VOLLEY" report "$OUT/synth.json" --format html --glossary -o "$OUT/synth.html"

# 2. Real runs against the demo service on a free port; the service is stopped on any exit.
"$VOLLEY" serve-demo --port 0 >"$OUT/demo.log" 2>&1 &
DEMO=$!
trap 'kill "$DEMO" 2>/dev/null || true; wait "$DEMO" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  URL=$(grep -o 'http://[0-9.:]*' "$OUT/demo.log" | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "${URL:-}" ] || { echo "serve-demo did not start"; cat "$OUT/demo.log"; exit 1; }
"$VOLLEY" "$URL/flaky?p=0.05" -c 4 -d 3s -q -o "$OUT/real-c4.json" --report "$OUT/real.html"
"$VOLLEY" "$URL/flaky?p=0.05" -c 16 -d 3s -q -o "$OUT/real-c16.json"
"$VOLLEY" compare "$OUT/real-c4.json" "$OUT/real-c16.json" --labels "4 users,16 users" -o "$OUT/compare.html"

# A sweep over 1, 2 and 3 instances of the demo service (three points per per-count line, four seconds each so the lines over time have points), and a
# capacity search that ramps 10, 20, 40/s against its /delay route (at least --max: exit 0).
"$VOLLEY" scale --instances 1,2,3 --path /delay/2 -c 4 -d 4s --warmup 0s -q \
  -o "$OUT/sweep.json" --report "$OUT/sweep.html" -- "$VOLLEY" serve-demo --threads 1 --port '{port}' \
  >"$OUT/sweep.log" 2>&1 || { echo "the sweep failed"; cat "$OUT/sweep.log"; exit 1; }
"$VOLLEY" report "$OUT/sweep.json" -o "$OUT/sweep-report.html"
# A capacity sweep (scale --capacity): a search per instance count, its capacity chart and steps.
# /work/10 holds an instance 10 ms (100 req/s each); --precision 100% stops at the first bracket
# (about 40 s in all: three points per per-count line, three seconds per step).
"$VOLLEY" scale --instances 1,2,3 --capacity --slo 'http_req_duration: p(95)<500' --start 40 \
  --precision 100% --step 3s --settle 0s --path /work/10 -q -o "$OUT/capacity-sweep.json" \
  --report "$OUT/capacity-sweep.html" -- "$VOLLEY" serve-demo --threads 1 --port '{port}' \
  >"$OUT/capacity-sweep.log" 2>&1 || { echo "the capacity sweep failed"; cat "$OUT/capacity-sweep.log"; exit 1; }
"$VOLLEY" capacity "$URL/delay/5" --slo 'http_req_duration: p(95)<500' --start 10 --max 40 \
  --step 1s --settle 0s -q -o "$OUT/capacity.json" --report "$OUT/capacity.html" >"$OUT/capacity.log"

node tests/browser/check-report.mjs "$OUT/synth.html" "$OUT/screenshots" --min-charts 7
node tests/browser/check-report.mjs "$OUT/real.html" "$OUT/screenshots" --min-charts 5
node tests/browser/check-report.mjs "$OUT/compare.html" "$OUT/screenshots" --min-charts 4
# Throughput, latency, requests/s over time and CPU of each of the three runs.
node tests/browser/check-report.mjs "$OUT/sweep.html" "$OUT/screenshots" --min-charts 6
node tests/browser/check-report.mjs "$OUT/sweep-report.html" "$OUT/screenshots" --min-charts 6
node tests/browser/check-report.mjs "$OUT/capacity.html" "$OUT/screenshots" --min-charts 3
# Capacity and latency per count, requests/s over the steps at the capacity, CPU of each.
node tests/browser/check-report.mjs "$OUT/capacity-sweep.html" "$OUT/screenshots" --min-charts 6

# 3. The live dashboard during a plan run: charts update, a threshold flips, the report at the end.
# The logs the dashboard's URL is read from are emptied here, before the run starts: the
# background child truncates them itself only once it is forked, and a log left by an earlier
# run of this script (a reused target/) would hand the loop below an old URL.
: >"$OUT/live.err"
: >"$OUT/live-capacity.err"
"$VOLLEY" run tests/browser/live.yaml --env BASE_URL="$URL" -q --dashboard=127.0.0.1:0 \
  -o "$OUT/live.json" 2>"$OUT/live.err" &
LIVE=$!
for _ in $(seq 100); do
  DASH=$(grep -o 'dashboard at http://[^ ]*' "$OUT/live.err" | sed 's/dashboard at //' || true)
  [ -n "$DASH" ] && break
  sleep 0.1
done
[ -n "${DASH:-}" ] || { echo "no dashboard URL"; cat "$OUT/live.err"; kill "$LIVE"; exit 1; }
node tests/browser/check-live.mjs "$DASH" "$OUT/screenshots" || {
  kill "$LIVE" 2>/dev/null || true; code=0; wait "$LIVE" || code=$?
  echo "the live run exited $code:"; cat "$OUT/live.err"; exit 1
}
# The run crossed a threshold on purpose: exit 99.
set +e; wait "$LIVE"; CODE=$?; set -e
[ "$CODE" = 99 ] || { echo "the live run exited $CODE, expected 99"; cat "$OUT/live.err"; exit 1; }

# 4. A capacity search's page while it runs: 10, 20, 40, 80/s for 3 s each against /delay/5
# (all within the SLO: the capacity is at least --max, exit 0); the steps table and chart grow.
# 3 s steps leave Chromium time to start on a loaded machine before the search is over, and the
# SLO is loose: what is checked is the page, and one CI run's first step measured a p95 of
# 854 ms (a ~1 s stall of the debug build while Chromium started), which ended the search there.
"$VOLLEY" capacity "$URL/delay/5" --slo 'http_req_duration: p(95)<3000' --start 10 --max 80 \
  --step 3s --settle 0s -q --dashboard=127.0.0.1:0 -o "$OUT/live-capacity.json" \
  >"$OUT/live-capacity.log" 2>"$OUT/live-capacity.err" &
CAP=$!
DASH=""
for _ in $(seq 100); do
  DASH=$(grep -o 'dashboard at http://[^ ]*' "$OUT/live-capacity.err" | sed 's/dashboard at //' || true)
  [ -n "$DASH" ] && break
  sleep 0.1
done
[ -n "$DASH" ] || { echo "no dashboard URL"; cat "$OUT/live-capacity.err"; kill "$CAP"; exit 1; }
node tests/browser/check-live.mjs "$DASH" "$OUT/screenshots" --capacity || {
  # Say how the search went: a page that found no server means the search was already over.
  # (`|| true`: under `set -e`, a kill of a search already over would end the script here.)
  kill "$CAP" 2>/dev/null || true; code=0; wait "$CAP" || code=$?
  echo "the capacity search exited $code:"; cat "$OUT/live-capacity.err"; exit 1
}
set +e; wait "$CAP"; CODE=$?; set -e
[ "$CODE" = 0 ] || { echo "the capacity search exited $CODE, expected 0"; cat "$OUT/live-capacity.err"; exit 1; }
