#!/usr/bin/env bash
# The cost of volley's built-in balancer: CPU time per proxied request of
# `volley cluster --instances 1` against nginx as a reverse proxy (upstream + keepalive,
# access_log off) in front of the very same backend instance, under the same wrk load.
#
#   bench/balancer.sh
#
# Environment: DURATION (s per proxy, default 10), CONNS (wrk connections, default 50),
# VOLLEY (binary; default target/release/volley, built if missing), PROXY_CPU (default 0),
# LOAD_CPU (default 1: wrk and the backend). Goal (issue 5): volley ≤ 1.5× nginx's CPU/request.
set -euo pipefail

DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VOLLEY=${VOLLEY:-$ROOT/target/release/volley}

die() { echo "bench: $*" >&2; exit 1; }

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}; run as root or install them"
    echo "bench: installing ${need_apt[*]}" >&2
    apt-get install -y "${need_apt[@]}" >/dev/null 2>&1 || {
        apt-get update >/dev/null && apt-get install -y "${need_apt[@]}" >/dev/null
    }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$VOLLEY" ]; then
    echo "bench: building volley (release)" >&2
    (cd "$ROOT" && cargo build --release --quiet)
fi

WORK=$(mktemp -d /tmp/volley-balancer.XXXXXX)
CLUSTER_PID=""
NGINX_PID=""
cleanup() {
    for p in $NGINX_PID $CLUSTER_PID; do
        if kill -0 "$p" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HZ=$(getconf CLK_TCK)
# user+system ticks of the given processes (all their threads; not their children).
ticks() {
    local sum=0 p
    for p in "$@"; do
        # Fields after the ")" that ends the name: utime is the 12th, stime the 13th.
        local rest
        rest=$(sed 's/.*) //' "/proc/$p/stat")
        set -- $rest
        sum=$((sum + ${12} + ${13}))
    done
    echo "$sum"
}

# --- volley cluster in front of one demo instance; the balancer alone on PROXY_CPU ----------
VPORT=$(free_port)
"$VOLLEY" cluster --instances 1 --balancer-threads 1 --port "$VPORT" -- \
    "$VOLLEY" serve-demo --threads 1 --port '{port}' >"$WORK/cluster.out" 2>"$WORK/cluster.err" &
CLUSTER_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/cluster.out" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$WORK/cluster.out" || { cat "$WORK/cluster.err" >&2; die "volley cluster did not start"; }
BACKEND_PORT=$(sed -n 's/.*on ports \([0-9]*\).*/\1/p' "$WORK/cluster.err" | head -1)
BACKEND_PID=$(ps -o pid= --ppid "$CLUSTER_PID" | tr -d ' ' | head -1)
[ -n "$BACKEND_PORT" ] && [ -n "$BACKEND_PID" ] || die "cannot find the backend instance"
taskset -a -p -c "$PROXY_CPU" "$CLUSTER_PID" >/dev/null
taskset -a -p -c "$LOAD_CPU" "$BACKEND_PID" >/dev/null

# --- nginx, one worker on PROXY_CPU, proxying to the same backend instance -------------------
NPORT=$(free_port)
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000000;
    client_body_temp_path $WORK;
    proxy_temp_path $WORK;
    fastcgi_temp_path $WORK;
    uwsgi_temp_path $WORK;
    scgi_temp_path $WORK;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NPORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Served-By 1;
        }
    }
}
CONF
taskset -c "$PROXY_CPU" "$NGINX" -c "$WORK/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$NPORT/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$NPORT/" >/dev/null || die "nginx did not start"
NGINX_PIDS="$NGINX_PID $(ps -o pid= --ppid "$NGINX_PID" | tr -d ' ' | tr '\n' ' ')"

# measure NAME PORT PIDS...: wrk on LOAD_CPU, CPU ticks of the proxy's processes around it.
measure() {
    local name=$1 port=$2
    shift 2
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/" >/dev/null
    local before after
    before=$(ticks "$@")
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/" >"$WORK/$name.wrk"
    after=$(ticks "$@")
    local requests non2xx
    requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/$name.wrk")
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$WORK/$name.wrk")
    local cpu_us=$(( (after - before) * 1000000 / HZ ))
    echo "$name $requests ${non2xx:-0} $cpu_us"
}

echo "bench: $DURATION s of wrk -t1 -c$CONNS through each proxy (proxy on CPU $PROXY_CPU, backend and wrk on CPU $LOAD_CPU)" >&2
read -r _ v_req v_bad v_cpu < <(measure volley "$VPORT" "$CLUSTER_PID")
read -r _ n_req n_bad n_cpu < <(measure nginx "$NPORT" $NGINX_PIDS)

python3 - "$DURATION" "$v_req" "$v_bad" "$v_cpu" "$n_req" "$n_bad" "$n_cpu" <<'PY'
import sys
d, vr, vb, vc, nr, nb, nc = (float(x) for x in sys.argv[1:])
def row(name, r, b, c):
    per = c / r if r else float("nan")
    print(f"{name:<16} {int(r):>10} {r/d:>10.0f} {int(b):>8} {c/1e6:>9.2f} {per:>12.2f}")
    return per
print(f"{'proxy':<16} {'requests':>10} {'req/s':>10} {'non-2xx':>8} {'cpu s':>9} {'cpu µs/req':>12}")
v = row("volley cluster", vr, vb, vc)
n = row("nginx", nr, nb, nc)
print(f"ratio volley/nginx (CPU per proxied request): {v/n:.2f}  (goal ≤ 1.5)")
PY
