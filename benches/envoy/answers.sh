#!/usr/bin/env bash
# What our answer costs Envoy (issue #20 part 3): the always-allow stand-in's bare OK beside
# envoy-jwt-authz answering a reused ES256 token (a token-cache hit) with each part of the
# default answer on or off, interleaved round by round, by default at one connection
# (back to back, so latency is not queueing).
#
#   benches/envoy/answers.sh [rounds=3] [seconds=10] [connections=1]
#   DISTINCT=1 benches/envoy/answers.sh 3 10 32   each request of ours a new ES256 token
#     (prelude.sh's list: every Check a cache miss and a full verify), as DISTINCT=1 run.sh
#     sends: issue #20 part 1 with every answer, the stand-in's bare OK included, in one run
#
# Sides (one server per config, all on core 0 with Envoy; wrk on core 1):
#   standin        ../shared/perf's always-allow stand-in (a bare OK): the floor
#   default        `upstream: { claim_headers: { sub: x-jwt-sub } }`, metadata `provider` + `sub`
#   header_only    the claim header, `dynamic_metadata: { enabled: false }`
#   metadata_only  no claim header, metadata `provider` + `sub`
#   bare           neither: a bare OK, like the stand-in's
# Results append to $PERF_WORK/answers.tsv; the summary (benches/envoy/sides.py) gives each
# side's p50/p99 and Envoy µs per request beside the stand-in's in the same round.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/benches/envoy/prelude.sh"
bench_args answers 1 "$@"
BASE_PORT="${BASE_PORT:-9200}"
trap 'stop_all_started' EXIT

declare -A port=() pid=()
n=0
for side in "${ANSWER_SIDES[@]}"; do
  port[$side]=$((BASE_PORT + 3 * n)); n=$((n + 1))
  lab_config "${ANSWER_CONFIG[$side]}" >"$PERF_WORK/answers-$side.yaml"
  : >"$LOG_DIR/answers-$side.log"
  RUST_LOG=warn start_authz "$PERF_WORK/answers-$side.yaml" "${port[$side]}" "$LOG_DIR/answers-$side.log"
  pid[$side]=$AUTHZ_PID
done
start_standin
source "$ROOT/benches/envoy/measure.sh"

token="$TMP_DIR/token_es256.jwt" ours="$token"
if [ "${DISTINCT:-0}" = 1 ]; then distinct_tokens; ours="list:$TOKEN_LIST"; fi
session="answers-$(date -u +%Y%m%dT%H%M%SZ)"
for r in $(seq "$ROUNDS"); do
  measure standin 200 "$token" "$session/r$r" "$AUTHZ_PORT" "$STANDIN_PID"
  for side in "${ANSWER_SIDES[@]}"; do
    measure "$side" 200 "$ours" "$session/r$r" "${port[$side]}" "${pid[$side]}"
  done
done
"$PY" "$ROOT/benches/envoy/sides.py" "$RESULTS" "$session/" standin
