#!/usr/bin/python3
"""test/sim/compare.py - two runs of the simulation, result against result, to the penny.

  compare.py A/result-POLICY.json B/result-POLICY.json

The drivers (docs/simulation.md "The drivers") must give the same books for one seed and
policy: this compares the ledger, the MI figures, their agreement, and every removal's row
(outcome, the refundable flag and the money lost of its last booking, the Hub's estimate, held
or not), and ignores only how the run was driven (seconds, driver, rounds, concurrency).
Prints each difference; exit status 1 when there is one.

The Hub's estimate of each removal's chance of cancellation (cancel_probability) is not
compared to the digit but reported as its largest difference: the Hub learns from the removals
closed before each booking, and the two drivers close removals at different moments (the poll
driver as each answer comes, the event-queue driver by rounds), so the fourth decimal moves;
when it moves a choice (a hold, a ranking), the books differ and that is reported."""
import json
import sys

IGNORED = {"seconds", "driver", "rounds", "concurrency", "settle"}
ESTIMATE = {"max": 0.0}


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if path == "" and k in IGNORED:
                continue
            diff(a.get(k), b.get(k), "%s.%s" % (path, k) if path else k, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, "%s[%d]" % (path, i), out)
    elif a != b and (path.startswith("cancel_leads") or path.startswith("refund_leads")) and None not in (a, b):
        # Hours from the moment of cancelling to departure: wall-clock time, minutes apart
        # between two runs; compared by refund band (24 h, 72 h), which is what moves money.
        band = lambda h: 0 if h < 24 else 1 if h < 72 else 2  # noqa: E731
        if band(a) != band(b):
            out.append("%s: %s | %s (another refund band)" % (path, a, b))
    elif a != b and path.endswith(".cancel_probability"):
        ESTIMATE["max"] = max(ESTIMATE["max"], abs(float(a or 0) - float(b or 0)))
    elif a != b:
        out.append("%s: %s | %s" % (path, json.dumps(a, default=str)[:200], json.dumps(b, default=str)[:200]))


def main():
    a, b = (json.load(open(p)) for p in sys.argv[1:3])
    out = []
    diff(a, b, "", out)
    for line in out:
        print("DIFFERS " + line)
    print("compare: %d removals, ledger %s, %d MI figures; the Hub's estimates differ by at most %.4f; %d differences" % (
        a.get("removals", 0), "equal" if not any(x.startswith("ledger") for x in out) else "DIFFERS",
        len(a.get("agreement", [])), ESTIMATE["max"], len(out)))
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
