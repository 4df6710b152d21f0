// Live case pages (docs/web.md "Live timeline"): one LISTEN hublink_status connection as the
// web login; each notification names a removal, and every open case page of that removal is
// sent its timeline again, read afresh as that page's person (so row-level security decides,
// never the notification).
import pg from 'pg';

export class LiveCases {
  constructor(render) {
    this.render = render; // async (user, removalReference) => html
    this.watchers = new Map(); // removal reference -> Set of { user, res }
    this.client = null;
  }

  async start() {
    this.client = new pg.Client({ application_name: 'hublink-web-listen' });
    this.client.on('notification', (n) => this.onNotify(n));
    this.client.on('error', (err) => console.error(`hublink-web: LISTEN connection: ${err.message}`));
    await this.client.connect();
    await this.client.query('LISTEN hublink_status');
    this.keepalive = setInterval(() => this.ping(), 20_000);
    this.keepalive.unref();
  }

  async stop() {
    clearInterval(this.keepalive);
    for (const set of this.watchers.values()) for (const w of set) w.res.end();
    if (this.client) await this.client.end().catch(() => {});
  }

  // alive(): whether the page's session is still signed in; a stream outlives none.
  watch(reference, user, res, alive) {
    if (!this.watchers.has(reference)) this.watchers.set(reference, new Set());
    const w = { user, res, alive };
    this.watchers.get(reference).add(w);
    // Once at once: whatever changed between the page and this stream is not missed.
    this.send(w, reference);
    return () => {
      const set = this.watchers.get(reference);
      if (set) {
        set.delete(w);
        if (set.size === 0) this.watchers.delete(reference);
      }
    };
  }

  async ping() {
    for (const set of this.watchers.values()) {
      for (const w of set) {
        const alive = await Promise.resolve(w.alive()).catch(() => false);
        if (alive) w.res.write(': keepalive\n\n');
        else w.res.end();
      }
    }
  }

  async onNotify(n) {
    let reference;
    try {
      reference = JSON.parse(n.payload).removalReference;
    } catch {
      return;
    }
    const set = this.watchers.get(reference);
    if (!set) return;
    for (const w of set) await this.send(w, reference);
  }

  // Sends the timeline as the watcher's person sees it now.
  async send(w, reference) {
    if (!(await Promise.resolve(w.alive()).catch(() => false))) {
      w.res.end();
      return;
    }
    try {
      const html = await this.render(w.user, reference);
      w.res.write(`event: timeline\n${html.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`);
    } catch (err) {
      // The person may no longer see it (a sensitivity raised): stop sending.
      w.res.write('event: gone\ndata: \n\n');
      w.res.end();
    }
  }
}
