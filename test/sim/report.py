#!/usr/bin/python3
"""test/sim/report.py RESULT.json... - the simulation's figures per policy, side by side, and
the check that the Hub's MI views agree with the sim's ledger to the penny.

Prints the table and the agreement, writes RESULT-DIR/summary.md (the table docs/simulation.md
quotes) and RESULT-DIR/money.svg (the chart). Exit status 1 when any MI figure differs from
the ledger or any removal failed."""
import json
import os
import sys
from decimal import Decimal

def leads(r):
    """Per removal cancelled after booking, the hours before departure of its cancellation as
    the TSP's refund rules read it: the generator's lead since the refunds are read at it (sim.py
    refund_at_true_lead; refund_leads holds the TSP's reading, the same band but for a non-
    refundable booking, whose rules have no edge there to keep it in), or the collapsed
    timeline's (cancel_leads) in results made before."""
    if "refund_leads" not in r:
        return r["cancel_leads"]
    return [x["cancel_lead"] for x in r["removal_rows"]
            if x["outcome"] == "cancelled" and any(accepted for _, accepted in x["booked"])]


ROWS = [
    ("removals", lambda r: r["removals"]),
    ("completed", lambda r: r["ledger"]["completed"]),
    ("  on the planned date", lambda r: r["ledger"]["completed_on_planned_date"]),
    ("cancelled", lambda r: r["ledger"]["cancelled"]),
    ("  after booking", lambda r: r["ledger"]["cancelled_after_booking"]),
    ("failed (sim could not finish)", lambda r: r["ledger"]["failed"]),
    ("travel bookings accepted", lambda r: r["ledger"]["bookings"]),
    ("  of them refundable", lambda r: r["ledger"]["refundable_bookings"]),
    ("  not the cheapest fare quoted", lambda r: r["ledger"]["bookings_not_cheapest"]),
    ("held by the Hub's advice (plan_booking)", lambda r: r["ledger"].get("held", 0)),
    ("  of them cancelled while held (nothing booked)", lambda r: r["ledger"].get("cancelled_while_held", 0)),
    ("ticket spend (GBP)", lambda r: r["ledger"]["money"]["ticket_spend"]),
    ("refunds received (GBP)", lambda r: r["ledger"]["money"]["refunds"]),
    ("change fees (GBP)", lambda r: r["ledger"]["money"]["change_fees"]),
    ("cancellation fees (GBP)", lambda r: r["ledger"]["money"]["cancellation_fees"]),
    ("  of them the escort provider's (GBP)", lambda r: r["ledger"]["money"].get("escort_cancellation_fees", "-")),
    ("lost to non-refundable fares (GBP)", lambda r: r["ledger"]["money"]["lost_non_refundable"]),
    ("lost to cancellations, all fares (GBP)", lambda r: r["ledger"]["money"]["lost_to_cancellations"]),
    ("  with the escort provider's cancellation fees (GBP)", lambda r: str(
        Decimal(r["ledger"]["money"]["lost_to_cancellations"]) + Decimal(r["ledger"]["money"].get("escort_cancellation_fees", "0")))),
    ("net travel cost (spend - refunds + change fees)", lambda r: str(
        Decimal(r["ledger"]["money"]["ticket_spend"]) - Decimal(r["ledger"]["money"]["refunds"])
        + Decimal(r["ledger"]["money"]["change_fees"]))),
    ("  with the escort provider's cancellation fees", lambda r: str(
        Decimal(r["ledger"]["money"]["ticket_spend"]) - Decimal(r["ledger"]["money"]["refunds"])
        + Decimal(r["ledger"]["money"]["change_fees"]) + Decimal(r["ledger"]["money"].get("escort_cancellation_fees", "0")))),
    ("tickets per completed removal", lambda r: r["ledger"]["tickets_per_completed_removal"]),
    # The lead at which the TSP read its refund rules: the cancellation's own since the refunds
    # are read at the true lead (sim.py refund_at_true_lead); the collapsed one before.
    ("cancelled after booking: < 24 h before departure", lambda r: sum(1 for h in leads(r) if h < 24)),
    ("  24 to 72 h", lambda r: sum(1 for h in leads(r) if 24 <= h < 72)),
    ("  72 h or more", lambda r: sum(1 for h in leads(r) if h >= 72)),
    ("Hub's history before the run (years of removals)", lambda r: r.get("history_years", 0)),
    ("seconds to drive", lambda r: r["seconds"]),
]


def svg(results, path):
    """Grouped bars: ticket spend, refunds, lost to cancellations, net cost, per policy."""
    keys = [("ticket spend", lambda r: Decimal(r["ledger"]["money"]["ticket_spend"])),
            ("refunds", lambda r: Decimal(r["ledger"]["money"]["refunds"])),
            ("lost to cancellations", lambda r: Decimal(r["ledger"]["money"]["lost_to_cancellations"])),
            ("net travel cost", lambda r: Decimal(r["ledger"]["money"]["ticket_spend"]) - Decimal(r["ledger"]["money"]["refunds"])
             + Decimal(r["ledger"]["money"]["change_fees"]))]
    colours = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"]
    top = max(f(r) for r in results for _, f in keys) or Decimal(1)
    w, h, left, bottom = 760, 360, 70, 300
    group = (w - left - 20) / len(keys)
    bar = group / (len(results) + 1)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14">Travel money per booking policy (GBP), seed %s, %s removals</text>'
           % (left, results[0]["seed"], results[0]["removals"])]
    for i in range(5):
        v = top * i / 4
        y = bottom - float(v / top) * 250
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (left, w - 20, y, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (left - 4, y + 4, "{:,.0f}".format(v)))
    for g, (name, f) in enumerate(keys):
        x0 = left + g * group + bar / 2
        for j, r in enumerate(results):
            v = f(r)
            hgt = float(v / top) * 250
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                       % (x0 + j * bar, bottom - hgt, bar - 2, hgt, colours[j % len(colours)]))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x0 + len(results) * bar / 2, bottom + 16, name))
    for j, r in enumerate(results):
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>'
                   % (left + j * 150, bottom + 34, colours[j % len(colours)], left + j * 150 + 16, bottom + 45, r["policy"]))
    out.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")


def split_table(results):
    """Lost to cancellations by what the Hub was told (recorded factors) and by half of the
    year (the estimate learns from the removals that closed before), per policy; with the
    refundable share of the bookings. From the per-removal rows of the result."""
    if not all("removal_rows" in r for r in results):
        return ""
    n = results[0]["removals"]
    groups = [("no factor recorded", lambda x: not x["factors"]),
              ("a factor recorded", lambda x: bool(x["factors"])),
              ("escorted", lambda x: x.get("escorted")),
              ("cancelled 72 h or more before departure (generator's lead)", lambda x: (x.get("cancel_lead") or -1) >= 72),
              ("cancelled less than 72 h before departure", lambda x: x.get("cancel_lead") is not None and x["cancel_lead"] < 72),
              ("first half of the year", lambda x: x["n"] < n // 2),
              ("second half of the year", lambda x: x["n"] >= n // 2)]
    names = [r["policy"] for r in results]
    lines = ["| removals | " + " | ".join("%s: lost (GBP), refundable bookings" % p for p in names) + " |",
             "|---|" + "---:|" * len(names)]
    for label, keep in groups:
        cells = []
        for r in results:
            rows = [x for x in r["removal_rows"] if keep(x)]
            lost = sum(Decimal(x["lost"]) for x in rows if x["lost"] is not None)
            booked = [x for x in rows if x["refundable"] is not None]
            cells.append("%s, %d of %d" % (lost, sum(1 for x in booked if x["refundable"]), len(booked)))
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    return "\n".join(lines)


def main(paths):
    results = [json.load(open(p)) for p in paths]
    names = [r["policy"] for r in results]
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, f in ROWS:
        lines.append("| %s | %s |" % (label, " | ".join(str(f(r)) for r in results)))
    table = "\n".join(lines)
    print(table)
    bad = 0
    print()
    for r in results:
        diffs = [a for a in r["agreement"] if not a["equal"]]
        print("policy %s: MI views against the ledger: %d figures equal, %d differ" % (
            r["policy"], len(r["agreement"]) - len(diffs), len(diffs)))
        for a in diffs:
            print("   DIFFERS %s.%s: ledger %s, MI %s" % (a["view"], a["column"], a["ledger"], a["mi"]))
        for f in r["failures"][:10]:
            print("   FAILED removal %s (%s): %s" % (f["case"], f["ref"], f["why"]))
        bad += len(diffs) + len(r["failures"])
    by = {r["policy"]: r for r in results}
    for best in ("refundable", "best", "best-advice", "best-now", "best-hold-all"):
        if best not in by or "cheapest" not in by:
            continue
        lost = lambda p: Decimal(by[p]["ledger"]["money"]["lost_to_cancellations"])
        done = lambda p: by[p]["ledger"]["completed_on_planned_date"]
        cut = (1 - lost(best) / lost("cheapest")) * 100 if lost("cheapest") else Decimal(0)
        print("\n%s loses %.1f%% %s to cancellations than cheapest fare (aim: at least 50%% less), completing %d on the planned date against %d: %s"
              % (best, abs(cut), "less" if cut >= 0 else "more", done(best), done("cheapest"),
                 "aim met" if cut >= 50 and done(best) >= done("cheapest") else "aim NOT met"))
    split = split_table(results)
    if split:
        print("\n" + split)
    outdir = os.path.dirname(os.path.abspath(paths[0]))
    with open(os.path.join(outdir, "summary.md"), "w") as fh:
        fh.write(table + "\n" + ("\n" + split + "\n" if split else ""))
    svg(results, os.path.join(outdir, "money.svg"))
    checks = sum(len(r["agreement"]) for r in results)
    differ = sum(1 for r in results for a in r["agreement"] if not a["equal"])
    failed = sum(len(r["failures"]) for r in results)
    print("\nsim: %d MI figures checked, %d differ from the ledger; %d removals failed" % (checks, differ, failed))
    print("sim: %d passed, %d failed" % (checks - differ, differ + failed))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
