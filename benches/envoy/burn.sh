#!/usr/bin/env bash
# Does Envoy's CPU per request depend on how long the ext_authz server takes per Check
# (issue #20 part 1)? Runs copies of ../shared/perf's always-allow stand-in that each spend a
# fixed time per Check before answering the same bare OK, interleaved round by round, beside
# envoy-jwt-authz verifying a new ES256 token on every request. If Envoy's µs per request
# rises with the stand-in's burn as it does with our verify, the extra is the Check's
# duration on the shared core, not anything in our answer or in how we write it.
#
#   benches/envoy/burn.sh [rounds=3] [seconds=10] [connections=32]
#   LIST="spin:0 spin:60 thrash:60"  the stand-in copies: MODE:MICROSECONDS per Check
#     spin    a busy loop on the clock (touches no memory)
#     thrash  the same time spent writing a 256 KiB buffer (evicts caches, as a verify does)
#   OURS=0   leave envoy-jwt-authz out
#
# The copy is built from ../shared/perf/standin_authz with one function added (the harness's
# own stand-in build is not touched), into $PERF_WORK/standin-burn-target. Core 0: Envoy and
# the server under test (one worker thread); core 1: wrk. Results append to
# $PERF_WORK/burn.tsv; the summary (benches/envoy/sides.py) is printed at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/benches/envoy/prelude.sh"
bench_args burn 32 "$@"
BASE_PORT="${BASE_PORT:-9300}"
read -r -a LIST <<<"${LIST:-spin:0 spin:60 thrash:60}"
trap 'stop_all_started' EXIT

# The copy: `check` calls burn() before answering; burn() reads STANDIN_BURN once.
src="$PERF_WORK/standin-burn-src"
rm -rf "$src" && cp -r "$PERF/standin_authz" "$src" && chmod -R u+w "$src"
perl -0pi -e 's/(\n\s*Ok\(Response::new\(CheckResponse::with_status)/\n        burn();$1/' "$src/src/main.rs"
grep -q 'burn();' "$src/src/main.rs" || die "the stand-in's check() no longer has the expected shape"
cat >>"$src/src/main.rs" <<'RUST'

/// Spends STANDIN_BURN (`spin:N` or `thrash:N`, N µs) per Check: a busy loop, or writes
/// over a 256 KiB buffer until N µs have passed.
fn burn() {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};
    static BURN: OnceLock<(bool, Duration)> = OnceLock::new();
    let (thrash, time) = *BURN.get_or_init(|| {
        let spec = std::env::var("STANDIN_BURN").unwrap_or_default();
        let (mode, us) = spec.split_once(':').unwrap_or(("spin", "0"));
        (mode == "thrash", Duration::from_micros(us.parse().expect("STANDIN_BURN=MODE:µs")))
    });
    let start = Instant::now();
    let mut buffer = if thrash { vec![0u8; 256 * 1024] } else { Vec::new() };
    let mut round = 0u8;
    while start.elapsed() < time {
        round = round.wrapping_add(1);
        for line in buffer.chunks_mut(64) {
            line[0] = line[0].wrapping_add(round);
        }
        std::hint::black_box(&buffer);
    }
}
RUST
burn_bin="$PERF_WORK/standin-burn-target/release/standin_authz"
(cd "$src" && CARGO_TARGET_DIR="$PERF_WORK/standin-burn-target" cargo build --release -q)

declare -A port=() pid=()
n=0
for side in "${LIST[@]}"; do
  port[$side]=$((BASE_PORT + n)); n=$((n + 1))
  STANDIN_BURN="$side" taskset -c "$AUTHZ_CPU" "$burn_bin" --addr "127.0.0.1:${port[$side]}" \
    --workers 1 >"$LOG_DIR/burn-$side.log" 2>&1 &
  pid[$side]=$!
  _STARTED_PIDS+=("${pid[$side]}")
done
sides=("${LIST[@]}")
if [ "${OURS:-1}" = 1 ]; then
  distinct_tokens
  ours=$((BASE_PORT + n))
  lab_config "${ANSWER_CONFIG[bare]}" >"$PERF_WORK/burn-config.yaml"
  : >"$LOG_DIR/burn-ours.log"
  RUST_LOG=warn start_authz "$PERF_WORK/burn-config.yaml" "$ours" "$LOG_DIR/burn-ours.log"
  pid[ours_distinct]=$AUTHZ_PID
  port[ours_distinct]=$ours
  sides+=(ours_distinct)
fi
# Each copy listening (lib.sh's port_free, as start_standin waits), or the run stops.
for side in "${LIST[@]}"; do
  for _ in $(seq 50); do port_free "${port[$side]}" || continue 2; sleep 0.1; done
  die "the stand-in copy $side is not listening on ${port[$side]}"
done
source "$ROOT/benches/envoy/measure.sh"

session="burn-$(date -u +%Y%m%dT%H%M%SZ)"
for r in $(seq "$ROUNDS"); do
  for side in "${sides[@]}"; do
    from=$([ "$side" = ours_distinct ] && echo "list:$TOKEN_LIST" || echo "$TMP_DIR/token_es256.jwt")
    measure "$side" 200 "$from" "$session/r$r" "${port[$side]}" "${pid[$side]}"
  done
done
"$PY" "$ROOT/benches/envoy/sides.py" "$RESULTS" "$session/" "${LIST[0]}"
