#!/usr/bin/python3
"""test/sim/losses.py RESULT.json... - where each policy's money lost to cancellations is
(docs/simulation.md "The aim"): per removal cancelled after booking, by the Hub's estimate of
its chance of cancellation and by the generator's lead (when the cancellation came), with the
refundable share of the bookings. The estimate is the best-advice run's (plan_booking's
cancel_after_now, else the ranking's cancel_probability), so every policy's removals fall in
the same rows: same seed, same events. The first file is the baseline (cheapest fare): the
last lines say how much of each policy's loss would have to go for the aim (-50 %)."""
import json
import sys
from decimal import Decimal

EST = [("estimate >= 0.5", 0.5, 2), ("0.3 to 0.5", 0.3, 0.5), ("below 0.3", -1, 0.3)]
LEAD = [("72 h or more", 72, 1e9), ("24 to 72 h", 24, 72), ("under 24 h", -1, 24)]


def estimate(row):
    adv = row.get("advice") or {}
    v = adv.get("cancel_after_now") or row.get("cancel_probability")
    return float(v) if v not in (None, "None") else None


def main(paths):
    results = [json.load(open(p)) for p in paths]
    ref = next((r for r in results if r["policy"] == "best-advice"), results[-1])
    est = {x["n"]: estimate(x) for x in ref["removal_rows"]}
    names = [r["policy"] for r in results]
    print("| seed %s: lost, removals (refundable) | %s |" % (results[0]["seed"], " | ".join(names)))
    print("|---|" + "---:|" * len(names))
    for el, elo, ehi in EST:
        for ll, llo, lhi in LEAD:
            cells = []
            for r in results:
                rows = [x for x in r["removal_rows"] if x["outcome"] == "cancelled" and x["lost"] is not None
                        and est.get(x["n"]) is not None and elo <= est[x["n"]] < ehi
                        and x.get("cancel_lead") is not None and llo <= x["cancel_lead"] < lhi]
                lost = sum(Decimal(x["lost"]) for x in rows)
                cells.append("%d: %s (%d)" % (len(rows), lost, sum(1 for x in rows if x["refundable"])))
            print("| %s, cancelled %s before | %s |" % (el, ll, " | ".join(cells)))
    base = Decimal(results[0]["ledger"]["money"]["lost_to_cancellations"])
    print()
    for r in results[1:]:
        lost = Decimal(r["ledger"]["money"]["lost_to_cancellations"])
        print("%s: lost %s against %s (%+.1f %%); for -50 %% it would have to lose %s less" % (
            r["policy"], lost, base, (lost / base - 1) * 100 if base else 0, max(Decimal(0), lost - base / 2)))


if __name__ == "__main__":
    main(sys.argv[1:])
