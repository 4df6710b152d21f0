#!/usr/bin/python3
"""test/sim/soak.py - samples the three parties while the simulation drives them (the soak,
issue 17 section 3). test/sim/run --soak starts it beside sim.py and stops it (SIGTERM).

  soak.py --hub DSN --tsp DSN --esp DSN --out FILE.csv [--every 10]
  soak.py chart FILE.csv... OUT.svg      the trend of each series, one small chart each
  soak.py trend FILE.csv...               the trend as a text table (start, quarters, end, slopes)
  soak.py per1000 FILE.csv...             each series at every 1,000 removals closed, and its growth per 1,000
  soak.py cpuload [--window N] FILE.csv...  each party's CPU per removal closed against the load average
                                          (windows of N samples, default 10)
  soak.py contexts FILE-contexts.csv      the workers' memory contexts over the run, those that grew first

Every sample, per party: the worker's private memory (RssAnon of its process: heap that would
grow with a leak; shared buffers are not counted), the sum and the largest RssAnon of the
other backends of the cluster, the total size (table, TOAST and indexes) and the index size of
the tables that grow with the traffic (inbox, outbox, audit, timers, alerts, security events,
MI rollup), the WAL written since the start (pg_current_wal_lsn), the worker's counters, and
the delivery latency of the messages the Hub sent in the last interval (Hub outbox row to the
provider's inbox row, both stamped by now() on one machine's clock): median and 95th
percentile, each party's CPU (its postmaster and every process it started, live or ended)
and the machine's load average. One CSV row per party and sample.

With --contexts-every N (and --party-dirs, where each party's pg.log is), every N samples the
message worker, the jobs worker and the appliers of each party log their memory contexts
(pg_log_backend_memory_contexts: the process writes them to its server log at its next
interrupt check, between statements, without stopping its work); the sampler reads them back
from the log and writes each top-level context's total (its subtree) to FILE-contexts.csv, so
that a growth of RssAnon can be named: the transaction's memory, the caches, the compiled
functions (docs/simulation.md "Soak")."""
import csv
import os
import re
import signal
import sys
import time

GROUPS = {
    "inbox": ["inbox"],
    "outbox": ["outbox"],
    "audit": ["audit_log", "audit_chain", "security_event"],
    "timers": ["timer", "alert"],
    "mi_rollup": None,  # every rollup_mi_% table
    "sessions": ["web_session"],
}

running = True


def stop(*_):
    global running
    running = False


def rss_anon(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pss(pid):
    """Proportional set size (kB) of a process: its private pages plus its share of the shared
    ones (shared buffers shared by N processes count 1/N each), from smaps_rollup."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_times(pid):
    """(ppid, own CPU, reaped children's CPU) of a process in seconds, or None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            f = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 0-based from state
    return int(f[1]), (int(f[11]) + int(f[12])) / CLK_TCK, (int(f[13]) + int(f[14])) / CLK_TCK


def cluster_cpu(postmaster):
    """CPU seconds a cluster has used: the postmaster's own and its ended children's (reaped:
    cutime, cstime), and its live children's. A backend that ends moves from the second sum to
    the first, so the total only grows."""
    pm = proc_times(postmaster)
    if pm is None:
        return None
    total = pm[1] + pm[2]
    for d in os.listdir("/proc"):
        if d.isdigit():
            t = proc_times(int(d))
            if t and t[0] == postmaster:
                total += t[1]
    return round(total, 2)


def own_cpu(pids):
    """CPU seconds the live processes `pids` used (None when there are none)."""
    times = [proc_times(p) for p in pids if p]
    return round(sum(t[1] for t in times if t), 2) if any(times) else None


def load1():
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def sample(name, conn, wal0, t0, hub_sent, writer, postmaster=None):
    import psycopg2.extras  # noqa: F401
    with conn.cursor() as cur:
        cur.execute("SELECT pid, jobs_pid FROM hublink.worker_status")
        wpid, jpid = cur.fetchone()
        cur.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
        pids = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (wal0,))
        wal = int(cur.fetchone()[0])
        row = {"t": round(time.time() - t0, 1), "party": name, "wal_bytes": wal,
               "worker_rss_kb": rss_anon(wpid) if wpid else None, "worker_pss_kb": pss(wpid) if wpid else None,
               "jobs_rss_kb": rss_anon(jpid) if jpid else None}
        row["cpu_s"] = cluster_cpu(postmaster) if postmaster else None
        # ... and the part of it the long-lived hublink processes used since they started (the
        # rest: the sim's sessions, autovacuum, the checkpointer and the other background work)
        row["cpu_worker_s"], row["cpu_jobs_s"] = own_cpu([wpid]), own_cpu([jpid])
        row["load1"] = load1()
        cur.execute("SELECT pid FROM hublink.worker_appliers()")
        apids = [r[0] for r in cur.fetchall() if r[0]]
        row["appliers_rss_kb"] = sum(rss_anon(p) or 0 for p in apids) if apids else None
        row["cpu_appliers_s"] = own_cpu(apids)
        others = [rss_anon(p) or 0 for p in pids if p != wpid]
        row["backends"] = len(others)
        row["backends_rss_kb"] = sum(others)
        row["max_backend_rss_kb"] = max(others) if others else 0
        row["backends_pss_kb"] = sum(pss(p) or 0 for p in pids if p != wpid)
        if name == "hub":
            # How far the drive is: the removals created and those closed (for removals/minute).
            cur.execute("SELECT count(*), count(*) FILTER (WHERE state IN ('completed', 'cancelled')) FROM hublink.removal")
            row["removals"], row["removals_closed"] = cur.fetchone()
        for g, tables in GROUPS.items():
            if tables is None:
                cur.execute("""SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0), coalesce(sum(pg_indexes_size(c.oid)), 0)
                                 FROM pg_class c WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'r'
                                  AND c.relname LIKE 'rollup\\_mi\\_%%'""")
            else:
                cur.execute("""SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0), coalesce(sum(pg_indexes_size(c.oid)), 0)
                                 FROM pg_class c WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'r'
                                  AND c.relname = ANY(%s)""", (tables,))
            row[g + "_bytes"], row[g + "_index_bytes"] = (int(x) for x in cur.fetchone())
        cur.execute("SELECT received, applied, rejected, published, outbox_backlog FROM hublink.worker_status")
        row["received"], row["applied"], row["rejected"], row["published"], row["outbox_backlog"] = cur.fetchone()
        # Deadlocks (between appliers: each one a handler retry in the message worker) and the
        # messages the worker retries.
        row["deadlocks"] = one(cur, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        row["retrying"] = one(cur, "SELECT retrying FROM hublink.worker_status")
        row["inbox_rows"] = one(cur, "SELECT count(*) FROM hublink.inbox")
        row["audit_rows"] = one(cur, "SELECT count(*) FROM hublink.audit_log")
        row["timer_rows"] = one(cur, "SELECT count(*) FROM hublink.timer")
        if hub_sent is not None:
            # Latency of the Hub's messages of the last interval, to the provider that applied them.
            row["latency_p50_ms"], row["latency_p95_ms"], row["latency_n"] = hub_sent(cur)
            row["reply_p50_ms"], row["reply_p95_ms"], row["reply_n"], row["reply_missing"] = round_trip(cur)
        writer.writerow(row)
        return row.get("removals_closed")


ROUND_TRIP = {"since": None}


def round_trip(cur):
    """Enqueue to reply at the Hub: for each request the Hub wrote to its outbox in the interval
    before last (one interval of lag, so that slow replies are in), the time to the first
    message the Hub received for the same removal after it. Requests still unanswered are
    counted (reply_missing), not dropped in silence."""
    cur.execute("SELECT now() - interval '%s seconds'" % ROUND_TRIP["every"])
    upto = cur.fetchone()[0]
    since = ROUND_TRIP["since"] or upto
    ROUND_TRIP["since"] = upto
    cur.execute("""SELECT extract(epoch FROM r.received_at - o.created_at) * 1000
                     FROM hublink.outbox o
                     LEFT JOIN LATERAL (SELECT min(i.received_at) AS received_at FROM hublink.inbox i
                                         WHERE i.removal_id = o.removal_id AND i.received_at >= o.created_at) r ON true
                    WHERE o.created_at > %s AND o.created_at <= %s AND o.removal_id IS NOT NULL""", (since, upto))
    vals = [r[0] for r in cur.fetchall()]
    lat = sorted(float(v) for v in vals if v is not None)
    missing = sum(1 for v in vals if v is None)
    if not lat:
        return None, None, 0, missing
    return round(lat[len(lat) // 2], 1), round(lat[min(len(lat) - 1, int(len(lat) * 0.95))], 1), len(lat), missing


def one(cur, sql):
    cur.execute(sql)
    return cur.fetchone()[0]


FIELDS = ["t", "party", "worker_rss_kb", "worker_pss_kb", "jobs_rss_kb", "appliers_rss_kb", "backends", "backends_rss_kb", "max_backend_rss_kb",
          "backends_pss_kb", "wal_bytes",
          "inbox_bytes", "inbox_index_bytes", "outbox_bytes", "outbox_index_bytes", "audit_bytes", "audit_index_bytes",
          "timers_bytes", "timers_index_bytes", "mi_rollup_bytes", "mi_rollup_index_bytes", "sessions_bytes", "sessions_index_bytes",
          "received", "applied", "rejected", "published", "outbox_backlog", "deadlocks", "retrying", "inbox_rows", "audit_rows", "timer_rows",
          "removals", "removals_closed", "cpu_s", "cpu_worker_s", "cpu_appliers_s", "cpu_jobs_s", "load1",
          "latency_p50_ms", "latency_p95_ms", "latency_n", "reply_p50_ms", "reply_p95_ms", "reply_n", "reply_missing"]


# pg_log_backend_memory_contexts' lines (PostgreSQL 15, mcxt.c), after log_line_prefix's [%p].
CTX_START = re.compile(r"\[(\d+)\] LOG:\s+logging memory contexts of PID (\d+)")
CTX_LINE = re.compile(r"\[(\d+)\] LOG:\s+level: (\d+); (.*?): (\d+) total in \d+ blocks; \d+ free \(\d+ chunks\); \d+ used")
CTX_MORE = re.compile(r"\[(\d+)\] LOG:\s+level: (\d+); (\d+) more child contexts containing (\d+) total in")
CTX_END = re.compile(r"\[(\d+)\] LOG:\s+Grand total: (\d+) bytes in")
CTX_FIELDS = ["t", "party", "process", "pid", "removals_closed", "context", "bytes", "contexts"]


class ContextLog:
    """Reads one party's server log from where it last stopped and turns the memory-context
    dumps of the processes asked (pending: pid -> the sample's fields) into rows: per dump,
    the bytes of each top-level context with its subtree (TopMemoryContext's children, by name:
    the PL/pgSQL functions' contexts are summed under one name), CacheMemoryContext's children
    by name as CacheMemoryContext/NAME, TopMemoryContext's own bytes and the grand total."""

    def __init__(self, path):
        self.path, self.offset, self.pending, self.dumps = path, 0, {}, {}
        if os.path.exists(path):
            self.offset = os.path.getsize(path)  # only what is logged from now on

    def read(self, writer):
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].decode("utf-8", "replace").splitlines():
            if "memory contexts" not in line and "level: " not in line and "Grand total" not in line:
                continue
            m = CTX_START.search(line)
            if m and int(m.group(1)) in self.pending:
                self.dumps[int(m.group(1))] = {"totals": {}, "counts": {}, "top": None, "l1": None}
                continue
            m = CTX_LINE.search(line) or CTX_MORE.search(line)
            if m and int(m.group(1)) in self.dumps:
                d = self.dumps[int(m.group(1))]
                level = int(m.group(2))
                if m.re is CTX_MORE:
                    name, size, n = "(more contexts)", int(m.group(4)), int(m.group(3))
                else:
                    name, size, n = m.group(3), int(m.group(4)), 1
                if level == 0:
                    d["totals"]["TopMemoryContext (own)"] = size
                    d["counts"]["TopMemoryContext (own)"] = 1
                    continue
                if level == 1:
                    d["l1"] = name
                keys = [d["l1"]]
                if d["l1"] == "CacheMemoryContext" and level >= 2:
                    if level == 2:
                        d["l2"] = name
                    keys.append("CacheMemoryContext/" + d["l2"])
                for k in keys:
                    d["totals"][k] = d["totals"].get(k, 0) + size
                    d["counts"][k] = d["counts"].get(k, 0) + n
                continue
            m = CTX_END.search(line)
            if m and int(m.group(1)) in self.dumps:
                pid = int(m.group(1))
                d = self.dumps.pop(pid)
                info = self.pending.pop(pid)
                d["totals"]["(grand total)"] = int(m.group(2))
                for k in sorted(d["totals"]):
                    writer.writerow(dict(info, pid=pid, context=k, bytes=d["totals"][k], contexts=d["counts"].get(k, 1)))


def postmaster_pid(cur):
    """The cluster's postmaster, from postmaster.pid in its data directory (the sampler runs on
    the parties' machine, as the RssAnon figures need)."""
    try:
        cur.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
        with open(os.path.join(cur.fetchone()[0], "postmaster.pid")) as fh:
            return int(fh.readline())
    except (OSError, ValueError, TypeError):
        return None


def ask_contexts(party, conn, log, t, closed):
    """Asks the party's message worker and jobs worker to log their memory contexts (read back
    by ContextLog at the next samples). A dump not seen by the next request is dropped."""
    with conn.cursor() as cur:
        cur.execute("SELECT pid, jobs_pid FROM hublink.worker_status")
        procs = list(zip(cur.fetchone(), ("worker", "jobs")))
        cur.execute("SELECT pid, applier FROM hublink.worker_appliers()")
        procs += [(pid, "applier %d" % k) for pid, k in cur.fetchall()]
        for pid, proc in procs:
            if pid:
                log.pending[pid] = {"t": t, "party": party, "process": proc, "removals_closed": closed}
                log.dumps.pop(pid, None)
                cur.execute("SELECT pg_log_backend_memory_contexts(%s)", (pid,))


def run(args):
    import psycopg2
    conns = {}
    for p in ("hub", "tsp", "esp"):
        conns[p] = psycopg2.connect(getattr(args, p))
        conns[p].autocommit = True
    wal0, pm = {}, {}
    for p, c in conns.items():
        with c.cursor() as cur:
            wal0[p] = one(cur, "SELECT pg_current_wal_lsn()::text")
            pm[p] = postmaster_pid(cur)
    logs = {}
    if args.contexts_every and args.party_dirs:
        logs = {p: ContextLog(os.path.join(args.party_dirs, p, "pg.log")) for p in conns}
        ctx_fh = open(os.path.splitext(args.out)[0] + "-contexts.csv", "w", newline="")
        ctx_w = csv.DictWriter(ctx_fh, CTX_FIELDS)
        ctx_w.writeheader()
    n = 0
    t0 = time.time()
    ROUND_TRIP["every"] = int(args.every)
    signal.signal(signal.SIGTERM, stop)
    last = {"at": None}

    def hub_sent(cur):
        cur.execute("SELECT now()")
        now = cur.fetchone()[0]
        since = last["at"] or now
        last["at"] = now
        cur.execute("SELECT message_id, created_at FROM hublink.outbox WHERE created_at > %s AND created_at <= %s", (since, now))
        sent = dict(cur.fetchall())
        lat = []
        for p in ("tsp", "esp"):
            with conns[p].cursor() as pc:
                pc.execute("SELECT message_id, received_at FROM hublink.inbox WHERE message_id = ANY(%s)", (list(sent),))
                lat += [(r[1] - sent[r[0]]).total_seconds() * 1000 for r in pc.fetchall()]
        lat.sort()
        if not lat:
            return None, None, 0
        return round(lat[len(lat) // 2], 1), round(lat[min(len(lat) - 1, int(len(lat) * 0.95))], 1), len(lat)

    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        while running:
            closed = None
            for p, c in conns.items():
                try:
                    r = sample(p, c, wal0[p], t0, hub_sent if p == "hub" else None, w, pm[p])
                    closed = r if p == "hub" else closed
                except Exception as e:  # a sample lost is reported, the soak goes on
                    print("soak: sample of %s failed: %s" % (p, e), file=sys.stderr)
            fh.flush()
            for p, log in logs.items():
                log.read(ctx_w)
                if n % args.contexts_every == 0:
                    try:
                        ask_contexts(p, conns[p], log, round(time.time() - t0, 1), closed)
                    except Exception as e:
                        print("soak: memory contexts of %s failed: %s" % (p, e), file=sys.stderr)
            if logs:
                ctx_fh.flush()
            n += 1
            for _ in range(int(args.every * 10)):
                if not running:
                    break
                time.sleep(0.1)
    return 0


SERIES = [("worker_rss_kb", "worker private memory (kB)"), ("worker_pss_kb", "worker PSS (kB)"), ("max_backend_rss_kb", "largest backend private memory (kB)"),
          ("inbox_bytes", "inbox, with indexes (bytes)"), ("outbox_bytes", "outbox, with indexes (bytes)"),
          ("audit_bytes", "audit log + chain + events (bytes)"), ("timers_bytes", "timers + alerts (bytes)"),
          ("mi_rollup_bytes", "MI rollup tables (bytes)"), ("sessions_bytes", "web sessions (bytes)"), ("wal_bytes", "WAL written (bytes)"),
          ("latency_p95_ms", "Hub to provider latency p95 (ms)"), ("reply_p95_ms", "Hub enqueue to reply p95 (ms)"),
          ("removals_closed", "removals closed (Hub)")]


def chart(paths, out):
    rows = []
    for p in paths:
        rows += list(csv.DictReader(open(p)))
    colours = {"hub": "#4e79a7", "tsp": "#f28e2b", "esp": "#59a14f"}
    cw, ch, cols = 300, 150, 3
    h = ((len(SERIES) + cols - 1) // cols) * (ch + 50) + 40
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (cols * (cw + 30) + 20, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="20" y="20" font-size="14">Soak: each series over the run (x: seconds); hub blue, tsp orange, esp green</text>']
    tmax = max(float(r["t"]) for r in rows) or 1
    for i, (key, label) in enumerate(SERIES):
        x0, y0 = 40 + (i % cols) * (cw + 30), 50 + (i // cols) * (ch + 50)
        vals = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
        vmax = max(vals) if vals else 1
        vmax = vmax or 1
        svg.append('<text x="%d" y="%d">%s (max %s)</text>' % (x0, y0 - 6, label, "{:,.0f}".format(vmax)))
        svg.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (x0, y0, cw, ch))
        for party, colour in colours.items():
            pts = [(float(r["t"]), float(r[key])) for r in rows if r["party"] == party and r.get(key) not in (None, "")]
            if not pts:
                continue
            svg.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colour, " ".join(
                "%.1f,%.1f" % (x0 + t / tmax * cw, y0 + ch - v / vmax * ch) for t, v in pts)))
        svg.append('<text x="%d" y="%d">0</text><text x="%d" y="%d" text-anchor="end">%d s</text>'
                   % (x0, y0 + ch + 12, x0 + cw, y0 + ch + 12, tmax))
    svg.append("</svg>")
    with open(out, "w") as fh:
        fh.write("\n".join(svg) + "\n")


TREND = [("worker_rss_kb", "worker RssAnon (kB)"), ("worker_pss_kb", "worker PSS (kB)"), ("jobs_rss_kb", "jobs worker RssAnon (kB)"),
         ("appliers_rss_kb", "appliers' RssAnon, sum (kB)"),
         ("max_backend_rss_kb", "largest backend RssAnon (kB)"), ("backends_pss_kb", "backends PSS, sum (kB)"),
         ("inbox_bytes", "inbox (bytes)"), ("outbox_bytes", "outbox (bytes)"), ("audit_bytes", "audit (bytes)"),
         ("timers_bytes", "timers+alerts (bytes)"), ("mi_rollup_bytes", "MI rollups (bytes)"), ("sessions_bytes", "web sessions (bytes)"),
         ("wal_bytes", "WAL written (bytes)"), ("outbox_backlog", "outbox backlog (rows)"),
         ("reply_p95_ms", "Hub enqueue to reply p95 (ms)"), ("cpu_s", "CPU used, all processes (s)"),
         ("cpu_appliers_s", "CPU used, appliers (s)"), ("cpu_worker_s", "CPU used, message worker (s)"),
         ("cpu_jobs_s", "CPU used, jobs worker (s)"), ("deadlocks", "deadlocks (count)"),
         ("load1", "load average, 1 min")]


def trend(paths):
    """The trend as a text table: each series at the first sample, a quarter, half, three
    quarters and the end of the run, and its growth per 1,000 removals closed over the first
    and the second half (a leak keeps its slope; a warm-up or a high-water mark loses it)."""
    rows = []
    for p in paths:
        rows += list(csv.DictReader(open(p)))
    hub = [r for r in rows if r["party"] == "hub" and r.get("removals_closed") not in (None, "")]
    if not hub:
        print("soak: no samples")
        return 1
    # Each sample writes the hub's row first, then the providers': a provider's row takes the
    # removals closed of the hub row before it (their times differ by the sampling itself).
    closed, last = {}, None
    for i, r in enumerate(rows):
        if r["party"] == "hub" and r.get("removals_closed") not in (None, ""):
            last = int(r["removals_closed"])
        closed[i] = last
    t_end = float(hub[-1]["t"])
    print("soak: %d samples over %.0f s, %d removals created, %d closed: %.1f removals closed a minute"
          % (len(hub), t_end, int(hub[-1]["removals"]), int(hub[-1]["removals_closed"]),
             int(hub[-1]["removals_closed"]) / max(t_end, 1) * 60))
    print("| party | series | start | 1/4 | 1/2 | 3/4 | end | per 1,000 closed, 1st half | 2nd half |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for party in ("hub", "tsp", "esp"):
        pr = [(closed[i], r) for i, r in enumerate(rows) if r["party"] == party and closed[i] is not None]
        if len(pr) < 3:
            continue
        for key, label in TREND:
            pts = [(c, float(r[key])) for c, r in pr if r.get(key) not in (None, "")]
            if len(pts) < 3:
                continue
            q = [pts[min(len(pts) - 1, int(len(pts) * f))][1] for f in (0, 0.25, 0.5, 0.75)] + [pts[-1][1]]
            mid = pts[len(pts) // 2]

            def slope(a, b):
                return "%.0f" % ((b[1] - a[1]) / (b[0] - a[0]) * 1000) if b[0] > a[0] else "-"
            print("| %s | %s | %s | %s | %s |" % (party, label, " | ".join("{:,.0f}".format(v) for v in q),
                                                 slope(pts[0], mid), slope(mid, pts[-1])))
    return 0


def per1000(paths, step=1000):
    """The trend per 1,000 removals closed: each series at the first sample at or past every
    1,000 removals closed (bytes in MB, kB as they are), then what it grew by over each of the
    last three 1,000s. Steady growth per 1,000 is what a table kept by retention does until
    retention starts deleting; memory that keeps growing per 1,000 after warm-up is a leak."""
    rows = []
    for p in paths:
        rows += list(csv.DictReader(open(p)))
    closed, last = [], None
    for r in rows:
        if r["party"] == "hub" and r.get("removals_closed") not in (None, ""):
            last = int(r["removals_closed"])
        closed.append(last)
    top = max([c for c in closed if c is not None] or [0])
    marks = list(range(0, top + 1, step))
    if len(marks) < 2:
        print("soak: fewer than %d removals closed" % step)
        return 1
    last = marks[1:][-2:]   # the growth over the last two steps (one when there is only one)
    print("| party | series | " + " | ".join("at {:,}".format(m) for m in marks)
          + " | " + " | ".join("growth to {:,}".format(m) for m in last) + " |")
    print("|---|---|" + "---:|" * (len(marks) + len(last)))
    for party in ("hub", "tsp", "esp"):
        for key, label in TREND:
            vals = []
            for m in marks:
                v = next((float(r[key]) for c, r in zip(closed, rows)
                          if r["party"] == party and c is not None and c >= m and r.get(key) not in (None, "")), None)
                vals.append(v)
            if any(v is None for v in vals):
                continue
            mb = key.endswith("_bytes")
            f = (lambda v: "%.1f" % (v / 1048576)) if mb else (lambda v: "{:,.0f}".format(v))
            inc = [b - a for a, b in zip(vals, vals[1:])][-len(last):]
            print("| %s | %s | %s | %s |" % (party, label.replace("(bytes)", "(MB)"), " | ".join(f(v) for v in vals),
                                             " | ".join(("%+.1f" % (d / 1048576)) if mb else "{:+,.0f}".format(d) for d in inc)))
    return 0


def read_rows(paths):
    rows = []
    for p in paths:
        rows += list(csv.DictReader(open(p)))
    return rows


LOAD_BANDS = [(0, 2), (2, 4), (4, 6), (6, 8), (8, 12), (12, 1000)]


def cpuload(paths, window=10, least=20):
    """Each party's CPU per removal closed against the load average: the run cut into windows
    of `window` samples; per window the removals closed, each party's CPU used over them and
    the mean load average (1 minute) of its samples; then the windows pooled by load band
    (CPU over the band's windows / removals closed in them). CPU time is what the processes
    ran, not what they waited: if it rises with the load, the work is the same and each
    second of it costs more (caches and cores shared with other work); if it rises at a moment
    whatever the load, the work changed. Windows closing fewer than `least` removals (the
    start, the drain) are left out."""
    rows = read_rows(paths)
    samples, cur = [], None
    for r in rows:  # one sample: the hub's row, then the providers'
        if r["party"] == "hub":
            cur = {"closed": int(r["removals_closed"] or 0), "t": float(r["t"]), "cpu": {}, "load": [], "app": {}}
            samples.append(cur)
        if cur is not None and r.get("cpu_s") not in (None, ""):
            cur["cpu"][r["party"]] = float(r["cpu_s"])
            if r.get("cpu_appliers_s") not in (None, ""):
                cur["app"][r["party"]] = float(r["cpu_appliers_s"])
            cur["load"].append(float(r["load1"]))
    samples = [x for x in samples if len(x["cpu"]) == 3]
    if len(samples) <= window:
        print("soak: fewer than %d samples with CPU figures" % (window + 1))
        return 1
    wins = []
    for a, b in zip(samples[::window], samples[window::window]):
        closed = b["closed"] - a["closed"]
        if closed < least:
            continue
        part = samples[samples.index(a):samples.index(b) + 1]
        load = sum(sum(x["load"]) / len(x["load"]) for x in part) / len(part)
        wins.append({"from": a["closed"], "closed": closed, "t": a["t"], "minutes": (b["t"] - a["t"]) / 60, "load": load,
                     "cpu": {p: b["cpu"][p] - a["cpu"][p] for p in ("hub", "tsp", "esp")},
                     "app": b["app"].get("hub", 0) - a["app"].get("hub", 0) if "hub" in a["app"] and "hub" in b["app"] else None})
    print("| from minute | removals closed | per minute | load average | Hub CPU/removal (s) | of it the appliers' | TSP | ESP | all |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for w in wins:
        c = w["cpu"]
        print("| {:.0f} | {:,} to {:,} | {:.0f} | {:.1f} | {:.3f} | {} | {:.3f} | {:.3f} | {:.3f} |".format(
            w["t"] / 60, w["from"], w["from"] + w["closed"], w["closed"] / max(w["minutes"], 1e-9), w["load"],
            c["hub"] / w["closed"], "-" if w["app"] is None or w["app"] < 0 else "%.3f" % (w["app"] / w["closed"]),
            c["tsp"] / w["closed"], c["esp"] / w["closed"], sum(c.values()) / w["closed"]))
    print()
    print("| load average | windows | removals closed | Hub CPU/removal (s) | TSP | ESP | all |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for lo, hi in LOAD_BANDS:
        band = [w for w in wins if lo <= w["load"] < hi]
        if not band:
            continue
        n = sum(w["closed"] for w in band)
        cpu = {p: sum(w["cpu"][p] for w in band) for p in ("hub", "tsp", "esp")}
        print("| %s | %d | {:,} | %.3f | %.3f | %.3f | %.3f |".format(n) % (
            "%d to %d" % (lo, hi) if hi < 1000 else "%d or more" % lo, len(band),
            cpu["hub"] / n, cpu["tsp"] / n, cpu["esp"] / n, sum(cpu.values()) / n))
    if len(wins) >= 3:
        # CPU = a x removals closed + b x minutes, least squares per party: a is the work of a
        # removal, b what a party spends per minute whatever the rate (its jobs, the driver's
        # polls, autovacuum). With b > 0 the CPU per removal rises when the rate falls (as it
        # does under load) though no removal costs more. Only with windows enough to tell.
        print()
        for p in ("hub", "tsp", "esp", "all") if len(wins) >= 6 else ():
            ys = [sum(w["cpu"].values()) if p == "all" else w["cpu"][p] for w in wins]
            x1, x2 = [w["closed"] for w in wins], [w["minutes"] for w in wins]
            s11, s12, s22 = sum(a * a for a in x1), sum(a * b for a, b in zip(x1, x2)), sum(b * b for b in x2)
            s1y, s2y = sum(a * y for a, y in zip(x1, ys)), sum(b * y for b, y in zip(x2, ys))
            det = s11 * s22 - s12 * s12
            if det:
                a, b = (s1y * s22 - s2y * s12) / det, (s2y * s11 - s1y * s12) / det
                res = sum((y - a * u - b * v) ** 2 for y, u, v in zip(ys, x1, x2))
                tot = sum((y - sum(ys) / len(ys)) ** 2 for y in ys) or 1
                print("%s: CPU = %.3f s a removal closed + %.1f s a minute (R^2 %.2f over %d windows)"
                      % (p, a, b, 1 - res / tot, len(wins)))
        xs, ys = [w["load"] for w in wins], [sum(w["cpu"].values()) / w["closed"] for w in wins]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        syy = sum((y - my) ** 2 for y in ys)
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
        if sxx > 0 and syy > 0:
            print("\nall parties' CPU per removal against the load average over %d windows: %.4f s more per unit of load "
                  "(%.3f s at load %.1f), correlation %.2f" % (len(wins), sxy / sxx, my, mx, sxy / (sxx * syy) ** 0.5))
    return 0


def contexts(path, top=12, least=65536):
    """The workers' memory contexts over the run (soak.py --contexts-every): per party and
    process, each context's bytes at the first dump, a quarter, half, three quarters and the
    last, its largest, and its growth from the quarter to the end (after the warm-up: a leak
    keeps growing there, a high-water mark does not), largest growth first."""
    rows = read_rows([path])
    by = {}
    for r in rows:
        by.setdefault((r["party"], r["process"]), {}).setdefault(r["context"], []).append(
            (float(r["t"]), int(r["bytes"]), r["removals_closed"], int(r["contexts"])))
    for (party, proc), ctxs in sorted(by.items()):
        times = sorted({t for pts in ctxs.values() for t, *_ in pts})
        if not times:
            continue
        marks = [times[min(len(times) - 1, int(len(times) * f))] for f in (0, 0.25, 0.5, 0.75)] + [times[-1]]
        closed = {t: c for pts in ctxs.values() for t, _, c, _ in pts}
        print("\n%s %s: %d dumps; removals closed at the marks: %s" % (
            party, proc, len(times), ", ".join(closed.get(t) or "-" for t in marks)))
        print("| context | first | 1/4 | 1/2 | 3/4 | last | largest | 1/4 to last | contexts at last |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        lines = []
        for name, pts in ctxs.items():
            at = dict((t, b) for t, b, _, _ in pts)
            vals = [at.get(t, 0) for t in marks]
            big = max(b for _, b, _, _ in pts)
            if big < least and name != "(grand total)":
                continue
            last_n = max(pts)[3]
            lines.append((name == "(grand total)", vals[-1] - vals[1], name, vals, big, last_n))
        lines.sort(key=lambda x: (not x[0], -x[1]))
        for _, grow, name, vals, big, last_n in lines[:top + 1]:
            print("| %s | %s | %s | %+.0f kB | %d |" % (name, " | ".join("%.0f kB" % (v / 1024) for v in vals),
                                                     "%.0f kB" % (big / 1024), grow / 1024, last_n))
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "cpuload":
        if len(sys.argv) > 3 and sys.argv[2] == "--window":
            return cpuload(sys.argv[4:], window=int(sys.argv[3]))
        return cpuload(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "contexts":
        return contexts(sys.argv[2])
    if len(sys.argv) > 1 and sys.argv[1] == "per1000":
        return per1000(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "chart":
        chart(sys.argv[2:-1], sys.argv[-1])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "trend":
        return trend(sys.argv[2:])
    import argparse
    ap = argparse.ArgumentParser()
    for p in ("hub", "tsp", "esp"):
        ap.add_argument("--" + p, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--contexts-every", type=int, default=0,
                    help="every N samples, log the workers' memory contexts (needs --party-dirs)")
    ap.add_argument("--party-dirs", default="", help="the parties' stack directories (DIR/PARTY/pg.log)")
    return run(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
