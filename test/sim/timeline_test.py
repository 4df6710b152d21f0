#!/usr/bin/python3
"""test/sim/timeline_test.py - the collapsed timeline's devices without a stack (step
sim-driver, with waves_test.py; docs/simulation.md "Refunds at the true lead", "The roster
grows with the run"):

- refund_shift: the TSP, cancelling h hours before departure with the rules moved by the
  shift, reads them in the band of the cancellation's own lead, also when it applies the
  cancellation up to 25 minutes later, for leads on and beside every threshold of the
  world's rule sets (FLEX, SEMI, FIXED200, NONREF), booked an hour and a half or more before;
- roster_size: the earlier passes' 160 escorts for a policy run; beyond, four per removal in
  flight, with the flown removals' duty days freed at the ESP;
- generate with fewer simulated days: the same events, the year's first ones;
- an escort declined while the TSP booked the travel: the ledger counts the booking, as the
  Hub's MI does.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sim  # noqa: E402
from checks import Checks  # noqa: E402

check = Checks("sim-timeline")


# The world's rule sets (scripts/gen-world-schedule, data/demo-inventory/refund_rules.csv).
RULES = {"FLEX": [24, 0], "SEMI": [168, 72, 24], "FIXED200": [48], "NONREF": [0]}


def band(hours, thresholds):
    """The rule the TSP applies at `hours` before departure: the largest threshold <= hours
    (None: no rule, no refund), as hublink.tsp_refund_amount."""
    return max([t for t in thresholds if t <= hours], default=None)


bad = []
rng = random.Random(1)
for name, ts in RULES.items():
    leads = [x + d for x in ts + [1, 96, 300] for d in (-0.6, -0.01, 0, 0.01, 0.49, 0.51, 0.99, 1.3)] + \
            [rng.uniform(0.5, 330) for _ in range(400)]
    for lead in [x for x in leads if x >= 0.5]:
        # Booked at least an hour and a half before the cancellation comes (a booking is made
        # 72 h or more before departure, the latest cancellation after booking well inside
        # that); closer, the shift would have to be negative, which the rules cannot take.
        for h in (lead + 1.5, lead + 2, lead + 30.7, lead + 71.99, 336.4, rng.uniform(lead + 1.5, 400)):
            if h > 400:
                continue
            shift = sim.refund_shift(h, lead, ts)
            for late in (0, 0.1, 0.41):  # the TSP reads the clock up to 25 minutes later
                if band(h - late - shift, [t - 0 for t in ts]) != band(lead, ts):
                    bad.append((name, round(lead, 2), round(h, 2), shift, late))
check("refund_shift: the TSP reads every rule set in the band of the cancellation's own lead, up to 25 min later",
      not bad, str(bad[:5]))
check("refund_shift: whole hours, never negative, 0 when the cancellation comes at the booking",
      all(isinstance(sim.refund_shift(h, l, [24, 0]), int) for h, l in ((200.3, 30.2), (10, 9.5)))
      and sim.refund_shift(30, 40, [24, 0]) == 0 and sim.refund_shift(30, 30, [24, 0]) == 0,
      str((sim.refund_shift(30, 40, [24, 0]), sim.refund_shift(30, 30, [24, 0]))))
# The collapsed timeline before the fifth pass: every cancellation after booking read at its
# booking lead (120 to 336 h), so a FLEX fare cancelled the day before lost only the fee.
check("without the shift a FLEX fare cancelled 10 h before would be read in the full-refund band (the bias removed)",
      band(200, RULES["FLEX"]) == 24 and band(200 - sim.refund_shift(200, 10, RULES["FLEX"]), RULES["FLEX"]) == 0)

sizes = [sim.roster_size(n) for n in (1, 120, 400, 573)]
check("roster_size: 160 escorts up to 573 removals (the policy runs' roster unchanged), duties kept",
      sizes == [160] * 4 and not sim.frees_duties(573), str(sizes))
check("roster_size: beyond, 4 escorts per removal in flight whatever the run's length, the flown removals' duties freed",
      sim.roster_size(574, 120) == 480 == sim.roster_size(8000, 120) == sim.roster_size(80000, 120)
      and sim.roster_size(8000, 10) == 160 and sim.frees_duties(574),
      str([sim.roster_size(574, 120), sim.roster_size(8000, 120), sim.roster_size(8000, 10)]))

year = sim.generate(17, 1)
first = sim.generate(17, 1, 120)
check("generate(days=120): the year's first 2,630 removals, the same events",
      len(year) == 8000 and len(first) == 2630 and first == year[:2630], str((len(year), len(first))))
check("generate: 120 removals at scale 0.015 are the first 120 of the year's",
      sim.generate(17, 0.015) == year[:120])

# An escort declined while the TSP booked the travel (choose_quote sends both at once): the
# booking stands and the Hub's MI counts it, so the ledger must too (the fifth pass's soak: 6
# such removals, £12,336.32 of ticket spend in the MI and not in the ledger). Driver.step on a
# removal waiting for its bookings, no stack: the states are the Hub's (removal_quotes etc. not
# called on this path).
class Quiet:
    def __getattr__(self, name):
        raise AssertionError("no party call expected on this path: " + name)


def declined(travel_state):
    drv = object.__new__(sim.Driver)
    drv.hub = drv.tsp = drv.esp = Quiet()
    drv.log = open(os.devnull, "w")
    r = sim.Removal({"case": "SIM-T", "escorted": True, "amend": False, "delay": False, "cancel": None})
    r.ref, r.phase = "RMV-T", "booking"
    r.bookings.append({"quote": "Q1", "amount": 100, "accepted": None})
    drv.step(r, {"state": "booking", "escort_state": "declined", "travel_state": travel_state, "updates": 0})
    return r


class Recorder:
    """A party that records its calls and answers what complete() reads."""

    def __init__(self, answer=None):
        self.sql, self.answer = [], answer

    def rows(self, sql, args=()):
        self.sql.append((" ".join(sql.split()), args))
        return self.answer or []

    def one(self, sql, args=()):
        self.sql.append((" ".join(sql.split()), args))
        return "EQ-1"


def completed(free, seats=False, party="esp"):
    import datetime as dt
    drv = object.__new__(sim.Driver)
    t = dt.datetime(2026, 12, 20, 10, tzinfo=dt.timezone.utc)
    drv.hub, drv.tsp, drv.esp = Recorder([{"segment_id": "S1", "start_time": t, "end_time": t}]), Recorder(), Recorder()
    drv.free_duties = free
    drv.free_seats = seats
    r = sim.Removal({"case": "SIM-T", "escorted": True})
    r.ref = "RMV-T"
    r.bookings.append({"quote": "Q1", "amount": 100, "accepted": True, "departs_at": t})
    drv.complete(r)
    if party == "tsp":
        return [x for x in drv.tsp.sql if "seats_sold" in x[0]]
    return [x for x in drv.esp.sql if "esp_duty" in x[0]]


freed = completed(True)
check("a long run: a flown escorted removal's duty days are freed at the ESP (its completed booking's only)",
      len(freed) == 1 and freed[0][0].startswith("DELETE FROM hublink.esp_duty") and "k.status = 'COMPLETED'" in freed[0][0]
      and freed[0][1] == ("EQ-1",), str(freed))
check("a policy run: the duties stay (the earlier passes' roster and results)", completed(False) == [])
given = completed(True, True, "tsp")
check("a run past the seats factor's reach (10x): a flown removal's seats are given back at the TSP (its booking's active segments)",
      len(given) == 1 and given[0][0].startswith("UPDATE hublink.tsp_flight f SET seats_sold = f.seats_sold - s.seats")
      and "k.quote_ref = %s AND s.status = 'ACTIVE'" in given[0][0] and given[0][1] == ("Q1",), str(given))
check("a run the seats factor carries: the seats stay sold (the sixth pass's world)", completed(True, False, "tsp") == [])
check("sim.frees_seats: from %d removals on (a year at ten times the rate), not for a year at the real rate" % (sim.SEATS_FREED_REMOVALS + 1),
      sim.frees_seats(80000) and not sim.frees_seats(8000) and not sim.frees_seats(sim.SEATS_FREED_REMOVALS))

r = declined("booked")
check("escort declined, travel booked: the travel booking is counted as accepted (the ledger's ticket spend) and the removal failed",
      r.bookings[-1]["accepted"] is True and r.outcome == "failed", str((r.bookings[-1]["accepted"], r.outcome, r.note)))
r = declined("booking_requested")
check("escort declined, the TSP's answer not in yet: the sim waits for it (nothing recorded, not failed)",
      r.bookings[-1]["accepted"] is None and r.outcome is None, str((r.bookings[-1]["accepted"], r.outcome)))

check.finish()
