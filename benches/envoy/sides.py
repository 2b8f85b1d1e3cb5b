#!/usr/bin/env python3
"""Summarize the rows of one session of benches/envoy/measure.sh (denials, answers, burn).

usage: sides.py RESULTS_TSV RUN_ID_PREFIX BASE_SIDE [SIDE:REFERENCE ...]

Per side: runs, median rps, p50 and p99 (ms), Envoy's and the server's CPU microseconds per
request, and the core time per request (1e6 / rps: core 0, shared by Envoy and the server,
is saturated at many connections), each with its difference from BASE_SIDE in the same round
(median over rounds). Each SIDE:REFERENCE pair then prints the median over rounds of the
same-round ratios SIDE / REFERENCE of the server's µs per request and of the core time per
request: the ratios the issue's targets are stated in. Where the rows have them, the
read/write-family system calls and context switches per request of Envoy and the server.
"""
import csv
import statistics as st
import sys
from collections import defaultdict


def ms(value):
    """wrk's latency ("812.00us", "1.23ms", "2.00s") in milliseconds."""
    for unit, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * scale
    return float("nan")


# The per-request system calls and context switches of Envoy and the server (measure.sh).
WAKES = ("envoy_calls_rq", "envoy_switches_rq", "authz_calls_rq", "authz_switches_rq")


def main():
    path, prefix, base = sys.argv[1], sys.argv[2], sys.argv[3]
    pairs = [p.split(":", 1) for p in sys.argv[4:]]
    rows = [r for r in csv.DictReader(open(path), delimiter="\t") if r["run_id"].startswith(prefix)]
    if not rows:
        sys.exit(f"no rows with run_id prefix {prefix!r} in {path}")
    failed = [r for r in rows if r["verdict"] != "ok"]
    rounds = defaultdict(dict)
    order = []
    for r in rows:
        if r["verdict"] != "ok":
            continue
        if r["side"] not in order:
            order.append(r["side"])
        rps = float(r["rps"])
        rounds[r["run_id"]][r["side"]] = {
            "rps": rps,
            "p50": ms(r["p50"]),
            "p99": ms(r["p99"]),
            "envoy": float(r["envoy_us_rq"]),
            "authz": float(r["authz_us_rq"]),
            "core": 1e6 / rps,
        }
        # Rows written before measure.sh counted system calls and wake-ups have none.
        for key in WAKES:
            if r.get(key):
                rounds[r["run_id"]][r["side"]][key] = float(r[key])
    med = lambda xs: st.median(xs) if xs else float("nan")

    def values(side, key):
        return [rd[side][key] for rd in rounds.values() if side in rd]

    def deltas(side, key):
        return [rd[side][key] - rd[base][key] for rd in rounds.values() if side in rd and base in rd]

    print(f"== {prefix}: {len(rounds)} rounds; differences (+) are from {base} in the same round")
    head = f"{'side':20} {'n':>2} {'rps':>8} {'p50 ms':>7} {'+p50 us':>8} {'p99 ms':>7} {'+p99 us':>8} " \
           f"{'envoy us':>8} {'+envoy':>7} {'authz us':>8} {'core us':>8} {'+core':>7}"
    print(head)
    print("-" * len(head))
    for side in order:
        print(f"{side:20} {len(values(side, 'rps')):>2} {med(values(side, 'rps')):>8.0f} "
              f"{med(values(side, 'p50')):>7.3f} {1e3 * med(deltas(side, 'p50')):>+8.0f} "
              f"{med(values(side, 'p99')):>7.3f} {1e3 * med(deltas(side, 'p99')):>+8.0f} "
              f"{med(values(side, 'envoy')):>8.1f} {med(deltas(side, 'envoy')):>+7.1f} "
              f"{med(values(side, 'authz')):>8.1f} {med(values(side, 'core')):>8.1f} "
              f"{med(deltas(side, 'core')):>+7.1f}")
    if any(WAKES[0] in rd[side] for rd in rounds.values() for side in rd):
        print(f"per request (median): {'side':20} " + " ".join(f"{k[:-3]:>17}" for k in WAKES))
        for side in order:
            print(f"                      {side:20} "
                  + " ".join(f"{med(values(side, k)):>17.2f}" for k in WAKES if values(side, k)))
    for side, ref in pairs:
        ratio = lambda key: med([rd[side][key] / rd[ref][key] for rd in rounds.values()
                                 if side in rd and ref in rd])
        print(f"{side} / {ref}: server us/rq x{ratio('authz'):.2f}, core us/rq x{ratio('core'):.2f}")
    for r in failed:
        print(f"EXCLUDED (failed check): {r['run_id']} {r['side']} {r['verdict']}")


if __name__ == "__main__":
    main()
