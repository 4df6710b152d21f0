#!/usr/bin/python3
"""test/sim/seats_test.py - the world schedule's seats grow with the run (step sim-driver, with
waves_test.py and timeline_test.py; docs/simulation.md "The seats grow with the run").

The collapsed timeline puts every removal of a run on the schedule's days, and a removal that
flies keeps its seats, so a schedule of fixed seats runs out on a long run: the fifth pass's
soak found no flight to Lagos from about 1,800 removals. sim.schedule_args sizes the schedule
(days, and every flight's seats times a factor: scripts/gen-world-schedule --seats-factor) for
the removals a run drives. Checked here, on the schedule test/sim/run generates, from the
real OpenFlights routes ($HUBLINK_TESTDATA/openflights), a few seconds:

- the seats factor multiplies seats and seats sold only: the same flights, times and fares;
- per destination, the seats left over the days a run's removals fly (from the sim's places'
  airports, direct or as the last leg of a one-connection itinerary within the TSP's connection
  times) per seat the generator's removals that fly keep there (the returnee and the escort
  team), for a year at the real rate, are at least what a run of
  schedule_args' base (1,200 removals, where the fifth pass still found every flight) had on
  the 16-day schedule; and a year on the fixed 16-day schedule (before this change) is not;
- the same for a year at ten times the rate (80,000 removals, `make soak-10x`), which the
  seats factor cannot carry (the TSP's loader takes 1,000 seats a flight at most): such a run
  gives a flown removal's seats back (sim.frees_seats), so the seats held at once are those of
  the removals in flight (the most seats any `in flight` consecutive removals to a place book,
  cancelled or not); before that it held every flown removal's seats, and failed here.
"""
import csv
import datetime as dt
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import sim  # noqa: E402
from checks import Checks  # noqa: E402

check = Checks("sim-seats")
top = os.path.dirname(os.path.dirname(here))
testdata = os.environ.get("HUBLINK_TESTDATA") or os.path.join(top, "..", "shared", "testdata")
if not os.path.exists(os.path.join(testdata, "openflights", "routes.dat")):
    # As test/sim/run: the world schedule is made from OpenFlights; without it nothing to check.
    check("OpenFlights in $HUBLINK_TESTDATA/openflights (the world schedule is made from it)",
          os.environ.get("CI") != "true", testdata)
    print("# SKIP the seats checks: no OpenFlights at %s" % testdata)
    check.finish()

START = dt.date(2026, 12, 7)
ORIGINS = {"LHR", "LGW"}            # the airports of sim.LOCATIONS (data/demo-inventory/locations.csv)
MIN_CONNECTION = dt.timedelta(minutes=90)   # the TSP's default_min_connection_minutes
MAX_CONNECTION = dt.timedelta(minutes=720)  # and max_connection_minutes
FIRST_DAY = 5                               # sim.BOOKING_LEAD_HOURS: planned dates from now + 5 days
AIRPORTS = "LHR,LGW,MAN,BHX,LOS,TIA,ISB,DEL,ACC,KIN"   # as test/sim/run
SOAK_10X = (120, 6)                         # make soak-10x: --concurrency, --tick-hours


def schedule(tmp, days, factor):
    out = os.path.join(tmp, "w-%d-%d" % (days, factor))
    subprocess.run([os.path.join(top, "scripts", "gen-world-schedule"), "--seed", "17", "--start", START.isoformat(),
                    "--days", str(days), "--seats-factor", str(factor), "--airports", AIRPORTS, out],
                   check=True, stderr=subprocess.DEVNULL, env=dict(os.environ, HUBLINK_TESTDATA=testdata))
    with open(os.path.join(out, "flights.csv"), newline="") as fh:
        flights = list(csv.DictReader(fh))
    with open(os.path.join(out, "fares.csv"), newline="") as fh:
        fares = fh.read()
    return flights, fares


def when(text):
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M%z")


def seats_left(flights, dest):
    """Seats left on the flights into `dest` that leave on day FIRST_DAY or later and that an
    itinerary from ORIGINS can end on: direct, or after a flight from ORIGINS landing at the
    flight's origin between the connection times (each flight counted once)."""
    first = dt.datetime.combine(START + dt.timedelta(days=FIRST_DAY), dt.time(0), tzinfo=dt.timezone.utc)
    feeders = {}
    for f in flights:
        if f["origin"] in ORIGINS:
            feeders.setdefault(f["destination"], []).append(when(f["arrival_local"]))
    total = 0
    for f in flights:
        if f["destination"] != dest or when(f["departure_local"]) < first:
            continue
        dep = when(f["departure_local"])
        if f["origin"] in ORIGINS or any(MIN_CONNECTION <= dep - a <= MAX_CONNECTION for a in feeders.get(f["origin"], [])):
            total += int(f["seats_total"]) - int(f["seats_sold"])
    return total


def seats_kept(events, airport):
    """Seats the removals to `airport` keep at the end of the run: those not cancelled fly
    (a cancellation gives its seats back to the TSP)."""
    return sum(sim.travellers(ev) for ev in events if ev["airport"] == airport and not ev["cancel"])


year = sim.generate(17, 1)
base_n = sim.SEATS_BASE_REMOVALS
with tempfile.TemporaryDirectory() as tmp:
    plain, plain_fares = schedule(tmp, sim.SCHEDULE_DAYS, 1)
    check("schedule_args: the earlier passes' schedule (16 days, seats as drawn) up to %d removals" % base_n,
          sim.schedule_args(400) == (16, 1) and sim.schedule_args(base_n) == (16, 1) and sim.schedule_args(base_n + 1)[1] > 1,
          str((sim.schedule_args(400), sim.schedule_args(base_n), sim.schedule_args(base_n + 1))))
    days, k = sim.schedule_args(len(year))
    scaled, scaled_fares = schedule(tmp, sim.SCHEDULE_DAYS, 3)
    same = len(scaled) == len(plain) and scaled_fares == plain_fares and all(
        {x: a[x] for x in a if x not in ("seats_total", "seats_sold")} == {x: b[x] for x in b if x not in ("seats_total", "seats_sold")}
        and int(b["seats_total"]) == 3 * int(a["seats_total"]) and b["seats_sold"] == a["seats_sold"]
        for a, b in zip(plain, scaled))
    check("gen-world-schedule --seats-factor 3: the same flights and fares, three times the seats, the seats sold as drawn", same)
    long_run, _ = schedule(tmp, days, k)
    base_events = year[:base_n]
    short = []
    for dest in sorted({d[1] for d in sim.DESTINATIONS}):
        per_seat = seats_left(long_run, dest) / seats_kept(year, dest)
        was = seats_left(plain, dest) / seats_kept(base_events, dest)
        if per_seat < was:
            short.append("%s %.2f < %.2f" % (dest, per_seat, was))
    check("a year at the real rate (%d removals; %d days, seats x%d): every destination has at least the seats "
          "left per seat kept of %d removals on the 16-day schedule" % (len(year), days, k, base_n), not short, "; ".join(short))
    check("schedule_args never asks more than 1,000 seats a flight of the loader: every flight at 1,000 at the largest factor",
          sim.schedule_args(10 ** 6)[1] == sim.SEATS_FACTOR_MAX and 120 * (sim.SEATS_FACTOR_MAX - 1) < 1000 <= 120 * sim.SEATS_FACTOR_MAX,
          str(sim.schedule_args(10 ** 6)))
    # Ten times the rate: 80,000 removals, as make soak-10x drives them (SOAK_10X below).
    year10 = sim.generate(17, 10)
    days10, k10 = sim.schedule_args(len(year10))
    frees = getattr(sim, "frees_seats", lambda n: False)(len(year10))
    window = sim.in_flight(10, *SOAK_10X) if hasattr(sim, "in_flight") else SOAK_10X[0]
    long10 = long_run if (days10, k10) == (days, k) else schedule(tmp, days10, k10)[0]
    short = []
    for dest in sorted({d[1] for d in sim.DESTINATIONS}):
        if frees:
            seats = [sim.travellers(ev) if ev["airport"] == dest else 0 for ev in year10]
            run, held = sum(seats[:window]), 0
            for i in range(window, len(seats) + 1):
                held = max(held, run)
                if i < len(seats):
                    run += seats[i] - seats[i - window]
        else:
            held = seats_kept(year10, dest)
        per_seat = seats_left(long10, dest) / held
        was = seats_left(plain, dest) / seats_kept(base_events, dest)
        if per_seat < was:
            short.append("%s %.2f < %.2f" % (dest, per_seat, was))
    check("a year at ten times the rate (%d removals; %d days, seats x%d, %s): every destination has at least the seats "
          "left per seat held of %d removals on the 16-day schedule" % (
              len(year10), days10, k10, "seats of flown removals freed, %d in flight" % window if frees else "every seat kept",
              base_n), not short, "; ".join(short))
    # The schedule before this change (16 days, seats as drawn, for every run) on a year.
    lagos = seats_left(plain, "LOS") / seats_kept(year, "LOS")
    check("the fixed schedule leaves a year's Lagos removals under one seat left per seat they keep (%.2f)" % lagos, lagos < 1)

check.finish()
