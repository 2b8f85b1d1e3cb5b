#!/usr/bin/env bash
# A flood of bad tokens through a real Envoy (issue #20 part 2): what a denied Check costs
# Envoy and envoy-jwt-authz, beside a cached allow and a distinct valid token, with audit
# events on (the default `info` filter, JSON, written to a file) and the default
# `--audit-rate-limit`.
#
#   benches/envoy/denials.sh [rounds=3] [seconds=10] [connections=32]
#
# Scenarios, interleaved round by round (one Envoy and one server for the whole run):
#   allow_cached     one valid RS256 token, reused (a token-cache hit)         -> 200
#                    (RS256, 619 bytes: the size of the harness's bad tokens of a and c)
#   a_forged_replay  one bad-signature RS256 token, replayed (a refusal-cache hit) -> 401
#   b_forged_distinct  a new bad-signature token each request (a full verify)  -> 401
#   c_unknown_issuer one token of an issuer nobody trusts, replayed            -> 401
#   d_no_token       no Authorization                                          -> 401
#   valid_distinct   a new valid ES256 token each request (a full verify)      -> 200
# ONLY="allow_cached c_unknown_issuer" runs just those (in this order). Each run is checked:
# every wrk request answered with the expected status (Envoy's ext_authz ok/denied counters
# and wrk's non-2xx count), no socket errors.
# Core 0: Envoy and envoy-jwt-authz (--worker-threads 1); core 1: wrk. Results append to
# $PERF_WORK/denials.tsv; the summary (benches/envoy/sides.py) is printed at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/benches/envoy/prelude.sh"
bench_args denials 32 "$@"
P="${AUTHZ_GRPC_PORT:-9192}"  # the admin port is P+1, the debug port P+2

# Distinct tokens: the harness's valid list, and the same list with each token's signature
# swapped for the next one's (a well-formed ES256 signature that fails: a full verify).
count="${TOKENS:-60000}"
distinct_tokens
valid="$TOKEN_LIST"
forged="$TMP_DIR/forged_es256_$count.txt"
[ -s "$forged" ] || awk -F. 'NR > 1 { print head "." $3 } { head = $1 "." $2 } END { print head "." first }
  NR == 1 { first = $3 }' "$valid" >"$forged"

# The config in a directory of its own: the server watches the config's directory, and a
# log written beside it would wake the watcher on every line.
mkdir -p "$PERF_WORK/denials-config"
lab_config "${ANSWER_CONFIG[default]}" >"$PERF_WORK/denials-config/config.yaml"
log_file="$PERF_WORK/denials-authz.log"
: >"$log_file"
# Audit events on: the default filter (info), JSON lines, to a file.
trap 'stop_all_started' EXIT
start_authz "$PERF_WORK/denials-config/config.yaml" "$P" "$log_file" --log-format json
AUTHZ=$AUTHZ_PID

source "$ROOT/benches/envoy/measure.sh"

# side SIDE EXPECT SOURCE: one measurement of this round, unless ONLY names other sides.
side() {
  [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]] || return 0
  measure "$1" "$2" "$3" "$session/r$r" "$P" "$AUTHZ"
}
session="denials-$(date -u +%Y%m%dT%H%M%SZ)"
for r in $(seq "$ROUNDS"); do
  side allow_cached 200 "$TMP_DIR/token_rs256.jwt"
  side a_forged_replay 401 "$TMP_DIR/bad_signature.jwt"
  side b_forged_distinct 401 "list:$forged"
  side c_unknown_issuer 401 "$TMP_DIR/bad_wrong_iss.jwt"
  side d_no_token 401 none
  side valid_distinct 200 "list:$valid"
done
"$PY" "$ROOT/benches/envoy/sides.py" "$RESULTS" "$session/" allow_cached \
  a_forged_replay:allow_cached c_unknown_issuer:allow_cached d_no_token:allow_cached \
  b_forged_distinct:valid_distinct
echo "audit log: $(wc -l <"$log_file") lines in $log_file, of which" \
  "$(grep -c 'audit events suppressed' "$log_file" || true) 'audit events suppressed' lines"
curl -fs "http://127.0.0.1:$((P + 1))/metrics" | grep -E '^(token_cache_lookups|authz_decisions_total)' || true
