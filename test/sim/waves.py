"""test/sim/waves.py - the simulation's event-queue driver (issue 17, the soak).

sim.py's first driver (`--driver poll`) kept up to --concurrency removals in flight and polled
the Hub every 50 ms, moving each removal on as soon as its own answer came: the time a
removal waited was its own round trips, so the rate was bounded by the concurrency over the
latency of one removal's chain of steps. This driver (`--driver waves`, the default) runs over
simulated time instead:

- The removals of the year arrive on an event queue at simulated instants: removal i of n at
  i x (365 days / n), grouped by --tick-hours (default 24: a caseworking day). Scale 10 is ten
  times as many removals in each simulated day, so the soak's "ten times the real rate" is
  ten times as many removals issued together.
- One round: every removal in flight whose answers have come takes its next step (sim.py's
  Driver.step, unchanged: the same Hub calls, in removal order); then the removals of the next
  simulated instants are started (create_removal, ...), as many instants as fit under
  --concurrency; then the driver waits ONCE for the whole stack to settle (below), not per
  removal, and reads every in-flight removal's state in one query.
- Settled: at each of the three parties no outbox row is unsent and none waits for a retry,
  and every message published has been acked by its receiver (the sum of the parties'
  worker counters `published` equals the sum of `acked`; a receiver acks only after the
  transaction that applied the message, and the answer it wrote, committed). An Error sent to
  an error queue has no receiver: when the counters stop moving for --quiet-seconds with
  nothing unsent, the stack is taken as settled too, and the round counts it.

The calls of a round are made at each party in one transaction, committed before the
settle (Round): no party sees any of them until all are made, so every call of a round reads
the stack as the last settle left it, the providers see the requests in removal order, and
now() is one instant per round; a run is as repeatable as the stack and the wall clock allow
(docs/simulation.md "The drivers" compares the two drivers' ledgers). A round in which
nothing moved pauses instead of spinning. SIGTERM drains. The events, the policy's choices and
the ledger are sim.py's.
"""
import signal
import time
from collections import Counter, deque

import psycopg2

SIM_YEAR_HOURS = 365 * 24


class Settle:
    """Waits for the three parties to have no message in flight (see the module's head)."""

    def __init__(self, parties, quiet_seconds):
        self.parties = parties
        self.quiet = quiet_seconds
        self.waits = []          # seconds of each wait
        self.by_quiet = 0        # waits ended by quiet counters rather than balanced ones
        self.polls = 0           # worker_status reads (one query at each party)

    def counters(self):
        pub = ack = unsent = retrying = 0
        for p in self.parties:
            row = p.rows("SELECT published, acked, outbox_backlog, retrying FROM hublink.worker_status")[0]
            pub += row["published"]
            ack += row["acked"]
            unsent += row["outbox_backlog"]
            retrying += row["retrying"]
        return pub, ack, unsent, retrying

    # The poll's interval: POLL_FIRST after a change, growing by half up to POLL_MAX while the
    # counters stand still. A poll is one worker_status query at each party, about 1 ms of
    # its CPU (planned each time: a view); at a fixed 50 ms that was 60 queries a second, some
    # 7 % of a core, on a machine where the parties' CPU is what bounds the soak's rate
    # (docs/simulation.md "What bounds the rate"). A round's settle is 5 to 20 s: ending it up
    # to POLL_MAX late costs about 1 %.
    POLL_FIRST, POLL_MAX = 0.05, 0.25

    def wait(self, timeout):
        t0 = time.monotonic()
        last, last_change = None, t0
        pause = self.POLL_FIRST
        while True:
            pub, ack, unsent, retrying = c = self.counters()
            now = time.monotonic()
            self.polls += 1
            if unsent == 0 and retrying == 0 and ack >= pub:
                self.waits.append(now - t0)
                return True
            if c != last:
                last, last_change = c, now
                pause = self.POLL_FIRST
            elif unsent == 0 and retrying == 0 and now - last_change >= self.quiet:
                self.by_quiet += 1
                self.waits.append(now - t0)
                return True
            if now - t0 > timeout:
                self.waits.append(now - t0)
                return False
            time.sleep(pause)
            pause = min(self.POLL_MAX, pause * 1.5)


class Round:
    """The calls of one round, at each party, in one transaction committed before the settle:
    no party sees any of a round's calls until all are made, so what a call reads (the TSP's
    bookings on a flight before a carrier event, the Hub's estimate, the seats left) is the
    state after the last settle, whatever the timing; and now() is one instant per round.
    Each call runs under a savepoint: a call that fails is rolled back alone, as it was with
    autocommit, and the removal is failed by the caller as before."""

    def __init__(self, parties):
        """parties: the Hub first (it commits last: commit)."""
        self.parties = list({id(p): p for p in parties}.values())
        self.open = {}           # id(party) -> a savepoint of the last call is still open
        for p in self.parties:
            p.conn.autocommit = False
            p.rows, p.one = self.guarded(p, p.rows), self.guarded(p, p.one)

    def guarded(self, party, call):
        # The savepoint travels in the call's own statement string ("SAVEPOINT round_call;
        # <call>"), and the previous call's is released at the head of the next one: one round
        # trip a call, not three. Measured (docs/simulation.md "What bounds the rate"): the
        # separate SAVEPOINT and RELEASE statements were 24,388 of the driver's 36,676 round
        # trips and about 20 s of a 132 s drive, while the stack waited for the round's calls.
        # A failure in the call leaves the savepoint set (it ran first), so it is rolled back to
        # alone, as before; the savepoint is released at the next call or ended by the commit.
        def run(sql, args=()):
            head = "RELEASE SAVEPOINT round_call; " if self.open.get(id(party)) else ""
            self.open[id(party)] = True
            try:
                return call(head + "SAVEPOINT round_call; " + sql, args)
            except psycopg2.Error:
                with party.conn.cursor() as cur:
                    cur.execute("ROLLBACK TO SAVEPOINT round_call")
                raise
        return run

    def commit(self):
        # The providers' first, the Hub's last: a call at the TSP that must be in place before
        # a Hub request of the same round reaches it (sim.py refund_at_true_lead, before the
        # cancellation) is committed before the Hub's worker can send that request.
        for p in self.parties[1:] + self.parties[:1]:
            p.conn.commit()
            self.open[id(p)] = False

    def close(self):
        """Back to autocommit and the parties' own methods (the ledger's and the MI's reads)."""
        self.commit()
        for p in self.parties:
            del p.rows, p.one
            p.conn.autocommit = True


def arrivals(events, tick_hours, scale):
    """The simulated instant (index of its tick) at which each removal arrives: removal i of a
    year of 8,000 x scale at i x (365 days / n)."""
    n = max(1, len(events))
    spacing = SIM_YEAR_HOURS / max(1.0, 8000 * scale) if scale > 0 else SIM_YEAR_HOURS / n
    return [int(ev["n"] * spacing // tick_hours) for ev in events]


def lap(spent, part, since):
    """Adds the time since `since` to spent[part]; returns now."""
    now = time.monotonic()
    spent[part] += now - since
    return now


def run(drv, Removal):
    """Drive drv.events (sim.py Driver) by rounds over simulated time; returns the removals."""
    args = drv.args
    removals = [Removal(ev) for ev in drv.events]
    ticks = arrivals(drv.events, args.tick_hours, args.scale)
    queue = deque(zip(ticks, removals))     # already in arrival order
    per_tick = Counter(ticks)
    settle = Settle([drv.hub, drv.tsp, drv.esp], args.quiet_seconds)
    rnd = Round([drv.hub, drv.tsp, drv.esp])
    inflight = []
    rounds = 0
    t0 = time.monotonic()
    drv.rounds_log = []
    # Where the driver's wall time goes, per part of a round (docs/simulation.md "What bounds
    # the rate"): the state query, the removals' steps, the starts, the pause of a round in
    # which nothing moved, the commits, and the wait for the stack to settle.
    spent = drv.round_seconds = Counter()
    # SIGTERM (or SIGINT) drains: no removal is started after it, those in flight finish, and
    # the ledger and the MI are checked over the removals started. A soak stopped for time
    # still ends with its books checked (docs/simulation.md "Soak").
    draining = {"since": None}

    def drain(*_):
        draining["since"] = draining["since"] or time.monotonic()
    signal.signal(signal.SIGTERM, drain)
    signal.signal(signal.SIGINT, drain)
    while queue or inflight:
        if draining["since"] and queue:
            print("sim: draining: %d removals not started, %d in flight" % (len(queue), len(inflight)), flush=True)
            queue.clear()
            if not inflight:
                break
        rounds += 1
        # 1. Every removal in flight whose answers have come takes its next step.
        acted = 0
        tp = time.monotonic()
        states = drv.states(inflight) if inflight else {}
        tp = lap(spent, "states", tp)
        for r in list(inflight):
            s = states.get(r.ref)
            before = (r.phase, r.since, r.outcome)
            try:
                if s:
                    drv.step(r, s)
            except psycopg2.Error as e:
                drv.fail(r, "%s: %s" % (r.phase, str(e).strip().splitlines()[0]))
            acted += (r.phase, r.since, r.outcome) != before
            if r.outcome is None and (r.phase, r.since) == before[:2]:
                if time.monotonic() - r.since > args.stuck_seconds:
                    drv.fail(r, "stuck in %s (%s)" % (r.phase, s))
            if r.outcome:
                drv.say(r, "%s %s" % (r.outcome, r.note))
                inflight.remove(r)
        tp = lap(spent, "steps", tp)
        # 2. The removals of the next simulated instants, as many instants as fit.
        while queue and not draining["since"] and (not inflight or len(inflight) + per_tick[queue[0][0]] <= args.concurrency):
            tick = queue[0][0]
            while queue and queue[0][0] == tick:
                _, r = queue.popleft()
                try:
                    drv.start(r)
                    acted += 1
                    inflight.append(r)
                except psycopg2.Error as e:
                    drv.fail(r, "create: %s" % str(e).strip())
                    drv.say(r, "%s %s" % (r.outcome, r.note))
            drv.sim_tick = tick
        tp = lap(spent, "starts", tp)
        # A round in which nothing moved (every removal in flight waits for an answer that is
        # not coming, e.g. a request the provider rejected with an Error) would otherwise spin:
        # the stack is settled at once. The soak's first run made 62,392 rounds that way.
        if not acted:
            time.sleep(0.5)
            tp = lap(spent, "pause", tp)
        # 3. The round's calls reach the stack together; wait once for it to settle.
        rnd.commit()
        tp = lap(spent, "commit", tp)
        settled = settle.wait(args.stuck_seconds)
        rnd.commit()   # the settle's reads (and the next round's state query) end their transaction
        tp = lap(spent, "settle", tp)
        drv.rounds_log.append((round(time.monotonic() - t0, 2), len(inflight), settled))
    rnd.close()
    drv.elapsed = time.monotonic() - t0
    drv.rounds = rounds
    drv.settle = settle
    drv.not_started = sum(1 for r in removals if r.ref is None and r.outcome is None)
    return [r for r in removals if r.ref is not None or r.outcome is not None]
