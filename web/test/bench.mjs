// The web interface under 10 concurrent caseworkers (test/bench/web/run): each signs in once
// in Chromium (the provider's form), then runs journeys with plain HTTP requests carrying its
// session cookie and CSRF token. Prints per page p50/p95 in ms and, for pages that are one Hub
// call, the ratio to that call made straight to PostgreSQL as the same person.
import fs from 'node:fs';
import os from 'node:os';
import { chromium } from 'playwright-core';
import pg from 'pg';

const [base, usersFile, journeysArg] = process.argv.slice(2);
const users = JSON.parse(fs.readFileSync(usersFile, 'utf8'));
const journeys = Number(journeysArg || 5);
const times = {};
const parts = {};
const note = (page, ms) => (times[page] ||= []).push(ms);
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function signIn(browser, u) {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.fill('#username', u.username);
  await page.fill('#password', u.password);
  await page.click('button[type=submit]');
  await page.waitForURL((x) => x.href.startsWith(base));
  const cookie = (await context.cookies()).find((c) => c.name === '__Host-hublink-session');
  await context.close();
  return `${cookie.name}=${cookie.value}`;
}

async function request(cookie, name, path, form) {
  const t0 = performance.now();
  const res = await fetch(base + path, {
    method: form ? 'POST' : 'GET',
    headers: { Cookie: cookie, ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded', Origin: base } : {}) },
    body: form ? new URLSearchParams(form).toString() : undefined,
    redirect: 'manual',
  });
  const body = await res.text();
  note(name, performance.now() - t0);
  // The server's own account of the time (HUBLINK_WEB_SERVER_TIMING=1): pool, session, db, render.
  for (const m of (res.headers.get('server-timing') || '').split(',')) {
    const [, part, dur] = /^\s*(\w+);dur=([0-9.]+)/.exec(m) || [];
    if (part) ((parts[name] ||= {})[part] ||= []).push(Number(dur));
  }
  if (res.status >= 400) throw new Error(`${name} ${path}: ${res.status}`);
  return { res, body };
}

async function journey(cookie, u, j) {
  await request(cookie, 'cases list', '/cases');
  const form = await request(cookie, 'new removal form', '/cases/new');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)[1];
  const d1 = new Date(Date.now() + 10 * 86400e3);
  const d2 = new Date(Date.now() + 20 * 86400e3);
  const created = await request(cookie, 'create removal', '/cases/new', {
    _csrf: csrf, caseReference: `CASE-B-${u.username.toUpperCase()}-${j}`, hoReference: `HO-B${u.username.toUpperCase()}${j}`,
    givenNames: 'Bench', familyName: `Person ${u.username} ${j}`, dobDay: '1', dobMonth: '2', dobYear: '1990', nationality: 'NGA', gender: 'M',
    documentType: 'PASSPORT', documentNumber: `P${j}${u.username}`, documentCountry: 'NGA', detentionCentre: 'HARMONDSWORTH_IRC',
    earliestDay: String(d1.getUTCDate()), earliestMonth: String(d1.getUTCMonth() + 1), earliestYear: String(d1.getUTCFullYear()),
    latestDay: String(d2.getUTCDate()), latestMonth: String(d2.getUTCMonth() + 1), latestYear: String(d2.getUTCFullYear()),
    destinationDescription: 'Lagos, Nigeria', destinationCountry: 'NGA', destinationAirport: 'LOS', sensitivity: 'standard',
  });
  const ref = created.res.headers.get('location').split('/').pop();
  await request(cookie, 'case page', `/cases/${ref}`);
  await request(cookie, 'request quotes', `/cases/${ref}/request-quotes`, { _csrf: csrf });
  await request(cookie, 'case page', `/cases/${ref}`);
  await request(cookie, 'search by name', `/cases?returnee=${encodeURIComponent(`Person ${u.username}`)}`);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const cookies = [];
for (const u of users) cookies.push(await signIn(browser, u));
await browser.close();

// The machine may be shared: its load average is printed with the figures.
const loadBefore = os.loadavg();
const t0 = performance.now();
await Promise.all(users.map(async (u, i) => { for (let j = 1; j <= journeys; j++) await journey(cookies[i], u, j); }));
const wall = performance.now() - t0;
const loadAfter = os.loadavg();

// The same Hub calls straight to PostgreSQL, as the web server makes them: the web login (libpq
// variables), SET LOCAL ROLE to one of the people, one transaction each, nothing else running.
const db = new pg.Client();
await db.connect();
const sql = {};
async function direct(name, text, args) {
  for (let i = 0; i < 50; i++) {
    await db.query('BEGIN');
    await db.query(`SET LOCAL ROLE ${db.escapeIdentifier(users[0].username)}`);
    const t = performance.now();
    await db.query(text, args);
    (sql[name] ||= []).push(performance.now() - t);
    await db.query('ROLLBACK');
  }
}
await direct('cases list', 'SELECT * FROM hublink.find_removals(page_size => 25)');
await direct('search by name', 'SELECT * FROM hublink.find_removals(returnee => $1, page_size => 25)', [`Person ${users[0].username}`]);
await db.end();

console.log(`${users.length} caseworkers x ${journeys} journeys at once, ${Object.values(times).flat().length} requests in ${(wall / 1000).toFixed(1)} s`
  + ` (load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}; ${os.cpus().length} cores)`);
console.log('page                 requests   p50 ms   p95 ms   SQL p95 ms   page/SQL (p95)');
for (const [name, xs] of Object.entries(times)) {
  const s = sql[name];
  console.log(`${name.padEnd(20)} ${String(xs.length).padStart(8)} ${pct(xs, 0.5).toFixed(1).padStart(8)} ${pct(xs, 0.95).toFixed(1).padStart(8)}`
    + (s ? ` ${pct(s, 0.95).toFixed(1).padStart(12)} ${(pct(xs, 0.95) / pct(s, 0.95)).toFixed(1).padStart(16)}` : ''));
}
console.log('\nwhere the time goes, p50 (p95) ms in the server: waiting for a pooled connection, reading the session,');
console.log('the page\'s database transaction(s), the template');
console.log('page                 pool          session       db            render');
for (const [name, p] of Object.entries(parts)) {
  const cell = (k) => (p[k] ? `${pct(p[k], 0.5).toFixed(1)} (${pct(p[k], 0.95).toFixed(1)})` : '-').padEnd(14);
  console.log(`${name.padEnd(20)} ${cell('pool')}${cell('session')}${cell('db')}${cell('render')}`);
}
const all = Object.values(times).flat();
console.log(`all pages            ${String(all.length).padStart(8)} ${pct(all, 0.5).toFixed(1).padStart(8)} ${pct(all, 0.95).toFixed(1).padStart(8)}`);
