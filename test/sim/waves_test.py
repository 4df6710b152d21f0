#!/usr/bin/python3
"""test/sim/waves_test.py - the simulation's event-queue driver (test/sim/waves.py) without a
stack: fake parties whose worker counters move only when the test says, a fake driver whose
removals need a few answered steps each. Under a second; step `sim-driver` of test/run-all.

Checks the arrivals over simulated time, the settle rule (balanced counters; quiet counters
with nothing unsent, for an Error nobody consumes; a timeout while something stays unsent),
and the rounds: one settle per round whatever the number of removals in flight, every
removal's step in removal order within a round, never more in flight than the concurrency
(or one simulated instant), and a removal whose answer never comes failed as stuck; a SIGTERM drains the run. The
fake stack sees a round's calls only when the round's transaction commits (waves.Round): a
driver that settled before committing would wait on calls the stack never got."""
import os
import signal
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import waves  # noqa: E402
from checks import Checks  # noqa: E402

check = Checks("sim-driver")


class FakeConn:
    """What waves.Round needs of a psycopg2 connection: the statements run, and commits."""

    def __init__(self, on_commit=None):
        self.autocommit, self.log, self.on_commit = True, [], on_commit

    def cursor(self):
        conn = self

        class Cur:
            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False

            def execute(self, sql, args=()):
                conn.log.append(sql)
        return Cur()

    def commit(self):
        self.log.append("COMMIT")
        if self.on_commit:
            self.on_commit()


class FakeParty:
    """worker_status of one party: published, acked, outbox_backlog, retrying."""

    def __init__(self, script=None):
        self.conn = FakeConn()
        self.row = {"published": 0, "acked": 0, "outbox_backlog": 0, "retrying": 0}
        self.script = list(script or [])   # rows to return, one per read, then the last one
        self.reads = 0

    def rows(self, sql, args=()):
        self.reads += 1
        if self.script:
            self.row = self.script.pop(0)
        return [dict(self.row)]

    def one(self, sql, args=()):
        return None


def status(pub, ack, unsent=0, retrying=0):
    return {"published": pub, "acked": ack, "outbox_backlog": unsent, "retrying": retrying}


# --- arrivals over simulated time --------------------------------------------------------------
ev = [{"n": i} for i in range(8000)]
t = waves.arrivals(ev, 24, 1.0)
check("a year at scale 1: the first removal on day 0, the last on day 364", t[0] == 0 and t[-1] == 364, str((t[0], t[-1])))
per_day = max(t.count(d) for d in set(t))
check("a year at scale 1: 21 or 22 removals a simulated day", 21 <= per_day <= 22, str(per_day))
t10 = waves.arrivals([{"n": i} for i in range(80000)], 24, 10.0)
check("ten times the rate: ten times as many removals a simulated day", t10[-1] == 364 and 218 <= max(t10.count(d) for d in (0, 100, 364)) <= 220)
check("arrivals never go back in time", all(a <= b for a, b in zip(t, t[1:])))

# --- the settle rule ---------------------------------------------------------------------------
s = waves.Settle([FakeParty([status(5, 5)]), FakeParty([status(3, 3)])], quiet_seconds=5)
check("balanced counters, nothing unsent: settled at once", s.wait(2) and s.by_quiet == 0 and s.waits[-1] < 1)
hub, tsp = FakeParty([status(1, 0, 1), status(2, 0), status(2, 1), status(2, 1)]), FakeParty([status(0, 0)] * 3 + [status(1, 2)])
s = waves.Settle([hub, tsp], quiet_seconds=5)
ok = s.wait(2)
check("messages in flight: waits until every one published is acked", ok and hub.reads == 4, "reads %d" % hub.reads)
s = waves.Settle([FakeParty([status(3, 2)]), FakeParty([status(0, 0)])], quiet_seconds=0.2)
check("an Error nobody consumes: settled once the counters are quiet, and counted", s.wait(2) and s.by_quiet == 1)
s = waves.Settle([FakeParty([status(3, 2, unsent=1)]), FakeParty()], quiet_seconds=0.1)
t0 = time.monotonic()
check("an outbox row that stays unsent: not settled, after the timeout", not s.wait(0.4) and time.monotonic() - t0 >= 0.4)
s = waves.Settle([FakeParty([status(3, 2, unsent=1)]), FakeParty()], quiet_seconds=0.1)
s.wait(2.0)
check("counters standing still: the polls back off (about 10 in 2 s, not 40)", 8 <= s.polls <= 14, "%d polls" % s.polls)
hub = FakeParty([status(i + 1, i) for i in range(30)] + [status(30, 30)])
s = waves.Settle([hub], quiet_seconds=5)
t0 = time.monotonic()
s.wait(5)
check("counters moving: polled at the first interval again (30 changes in under 2.5 s)", time.monotonic() - t0 < 2.5,
      "%.2f s" % (time.monotonic() - t0))
s = waves.Settle([FakeParty([status(3, 3, retrying=1)]), FakeParty()], quiet_seconds=0.1)
check("a message waiting for a retry: not settled", not s.wait(0.3))


# --- the rounds --------------------------------------------------------------------------------
class Removal:
    def __init__(self, ev):
        self.ev, self.ref, self.phase, self.since, self.outcome, self.note = ev, None, None, 0, None, ""


class Stack(FakeParty):
    """A party that answers every request sent since the last read of its counters, as a
    stack that settles between rounds would; requests to removals in `deaf` are acked but never
    answered (as a request the provider rejects with an Error)."""

    def __init__(self):
        super().__init__()
        self.sent, self.answered, self.deaf, self.uncommitted = [], set(), set(), []
        self.conn = FakeConn(self.commit)

    def commit(self):
        # A round's requests reach the stack only when its transaction commits.
        self.sent += self.uncommitted
        self.uncommitted = []

    def rows(self, sql, args=()):
        self.answered |= {r for r in self.sent if r not in self.deaf}
        n = len(self.answered)
        # A deaf removal's request is acked but never answered (the provider's Error).
        self.row = status(len(self.sent), len([r for r in self.sent if r in self.answered or r in self.deaf]))
        return [dict(self.row)] if n >= 0 else []


class FakeDriver:
    STEPS = 3   # answered steps each removal needs before it is done

    def __init__(self, n, concurrency, tick_hours, deaf=(), stuck=5.0):
        self.args = types.SimpleNamespace(concurrency=concurrency, tick_hours=tick_hours, scale=n / 8000,
                                          quiet_seconds=0.1, stuck_seconds=stuck)
        self.events = [{"n": i} for i in range(n)]
        self.stack = Stack()
        self.stack.deaf = set(deaf)
        self.hub = self.tsp = self.esp = self.stack
        self.calls, self.max_inflight, self.inflight = [], 0, set()

    def send(self, r):
        self.stack.uncommitted.append(r.ev["n"])
        self.stack.answered.discard(r.ev["n"])
        self.calls.append((len(self.rounds_log), r.ev["n"]))

    def start(self, r):
        r.ref, r.done = "R%d" % r.ev["n"], 0
        r.phase, r.since = "step0", time.monotonic()
        self.inflight.add(r.ev["n"])
        self.max_inflight = max(self.max_inflight, len(self.inflight))
        self.send(r)

    def states(self, inflight):
        return {r.ref: {"answered": r.ev["n"] in self.stack.answered} for r in inflight}

    def step(self, r, s):
        if not s["answered"]:
            return
        r.done += 1
        if r.done == self.STEPS:
            r.outcome = "completed"
            self.inflight.discard(r.ev["n"])
            return
        r.phase, r.since = "step%d" % r.done, time.monotonic()
        self.send(r)

    def fail(self, r, why):
        r.outcome, r.note = "failed", why
        self.inflight.discard(r.ev["n"])

    def say(self, r, text):
        pass


d = FakeDriver(60, concurrency=20, tick_hours=24 * 30)
out = waves.run(d, Removal)
check("every removal completes", all(r.outcome == "completed" for r in out), str([r.outcome for r in out if r.outcome != "completed"]))
check("one settle per round", len(d.settle.waits) == d.rounds, "%d waits, %d rounds" % (len(d.settle.waits), d.rounds))
by_round = {}
for rnd, n in d.calls:
    by_round.setdefault(rnd, []).append(n)
check("within a round, the calls go in removal order", all(v == sorted(v) for v in by_round.values()), str(by_round))
check("never more in flight than the concurrency", d.max_inflight <= 20, str(d.max_inflight))
check("removals in flight together: a round carries many (not one removal a round)",
      max(len(v) for v in by_round.values()) >= 10, str(by_round))
# Each call is answered by the settle of its own round (the round's transaction committed
# first): 3 batches of 20, each started in one round and moved on in each of the next 3,
# the last of which starts the next batch: 1 + 3 x 3 rounds.
check("every call answered within its own round: 10 rounds for 60 removals of 3 steps, 20 at a time",
      d.rounds == 10, "%d rounds" % d.rounds)
d = FakeDriver(30, concurrency=5, tick_hours=24 * 365)
out = waves.run(d, Removal)
check("one simulated instant larger than the concurrency: started together, all complete",
      all(r.outcome == "completed" for r in out) and d.max_inflight == 30, str(d.max_inflight))
d = FakeDriver(6, concurrency=10, tick_hours=24 * 365, deaf={2}, stuck=0.5)
out = waves.run(d, Removal)
check("a removal whose answer never comes fails as stuck; the others complete",
      out[2].outcome == "failed" and "stuck" in out[2].note and all(r.outcome == "completed" for i, r in enumerate(out) if i != 2),
      str([(r.outcome, r.note) for r in out]))
check("while it waits, the driver does not spin: a round in which nothing moved pauses",
      d.rounds <= 10, "%d rounds" % d.rounds)



# A call that fails inside a round is rolled back alone (its savepoint), the round goes on.
import psycopg2  # noqa: E402
p = FakeParty()


sent = []


def failing(sql, args=()):
    sent.append(sql)
    if "boom" in sql:
        raise psycopg2.Error("boom")


p.one = failing
rnd = waves.Round([p])
p.one("SELECT 1")
try:
    p.one("SELECT boom")
    raised = False
except psycopg2.Error:
    raised = True
p.one("SELECT 2")
rnd.commit()
p.one("SELECT 3")
check("a failing call inside a round: raised to the caller, rolled back to its savepoint alone",
      raised and p.conn.log == ["ROLLBACK TO SAVEPOINT round_call", "COMMIT"] and not p.conn.autocommit, str(p.conn.log))
check("one round trip a call: its savepoint in its own statement, the last one's released at the next call, none after a commit",
      sent == ["SAVEPOINT round_call; SELECT 1", "RELEASE SAVEPOINT round_call; SAVEPOINT round_call; SELECT boom",
               "RELEASE SAVEPOINT round_call; SAVEPOINT round_call; SELECT 2", "SAVEPOINT round_call; SELECT 3"], str(sent))
d = FakeDriver(3, concurrency=5, tick_hours=24)
waves.run(d, Removal)
d.stack.conn.log.clear()
d.hub.rows("SELECT 1")
check("after the run: autocommit and the party's own calls again, no savepoint (the ledger's reads)",
      d.hub.conn.autocommit and d.stack.conn.log == [] and "rows" not in vars(d.hub), str(d.stack.conn.log))


class Draining(FakeDriver):
    """A SIGTERM arrives while the fifth removal starts (as a soak stopped for time)."""

    def start(self, r):
        super().start(r)
        if r.ev["n"] == 4:
            os.kill(os.getpid(), signal.SIGTERM)


d = Draining(40, concurrency=2, tick_hours=24)
out = waves.run(d, Removal)
check("SIGTERM drains: nothing started after it, the removals in flight finish, only they are returned",
      [r.ev["n"] for r in out] == [0, 1, 2, 3, 4] and all(r.outcome == "completed" for r in out) and d.not_started == 35,
      str(([r.ev["n"] for r in out], d.not_started)))
signal.signal(signal.SIGTERM, signal.SIG_DFL)

check.finish()
