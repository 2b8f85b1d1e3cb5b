# shellcheck shell=bash
# The set-up shared by run.sh, denials.sh, answers.sh, burn.sh and instructions.sh:
# ../shared/perf's venv, helpers (lib.sh) and keys, this build of envoy-jwt-authz
# (AUTHZ_BIN, unless given) and how to start it (authz_cmd, start_authz, wait_ready), the
# lab provider's config with each answer of answers.sh, the distinct-token list
# (distinct_tokens) and the scripts' common arguments
# (bench_args). Source it with ROOT set.
PERF="${PERF_DIR:-$ROOT/../shared/perf}"
export PERF_WORK="${PERF_WORK:-$HOME/.cache/envoy-jwt-authz-perf}"
mkdir -p "$PERF_WORK"
"$PERF/setup.sh" >/dev/null
source "$PERF/lib.sh"
ensure_keys
if [ -z "${AUTHZ_BIN:-}" ]; then  # AUTHZ_BIN: measure another build
  (cd "$ROOT" && cargo build --release --locked --quiet)
  AUTHZ_BIN="$ROOT/target/release/envoy-jwt-authz"
fi

# The answers compared (benches/envoy/answers.sh), as config lines after the provider.
_header='upstream: { claim_headers: { sub: x-jwt-sub } }'
_no_metadata='dynamic_metadata: { enabled: false }'
declare -A ANSWER_CONFIG=(
  [default]="$_header"
  [header_only]="$_header
$_no_metadata"
  [metadata_only]=""
  [bare]="$_no_metadata"
)
ANSWER_SIDES=(default header_only metadata_only bare)

# lab_config EXTRA > FILE: the harness's issuer, audience and JWKS, then EXTRA.
lab_config() {
  printf 'providers:\n  - name: lab\n    issuer: https://issuer.example.com\n    audiences: [https://api.example.com/]\n    jwks: { file: %s }\n%s\n' \
    "$TMP_DIR/jwks.json" "$1"
}

# distinct_tokens -> TOKEN_LIST: TOKENS (default 60000) valid ES256 tokens of the harness's
# issuer, one per line, minted once into TMP_DIR: 15x the token cache's 4,096 entries, so
# every Check misses, and light enough for wrk's Lua (a list of 1,000,000 stalls every
# scenario, in-process jwt_authn too; issue #20).
distinct_tokens() {
  TOKEN_LIST="$TMP_DIR/tokens_es256_${TOKENS:-60000}.txt"
  [ -s "$TOKEN_LIST" ] || "$PY" "$PERF/mint_tokens.py" --alg ES256 --count "${TOKENS:-60000}" >/dev/null
}

# bench_args NAME CONNS "$@": the scripts' arguments [rounds=3] [seconds=10]
# [connections=CONNS] into ROUNDS, SECONDS_EACH and CONNS; results go to RESULTS (default
# $PERF_WORK/NAME.tsv).
bench_args() {
  ROUNDS="${3:-3}" SECONDS_EACH="${4:-10}" CONNS="${5:-$2}"
  RESULTS="${RESULTS:-$PERF_WORK/$1.tsv}"
}

# authz_cmd CONFIG PORT [ARGS...] -> AUTHZ_CMD: this build serving CONFIG with gRPC on PORT,
# the admin port on PORT+1, the debug port on PORT+2 and `--worker-threads ${WORKERS:-1}`.
authz_cmd() {
  local config="$1" port="$2"
  shift 2
  AUTHZ_CMD=("$AUTHZ_BIN" serve --config "$config" --grpc-listen "127.0.0.1:$port"
    --admin-listen "127.0.0.1:$((port + 1))" --debug-listen "127.0.0.1:$((port + 2))"
    --worker-threads "${WORKERS:-1}" "$@")
}

# start_authz CONFIG PORT LOG [ARGS...] -> AUTHZ_PID: authz_cmd on core AUTHZ_CPU, its output
# appended to LOG, stopped with the harness's processes; returns once /readyz answers 200.
start_authz() {
  local port="$2" log="$3"
  authz_cmd "$1" "$2" "${@:4}"
  taskset -c "$AUTHZ_CPU" "${AUTHZ_CMD[@]}" >>"$log" 2>&1 &
  AUTHZ_PID=$!
  _STARTED_PIDS+=("$AUTHZ_PID")
  wait_ready "$((port + 1))" "$log"
}

# wait_ready ADMIN_PORT LOG: returns once the server's /readyz on ADMIN_PORT answers 200
# (within 10 s); otherwise prints LOG and fails.
wait_ready() {
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0
    sleep 0.1
  done
  cat "$2"
  die "envoy-jwt-authz with admin port $1 did not become ready"
}

