// Where a request's time goes (docs/web.md "Figures"): waiting for a pooled connection, the
// session's read, the page's database transaction, the template. With HUBLINK_WEB_SERVER_TIMING=1
// each response carries them in a Server-Timing header (test/bench/web reads it); off by default,
// since timings tell a client more than it needs.
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

const requests = new AsyncLocalStorage();

export function timingMiddleware(req, res, next) {
  requests.run({ pool: 0, session: 0, db: 0, render: 0 }, next);
}

// Adds ms to one part of the current request's time (nothing outside a request).
export function note(part, ms) {
  const t = requests.getStore();
  if (t) t[part] += ms;
}

export async function measure(part, fn) {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    note(part, performance.now() - t0);
  }
}

export function serverTiming() {
  const t = requests.getStore();
  return t ? Object.entries(t).map(([k, v]) => `${k};dur=${v.toFixed(1)}`).join(', ') : '';
}
