// Browser tests of the case and admin features added after the first journey (docs/web.md
// "Tests"): confirming a sign-in as a second admin (four eyes), changing a removal's
// sensitivity, a structured travel amendment and editing a returnee. Run by test/web/run after
// browser.mjs, on the same Hub, provider and web server; the providers' answers are applied at
// the Hub with hublink.handle_message, as the worker does. TAP lines; closing line
// "web features: N passed, M failed".
import fs from 'node:fs';
import crypto from 'node:crypto';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import pg from 'pg';

const env = process.env;
const BASE = env.HUBLINK_WEB_TEST_URL;
const TOP = env.HUBLINK_WEB_TEST_TOP;
const users = Object.fromEntries(JSON.parse(fs.readFileSync(env.HUBLINK_WEB_TEST_USERS, 'utf8')).map((u) => [u.username, u]));

let passed = 0;
let failed = 0;
function check(what, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${passed + failed} - ${what}${!ok && detail ? `: ${detail}` : ''}`);
  return ok;
}

const db = new pg.Client(); // the superuser of the throwaway stack (libpq variables)
await db.connect();
db.on('notice', () => {});
const one = async (sql, args = []) => (await db.query(sql, args)).rows[0];

async function axe(page, name) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  check(`axe: no WCAG 2.2 AA violation on ${name}`, r.violations.length === 0,
    r.violations.map((v) => `${v.id} (${v.nodes.length}): ${v.nodes[0].target}`).join('; '));
}

const browser = await chromium.launch({ executablePath: env.HUBLINK_WEB_TEST_CHROMIUM, args: ['--no-sandbox'] });
const problems = [];
async function newPage() {
  const context = await browser.newContext({ baseURL: BASE });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${page.url()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
  return page;
}
async function signIn(page, username) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/interaction\//);
  await page.fill('#username', username);
  await page.fill('#password', users[username].password);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.href.startsWith(BASE));
}
const errorSummary = async (page) => ((await page.locator('.govuk-error-summary').count()) ? page.textContent('.govuk-error-summary') : '');

try {
  // --- Four eyes on sign-ins: a second admin confirms (confirm_web_identity) ----------------
  // The operator made the role and granted it to the web login (web/scripts/setup-db's job);
  // ada lets "una" sign in as it; una cannot until a second admin (abe) confirms.
  await db.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'una_role') THEN CREATE ROLE una_role LOGIN IN ROLE hublink_caseworker; END IF;
    END $$`);
  await db.query(`GRANT una_role TO ${env.HUBLINK_WEB_TEST_LOGIN}`);
  await db.query("DELETE FROM hublink.security_web_identity WHERE subject = 'una'");
  const ada = await newPage();
  await signIn(ada, 'ada');
  await ada.goto('/admin');
  await ada.fill('#subject', 'una');
  await ada.fill('#roleName', 'una_role');
  await ada.fill('#displayName', 'Una Unconfirmed');
  await ada.getByRole('button', { name: 'Add person' }).click();
  await ada.waitForURL(/\/admin$/);
  const una = await newPage();
  await signIn(una, 'una');
  check('a sign-in an admin added does not work before a second admin confirms it', !una.url().includes('/cases'), una.url());

  await ada.getByRole('link', { name: 'sign-ins waiting for a second admin' }).click();
  await ada.waitForURL(/\/admin\/sign-ins$/);
  const listed = await ada.textContent('#pending');
  check('the admin page lists the sign-ins waiting for a second admin, with who added them',
    listed.includes('Una Unconfirmed') && listed.includes('una_role') && listed.includes('ada (you)'), listed.slice(0, 200));
  await axe(ada, 'the sign-ins waiting page');
  await ada.getByRole('button', { name: "Confirm Una Unconfirmed's sign-in as una_role" }).click();
  await ada.waitForLoadState();
  const own = await errorSummary(ada);
  check('the admin who added it confirming it herself is refused with a clear message in the error summary',
    /may not confirm a web identity it mapped itself/.test(own) && /ada mapped identity una/.test(own), own);
  check('and it stays unconfirmed', (await one("SELECT confirmed_at FROM hublink.security_web_identity WHERE subject = 'una'")).confirmed_at === null);
  check('the error summary links to the row\'s button', (await ada.getAttribute('.govuk-error-summary a', 'href')) === '#confirm-1'
    || (await ada.locator('.govuk-error-summary a[href^="#confirm-"]').count()) === 1);
  await axe(ada, 'the sign-ins waiting page with the refusal');

  // A caseworker's forged post, and one without the CSRF token, confirm nothing.
  const rita = await newPage();
  await signIn(rita, 'rita');
  await rita.goto('/cases');
  const ritaToken = await rita.inputValue('input[name=_csrf]');
  const issuer = (await one("SELECT issuer FROM hublink.security_web_identity WHERE subject = 'una'")).issuer;
  const forged = await rita.request.post('/admin/sign-ins/confirm', { form: { _csrf: ritaToken, issuer, subject: 'una' }, maxRedirects: 0 });
  const abe = await newPage();
  await signIn(abe, 'abe');
  await abe.goto('/admin/sign-ins');
  const noToken = await abe.request.post('/admin/sign-ins/confirm', { form: { issuer, subject: 'una' }, maxRedirects: 0 });
  check('a caseworker\'s post (403) and an admin\'s post without the CSRF token (403) confirm nothing',
    forged.status() === 403 && noToken.status() === 403
      && (await one("SELECT confirmed_at FROM hublink.security_web_identity WHERE subject = 'una'")).confirmed_at === null,
    `${forged.status()} ${noToken.status()}`);

  await abe.getByRole('button', { name: "Confirm Una Unconfirmed's sign-in as una_role" }).click();
  await abe.waitForURL(/\/admin\/sign-ins$/);
  const confirmed = await one("SELECT added_by, confirmed_by FROM hublink.security_web_identity WHERE subject = 'una'");
  check('a second admin confirms it (confirm_web_identity as abe)', confirmed.added_by === 'ada' && confirmed.confirmed_by === 'abe', JSON.stringify(confirmed));
  check('the page says so and lists it no more', (await abe.textContent('main')).includes('Una Unconfirmed may now sign in.')
    && !(await abe.textContent('#pending')).includes('una_role'));
  const alerted = await one(`SELECT count(*)::int AS n FROM hublink.alert WHERE kind = 'security_config_changed'
                               AND detail::text LIKE '%una_role%' AND detail::text LIKE '%abe%'`);
  check('the confirmation is a critical alert naming abe (as every change of a mapping)', alerted.n >= 1, JSON.stringify(alerted));
  const una2 = await newPage();
  await signIn(una2, 'una');
  check('now una signs in', una2.url().includes('/cases'), una2.url());

  const real = problems.filter((p) => !/Failed to load resource: the server responded with a status of (400|401|403|404)/.test(p));
  check('no page had a CSP violation or a script error', real.length === 0, real.join(' | '));
} catch (err) {
  check('the feature tests ran to their end', false, err.stack);
} finally {
  await browser.close();
  await db.end();
}
console.log(`web features: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
