// Sessions (docs/web.md "Sessions"): kept in PostgreSQL (hublink.web_session), so the web tier
// is stateless: any number of server processes share them and a restart signs nobody out. The
// id, made by hublink.web_session_start and stored there only as its SHA-256, travels in a
// Secure, HttpOnly, SameSite=Lax cookie with the __Host- prefix (no Domain, Path=/). The idle and
// absolute time-outs are checked in SQL on every read; an ended session is deleted there and
// its end recorded as a security event. Each session has its own CSRF token.
import crypto from 'node:crypto';
import { asGateway } from './db.js';
import { measure } from './timing.js';

export const COOKIE = '__Host-hublink-session';
const ID = /^[A-Za-z0-9_-]{43}$/; // what web_session_start makes; anything else names no session

// What the web tier keeps between requests (hublink.web_session.data).
const KEPT = ['user', 'pending', 'flash'];
const snapshot = (s) => JSON.stringify(KEPT.map((k) => s[k] ?? null));

export class SessionStore {
  constructor({ pool, idleSeconds, maxSeconds }) {
    this.pool = pool;
    this.idleSeconds = idleSeconds;
    this.maxSeconds = maxSeconds;
    // Any server may sweep: the sessions past their time-out are ended (and recorded) even when
    // their person never comes back.
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  // A new session: for a sign-in under way (no role) or for a person signed in (their role).
  async create(data = {}, { role = null, clientAddr = null } = {}) {
    const kept = Object.fromEntries(KEPT.filter((k) => data[k] !== undefined).map((k) => [k, data[k]]));
    const { rows } = await asGateway(this.pool, (c) =>
      c.query('SELECT * FROM hublink.web_session_start($1, $2, $3, $4, $5)',
        [role, JSON.stringify(kept), clientAddr, this.idleSeconds, this.maxSeconds]));
    return this.wrap(rows[0].session_id, { csrf_token: rows[0].csrf_token, data: kept, role_name: role, client_addr: clientAddr });
  }

  wrap(id, row) {
    const s = { id, csrf: row.csrf_token, clientAddr: row.client_addr, ...row.data };
    // The role is the row's, which only web_session_start sets (for a role mapped to a web identity).
    if (s.user) s.user = { ...s.user, role: row.role_name };
    s.saved = snapshot(s);
    return s;
  }

  // { session, ended }: the live session of this id (touched unless touch is false), or null;
  // ended when the id named a session that has just timed out.
  async get(id, { touch = true } = {}) {
    if (!id || !ID.test(id)) return { session: null, ended: Boolean(id) };
    // One round trip: the role and the call in one simple-protocol query (the id is checked above).
    const client = await measure('pool', () => this.pool.connect());
    let row;
    try {
      const results = await measure('session', () => client.query(
        `SET LOCAL ROLE hublink_web; SELECT * FROM hublink.web_session_get('${id}', ${touch ? 'true' : 'false'})`));
      row = results[1].rows[0];
    } finally {
      client.release();
    }
    if (row.outcome !== 'live') return { session: null, ended: true };
    return { session: this.wrap(id, row), ended: false };
  }

  // Writes what changed in the session (a message for the next page, a sign-in under way).
  async save(s) {
    if (!s || snapshot(s) === s.saved) return;
    const data = Object.fromEntries(KEPT.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));
    await asGateway(this.pool, (c) => c.query('SELECT hublink.web_session_save($1, $2)', [s.id, JSON.stringify(data)]));
    s.saved = snapshot(s);
  }

  async end(s, reason) {
    await asGateway(this.pool, (c) => c.query('SELECT hublink.web_session_end($1, $2)', [s.id, reason]));
  }

  async alive(id) {
    return (await this.get(id, { touch: false })).session !== null;
  }

  async sweep() {
    try {
      await asGateway(this.pool, (c) => c.query('SELECT hublink.web_session_sweep()'));
    } catch (err) {
      console.error(`hublink-web: the session sweep failed: ${err.message}`);
    }
  }

  stop() {
    clearInterval(this.sweeper);
  }
}

export function readCookie(req, name) {
  const header = req.headers.cookie || '';
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

export function setSessionCookie(res, id) {
  res.append('Set-Cookie', `${COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Lax`);
}

export function clearSessionCookie(res) {
  res.append('Set-Cookie', `${COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`);
}

// Constant-time comparison of a submitted CSRF token with the session's.
export function csrfMatches(session, token) {
  if (!session || typeof token !== 'string') return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
