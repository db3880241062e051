#!/usr/bin/env bash
# volley against wrk on the same local nginx: CPU time per request, peak memory, open-model
# accuracy. See bench/README.md for how to read the output.
#
#   bench/wrk_vs_volley.sh [cpu|memory|open|length|all]    (default: cpu)
#
# Environment: DURATION (s, default 10), CONNS (default 50), MEM_CONNS (default 10000),
# RPS (default 20000), PORT (default 18080), STATUS_PORT (default 18081), VOLLEY (binary;
# default target/release/volley, built if missing), NGINX_CPU (default 0), GEN_CPU (default 1).
set -euo pipefail

MODE=${1:-cpu}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
MEM_CONNS=${MEM_CONNS:-10000}
RPS=${RPS:-20000}
OPEN_CONNS=${OPEN_CONNS:-200}
PORT=${PORT:-18080}
STATUS_PORT=${STATUS_PORT:-18081}
NGINX_CPU=${NGINX_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VOLLEY=${VOLLEY:-$ROOT/target/release/volley}
URL="http://127.0.0.1:$PORT/"

die() { echo "bench: $*" >&2; exit 1; }

case "$MODE" in cpu|memory|open|length|all) ;; *) die "unknown mode '$MODE' (cpu, memory, open, length, all)";; esac

# --- what the benchmark needs ---------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v taskset >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}; run as root or install them"
    echo "bench: installing ${need_apt[*]}" >&2
    apt-get install -y "${need_apt[@]}" >/dev/null 2>&1 || {
        apt-get update >/dev/null && apt-get install -y "${need_apt[@]}" >/dev/null
    }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ "$(nproc)" -ge 2 ] || echo "bench: warning: fewer than 2 CPUs; server and generator share one" >&2
if [ ! -x "$VOLLEY" ]; then
    echo "bench: building volley (release)" >&2
    (cd "$ROOT" && cargo build --release --quiet)
fi

# --- nginx: one worker on NGINX_CPU, a 12-byte answer, stub_status on a second port ----------
WORK=$(mktemp -d /tmp/volley-bench.XXXXXX)
NGINX_PID=""
cleanup() {
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 32768; }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $WORK;
    proxy_temp_path $WORK;
    fastcgi_temp_path $WORK;
    uwsgi_temp_path $WORK;
    scgi_temp_path $WORK;
    server {
        listen 127.0.0.1:$PORT backlog=16384;
        location / { return 200 "hello world\n"; }
    }
    server {
        listen 127.0.0.1:$STATUS_PORT;
        location / { stub_status; }
    }
}
CONF
ulimit -n 65536 2>/dev/null || true
taskset -c "$NGINX_CPU" "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" &
NGINX_PID=$!
for _ in $(seq 50); do curl -fs "$URL" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$URL" >/dev/null || die "nginx did not start: $(cat "$WORK/error.log" 2>/dev/null)"
[ "$(curl -fs "$URL")" = "hello world" ] || die "unexpected nginx answer"

# Requests nginx has served (stub_status's third counter). Each query counts itself once.
served() { curl -fs "http://127.0.0.1:$STATUS_PORT/" | awk 'NR==3 {print $3}'; }

# run LABEL CMD...: runs CMD pinned to GEN_CPU under /usr/bin/time; sets REQS, CPU_S, RSS_KB.
run() {
    local label=$1; shift
    local before after
    before=$(served)
    taskset -c "$GEN_CPU" /usr/bin/time -f '%U %S %M' -o "$WORK/time.$label" "$@" \
        >"$WORK/out.$label" 2>"$WORK/err.$label" || {
        echo "bench: $label failed:" >&2; tail -5 "$WORK/err.$label" >&2; return 1; }
    after=$(served)
    REQS=$((after - before - 1))
    read -r user sys RSS_KB <"$WORK/time.$label"
    CPU_S=$(python3 -c "print($user + $sys)")
}

cpu_mode() {
    echo "== CPU per request: -c $CONNS keep-alive, ${DURATION}s each, nginx on CPU $NGINX_CPU, generator on CPU $GEN_CPU"
    run wrk wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL"
    local wr=$REQS wc=$CPU_S wm=$RSS_KB
    run volley "$VOLLEY" "$URL" -c "$CONNS" -d "${DURATION}s" -q -o "$WORK/volley.json"
    local vr=$REQS vc=$CPU_S vm=$RSS_KB
    python3 - "$DURATION" "$wr" "$wc" "$wm" "$vr" "$vc" "$vm" "$WORK/volley.json" <<'PY'
import json, sys
d = float(sys.argv[1])
rows = [("wrk", int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])),
        ("volley", int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]))]
print(f"{'tool':<8} {'requests':>12} {'req/s':>10} {'cpu s':>8} {'cpu µs/req':>11} {'peak RSS MiB':>13}")
per = {}
for name, reqs, cpu, rss in rows:
    per[name] = cpu / reqs * 1e6 if reqs else float("nan")
    print(f"{name:<8} {reqs:>12,} {reqs / d:>10,.0f} {cpu:>8.2f} {per[name]:>11.2f} {rss / 1024:>13.1f}")
print(f"ratio volley/wrk (CPU per request): {per['volley'] / per['wrk']:.2f}x  (issue 2 goal: <= 1.3x)")
r = json.load(open(sys.argv[8]))
own = int(r["totals"]["requests"])
note = "" if own == rows[1][1] else " (the difference: requests in flight when the run ended)"
print(f"volley's own count: {own:,} requests; nginx counted {rows[1][1]:,}{note}")
PY
}

memory_mode() {
    local want=$((MEM_CONNS + 1000))
    if [ "$(ulimit -n)" -lt "$want" ]; then
        ulimit -n "$want" 2>/dev/null || die "ulimit -n is $(ulimit -n); need $want for -c $MEM_CONNS"
    fi
    echo "== Memory per connection: -c 1 vs -c $MEM_CONNS, ${DURATION}s each"
    run volley1 "$VOLLEY" "$URL" -c 1 -d "${DURATION}s" -q
    local base=$RSS_KB
    run volleyN "$VOLLEY" "$URL" -c "$MEM_CONNS" -d "${DURATION}s" -q --timeout 60s
    local many=$RSS_KB many_reqs=$REQS
    run wrkN wrk -t1 -c"$MEM_CONNS" -d"${DURATION}s" --timeout 60s "$URL"
    local wrk_many=$RSS_KB
    python3 - "$base" "$many" "$MEM_CONNS" "$wrk_many" "$many_reqs" "$DURATION" <<'PY'
import sys
base, many, n, wrk, reqs, d = map(float, sys.argv[1:])
print(f"volley peak RSS: {base / 1024:.1f} MiB at -c 1, {many / 1024:.1f} MiB at -c {n:.0f} "
      f"({reqs / d:,.0f} req/s); wrk at -c {n:.0f}: {wrk / 1024:.1f} MiB")
print(f"volley memory per connection: {(many - base) / (n - 1):.1f} KiB  (issue 2 goal: <= 32 KiB)")
PY
}

open_mode() {
    echo "== Open model: --rps $RPS for ${DURATION}s, at most $OPEN_CONNS in flight"
    run open "$VOLLEY" "$URL" --rps "$RPS" -d "${DURATION}s" -c "$OPEN_CONNS" -q -o "$WORK/open.json"
    python3 - "$RPS" "$DURATION" "$REQS" "$WORK/open.json" <<'PY'
import json, sys
target, d, nginx = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
r = json.load(open(sys.argv[4]))
om = r.get("open_model") or {}
achieved = om.get("achieved_rps", r["totals"]["requests"] / r["duration_s"])
print(f"target {target:,.0f}/s; achieved {achieved:,.1f}/s ({(achieved / target - 1) * 100:+.2f}%; goal within 1%); "
      f"nginx saw {nginx / d:,.1f}/s; dropped {r['totals']['dropped']:,}")
lag = om.get("schedule_lag", {})
if lag:
    print(f"schedule lag: p50 {lag['med']:.3f} ms, p99 {lag['p99']:.3f} ms, max {lag['max']:.3f} ms")
dur = r["metrics"]["http_req_duration"]["values"]
print(f"latency from intended start: p50 {dur['med']:.3f} ms, p99 {dur['p(99)']:.3f} ms")
PY
}

length_mode() {
    echo "== Memory vs run length: ${DURATION}s and $((DURATION * 6))s at -c $CONNS"
    run short "$VOLLEY" "$URL" -c "$CONNS" -d "${DURATION}s" -q
    local s=$RSS_KB sr=$REQS
    run long "$VOLLEY" "$URL" -c "$CONNS" -d "$((DURATION * 6))s" -q
    echo "peak RSS: $((s / 1024)) MiB after $sr requests; $((RSS_KB / 1024)) MiB after $REQS requests"
}

case "$MODE" in
    cpu) cpu_mode ;;
    memory) memory_mode ;;
    open) open_mode ;;
    length) length_mode ;;
    all) cpu_mode; echo; memory_mode; echo; open_mode ;;
esac
