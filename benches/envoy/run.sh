#!/usr/bin/env bash
# The Envoy benchmark: envoy-jwt-authz beside Envoy's own jwt_authn filter and the ext_authz
# stand-in floor, in ONE interleaved run of ../shared/perf/compare.sh (real Envoy 1.40, wrk).
#
#   benches/envoy/run.sh [rounds=5] [seconds=10] [connections=32]
#   DISTINCT=1 benches/envoy/run.sh ...   every request carries a new token (no cache can hit;
#       TOKENS=N sets the list's length, default 60000)
#   BASELINE_BIN=path benches/envoy/run.sh ...  this build vs an older one (e.g. last main),
#       both over gRPC, ext_authz_external_es256 interleaved round by round against two servers
#       (sessions baseline-bin-*, this-bin-*); the older one gets only the flags every build has
#   OPAQUE=1 benches/envoy/run.sh ...  a reused JWT vs a reused opaque token answered from the
#       introspection cache (a loopback RFC 7662 endpoint, benches/envoy/introspection_endpoint.py,
#       asked once), ext_authz_external_es256 interleaved round by round (sessions jwt-token-*,
#       opaque-token-*)
#   HTTP_MODE=1 benches/envoy/run.sh ...  gRPC vs HTTP mode: ext_authz_external_es256 against
#       our gRPC listener and against our HTTP front end (benches/envoy/ext_authz_http.yaml),
#       interleaved round by round, one summary each (sessions grpc-mode-*, http-mode-*)
#
# Core 0: Envoy and envoy-jwt-authz (--worker-threads 1), as in a sidecar sharing one CPU;
# core 1: wrk. Results append to $PERF_WORK/results.tsv; the summary is printed at the end.
# AUTHZ_UPSTREAM replaces the config's `upstream:` line (default: one claim header,
# `upstream: { claim_headers: { sub: x-jwt-sub } }`; empty: no header changes at all).
# Everything generated goes to $PERF_WORK (default ~/.cache/envoy-jwt-authz-perf), never into
# ../shared.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/benches/envoy/prelude.sh"
ROUNDS="${1:-5}" SECONDS_EACH="${2:-10}" CONNS="${3:-32}"
export RESULTS="${RESULTS:-$PERF_WORK/results.tsv}"
# gRPC on AUTHZ_GRPC_PORT, admin, debug and HTTP on the three ports after it (the debug
# listener's default, 127.0.0.1:9193, is the admin port here).
AUTHZ_GRPC_PORT="${AUTHZ_GRPC_PORT:-9192}"
AUTHZ_ADMIN_PORT=$((AUTHZ_GRPC_PORT + 1)) AUTHZ_HTTP_PORT=$((AUTHZ_GRPC_PORT + 3))
trap stop_all_started EXIT

default_upstream='upstream: { claim_headers: { sub: x-jwt-sub } }'
upstream_line="${AUTHZ_UPSTREAM-$default_upstream}"
opaque_provider=""
if [ "${OPAQUE:-0}" = 1 ]; then
  rm -f "$PERF_WORK/introspection.port"
  python3 "$ROOT/benches/envoy/introspection_endpoint.py" "$PERF_WORK/introspection.port" &
  _STARTED_PIDS+=("$!")
  for _ in $(seq 50); do [ -s "$PERF_WORK/introspection.port" ] && break; sleep 0.1; done
  opaque_provider="  - name: opaque
    audiences: [https://api.example.com/]
    introspection:
      endpoint: http://127.0.0.1:$(cat "$PERF_WORK/introspection.port")/introspect
      allow_insecure_http: true
      cache: { max_ttl: 1h }"
  echo "2YotnFZFEjr1zCsicMWpAA" >"$PERF_WORK/token_opaque.txt"
fi
cat >"$PERF_WORK/authz-config.yaml" <<YAML
providers:
  - name: lab
    issuer: https://issuer.example.com
    audiences: [https://api.example.com/]
    jwks: { file: $TMP_DIR/jwks.json }
$opaque_provider
$upstream_line
YAML

# Audit events for the harness's refusal checks only; warn keeps the log quiet under load.
: >"$PERF_WORK/authz.log"
RUST_LOG=warn start_authz "$PERF_WORK/authz-config.yaml" "$AUTHZ_GRPC_PORT" "$PERF_WORK/authz.log" \
  --http-listen "127.0.0.1:$AUTHZ_HTTP_PORT" --http-envoy-path-prefix /authz \
  ${CACHE_ENTRIES:+--token-cache-entries "$CACHE_ENTRIES"}
AUTHZ=$AUTHZ_PID
if [ -n "${BASELINE_BIN:-}" ]; then
  BASELINE_GRPC_PORT="${BASELINE_GRPC_PORT:-9196}" BASELINE_ADMIN_PORT="${BASELINE_ADMIN_PORT:-9197}"
  # A build with a debug listener must not take its default port (our admin port here).
  baseline_debug=()
  if "$BASELINE_BIN" serve --help | grep -q -- --debug-listen; then
    baseline_debug=(--debug-listen "127.0.0.1:${BASELINE_DEBUG_PORT:-9198}")
  fi
  RUST_LOG=warn taskset -c "${AUTHZ_CPU:-0}" "$BASELINE_BIN" serve \
    --config "$PERF_WORK/authz-config.yaml" --grpc-listen "127.0.0.1:$BASELINE_GRPC_PORT" \
    --admin-listen "127.0.0.1:$BASELINE_ADMIN_PORT" --worker-threads "${WORKERS:-1}" \
    "${baseline_debug[@]}" >"$PERF_WORK/baseline.log" 2>&1 &
  BASELINE=$!
  _STARTED_PIDS+=("$BASELINE")
  wait_ready "$BASELINE_ADMIN_PORT" "$PERF_WORK/baseline.log"
fi

export EXTERNAL_AUTHZ_PORT="$AUTHZ_GRPC_PORT" AUTHZ_PID="$AUTHZ"
if [ "${DISTINCT:-0}" = 1 ]; then
  # prelude.sh's list (every Check misses but for the harness's warm-up with its fixed
  # token). Each run goes on where the last one stopped; a run that wraps around says so in
  # its log.
  distinct_tokens
  export TOKENS_LIST="$TOKEN_LIST"
  export SCENARIOS="${SCENARIOS:-baseline jwt_authn_es256 ext_authz_grpc ext_authz_external_es256}"
else
  export SCENARIOS="${SCENARIOS:-baseline jwt_authn_rs256 jwt_authn_es256 ext_authz_grpc ext_authz_external_rs256 ext_authz_external_es256}"
fi
# interleave A B: ROUNDS rounds of ext_authz_external_es256, each running `run_A` then
# `run_B` (functions taking a RUN_ID), then one summary per side (sessions A-*, B-*).
interleave() {
  local session r side
  session="$(date -u +%Y%m%dT%H%M%SZ)"
  for r in $(seq "$ROUNDS"); do
    for side in "$1" "$2"; do "run_$side" "$side-$session/r$r"; done
  done
  for side in "$1" "$2"; do
    echo "== $side"
    "$PY" "$PERF/summarize.py" "$RESULTS" "$side-$session/" ext_authz_external_es256
  done
}
scenario() { "${2:-$PERF/run.sh}" ext_authz_external_es256 "$SECONDS_EACH" "$CONNS"; }
if [ -n "${BASELINE_BIN:-}" ]; then
  run_baseline-bin() { RUN_ID="$1" EXTERNAL_AUTHZ_PORT="$BASELINE_GRPC_PORT" AUTHZ_PID="$BASELINE" scenario; }
  run_this-bin() { RUN_ID="$1" EXTERNAL_AUTHZ_PORT="$AUTHZ_GRPC_PORT" AUTHZ_PID="$AUTHZ" scenario; }
  interleave baseline-bin this-bin
elif [ "${OPAQUE:-0}" = 1 ]; then
  run_jwt-token() { RUN_ID="$1" scenario; }
  run_opaque-token() { RUN_ID="$1" TOKEN_FILE="$PERF_WORK/token_opaque.txt" scenario; }
  interleave jwt-token opaque-token
elif [ "${HTTP_MODE:-0}" = 1 ]; then
  # The harness has no HTTP-mode scenario and reads templates from its own directory: run
  # it from an overlay (symlinks to every file, ext_authz_grpc.yaml replaced by ours), so
  # its ext_authz_external_es256 scenario measures our HTTP front end.
  overlay="$PERF_WORK/perf-http"
  rm -rf "$overlay" && mkdir -p "$overlay/envoy"
  for f in "$PERF"/*; do [ "$(basename "$f")" = envoy ] || ln -s "$f" "$overlay/"; done
  for f in "$PERF"/envoy/*; do ln -s "$f" "$overlay/envoy/"; done
  ln -sf "$ROOT/benches/envoy/ext_authz_http.yaml" "$overlay/envoy/ext_authz_grpc.yaml"
  run_grpc-mode() { RUN_ID="$1" EXTERNAL_AUTHZ_PORT="$AUTHZ_GRPC_PORT" scenario; }
  run_http-mode() { RUN_ID="$1" EXTERNAL_AUTHZ_PORT="$AUTHZ_HTTP_PORT" scenario "" "$overlay/run.sh"; }
  interleave grpc-mode http-mode
else
  "$PERF/compare.sh" "$ROUNDS" "$SECONDS_EACH" "$CONNS"
fi
echo "envoy-jwt-authz metrics after the run:"
curl -fs "http://127.0.0.1:$AUTHZ_ADMIN_PORT/metrics" | grep -E '^(token_cache|authz_decisions_total|introspection_(requests|cache))' || true
echo "envoy-jwt-authz RSS: $(awk '/VmRSS/ {print $2 " " $3}' "/proc/$AUTHZ/status")"
