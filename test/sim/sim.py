#!/usr/bin/python3
"""test/sim/sim.py - a year of removals driven through the three hublink parties (issue 17).

Called by test/sim/run, which starts the parties (scripts/lib/parties.sh) and passes their
connection strings. Subcommands:

  sim.py world OUTDIR --seed N [--removals N]  the escort roster the ESP loads (escorts.csv, ...),
                                          sized for the removals of the run (roster_size)
  sim.py drive --policy P --seed N --scale F --hub DSN --tsp DSN --esp DSN --out FILE.json
      generates the events of the year (the same for every policy: the generator's random
      stream never depends on what the parties answer) and drives them through the Hub's SQL
      API, many removals in flight at once; the TSP and ESP engines answer over the broker.
      Writes the sim's own ledger, the MI views' figures and their comparison to FILE.json.

Simulated time: every removal's timeline is collapsed (docs/simulation.md). A removal that
the generator cancels L hours before departure is planned for the date of now + L, so the
flight it books departs about L hours after the moment the sim books and then cancels it: the
TSP's refund rules see the true hours before departure, with no clock in the product faked.
"""
import argparse
import datetime as dt
import json
import math
import os
import random
import sys
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.extras

# --- the generator ----------------------------------------------------------------------------

# Destinations with the ESP's flight times (data/demo-escorts/flight_times.csv).
DESTINATIONS = [
    ("NGA", "LOS", "Lagos, Nigeria", 30),
    ("ALB", "TIA", "Tirana, Albania", 25),
    ("PAK", "ISB", "Islamabad, Pakistan", 20),
    ("IND", "DEL", "Delhi, India", 12),
    ("GHA", "ACC", "Accra, Ghana", 8),
    ("JAM", "KIN", "Kingston, Jamaica", 5),
]
# Where returnees are held: places both providers know (data/demo-inventory, data/demo-escorts),
# served by Heathrow (Tinsley House, Gatwick only, has too few long-haul routes in the schedule).
LOCATIONS = ["HARMONDSWORTH_IRC", "COLNBROOK_IRC", "BROOK_HOUSE_IRC", "YARLS_WOOD_IRC"]
# Cancellations: the reason, its share of the cancellations, and the lead time before
# departure in hours (low, mode, high of a triangular draw). Legal challenges come late (an
# injunction the day before is common), medical unfitness within days, a no-show or disruption
# at the airport within hours; released or documents at any time.
CANCEL_REASONS = [
    ("LEGAL_CHALLENGE", 0.45, (2, 30, 240)),
    ("RETURNEE_ILL", 0.20, (3, 24, 96)),
    ("CARRIER_REFUSED", 0.10, (0.5, 2, 8)),  # refused to board / disruptive: a no-show
    ("RETURNEE_RELEASED", 0.15, (12, 96, 330)),
    ("DOCUMENTS_INVALID", 0.10, (24, 120, 330)),
]
CANCEL_RATE = 0.40           # the published rate of planned removals cancelled (the average hazard)
# The hazard of each removal is not the average (docs/simulation.md "The cancellation model"):
# logit(p) = a + the weights of its true factors + a hidden part (sd HIDDEN_SD) the Hub never
# sees, with a solved so that the mean of p is CANCEL_RATE. Each true factor is recorded in
# the case (hublink.record_cancel_factors) only with the probability the Hub knows of it.
#   factor, prevalence, weight on the logit, share of the true cases the Hub has recorded
FACTORS = [
    ("LEGAL_CHALLENGE_PENDING", 0.25, 2.4, 0.85),
    ("PRIOR_FAILED_REMOVAL", 0.20, 0.9, 0.95),
    ("MEDICAL_CONCERN", 0.10, 1.2, 0.70),
    # Escorted (a risk flag): more often refused at the airport or disruptive; always known.
    ("ESCORTED", 0.35, 0.5, 1.00),
]
HIDDEN_SD = 0.6
# The reason of a cancellation follows its cause: a pending challenge ends mostly in a legal
# cancellation, a medical concern in illness; otherwise the reasons' shares above.
REASON_BY_FACTOR = {"LEGAL_CHALLENGE_PENDING": ("LEGAL_CHALLENGE", 0.8), "MEDICAL_CONCERN": ("RETURNEE_ILL", 0.6),
                    "ESCORTED": ("CARRIER_REFUSED", 0.3)}
# When the caseworker first asks for quotes and would book at once: removal directions are set
# days ahead (docs/simulation.md "The market"); a cancellation drawn at least this long before
# departure comes while the removal is still being quoted (nothing booked).
BOOKING_LEAD_HOURS = (120, 336)
HOLD_HOURS = 72              # a held removal is booked this long before departure (the Hub's hold_hours_before)
# The market as departure nears (docs/simulation.md "The market"): the fare relative to one
# bought two weeks or more ahead, and the chance a flight has no seat left, by hours before
# departure, interpolated linearly between the points. Applied once to the TSP's inventory
# after loading (market_snapshot): the collapsed timeline's clock moves minutes in a run.
FARE_CURVE = [(0, 1.80), (24, 1.45), (72, 1.25), (168, 1.10), (336, 1.00)]
SOLD_OUT_CURVE = [(0, 0.15), (24, 0.08), (72, 0.03), (168, 0.0), (336, 0.0)]
AMEND = 0.10                 # an escort is replaced on the tickets after booking (name change)
DELAY = 0.05                 # the carrier delays the first flight after booking
PREBOOK_DISRUPTION = 0.04    # the carrier cancels the chosen flight before the booking request
HORIZON_DAYS = 14            # the planned dates fall within this many days of now


def logistic(x):
    return 1 / (1 + math.exp(-x))


def intercept():
    """a such that the mean hazard over the population is CANCEL_RATE (bisection over a fixed
    sample of factor sets and hidden parts: deterministic, independent of the seed)."""
    rng = random.Random(12345)
    sample = [(sum(w for (_, prev, w, _) in FACTORS if rng.random() < prev), rng.gauss(0, HIDDEN_SD)) for _ in range(20000)]
    lo, hi = -8.0, 4.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(logistic(mid + x + h) for x, h in sample) / len(sample) < CANCEL_RATE:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def removals_of(scale, days=365):
    """The removals of the first `days` simulated days of a year at 8,000 x scale: removal i
    arrives at i x 365 days / (8,000 x scale) (waves.arrivals), so a run of fewer days is the
    year's first removals, the same events."""
    return max(1, round(8000 * scale * min(days, 365) / 365))


def generate(seed, scale, days=365):
    """The events of a year (or of its first `days` simulated days), as a list of dicts: the
    same for a seed and scale, whatever the policy; fewer days give a prefix of the same list."""
    rng = random.Random(seed)
    n = removals_of(scale, days)
    a = intercept()
    out = []
    for i in range(n):
        dest = rng.choices(DESTINATIONS, weights=[d[3] for d in DESTINATIONS])[0]
        true_factors = [f for (f, prev, _, _) in FACTORS if rng.random() < prev]
        escorted = "ESCORTED" in true_factors
        recorded = [f for (f, _, _, known) in FACTORS if f in true_factors and rng.random() < known]
        hazard = logistic(a + sum(w for (f, _, w, _) in FACTORS if f in true_factors) + rng.gauss(0, HIDDEN_SD))
        cancel = rng.random() < hazard
        ev = {
            "n": i, "case": "SIM-%05d" % i, "returnee": "HO-SIM%06d" % (seed % 1000 * 10000 + i),
            "country": dest[0], "airport": dest[1], "description": dest[2],
            "location": rng.choice(LOCATIONS), "escorted": escorted,
            "flags": [rng.choice(["ABSCONDER", "VIOLENT", "SELF_HARM"])] if escorted else [],
            "gender": rng.choice("MMMF"), "born": "19%02d-%02d-%02d" % (rng.randint(60, 99), rng.randint(1, 12), rng.randint(1, 28)),
            "cancel": None, "lead_hours": None, "cancel_before_booking": False,
            "amend": False, "delay": False, "prebook_disruption": False,
            # What the Hub is told (recorded), and the truth it never sees (kept for the report).
            "factors": recorded, "true_factors": true_factors, "hazard": round(hazard, 4),
        }
        if cancel:
            reason = rng.choices(CANCEL_REASONS, weights=[r[1] for r in CANCEL_REASONS])[0]
            u = rng.random()
            for f in true_factors:
                code, share = REASON_BY_FACTOR.get(f, (None, 0))
                if code and u < share:
                    reason = next(r for r in CANCEL_REASONS if r[0] == code)
                    break
            lo, mode, hi = reason[2]
            ev["cancel"] = reason[0]
            ev["drawn_lead_hours"] = round(rng.triangular(lo, hi, mode), 2)
        # The booking lead: quotes are asked for (and a removal not held is booked) this many
        # hours before departure; a cancellation drawn earlier than that comes while quoting.
        ev["lead_hours"] = round(rng.uniform(*BOOKING_LEAD_HOURS), 2)
        ev["cancel_before_booking"] = bool(ev["cancel"]) and ev["drawn_lead_hours"] >= ev["lead_hours"]
        ev["amend"] = escorted and rng.random() < AMEND
        ev["delay"] = rng.random() < DELAY
        ev["prebook_disruption"] = rng.random() < PREBOOK_DISRUPTION
        out.append(ev)
    return out


# The escort roster (docs/simulation.md "The roster"). The collapsed timeline puts every removal
# of the run on the schedule's window of days, and an escort team booked for a removal that
# flies keeps its duty days (in the removal's own timeline they are in the future), so without
# more the escort-days a run needs grow with its removals: the fourth pass's 160 escorts
# (rostered every day of the window) ran out after about 860 removals, and the fifth pass grew
# the roster with the run (2,233 escorts for a year). That made the ESP's every quote scan the
# whole roster (hublink.esp_fill_team: 0.69 s a call at 2,233 escorts, 42 % of the three
# parties' CPU in the sixth pass's soak, the first bound of its rate). So a long run (more than
# ROSTER_MIN_REMOVALS removals) frees the duty days of a flown removal's escorts instead
# (Driver.free_duties: its days are past in its own timeline, as they are for the real ESP once
# the flight has gone), and its roster only has to cover the removals in flight:
# ESCORTS_IN_FLIGHT escorts per removal the driver keeps in flight (a team is two officers and
# a medic at most). Runs up to ROSTER_MIN_REMOVALS keep the earlier passes' 160 escorts and
# duties, so the policy runs stay comparable event for event.
ROSTER_MIN = 160
ROSTER_MIN_REMOVALS = 573
ESCORTS_IN_FLIGHT = 4


def roster_size(removals, concurrency=40):
    """Escorts on the generated roster for a run of `removals` removals with `concurrency` in
    flight (each rostered on every day of the window, as before: esp-load-roster's default)."""
    if removals <= ROSTER_MIN_REMOVALS:
        return ROSTER_MIN
    return max(ROSTER_MIN, ESCORTS_IN_FLIGHT * concurrency)


def frees_duties(removals):
    """Whether a run frees the duty days of flown removals' escorts (roster_size)."""
    return removals > ROSTER_MIN_REMOVALS


# The seats grow with the run too (docs/simulation.md "The seats grow with the run"). A removal
# that flies keeps its seats (in its own timeline the flight is days ahead), and the collapsed
# timeline puts every removal of the run on the schedule's days, so the seats a run needs grow
# with its removals. Measured: on the 16-day schedule the fifth pass's soak found no flight to
# Lagos (the destination of 30 % of removals, with few direct flights) from about 1,800
# removals; SEATS_MARGIN keeps a third spare, as the roster does. Runs up to
# SEATS_BASE_REMOVALS keep the earlier passes' schedule (16 days, seats as drawn), so the
# policy runs stay comparable event for event; longer runs get every flight's seats times the
# factor (gen-world-schedule --seats-factor: the same flights and fares) and SCHEDULE_DAYS_LONG
# days, so that a run crossing midnight (the planned dates move a day) and the longest booking
# leads (14 days and a five-day window) still find their dates on the schedule.
SEATS_CARRIED = 1800
SEATS_MARGIN = 1.5
SEATS_BASE_REMOVALS = round(SEATS_CARRIED / SEATS_MARGIN)
SCHEDULE_DAYS = 16
SCHEDULE_DAYS_LONG = 20


# Beyond this factor every flight of the schedule (120 to 300 seats drawn) is at the 1,000 seats
# a flight the TSP's loader takes: more removals would need more flights, not more seats.
SEATS_FACTOR_MAX = 9
# So a run longer than the largest factor carries (SEATS_FREED_REMOVALS: a year at ten times
# the rate is 80,000) frees the seats of a flown removal instead, as the roster frees its
# escorts' duty days (Driver.free_seats: in its own timeline the flight has gone): the seats
# held at once are those of the removals in flight, not of every removal of the run, and the
# largest factor's schedule carries them. Not more flights: extra sections of each flight would
# multiply the one-connection itineraries the TSP weighs per quote by the square of the
# sections (and the TSP's flights by ten or more), a cost of the compression, not of the
# product, as the grown roster was at the ESP (docs/simulation.md "The seats grow with the run").
SEATS_FREED_REMOVALS = round(SEATS_CARRIED * SEATS_FACTOR_MAX / SEATS_MARGIN)


def schedule_args(removals):
    """(days, seats factor) of the world schedule for a run of `removals` removals."""
    if removals <= SEATS_BASE_REMOVALS:
        return SCHEDULE_DAYS, 1
    return SCHEDULE_DAYS_LONG, min(SEATS_FACTOR_MAX, math.ceil(removals * SEATS_MARGIN / SEATS_CARRIED))


def frees_seats(removals):
    """Whether a run gives back the seats of its flown removals at the TSP (SEATS_FREED_REMOVALS)."""
    return removals > SEATS_FREED_REMOVALS


def in_flight(scale, concurrency, tick_hours):
    """The most removals the waves driver has in flight: --concurrency, or one simulated
    instant's arrivals when that is more (an instant larger than --concurrency starts whole)."""
    return max(concurrency, math.ceil(8000 * scale * tick_hours / (365 * 24)))  # waves.arrivals


def travellers(ev):
    """Seats a removal books: the returnee and, when escorted, the ESP's team (two officers,
    and a medic when a flag asks for one: hublink.esp_risk_rule, SELF_HARM)."""
    return 1 + ((3 if "SELF_HARM" in ev["flags"] else 2) if ev["escorted"] else 0)


def world(outdir, seed, removals=0, concurrency=40):
    """An escort roster sized for the run's removals (roster_size), beside the demo roster's
    places and flight times. The first 160 escorts are those of the earlier passes."""
    rng = random.Random(seed)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "escorts.csv"), "w") as fh:
        fh.write("escort_id,medic,team_leader,gender,physique,languages,title,given_names,family_name,"
                 "date_of_birth,nationality,document_type,document_number,document_issuing_country,document_expiry_date\n")
        for i in range(roster_size(removals, concurrency)):
            g = "F" if i % 3 == 2 else "M"
            # The team leader speaks the destination's language where the ESP's rules ask
            # (hublink.esp_language_rule: Albanian, Urdu): every language on every fourth.
            langs = ["en", "en;sq", "en;ur;pa", "en;sq;ur"][(i // 2) % 4]
            fh.write("ESC-%05d,%s,%s,%s,%s,%s,%s,Sim%d,Escort,19%02d-%02d-%02d,GBR,PASSPORT,5%08d,GBR,2032-01-01\n" % (
                60000 + i, "true" if i % 10 == 3 else "false", "true" if i % 5 == 0 else "false", g,
                "ENHANCED" if i % 2 == 0 else "STANDARD", langs, "Ms" if g == "F" else "Mr", i,
                rng.randint(70, 99), rng.randint(1, 12), rng.randint(1, 28), 60000 + i))


def refund_shift(h, lead, thresholds):
    """The whole hours by which a booking's refund rules are moved (Driver.refund_at_true_lead)
    so that the TSP, cancelling h hours before the first departure, reads them as `lead` hours
    before it. The rules' thresholds are whole hours and a refund depends only on the band the
    hours fall in, so the reading h - shift is put inside lead's band, at least half an hour
    clear of its lower edge and a quarter of an hour of its upper one after rounding (the TSP
    applies the cancellation seconds to minutes after the sim reads h). 0 when the cancellation
    comes no later than the booking (lead >= h): nothing to move."""
    ts = sorted(set(thresholds) | {0})
    lo = max([t for t in ts if t <= lead] or [0])
    hi = min([t for t in ts if t > lead] or [lo + 10 ** 6])
    target = min(max(lead, lo + 0.5), hi - 1.25)
    return max(0, math.floor(h - target))


# --- talking to the parties -------------------------------------------------------------------

class Party:
    def __init__(self, dsn):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True

    def rows(self, sql, args=()):
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else []

    def one(self, sql, args=()):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
            return row[0] if row else None


LONDON = "Europe/London"
LONDON_TZ = ZoneInfo(LONDON)


class Removal:
    def __init__(self, ev):
        self.ev = ev
        self.ref = None
        self.phase = "new"
        self.since = time.monotonic()
        self.updates_seen = 0
        self.updates_wanted = 0
        self.bookings = []       # [{quote, amount, refundable, departs_at, cheapest}]
        self.requotes = 0
        self.outcome = None      # completed | cancelled | failed
        self.note = ""
        self.planned_date = None
        self.at_hold = False     # quoted again at the hold's end (HOLD_HOURS before departure)
        self.pick = None         # the quote plan_booking advised (best-advice)


def interpolate(curve, h):
    """The curve's value at h hours (linear between its points; flat beyond them)."""
    if h <= curve[0][0]:
        return curve[0][1]
    for (h0, v0), (h1, v1) in zip(curve, curve[1:]):
        if h <= h1:
            return v0 + (v1 - v0) * (h - h0) / (h1 - h0)
    return curve[-1][1]


def market_snapshot(tsp, seed):
    """The market at the moment of the run, applied to the TSP's inventory once after loading:
    each flight's fares scaled by FARE_CURVE at its hours before departure, and the flight sold
    out (no seat left) with the chance SOLD_OUT_CURVE gives, drawn per flight from the seed. The
    collapsed timeline books a removal with its flight the booking lead ahead, so a removal
    booked at once pays the fare of days ahead and a held one, booked HOLD_HOURS ahead, the
    fare of then, and may find its flight full. Returns (flights repriced, flights sold out)."""
    rows = tsp.rows("SELECT flight_id, extract(epoch FROM departs_at - now()) / 3600 AS h FROM hublink.tsp_flight")
    ids, factors, sold = [], [], []
    for row in rows:
        h = float(row["h"])
        ids.append(row["flight_id"])
        factors.append(round(interpolate(FARE_CURVE, h), 4))
        if random.Random(seed * 1000003 + row["flight_id"]).random() < interpolate(SOLD_OUT_CURVE, h):
            sold.append(row["flight_id"])
    tsp.rows("""UPDATE hublink.tsp_fare_price p SET amount = round(p.amount * m.factor, 2)
                  FROM hublink.tsp_fare f JOIN unnest(%s::bigint[], %s::numeric[]) AS m(flight_id, factor) USING (flight_id)
                 WHERE p.fare_id = f.fare_id""", (ids, factors))
    tsp.rows("UPDATE hublink.tsp_flight SET seats_sold = seats_total WHERE flight_id = ANY(%s)", (sold,))
    return len(ids), len(sold)


def choose(quotes, policy):
    """The quote a policy books: quotes are removal_quotes() rows that can still be flown."""
    if policy == "cheapest":
        return min(quotes, key=lambda q: (q["total_amount"], q["rank"]))
    if policy == "refundable":
        ref = [q for q in quotes if q["refundable"]]
        return min(ref or quotes, key=lambda q: (q["total_amount"], q["rank"]))
    return min(quotes, key=lambda q: q["rank"])  # best, best-now, best-hold-all: hublink's rank 1


# The policies: what the caseworker books, and whether it follows the Hub's advice on when to
# book (hublink.plan_booking). "best" is hublink's whole advice (rank 1, booked when advised);
# "best-now" books rank 1 at once, to show what the ranking alone gives.
# "best-hold-all" is "best" with the admin's hold_from_probability at 0 (every removal is held
# until 72 h before departure): what holding gains when, as in the world schedule, fares do not
# rise as departure nears (docs/simulation.md).
# "best" is the advice as shipped before the fourth pass (rank 1; hold when the estimate is at
# least 0.5 and the first departure more than 72 h away), reproduced here since plan_booking
# changed; "best-advice" is hublink.plan_booking's whole advice (its quote, hold or not).
POLICIES = ["cheapest", "refundable", "best", "best-advice", "best-now", "best-hold-all"]
FOLLOWS_HOLD = {"best", "best-advice", "best-hold-all"}


def history(seed, years, bands):
    """A Hub in service has history: the counts hublink.cancel_history_count and
    cancel_history_lead would hold after `years` of removals, made by the same generator with
    another seed (a previous year: the same world, none of this run's outcomes). Per recorded
    profile, the removals that reached booking (booked, or held by the Hub's advice) and how
    many of them were cancelled; and per profile and band of the Hub's booking_market, how many
    were cancelled that long before departure (the generator's lead)."""
    counts, leads = {}, {}
    if years <= 0:
        return counts, leads
    for ev in generate(seed + 1000003, years):
        if ev["cancel"] and ev["cancel_before_booking"]:
            continue
        profile = tuple(sorted(ev["factors"]))
        c = counts.setdefault(profile, [0, 0])
        c[0] += 1
        c[1] += 1 if ev["cancel"] else 0
        if ev["cancel"] and bands:
            band = max([b for b in bands if b <= ev["drawn_lead_hours"]] or [min(bands)])
            leads[(profile, band)] = leads.get((profile, band), 0) + 1
    return counts, leads


def returnee_json(ev):
    return [{
        "personalDetails": {"hoReturneeReference": ev["returnee"], "name": {"givenNames": "Sim", "familyName": "Returnee%d" % ev["n"]},
                            "dateOfBirth": ev["born"], "nationality": ev["country"], "gender": ev["gender"]},
        "travelDocuments": [{"type": "PASSPORT", "number": "S%08d" % ev["n"], "issuingCountry": ev["country"]}],
        "location": {"detentionCentreId": ev["location"]},
        "risk": {"flags": ev["flags"]},
    }]


class Driver:
    def __init__(self, args, events):
        self.args = args
        self.hub, self.tsp, self.esp = Party(args.hub), Party(args.tsp), Party(args.esp)
        self.events = events
        self.policy = args.policy
        # A long run frees the duty days of flown removals' escorts (roster_size).
        self.free_duties = frees_duties(len(events))
        # A run longer than the largest seats factor carries frees a flown removal's seats.
        self.free_seats = frees_seats(len(events))
        self.log = open(args.out + ".log", "w")
        # The Hub's history before this year (--history-years), loaded as the counts the Hub
        # keeps (as the 0.1.0 -> 0.2.0 update loads a Hub's own closed removals).
        bands = [float(b) for b in self.hub.rows("SELECT array_agg(hours_before) AS b FROM hublink.booking_market")[0]["b"] or []]
        self.history, self.history_lead = history(args.seed, args.history_years, bands)
        for profile, (booked, cancelled) in self.history.items():
            self.hub.rows("""INSERT INTO hublink.cancel_history_count (profile, booked, cancelled)
                            VALUES (ARRAY(SELECT x FROM unnest(%s::text[]) x ORDER BY x), %s, %s)""",
                         (list(profile), booked, cancelled))
        for (profile, band), cancelled in self.history_lead.items():
            self.hub.rows("""INSERT INTO hublink.cancel_history_lead (profile, hours_before, cancelled)
                            VALUES (ARRAY(SELECT x FROM unnest(%s::text[]) x ORDER BY x), %s, %s)""",
                         (list(profile), band, cancelled))
        # The world's market at this moment (fares rising, flights full as departure nears).
        self.market = market_snapshot(self.tsp, args.seed)
        # --shift-day-at: from then on the planned dates are a day later, as they are once
        # London's date rolls over (the soak's seventh pass: what crossing midnight does,
        # without waiting for it). Harness only: the Hub is asked for other dates, nothing more.
        self.shift_day_at = getattr(args, "shift_day_at", None)

    def day_shift(self):
        """Days added to the planned dates: 1 from --shift-day-at on, else 0."""
        return 1 if self.shift_day_at is not None and time.time() >= self.shift_day_at else 0

    def say(self, r, text):
        print("%s %s %s" % (r.ev["case"], r.ref, text), file=self.log)

    def go(self, r, phase):
        r.phase, r.since = phase, time.monotonic()

    def start(self, r):
        ev = r.ev
        # The planned date: the UK date of now + the lead time (collapsed timeline).
        day = self.hub.one("SELECT ((now() + %s * interval '1 hour') AT TIME ZONE %s)::date + %s",
                           (ev["lead_hours"], LONDON, self.day_shift()))
        r.planned_date = day
        r.ref = self.hub.one(
            "SELECT hublink.create_removal(%s, %s::jsonb, %s, %s, %s::jsonb, notes => 'simulated')",
            (ev["case"], json.dumps(returnee_json(ev)), day, day + dt.timedelta(days=4),
             json.dumps({"description": ev["description"], "country": ev["country"], "airportCode": ev["airport"]})))
        if ev["factors"]:
            # The caseworker records what the Hub knows of the case (never the hidden hazard).
            self.hub.one("SELECT hublink.record_cancel_factors(%s, %s)", (r.ref, ev["factors"]))
        if ev["escorted"]:
            self.hub.one("SELECT hublink.request_escort_quotes(%s)", (r.ref,))
            self.go(r, "escort_quoting")
        else:
            self.hub.one("SELECT hublink.request_travel_quotes(%s)", (r.ref,))
            self.go(r, "travel_quoting")

    def fail(self, r, why):
        r.outcome, r.note = "failed", why
        self.say(r, "FAILED " + why)

    def quotes(self, r):
        return self.hub.rows("SELECT * FROM hublink.removal_quotes(%s)", (r.ref,))

    def book(self, r, s):
        all_quotes = self.quotes(r)
        # A caseworker books nothing that leaves within the hour (or has left).
        soonest = self.hub.one("SELECT now() + interval '1 hour'")   # once, not once per quote
        fly = [q for q in all_quotes if q["departs_at"] is not None and q["departs_at"] > soonest]
        if not fly:
            if r.ev["cancel"]:
                # Nothing to book: the removal is cancelled when it would have been.
                self.cancel(r, s, booked=False)
                return
            self.fail(r, "no quote that can still be flown (%d quotes)" % len(all_quotes))
            return
        # The caseworker books the first date with flights (the planned date): the policy
        # chooses the fare, not the day.
        first = min(q["departs_at"].astimezone(LONDON_TZ).date() for q in fly)
        fly = [q for q in fly if q["departs_at"].astimezone(LONDON_TZ).date() == first]
        if r.requotes == 0 and not r.bookings and not r.at_hold and self.policy in FOLLOWS_HOLD:
            r.planned_date = first
            lead = (min(q["departs_at"] for q in fly) - self.hub.one("SELECT now()")).total_seconds() / 3600
            if self.policy == "best-advice":
                adv = self.hub.rows("SELECT * FROM hublink.plan_booking(%s)", (r.ref,))[0]
                r.cancel_probability = str(adv["cancel_probability"])
                r.advice = {k: str(v) for k, v in adv.items()}
                hold, r.pick = bool(adv["hold"]), adv["travel_quote_reference"]
            elif self.policy == "best":
                # The advice as shipped in the third pass: hold an estimate of 0.5 or more.
                hold = Decimal(fly[0]["cancel_probability"]) >= Decimal("0.5") and lead > HOLD_HOURS
            else:
                hold = lead > HOLD_HOURS
            if hold:
                # Held: a cancellation that comes before the hold ends finds nothing booked. In
                # the collapsed timeline "now" is the booking lead; the generator's lead says
                # whether the cancellation came before HOLD_HOURS.
                r.held = True
                if r.ev["cancel"] and r.ev["drawn_lead_hours"] >= HOLD_HOURS:
                    self.cancel(r, s, booked=False)
                    return
                self.replan(r)
                return
        elif r.requotes == 0 and not r.bookings:
            r.planned_date = first
        if r.at_hold and not r.bookings:
            # Booked at the hold's end, on the first date then (a full flight may move it).
            r.planned_date = first
            if self.policy == "best-advice":
                adv = self.hub.rows("SELECT * FROM hublink.plan_booking(%s)", (r.ref,))[0]
                r.pick = adv["travel_quote_reference"]
        if self.policy == "best-advice" and r.pick and any(q["travel_quote_reference"] == r.pick for q in fly):
            q = next(q for q in fly if q["travel_quote_reference"] == r.pick)
        else:
            q = choose(fly, self.policy)
        r.cancel_probability = str(q["cancel_probability"])
        if r.ev["prebook_disruption"] and r.requotes == 0:
            # The carrier cancels the flight before the booking request arrives: the TSP
            # declines, and the caseworker asks again (a re-booking).
            # Only a flight no booking flies on yet: a flight event updates every booking on
            # the flight, and one may be flown already in the collapsed timeline.
            # Counted by the flights cancelled, not by the updates the event sent (none, when
            # no booking is on the flight): counting the updates left requotes at 0, and every
            # re-booking of the removal cancelled one more flight until none was left on its
            # dates, failing other removals to the same place (seen comparing the drivers).
            if self.tsp.one("""WITH f AS MATERIALIZED (
                                 SELECT s.flight_id FROM hublink.tsp_quote_segment s
                                  WHERE s.quote_ref = %s AND s.seq = 1
                                    AND NOT EXISTS (SELECT FROM hublink.tsp_booking_segment o WHERE o.flight_id = s.flight_id))
                             SELECT count(*) FROM f,
                                    LATERAL (SELECT count(*) FROM hublink.tsp_report_flight_event(
                                                 f.flight_id, 'CANCELLED', note => 'simulated carrier cancellation')) m""",
                            (q["travel_quote_reference"],)):
                r.requotes += 1
        r.bookings.append({"quote": q["travel_quote_reference"], "amount": q["travel_amount"],
                           "escort_amount": q["escort_amount"], "refundable": q["refundable"],
                           "departs_at": q["departs_at"], "accepted": None})
        self.hub.one("SELECT hublink.choose_quote(%s, %s)", (r.ref, q["travel_quote_reference"]))
        self.go(r, "booking")

    def replan(self, r):
        """The hold ends HOLD_HOURS before departure. The collapsed timeline cannot wait, so the
        removal's dates move to the UK date of now + HOLD_HOURS (the sim writes them, as the
        caseworker's plan would have been asked again then) and it is quoted again: the market
        snapshot prices its flights as HOLD_HOURS ahead, and some are full."""
        r.at_hold = True
        self.hub.rows("""UPDATE hublink.removal SET earliest_leave_date = d, latest_leave_date = d + 4
                           FROM (SELECT ((now() + %s * interval '1 hour') AT TIME ZONE %s)::date + %s AS d) x
                          WHERE removal_reference = %s""", (HOLD_HOURS, LONDON, self.day_shift(), r.ref))
        if r.ev["escorted"]:
            self.hub.one("SELECT hublink.request_escort_quotes(%s)", (r.ref,))
            self.go(r, "escort_quoting")
        else:
            self.hub.one("SELECT hublink.request_travel_quotes(%s)", (r.ref,))
            self.go(r, "travel_quoting")

    def cancel(self, r, s, booked):
        r.updates_wanted = s["updates"] + (1 if booked else 0) + (1 if booked and r.ev["escorted"] else 0)
        if booked:
            b = r.bookings[-1]
            # When the booking is cancelled in the collapsed timeline (its booking lead) ...
            b["cancelled_lead_hours"] = float(
                self.hub.one("SELECT extract(epoch FROM %s::timestamptz - now()) / 3600", (b["departs_at"],)))
            # ... and in the removal's own timeline (the generator's lead), at which the TSP's
            # refund rules are read (refund_at_true_lead: before the Hub's call, so that the
            # TSP has it before the cancellation arrives; Round commits the Hub last).
            b["true_lead_hours"] = r.ev["drawn_lead_hours"]
            b["refund_lead_hours"], b["refund_shift_hours"] = self.refund_at_true_lead(b["quote"], r.ev["drawn_lead_hours"])
        self.hub.one("SELECT hublink.cancel_removal(%s, %s, 'simulated')", (r.ref, r.ev["cancel"]))
        self.go(r, "cancelling")

    def refund_at_true_lead(self, quote, lead):
        """The refund as the TSP pays it when the cancellation really comes (docs/simulation.md
        "Refunds at the true lead"). The collapsed timeline books a removal its booking lead
        (5 to 14 days, or 72 h at a hold's end) before its flight and cancels it at once, so the
        TSP would read its refund rules that far out (FLEX: all but the fee; SEMI: 75 or 50 %)
        where the removal's own cancellation comes `lead` hours before departure (a legal
        challenge the day before: FLEX half, SEMI 25 % or nothing). The product reads the
        rules at now(), and the run cannot wait days; so the booking's refundable fares are
        re-pointed, at the TSP only, to copies (not quotable: available = false) whose rule set
        is the same rules moved by the hours the timeline skipped (shift, whole hours): each
        segment is then refunded as `lead` hours before the first departure (and its own
        connection gap later). Prices, fees and everything the Hub sees but the refund are
        unchanged; the refund in the TSP's TravelUpdate, which the Hub's MI and the ledger both
        read, is the one of the true time. Non-refundable fares refund nothing at any lead and
        are left alone. Returns (the lead the rules are read at, the shift in hours)."""
        segs = self.tsp.rows("""SELECT s.booking_ref, s.segment_id, s.fare_id, f.refund_rule_set, f.refundable,
                                       extract(epoch FROM fl.departs_at - now()) / 3600 AS h,
                                       (SELECT array_agg(x.from_hours_before) FROM hublink.tsp_refund_rule x
                                         WHERE x.rule_set = f.refund_rule_set) AS thresholds
                                  FROM hublink.tsp_booking b JOIN hublink.tsp_booking_segment s USING (booking_ref)
                                  JOIN hublink.tsp_fare f ON f.fare_id = s.fare_id JOIN hublink.tsp_flight fl ON fl.flight_id = s.flight_id
                                 WHERE b.quote_ref = %s AND b.status = 'ACTIVE' AND s.status = 'ACTIVE' ORDER BY s.seq""", (quote,))
        if not segs:
            return None, 0
        h = float(segs[0]["h"])
        shift = refund_shift(h, lead, {t for x in segs if x["refundable"] for t in (x["thresholds"] or [])})
        if shift == 0:
            return h, 0
        for x in segs:
            if not x["refundable"]:
                continue
            shifted = "%s_AT_%d" % (x["refund_rule_set"], shift)
            self.tsp.rows("""INSERT INTO hublink.tsp_refund_rule_set (rule_set, description)
                             SELECT %s, description || ' (read ' || %s || ' hours later: docs/simulation.md)'
                               FROM hublink.tsp_refund_rule_set WHERE rule_set = %s ON CONFLICT DO NOTHING""",
                          (shifted, shift, x["refund_rule_set"]))
            self.tsp.rows("""INSERT INTO hublink.tsp_refund_rule (rule_set, from_hours_before, refund_percent, refund_amount)
                             SELECT %s, from_hours_before + %s, refund_percent, refund_amount
                               FROM hublink.tsp_refund_rule WHERE rule_set = %s ON CONFLICT DO NOTHING""",
                          (shifted, shift, x["refund_rule_set"]))
            self.tsp.rows("""WITH copy AS (
                               INSERT INTO hublink.tsp_fare (flight_id, fare_class, currency, refundable, refund_rule_set, change_fee,
                                                             cancellation_fee, ticketing_deadline_hours, hand_baggage_only, baggage_kg, available)
                               SELECT flight_id, 'L' || %s, currency, refundable, %s, change_fee, cancellation_fee,
                                      ticketing_deadline_hours, hand_baggage_only, baggage_kg, false
                                 FROM hublink.tsp_fare WHERE fare_id = %s
                               ON CONFLICT (flight_id, fare_class) DO UPDATE SET available = false
                               RETURNING fare_id),
                             prices AS (
                               INSERT INTO hublink.tsp_fare_price (fare_id, traveller_type, amount)
                               SELECT copy.fare_id, p.traveller_type, p.amount FROM copy, hublink.tsp_fare_price p WHERE p.fare_id = %s
                               ON CONFLICT DO NOTHING)
                             UPDATE hublink.tsp_booking_segment s SET fare_id = copy.fare_id FROM copy
                              WHERE s.booking_ref = %s AND s.segment_id = %s""",
                          (shift, shifted, x["fare_id"], x["fare_id"], x["booking_ref"], x["segment_id"]))
        return h - shift, shift

    def complete(self, r):
        b = r.bookings[-1]
        if r.ev["escorted"]:
            eq = self.hub.one("""SELECT k.escort_quote_reference FROM hublink.escort_booking k JOIN hublink.removal x USING (removal_id)
                                  WHERE x.removal_reference = %s AND k.outcome = 'ACCEPTED' ORDER BY k.escort_booking_id DESC LIMIT 1""", (r.ref,))
            self.esp.one("SELECT hublink.esp_send_update(hublink.esp_completed(%s, %s::jsonb))", (eq, json.dumps(
                [{"segmentId": "S1", "departedAt": b["departs_at"].isoformat(), "arrivedAt": b["departs_at"].isoformat()}])))
            if self.free_duties:
                self.free_duty_days(eq)
        if self.free_seats:
            self.free_flown_seats(b["quote"])
        segs = self.hub.rows("""SELECT s.segment_id, s.start_time, s.end_time FROM hublink.itinerary_segment s
                                 JOIN hublink.travel_quote t USING (travel_quote_id)
                                WHERE t.travel_quote_reference = %s AND s.current ORDER BY s.start_time""", (b["quote"],))
        msg = {"messageType": "TravelUpdate", "schemaVersion": "1.0", "sender": "TSP", "removalId": r.ref,
               "body": {"travelQuoteReference": b["quote"], "completed": {"segments": [
                   {"segmentId": x["segment_id"], "departedAt": x["start_time"].isoformat(), "arrivedAt": x["end_time"].isoformat()}
                   for x in segs]}}}
        self.tsp.one("SELECT hublink.send_message(hublink.new_message('TravelUpdate', %s, %s::jsonb))",
                     (r.ref, json.dumps(msg["body"])))
        b["flown_date"] = self.hub.one("SELECT (%s::timestamptz AT TIME ZONE %s)::date", (segs[0]["start_time"], LONDON))
        self.go(r, "completing")

    def free_duty_days(self, escort_quote):
        """The flown removal's escorts are free again (roster_size): in its own timeline the
        flight has gone and its duty days are past, which is when the real ESP's hublink.esp_free
        stops seeing them; the collapsed timeline cannot wait for those dates, so the sim
        deletes the booking's duty rows at the ESP (as it writes the TSP's market and refund
        rules). Nothing the Hub sees changes; the booking, its escorts and its update stay."""
        self.esp.rows("""DELETE FROM hublink.esp_duty d USING hublink.esp_booking k
                          WHERE d.booking_id = k.booking_id AND k.quote_ref = %s AND k.status = 'COMPLETED'""",
                      (escort_quote,))

    def free_flown_seats(self, travel_quote):
        """The flown removal's seats are free again (SEATS_FREED_REMOVALS): in its own timeline
        the flight has gone; the collapsed timeline keeps it days ahead, so the sim gives its
        seats back at the TSP, in the round's transaction, as it frees the escorts' duty days.
        Its booking and segments stay as they are (ACTIVE: a carrier event never touches a
        flight another booking is on, so nothing gives these seats back twice)."""
        self.tsp.rows("""UPDATE hublink.tsp_flight f SET seats_sold = f.seats_sold - s.seats
                           FROM hublink.tsp_booking_segment s JOIN hublink.tsp_booking k USING (booking_ref)
                          WHERE k.quote_ref = %s AND s.status = 'ACTIVE' AND f.flight_id = s.flight_id""", (travel_quote,))

    def step(self, r, s):
        ph = r.phase
        if ph == "escort_quoting":
            if s["escort_state"] == "quoted":
                self.hub.one("SELECT hublink.request_travel_quotes(%s)", (r.ref,))
                self.go(r, "travel_quoting")
            elif s["escort_state"] in ("declined", "failed", "cancelled"):
                self.fail(r, "escort quoting ended " + s["escort_state"])
        elif ph == "travel_quoting":
            if s["travel_state"] == "no_quote":
                self.fail(r, "no flights on the planned dates")
            elif s["travel_state"] == "quoted":
                if r.ev["cancel"] and r.ev["cancel_before_booking"]:
                    self.cancel(r, s, booked=False)
                else:
                    self.book(r, s)
        elif ph == "booking":
            if s["state"] == "booked":
                r.bookings[-1]["accepted"] = True
                if r.ev["amend"]:
                    r.amendment = self.hub.one("SELECT hublink.amend_travel(%s, %s::jsonb)", (r.ref, json.dumps({
                        "passengerUpdates": [{"traveller": {"escortNumber": 1}, "name": {"title": "Mr", "givenNames": "Relief", "familyName": "Escort"}}]})))
                    self.go(r, "amending")
                else:
                    self.after_booking(r, s)
            elif s["travel_state"] == "declined":
                r.bookings[-1]["accepted"] = False
                if r.requotes > 3:
                    self.fail(r, "declined %d times" % r.requotes)
                    return
                self.hub.one("SELECT hublink.request_travel_quotes(%s)", (r.ref,))
                self.go(r, "travel_quoting")
            elif s["escort_state"] == "declined" and s["travel_state"] != "booking_requested":
                # The ESP declined the escort, sent with the travel booking (choose_quote sends
                # both at once): the TSP's answer is in by now, and a travel booking it accepted
                # stands (the Hub counts it in its MI: the removal stays in booking, for the
                # caseworker to find an escort or cancel). The ledger must count it too: before
                # this, the sim failed the removal without recording the acceptance, and the
                # fifth pass's MI differed from the ledger by exactly those bookings.
                r.bookings[-1]["accepted"] = s["travel_state"] == "booked"
                self.fail(r, "escort booking declined (travel %s)" % s["travel_state"])
        elif ph == "amending":
            if self.hub.one("SELECT outcome_accepted IS NOT NULL FROM hublink.amendment WHERE message_id = %s", (r.amendment,)):
                self.after_booking(r, s)
        elif ph == "cancelling":
            if s["state"] == "cancelled" and s["updates"] >= r.updates_wanted:
                r.outcome = "cancelled"
        elif ph == "completing":
            if s["state"] == "completed":
                r.outcome = "completed"

    def after_booking(self, r, s):
        if r.ev["delay"]:
            # The carrier delays the first flight, unless another booking flies on it: a flight
            # event updates every booking on the flight, and one of those may be flown already
            # in the collapsed timeline (docs/simulation.md).
            r.delayed = self.tsp.one("""SELECT count(*) FROM hublink.tsp_booking_segment s JOIN hublink.tsp_booking b USING (booking_ref)
                             JOIN hublink.tsp_flight f USING (flight_id),
                             LATERAL hublink.tsp_report_flight_event(f.flight_id, 'DELAY', f.departs_at + interval '95 minutes',
                                                                     f.arrives_at + interval '95 minutes', 'simulated late inbound aircraft') m
                            WHERE b.quote_ref = %s AND s.status = 'ACTIVE' AND s.seq = 1
                              AND NOT EXISTS (SELECT FROM hublink.tsp_booking_segment o
                                               WHERE o.flight_id = s.flight_id AND o.booking_ref <> s.booking_ref)""",
                                     (r.bookings[-1]["quote"],))
        if r.ev["cancel"]:
            self.cancel(r, s, booked=True)
        else:
            self.complete(r)

    def states(self, inflight):
        """The Hub's state of each removal in flight, in one query: what step() moves on."""
        return {x["removal_reference"]: x for x in self.hub.rows(
            """SELECT r.removal_reference, r.state, coalesce(r.escort_state, 'none') AS escort_state,
                      coalesce(r.travel_state, 'none') AS travel_state,
                      (SELECT count(*) FROM hublink.inbox i WHERE i.removal_id = r.removal_reference AND i.status = 'applied'
                          AND i.message_type IN ('TravelUpdate', 'EscortUpdate')) AS updates
                 FROM hublink.removal r WHERE r.removal_reference = ANY(%s)""", ([x.ref for x in inflight],))}

    def run(self):
        """The first driver (--driver poll): each removal moves on as soon as its answer came."""
        pending = [Removal(ev) for ev in self.events]
        todo = list(pending)
        inflight = []
        t0 = time.monotonic()
        while todo or inflight:
            while todo and len(inflight) < self.args.concurrency:
                r = todo.pop(0)
                try:
                    self.start(r)
                    inflight.append(r)
                except psycopg2.Error as e:
                    self.fail(r, "create: %s" % str(e).strip())
            states = self.states(inflight)
            for r in list(inflight):
                s = states.get(r.ref)
                try:
                    if s:
                        self.step(r, s)
                except psycopg2.Error as e:
                    self.fail(r, "%s: %s" % (r.phase, str(e).strip().splitlines()[0]))
                if r.outcome is None and time.monotonic() - r.since > self.args.stuck_seconds:
                    self.fail(r, "stuck in %s (%s)" % (r.phase, s))
                if r.outcome:
                    self.say(r, "%s %s" % (r.outcome, r.note))
                    inflight.remove(r)
            time.sleep(0.05)
        self.elapsed = time.monotonic() - t0
        return pending


# --- the ledger and the MI --------------------------------------------------------------------

def money(x):
    return Decimal(x or 0).quantize(Decimal("0.01"))


def ledger(drv, removals):
    """The sim's own books: what it chose (its record) and what the providers recorded (their
    own tables), never the Hub's figures, which are what is being checked."""
    L = {k: Decimal(0) for k in ("ticket_spend", "refunds", "change_fees", "cancellation_fees",
                                 "lost_non_refundable", "lost_to_cancellations", "cheapest_fare_total")}
    bookings = bookings_not_cheapest = 0
    completed = cancelled = failed = on_planned_date = 0
    # The cheapest fare of the response each booked quote came in, from the TSP's own record of
    # the quotes it sent (a response's quotes share the reference up to the last "-n").
    booked = [b["quote"] for r in removals for b in r.bookings if b["accepted"]]
    # One pass over the TSP's quotes (the minimum per response, then a join), not one per
    # booking: at a soak's thousands of bookings the correlated form took minutes.
    cheapest_of = {row["quote_ref"]: row["cheapest"] for row in drv.tsp.rows(
        """WITH per_response AS (SELECT regexp_replace(q.quote_ref, '-[0-9]+$', '') AS response, min(q.price) AS cheapest
                                   FROM hublink.tsp_quote q GROUP BY 1)
           SELECT b AS quote_ref, r.cheapest
             FROM unnest(%s::text[]) b LEFT JOIN per_response r ON r.response = regexp_replace(b, '-[0-9]+$', '')""", (booked,))}
    for r in removals:
        accepted = [b for b in r.bookings if b["accepted"]]
        for b in accepted:
            b["cheapest_in_response"] = cheapest_of[b["quote"]]
            L["ticket_spend"] += b["amount"]
            L["cheapest_fare_total"] += b["cheapest_in_response"]
            bookings += 1
            bookings_not_cheapest += b["amount"] > b["cheapest_in_response"]
        if r.outcome == "completed":
            completed += 1
            on_planned_date += accepted[-1].get("flown_date") == r.planned_date
        elif r.outcome == "cancelled":
            cancelled += 1
        else:
            failed += 1
    # The providers' own records of the money: every TravelUpdate and EscortUpdate body each made.
    for party, table in ((drv.tsp, "tsp_update"), (drv.esp, "esp_update")):
        for k, member in (("refunds", "refund"), ("change_fees", "changeFee"), ("cancellation_fees", "cancellationFee")):
            L[k] += money(party.one("SELECT sum((body #>> %s)::numeric) FROM hublink." + table, ("{financial,%s,amount}" % member,)))
    # Of the cancellation fees, the escort provider's (a cancelled escorted removal pays them too).
    L["escort_cancellation_fees"] = money(drv.esp.one("SELECT sum((body #>> '{financial,cancellationFee,amount}')::numeric) FROM hublink.esp_update"))
    # Per cancelled removal with a booking: what its travel cost less the refund the TSP made.
    refund_of = {row["removal_id"]: money(row["refund"]) for row in drv.tsp.rows(
        """SELECT b.removal_id, sum((u.body #>> '{financial,refund,amount}')::numeric) AS refund
             FROM hublink.tsp_update u JOIN hublink.tsp_booking b USING (quote_ref) GROUP BY 1""")}
    for r in removals:
        accepted = [b for b in r.bookings if b["accepted"]]
        if r.outcome == "cancelled" and accepted:
            lost = max(Decimal(0), accepted[-1]["amount"] - refund_of.get(r.ref, Decimal(0)))
            r.lost = lost
            L["lost_to_cancellations"] += lost
            if not accepted[-1]["refundable"]:
                L["lost_non_refundable"] += lost
    tickets = drv.tsp.one("""SELECT count(*) FROM hublink.tsp_ticket t JOIN hublink.tsp_booking b USING (booking_ref)
                              WHERE b.removal_id = ANY(%s)""", ([r.ref for r in removals if r.outcome == "completed"],))
    return {
        "money": {k: str(money(v)) for k, v in L.items()},
        "bookings": bookings, "bookings_not_cheapest": bookings_not_cheapest,
        "completed": completed, "cancelled": cancelled, "failed": failed,
        "completed_on_planned_date": on_planned_date, "tickets_completed": tickets,
        "tickets_per_completed_removal": str((Decimal(tickets) / completed).quantize(Decimal("0.01"))) if completed else None,
        "cancelled_after_booking": sum(1 for r in removals if r.outcome == "cancelled" and any(b["accepted"] for b in r.bookings)),
        "refundable_bookings": sum(1 for r in removals for b in r.bookings if b["accepted"] and b["refundable"]),
        "held": sum(1 for r in removals if getattr(r, "held", False)),
        "cancelled_while_held": sum(1 for r in removals if getattr(r, "held", False) and r.outcome == "cancelled"
                                    and not any(b["accepted"] for b in r.bookings)),
    }


def mi(drv):
    hub = drv.hub
    m = hub.rows("""SELECT sum(ticket_spend) AS ticket_spend, sum(refunds_owed) AS refunds, sum(change_fees) AS change_fees,
                           sum(cancellation_fees) AS cancellation_fees, sum(lost_non_refundable) AS lost_non_refundable
                      FROM hublink.mi_money""")[0]
    b = hub.rows("""SELECT sum(bookings) AS bookings, sum(bookings_not_cheapest) AS bookings_not_cheapest,
                           sum(booked_total) AS booked_total, sum(cheapest_fare_total) AS cheapest_fare_total
                      FROM hublink.mi_best_value""")[0]
    o = hub.rows("""SELECT sum(completed) AS completed, sum(cancelled) AS cancelled, sum(unsuccessful) AS unsuccessful,
                           sum(tickets_completed) AS tickets_completed FROM hublink.mi_removal_outcome""")[0]
    return {"mi_money": {k: str(money(v)) for k, v in m.items()},
            "mi_best_value": {k: (str(money(v)) if "total" in k else int(v or 0)) for k, v in b.items()},
            "mi_removal_outcome": {k: int(v or 0) for k, v in o.items()}}


def compare(led, m):
    """Each MI figure beside the ledger's: (view, column, ledger, MI, equal)."""
    lm = led["money"]
    pairs = [
        ("mi_money", "ticket_spend", lm["ticket_spend"], m["mi_money"]["ticket_spend"]),
        ("mi_money", "refunds_owed", lm["refunds"], m["mi_money"]["refunds"]),
        ("mi_money", "change_fees", lm["change_fees"], m["mi_money"]["change_fees"]),
        ("mi_money", "cancellation_fees", lm["cancellation_fees"], m["mi_money"]["cancellation_fees"]),
        ("mi_money", "lost_non_refundable", lm["lost_non_refundable"], m["mi_money"]["lost_non_refundable"]),
        ("mi_best_value", "bookings", led["bookings"], m["mi_best_value"]["bookings"]),
        ("mi_best_value", "bookings_not_cheapest", led["bookings_not_cheapest"], m["mi_best_value"]["bookings_not_cheapest"]),
        ("mi_best_value", "booked_total", lm["ticket_spend"], m["mi_best_value"]["booked_total"]),
        ("mi_best_value", "cheapest_fare_total", lm["cheapest_fare_total"], m["mi_best_value"]["cheapest_fare_total"]),
        ("mi_removal_outcome", "completed", led["completed"], m["mi_removal_outcome"]["completed"]),
        ("mi_removal_outcome", "cancelled", led["cancelled"], m["mi_removal_outcome"]["cancelled"]),
        ("mi_removal_outcome", "tickets_completed", led["tickets_completed"], m["mi_removal_outcome"]["tickets_completed"]),
    ]
    return [{"view": v, "column": c, "ledger": str(a), "mi": str(b), "equal": str(a) == str(b)} for v, c, a, b in pairs]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("world")
    w.add_argument("outdir")
    w.add_argument("--seed", type=int, default=17)
    w.add_argument("--removals", type=int, default=0, help="the run's removals (roster_size)")
    w.add_argument("--concurrency", type=int, default=40, help="removals in flight (roster_size)")
    r = sub.add_parser("roster-size")
    r.add_argument("--removals", type=int, required=True)
    r.add_argument("--concurrency", type=int, default=40)
    fl = sub.add_parser("in-flight", help="the most removals the waves driver has in flight")
    fl.add_argument("--scale", type=float, required=True)
    fl.add_argument("--concurrency", type=int, required=True)
    fl.add_argument("--tick-hours", type=float, default=24)
    sa = sub.add_parser("schedule-args", help="gen-world-schedule's --days and --seats-factor for the run")
    sa.add_argument("--removals", type=int, required=True)
    g = sub.add_parser("events")
    g.add_argument("--seed", type=int, default=17)
    g.add_argument("--scale", type=float, default=0.05)
    g.add_argument("--days", type=float, default=365)
    d = sub.add_parser("drive")
    d.add_argument("--policy", choices=POLICIES, required=True)
    d.add_argument("--history-years", type=float, default=1,
                   help="the Hub's history before the run, in years of removals (0: none)")
    d.add_argument("--seed", type=int, default=17)
    d.add_argument("--scale", type=float, default=0.05)
    # The first DAYS simulated days of the year only (the soak, when a year does not fit).
    d.add_argument("--days", type=float, default=365, help="simulated days of the year to drive")
    d.add_argument("--concurrency", type=int, default=40)
    # The driver (docs/simulation.md "The drivers"): waves (test/sim/waves.py, rounds over
    # simulated time, one wait for the stack per round) or poll (Driver.run, per removal).
    d.add_argument("--driver", choices=["waves", "poll"], default="waves")
    d.add_argument("--tick-hours", type=float, default=24, help="waves: the simulated instant's length")
    d.add_argument("--shift-day-at", type=float, default=None,
                   help="from this Unix time on, plan a day later (as after London's midnight)")
    d.add_argument("--quiet-seconds", type=float, default=2, help="waves: counters still this long = settled")
    # A removal with no progress for this long is counted failed; on a loaded machine (several
    # stacks on two cores) the parties answer slower: HUBLINK_SIM_STUCK_SECONDS raises it.
    d.add_argument("--stuck-seconds", type=float, default=float(os.environ.get("HUBLINK_SIM_STUCK_SECONDS", 90)))
    for p in ("hub", "tsp", "esp"):
        d.add_argument("--" + p, required=True)
    d.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "world":
        world(args.outdir, args.seed, args.removals, args.concurrency)
        return 0
    if args.cmd == "roster-size":
        print(roster_size(args.removals, args.concurrency))
        return 0
    if args.cmd == "in-flight":
        print(in_flight(args.scale, args.concurrency, args.tick_hours))
        return 0
    if args.cmd == "schedule-args":
        print("--days %d --seats-factor %d" % schedule_args(args.removals))
        return 0
    events = generate(args.seed, args.scale, args.days)
    if args.cmd == "events":
        json.dump(events, sys.stdout, indent=1)
        return 0
    drv = Driver(args, events)
    if args.driver == "waves":
        import waves
        removals = waves.run(drv, Removal)
    else:
        removals = drv.run()
    led = ledger(drv, removals)
    m = mi(drv)
    cmp = compare(led, m)
    result = {"policy": args.policy, "seed": args.seed, "scale": args.scale, "days": args.days, "removals": len(removals),
              "escorts_rostered": drv.esp.one("SELECT count(*) FROM hublink.esp_escort"),
              "history_years": args.history_years,
              "history": {",".join(k) or "(none)": v for k, v in drv.history.items()},
              "market": {"flights_repriced": drv.market[0], "flights_sold_out": drv.market[1]},
              "seconds": round(drv.elapsed, 1), "driver": args.driver, "concurrency": args.concurrency,
              "rounds": getattr(drv, "rounds", None), "not_started": getattr(drv, "not_started", 0),
              "round_seconds": {k: round(v, 1) for k, v in getattr(drv, "round_seconds", {}).items()},
              "settle": ({"waits": len(drv.settle.waits), "seconds": round(sum(drv.settle.waits), 1),
                          "ended_by_quiet": drv.settle.by_quiet, "polls": getattr(drv.settle, "polls", None)} if hasattr(drv, "settle") else None), "ledger": led, "mi": m, "agreement": cmp,
              "failures": [{"case": r.ev["case"], "ref": r.ref, "why": r.note} for r in removals if r.outcome == "failed"],
              "cancel_leads": [b.get("cancelled_lead_hours") for r in removals for b in r.bookings if "cancelled_lead_hours" in b],
              # The lead at which the TSP read its refund rules (refund_at_true_lead): the
              # cancellation's own lead, or the booking's when it came before it (rare).
              "refund_leads": [b.get("refund_lead_hours") for r in removals for b in r.bookings if "cancelled_lead_hours" in b],
              # Per removal, for the report's split by recorded profile and by half of the year.
              "removal_rows": [{"n": r.ev["n"], "factors": r.ev["factors"], "outcome": r.outcome,
                                "refundable": ([b for b in r.bookings if b["accepted"]] or [{}])[-1].get("refundable"),
                                "lost": str(r.lost) if getattr(r, "lost", None) is not None else None,
                                "cancel_probability": getattr(r, "cancel_probability", None),
                                "held": getattr(r, "held", False), "at_hold": r.at_hold,
                                "escorted": r.ev["escorted"], "booking_lead": r.ev["lead_hours"],
                                "cancel_lead": r.ev.get("drawn_lead_hours"), "advice": getattr(r, "advice", None),
                                # Each booking asked for: its price and whether the TSP accepted
                                # it (test/sim/compare.py compares two runs removal by removal).
                                "booked": [[str(b["amount"]), b["accepted"]] for b in r.bookings]}
                               for r in removals]}
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    # HUBLINK_SIM_PROFILE=FILE: the driver under cProfile, its statistics to FILE (where the
    # driver's own time goes: docs/simulation.md "What bounds the rate").
    if os.environ.get("HUBLINK_SIM_PROFILE"):
        import cProfile
        prof = cProfile.Profile()
        rc = prof.runcall(main)
        prof.dump_stats(os.environ["HUBLINK_SIM_PROFILE"])
        sys.exit(rc)
    sys.exit(main())
