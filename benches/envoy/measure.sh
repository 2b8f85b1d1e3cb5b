# shellcheck shell=bash
# One checked wrk run through a fresh Envoy (../shared/perf's ext_authz_grpc template) in
# front of an ext_authz server, for denials.sh and answers.sh. Source it after
# ../shared/perf/lib.sh with RESULTS, SECONDS_EACH and CONNS set:
#
#   measure SIDE EXPECT SOURCE RUN_ID PORT PID
#     SIDE    the row's name;  EXPECT  200 (every Check allowed) or 401 (every one denied)
#     SOURCE  a token file, `list:FILE` (each request the next token of FILE) or `none`
#     PORT    the ext_authz server's gRPC port;  PID  its process (for its CPU time)
#
# Appends one line to RESULTS (side, run_id, rps, p50, p99, requests, Envoy and server CPU
# µs per request, verdict, then per request for Envoy and the server: read- and write-family
# system calls (/proc/PID/io syscr + syscw; epoll_wait is not among them) and context
# switches, voluntary and not, over all threads — how often each process is woken) and
# exits 2 when a check fails: every wrk request answered with EXPECT (wrk's non-2xx count
# and Envoy's ext_authz ok/denied counters) and no socket errors.
# STRACE=1 also counts every system call of Envoy's threads over the measured run
# (`strace -c -f`, which slows Envoy down: read its counts, not its rps) into
# $LOG_DIR/strace-SIDE.txt, per request in $LOG_DIR/strace-SIDE-per-request.txt.
# PERF_RECORD=1 samples Envoy and the server on their own CPU clocks (`perf record -e
# task-clock -p`, which needs no hardware counters and, unlike core 0's cpu-clock, adds up
# to each process's CPU time as /proc counts it) over the measured run into
# $LOG_DIR/perf-SIDE.data, and writes where their time went, in µs per request, by process
# and binary, by process and part and by function, to $LOG_DIR/perf-SIDE-per-request.txt.

declare -A _measure_offset=()
URL="http://127.0.0.1:$LISTEN_PORT/"
# wrk needs a connection per thread.
WRK_THREADS=$(( CONNS < 2 ? CONNS : 2 ))

# A wrk script giving each request the next token of LIST from OFFSET on (each wrk thread
# its own stride), as the harness's run.sh does.
_rotate_script() {
  cat >"$TMP_DIR/wrk-measure-rotate.lua" <<LUA
local counter = 0
function setup(thread) thread:set("tid", counter); counter = counter + 1 end
function init(args)
  tokens = {}
  for line in io.lines("$1") do tokens[#tokens + 1] = line end
  i = (($2 + tid) % #tokens) + 1
end
function request()
  local t = tokens[i]
  i = i + $WRK_THREADS
  if i > #tokens then i = ((i - 1) % $WRK_THREADS) + 1 end
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. t })
end
LUA
  echo "$TMP_DIR/wrk-measure-rotate.lua"
}

# _wakes PID -> "SYSCALLS SWITCHES": read/write-family system calls and context switches so far.
_wakes() {
  local calls switches
  calls=$(awk '$1 == "syscr:" || $1 == "syscw:" { n += $2 } END { print n + 0 }' "/proc/$1/io" 2>/dev/null)
  switches=$(cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }')
  echo "${calls:-0} ${switches:-0}"
}

# One sample per 200 µs of a process's CPU time: a fixed period, so that samples × period is
# its CPU time (perf's default frequency mode re-tunes the period as load comes and goes).
PERF_PERIOD_NS=200000
# _top DATA SCALE KEYS N: the N largest rows of DATA's report sorted by KEYS, in µs per
# request (SCALE: µs per request of one sample).
_top() {
  echo "# µs per request by $3"
  perf report -i "$1" --stdio --no-children -n --sort "$3" 2>/dev/null \
    | awk -v s="$2" -v max="$4" '!/^#/ && NF > 2 && ++k <= max {
        $1 = ""; n = $2; $2 = ""; printf "%8.2f %s\n", n * s, $0 }'
}

# _per_request DATA REQUESTS: the samples as µs per request: by process and binary,
# by process and part (crypto: aws-lc's functions; allocator: glibc's malloc family and
# memory copies; kernel; the rest), then the 40 costliest functions.
_per_request() {
  local scale
  scale=$(awk -v n="$2" -v p="$PERF_PERIOD_NS" 'BEGIN { print p / 1e3 / n }')
  _top "$1" "$scale" comm,dso 20
  echo "# µs per request by comm,part"
  perf report -i "$1" --stdio --no-children -n -t $'\t' --sort comm,sym 2>/dev/null \
    | awk -F'\t' -v s="$scale" '!/^#/ && NF >= 4 {
        comm = $3; gsub(/^ +| +$/, "", comm); sym = $4
        if (sym ~ /\[k\]/) part = "kernel"
        else if (sym ~ /aws_lc|nistz256|beeu_|sha256_block|bn_|mulx4x|sqrx8x/) part = "crypto"
        else if (sym ~ /malloc|free|_int_|consolidate|unlink_chunk|memmove|memcpy|memset|memcmp/) part = "allocator"
        else part = "rest"
        t[comm " " part] += $2 * s }
      END { for (k in t) if (t[k] >= 0.1) printf "%8.2f %s\n", t[k], k }' | sort -k2,2 -k1,1nr
  _top "$1" "$scale" comm,sym 40
}

measure() {
  local side="$1" expect="$2" source="$3" run_id="$4" port="$5" pid="$6"
  local load=() one=() code out
  case "$source" in
    none) ;;
    list:*)
      load=(-s "$(_rotate_script "${source#list:}" "${_measure_offset[$source]:-0}")")
      one=(-H "Authorization: Bearer $(head -1 "${source#list:}")") ;;
    *) load=(-H "Authorization: Bearer $(cat "$source")"); one=("${load[@]}") ;;
  esac
  local cfg="$TMP_DIR/envoy-measure-$port.yaml"
  [ -s "$cfg" ] || render_config "$PERF/envoy/ext_authz_grpc.yaml" "$cfg" off false "$port"
  start_envoy "$cfg" "envoy-measure-$port"
  code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "${one[@]}" "$URL")
  [ "$code" = "$expect" ] || die "$side: a first request got $code, expected $expect"
  # 1 s unrecorded warm-up, then counters that cover the measured run only.
  taskset -c "$WRK_CPU" wrk -t"$WRK_THREADS" -c"$CONNS" -d1s "${load[@]}" "$URL" >/dev/null 2>&1 || true
  curl -s -m 2 -X POST "$ADMIN/reset_counters" >/dev/null
  # Per request of wrk's count: the counters also cover the attach pauses below, when
  # nothing is sent, and are read again as soon as wrk ends, before any report is made.
  local e0 a0 e1 a1 ew0 aw0 ew1 aw1
  ew0=$(_wakes "$ENVOY_PID"); aw0=$(_wakes "$pid")
  e0=$(proc_ticks "$ENVOY_PID"); a0=$(proc_ticks "$pid")
  out="$LOG_DIR/wrk-measure-$side.txt"
  local tracer="" sampler=""
  if [ "${PERF_RECORD:-0}" = 1 ]; then
    perf record -q -e task-clock -c "$PERF_PERIOD_NS" -p "$ENVOY_PID,$pid" -o "$LOG_DIR/perf-$side.data" \
      >/dev/null 2>&1 & sampler=$!
    sleep 0.5
  fi
  if [ "${STRACE:-0}" = 1 ]; then
    strace -c -f -qq -o "$LOG_DIR/strace-$side.txt" -p "$ENVOY_PID" & tracer=$!
    sleep 0.5
  fi
  taskset -c "$WRK_CPU" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECONDS_EACH}s" --timeout 5s --latency \
    "${load[@]}" "$URL" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
  e1=$(proc_ticks "$ENVOY_PID"); a1=$(proc_ticks "$pid")
  ew1=$(_wakes "$ENVOY_PID"); aw1=$(_wakes "$pid")
  local rps reqs non2xx sockerr ok denied verdict=ok
  reqs=$(awk '/requests in/{print $1}' "$out")
  if [ -n "$sampler" ]; then
    kill -INT "$sampler"; wait "$sampler" || true
    _per_request "$LOG_DIR/perf-$side.data" "$reqs" >"$LOG_DIR/perf-$side-per-request.txt"
  fi
  if [ -n "$tracer" ]; then
    kill -INT "$tracer"; wait "$tracer" || true
    awk -v n="$reqs" '$4 ~ /^[0-9]+$/ && $NF != "total" {
        printf "%-20s %8.3f\n", $NF, $4 / n }' "$LOG_DIR/strace-$side.txt" \
      | sort -k2 -nr >"$LOG_DIR/strace-$side-per-request.txt"
  fi
  rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/{print $5}' "$out"); non2xx=${non2xx:-0}
  sockerr=$(awk '/Socket errors:/{gsub(",","");print $4+$6+$8+$10}' "$out"); sockerr=${sockerr:-0}
  ok=$(envoy_stat http.ingress.ext_authz.ok); denied=$(envoy_stat http.ingress.ext_authz.denied)
  stop_pid "$ENVOY_PID" envoy
  [[ "$source" == list:* ]] && _measure_offset[$source]=$(( ${_measure_offset[$source]:-0} + reqs + WRK_THREADS ))
  if [ "$expect" = 200 ]; then
    [ "$non2xx" = 0 ] && [ "$ok" -ge "$reqs" ] && [ "$denied" = 0 ] || verdict="FAIL:non2xx=$non2xx,ok=$ok,denied=$denied"
  else
    [ "$non2xx" -ge "$reqs" ] && [ "$denied" -ge "$reqs" ] && [ "$ok" = 0 ] || verdict="FAIL:non2xx=$non2xx,ok=$ok,denied=$denied"
  fi
  [ "$sockerr" = 0 ] || verdict="FAIL:socket_errors=$sockerr"
  [ -s "$RESULTS" ] || printf 'date_utc\tside\trun_id\trps\tp50\tp99\trequests\tenvoy_us_rq\tauthz_us_rq\tverdict\tenvoy_calls_rq\tenvoy_switches_rq\tauthz_calls_rq\tauthz_switches_rq\n' >"$RESULTS"
  awk -v d="$(date -u +%FT%TZ)" -v s="$side" -v r="$run_id" -v rps="$rps" -v n="$reqs" \
    -v v="$verdict" -v p50="$(awk '$1=="50%"{print $2}' "$out")" \
    -v p99="$(awk '$1=="99%"{print $2}' "$out")" -v de=$((e1 - e0)) -v da=$((a1 - a0)) \
    -v hz="$(getconf CLK_TCK)" -v ew="$ew0 $ew1" -v aw="$aw0 $aw1" 'BEGIN {
      split(ew, e, " "); split(aw, a, " ")
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t%.2f\t%.2f\t%.2f\t%.2f\n", d, s, r, rps,
        p50, p99, n, 1e6 * de / hz / n, 1e6 * da / hz / n, v, (e[3] - e[1]) / n, (e[4] - e[2]) / n,
        (a[3] - a[1]) / n, (a[4] - a[2]) / n }' >>"$RESULTS"
  tail -1 "$RESULTS" | awk -F'\t' '{ printf "%-18s rps=%-9s p50=%-8s p99=%-8s envoy_us=%-6s authz_us=%-6s %s calls/switches per rq: envoy %s/%s, authz %s/%s\n", $2, $4, $5, $6, $8, $9, $10, $11, $12, $13, $14 }'
  [[ "$verdict" == ok ]] || exit 2
}
