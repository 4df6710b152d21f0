#!/usr/bin/python3
"""test/sim/soak.py - samples the three parties while the simulation drives them (the soak,
issue 17 section 3). test/sim/run --soak starts it beside sim.py and stops it (SIGTERM).

  soak.py --hub DSN --tsp DSN --esp DSN --out FILE.csv [--every 10]
  soak.py chart FILE.csv... OUT.svg      the trend of each series, one small chart each
  soak.py trend FILE.csv...               the trend as a text table (start, quarters, end, slopes)
  soak.py per1000 FILE.csv...             each series at every 1,000 removals closed, and its growth per 1,000

Every sample, per party: the worker's private memory (RssAnon of its process: heap that would
grow with a leak; shared buffers are not counted), the sum and the largest RssAnon of the
other backends of the cluster, the total size (table, TOAST and indexes) and the index size of
the tables that grow with the traffic (inbox, outbox, audit, timers, alerts, security events,
MI rollup), the WAL written since the start (pg_current_wal_lsn), the worker's counters, and
the delivery latency of the messages the Hub sent in the last interval (Hub outbox row to the
provider's inbox row, both stamped by now() on one machine's clock): median and 95th
percentile. One CSV row per party and sample."""
import csv
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


def sample(name, conn, wal0, t0, hub_sent, writer):
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
        row["inbox_rows"] = one(cur, "SELECT count(*) FROM hublink.inbox")
        row["audit_rows"] = one(cur, "SELECT count(*) FROM hublink.audit_log")
        row["timer_rows"] = one(cur, "SELECT count(*) FROM hublink.timer")
        if hub_sent is not None:
            # Latency of the Hub's messages of the last interval, to the provider that applied them.
            row["latency_p50_ms"], row["latency_p95_ms"], row["latency_n"] = hub_sent(cur)
            row["reply_p50_ms"], row["reply_p95_ms"], row["reply_n"], row["reply_missing"] = round_trip(cur)
        writer.writerow(row)


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


FIELDS = ["t", "party", "worker_rss_kb", "worker_pss_kb", "jobs_rss_kb", "backends", "backends_rss_kb", "max_backend_rss_kb",
          "backends_pss_kb", "wal_bytes",
          "inbox_bytes", "inbox_index_bytes", "outbox_bytes", "outbox_index_bytes", "audit_bytes", "audit_index_bytes",
          "timers_bytes", "timers_index_bytes", "mi_rollup_bytes", "mi_rollup_index_bytes", "sessions_bytes", "sessions_index_bytes",
          "received", "applied", "rejected", "published", "outbox_backlog", "inbox_rows", "audit_rows", "timer_rows",
          "removals", "removals_closed",
          "latency_p50_ms", "latency_p95_ms", "latency_n", "reply_p50_ms", "reply_p95_ms", "reply_n", "reply_missing"]


def run(args):
    import psycopg2
    conns = {}
    for p in ("hub", "tsp", "esp"):
        conns[p] = psycopg2.connect(getattr(args, p))
        conns[p].autocommit = True
    wal0 = {}
    for p, c in conns.items():
        with c.cursor() as cur:
            wal0[p] = one(cur, "SELECT pg_current_wal_lsn()::text")
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
            for p, c in conns.items():
                try:
                    sample(p, c, wal0[p], t0, hub_sent if p == "hub" else None, w)
                except Exception as e:  # a sample lost is reported, the soak goes on
                    print("soak: sample of %s failed: %s" % (p, e), file=sys.stderr)
            fh.flush()
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
         ("max_backend_rss_kb", "largest backend RssAnon (kB)"), ("backends_pss_kb", "backends PSS, sum (kB)"),
         ("inbox_bytes", "inbox (bytes)"), ("outbox_bytes", "outbox (bytes)"), ("audit_bytes", "audit (bytes)"),
         ("timers_bytes", "timers+alerts (bytes)"), ("mi_rollup_bytes", "MI rollups (bytes)"), ("sessions_bytes", "web sessions (bytes)"),
         ("wal_bytes", "WAL written (bytes)"), ("outbox_backlog", "outbox backlog (rows)"),
         ("reply_p95_ms", "Hub enqueue to reply p95 (ms)")]


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


def main():
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
    return run(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
