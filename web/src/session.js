// Sessions: a random id in a Secure, HttpOnly, SameSite=Lax cookie with the __Host- prefix
// (no Domain, Path=/, Secure: the browser sends it to this origin only); the session itself
// stays on the server, so signing out or timing out ends it for good. A session ends after
// idleSeconds without a request and after maxSeconds in all. Each has its own CSRF token.
import crypto from 'node:crypto';

export const COOKIE = '__Host-hublink-session';

export class SessionStore {
  constructor({ idleSeconds, maxSeconds, onExpire }) {
    this.idleMs = idleSeconds * 1000;
    this.maxMs = maxSeconds * 1000;
    this.onExpire = onExpire || (() => {});
    this.sessions = new Map();
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  create(data = {}) {
    const id = crypto.randomBytes(32).toString('base64url');
    const now = Date.now();
    const s = { id, created: now, seen: now, csrf: crypto.randomBytes(32).toString('base64url'), ...data };
    this.sessions.set(id, s);
    return s;
  }

  expired(s, now) {
    return now - s.seen > this.idleMs || now - s.created > this.maxMs;
  }

  // The live session of this id, touched; an expired one is ended (reported once) and null.
  get(id) {
    const s = id && this.sessions.get(id);
    if (!s) return null;
    const now = Date.now();
    if (this.expired(s, now)) {
      this.end(s, 'timed out');
      return null;
    }
    s.seen = now;
    return s;
  }

  end(s, reason) {
    if (this.sessions.delete(s.id) && s.user) this.onExpire(s, reason);
  }

  sweep() {
    const now = Date.now();
    for (const s of this.sessions.values()) if (this.expired(s, now)) this.end(s, 'timed out');
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
