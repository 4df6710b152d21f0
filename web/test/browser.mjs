// Browser tests of the web interface (docs/web.md "Tests"), run by test/web/run, which starts
// the Hub, the test OpenID provider and two web servers and passes their addresses. Playwright
// (playwright-core) drives Debian's Chromium; axe-core checks every page for WCAG 2.2 AA.
// The TSP's answers are applied at the Hub as the superuser with hublink.handle_message, as the
// worker would apply them from the broker. TAP lines; closing line "web: N passed, M failed".
import fs from 'node:fs';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import pg from 'pg';

const env = process.env;
const BASE = env.HUBLINK_WEB_TEST_URL;
const BASE2 = env.HUBLINK_WEB_TEST_URL2;
const TOP = env.HUBLINK_WEB_TEST_TOP;
const SHOTS = env.HUBLINK_WEB_TEST_SHOTS;
const users = Object.fromEntries(JSON.parse(fs.readFileSync(env.HUBLINK_WEB_TEST_USERS, 'utf8')).map((u) => [u.username, u]));

let passed = 0;
let failed = 0;
function check(what, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok ${passed + failed} - ${what}`);
  } else {
    failed++;
    console.log(`not ok ${passed + failed} - ${what}${detail ? `: ${detail}` : ''}`);
  }
  return ok;
}

const db = new pg.Client(); // the superuser of the throwaway stack (libpq variables)
await db.connect();
db.on('notice', () => {});
const one = async (sql, args = []) => (await db.query(sql, args)).rows[0];
const flush = () => db.query('SELECT hublink.flush_security_events()');

// axe-core, WCAG 2.0-2.2 A and AA rules, on the page as it is now.
const axePages = [];
async function axe(page, name) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  axePages.push(name);
  check(`axe: no WCAG 2.2 AA violation on ${name}`, r.violations.length === 0,
    r.violations.map((v) => `${v.id} (${v.nodes.length}): ${v.nodes[0].target}`).join('; '));
}

const browser = await chromium.launch({ executablePath: env.HUBLINK_WEB_TEST_CHROMIUM, args: ['--no-sandbox'] });
const problems = []; // CSP violations and failed page resources, from every page
async function newPage(base = BASE) {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${page.url()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
  // A page's own resources (styles, fonts, scripts, icons) must all load; pages may be 403/404.
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document' && r.status() >= 400 && r.url().startsWith(base)) problems.push(`${r.url()}: ${r.status()}`);
  });
  return page;
}

async function signIn(page, username, base = BASE) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/interaction\//);
  await page.fill('#username', username);
  await page.fill('#password', users[username].password);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.href.startsWith(base));
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

// The TSP's answers (messages 4 and 6), from the schema examples, for this removal.
function tspMessage(file, reference, hoRef, edit) {
  const m = JSON.parse(fs.readFileSync(`${TOP}/schemas/examples/${file}`, 'utf8'));
  m.removalId = reference;
  m.messageId = crypto.randomUUID();
  m.sentAt = new Date().toISOString();
  const keep = (t) => t.hoReturneeReference === 'HO-7731904';
  const rename = (t) => (t.hoReturneeReference ? { ...t, hoReturneeReference: hoRef } : t);
  edit(m.body, keep, rename);
  return m;
}
async function tspQuotes(reference, hoRef) {
  const m = tspMessage('travel-quote-response.json', reference, hoRef, (b, keep, rename) => {
    for (const q of b.quotes) {
      delete q.escortQuoteReference;
      q.conditions.expiresAt = '2099-01-01T00:00:00+00:00';
      q.costs.perTraveller = q.costs.perTraveller.filter((p) => keep(p.traveller)).map((p) => ({ ...p, traveller: rename(p.traveller) }));
      for (const s of q.itinerary) s.travellers = s.travellers.filter(keep).map(rename);
    }
  });
  await db.query('SELECT hublink.handle_message($1)', [m]);
}
async function tspBooking(reference, hoRef, quote) {
  const m = tspMessage('travel-booking-response.json', reference, hoRef, (b, keep, rename) => {
    b.travelQuoteReference = quote;
    b.confirmation.tickets = b.confirmation.tickets.filter((t) => keep(t.traveller)).map((t) => ({ ...t, traveller: rename(t.traveller) }));
  });
  await db.query('SELECT hublink.handle_message($1)', [m]);
}
const states = async (ref) => {
  const r = await one('SELECT state, escort_state, travel_state FROM hublink.removal WHERE removal_reference = $1', [ref]);
  return r ? `${r.state}/${r.escort_state}/${r.travel_state}` : 'none';
};

async function fillRemoval(page, f) {
  await page.fill('#caseReference', f.caseReference);
  await page.fill('#hoReference', f.hoReference);
  await page.fill('#givenNames', f.givenNames);
  await page.fill('#familyName', f.familyName);
  await page.fill('#dobDay', '2'); await page.fill('#dobMonth', '11'); await page.fill('#dobYear', '1990');
  await page.fill('#nationality', 'NGA');
  await page.check('input[name=gender][value=M]');
  await page.fill('#documentNumber', f.hoReference.replace(/-/g, ''));
  await page.fill('#documentCountry', 'NGA');
  await page.fill('#detentionCentre', 'HARMONDSWORTH_IRC');
  const d1 = new Date(Date.now() + 10 * 86400e3);
  const d2 = new Date(Date.now() + 20 * 86400e3);
  await page.fill('#earliestDay', String(d1.getUTCDate())); await page.fill('#earliestMonth', String(d1.getUTCMonth() + 1)); await page.fill('#earliestYear', String(d1.getUTCFullYear()));
  await page.fill('#latestDay', String(d2.getUTCDate())); await page.fill('#latestMonth', String(d2.getUTCMonth() + 1)); await page.fill('#latestYear', String(d2.getUTCFullYear()));
  await page.fill('#destinationDescription', 'Lagos, Nigeria');
  await page.fill('#destinationCountry', 'NGA');
  await page.fill('#destinationAirport', 'LOS');
  await page.check(`input[name=sensitivity][value=${f.sensitivity}]`);
}

try {
  // --- Before sign-in: the login warning (NFR 0014), headers, keyboard ---------------------
  const anon = await newPage();
  const resp = await anon.goto('/');
  const warning = (await one('SELECT warning_text FROM hublink.security_login_warning')).warning_text;
  check('the start page shows the login warning before sign-in (NFR 0014)', (await anon.textContent('main')).includes(warning));
  const h = resp.headers();
  check("a strict CSP: default-src 'none', scripts only from here or with the nonce, no framing",
    /default-src 'none'/.test(h['content-security-policy']) && /script-src 'self' 'nonce-/.test(h['content-security-policy'])
      && /frame-ancestors 'none'/.test(h['content-security-policy']) && !/unsafe-inline/.test(h['content-security-policy']),
    h['content-security-policy']);
  check('nosniff, no referrer to other sites, no framing, no caching of pages',
    h['x-content-type-options'] === 'nosniff' && h['referrer-policy'] === 'same-origin' && h['x-frame-options'] === 'DENY' && h['cache-control'] === 'no-store');
  await axe(anon, 'the start page');
  await anon.keyboard.press('Tab'); // skip link
  let focused = '';
  for (let i = 0; i < 6 && !/Sign in/.test(focused); i++) {
    await anon.keyboard.press('Tab');
    focused = await anon.evaluate(() => document.activeElement.textContent.trim());
  }
  check('the keyboard reaches the Sign in button', /Sign in/.test(focused), focused);
  let authUrl = null;
  anon.on('request', (r) => { if (/\/auth\?/.test(r.url())) authUrl = new URL(r.url()); });
  await anon.keyboard.press('Enter');
  await anon.waitForURL(/\/interaction\//);
  const ap = authUrl ? authUrl.searchParams : new URLSearchParams();
  check('Enter on it goes to the OpenID provider: authorization code, PKCE S256, state, nonce, prompt=login',
    ap.get('response_type') === 'code' && ap.get('code_challenge_method') === 'S256' && /^[\w-]{43}$/.test(ap.get('code_challenge') || '')
      && Boolean(ap.get('state')) && Boolean(ap.get('nonce')) && ap.get('prompt') === 'login', String(authUrl));
  await anon.goto('/cases');
  check('a page that needs sign-in sends the browser to the start page', new URL(anon.url()).pathname === '/', anon.url());

  // --- Rita (restricted clearance): sign in, new removal, errors, duplicate ------------------
  const rita = await newPage();
  const cookies = [];
  rita.on('response', async (r) => { const c = await r.headerValue('set-cookie').catch(() => null); if (c) cookies.push(c); });
  await signIn(rita, 'rita');
  check('rita signs in through the provider and lands on the cases page', new URL(rita.url()).pathname === '/cases', rita.url());
  check('the session cookie is __Host-, Secure, HttpOnly, SameSite=Lax',
    cookies.some((c) => /__Host-hublink-session=[^;]+; Path=\/; Secure; HttpOnly; SameSite=Lax/.test(c)), cookies.join(' | '));
  check('the page names the person and clearance', (await rita.textContent('body')).includes('Rita Restricted'));
  await axe(rita, 'the cases page');
  // Sessions are in the database (docs/web.md "Sessions"): a careless operator restarts the web
  // server mid-session and nobody is signed out; another server process honours the session.
  execFileSync(env.HUBLINK_WEB_TEST_RESTART);
  const afterRestart = await rita.goto('/cases');
  check('after the web server restarts, rita is still signed in', afterRestart.status() === 200
    && new URL(rita.url()).pathname === '/cases' && (await rita.textContent('body')).includes('Rita Restricted'), rita.url());
  const ritaCookie = (await rita.context().cookies()).find((c) => c.name === '__Host-hublink-session');
  const elsewhere = await fetch(`${BASE2}/cases`, { headers: { Cookie: `${ritaCookie.name}=${ritaCookie.value}` }, redirect: 'manual' });
  check('and another web server process honours her session', elsewhere.status === 200 && (await elsewhere.text()).includes('Rita Restricted'),
    String(elsewhere.status));

  await rita.goto('/cases/new');
  await axe(rita, 'the new removal page');
  // The keyboard alone: Tab from the first field visits every field in page order and reaches
  // the button; Enter on it submits.
  await rita.focus('#caseReference');
  const visited = [];
  for (let i = 0; i < 80; i++) {
    const el = await rita.evaluate(() => ({ id: document.activeElement.id, text: document.activeElement.textContent.trim() }));
    if (el.text === 'Create removal') break;
    if (el.id) visited.push(el.id);
    await rita.keyboard.press('Tab');
  }
  const fields = await rita.evaluate(() => [...document.querySelectorAll('main input:not([type=hidden]), main select, main textarea')]
    .filter((e) => e.type !== 'radio' || e.checked || e.id === e.name || e.id === `${e.name}`).map((e) => e.id));
  const wanted = ['caseReference', 'hoReference', 'givenNames', 'familyName', 'dobDay', 'dobMonth', 'dobYear', 'nationality', 'documentNumber',
    'documentCountry', 'detentionCentre', 'earliestDay', 'latestYear', 'destinationDescription', 'destinationCountry', 'destinationAirport'];
  check('Tab visits the form\'s fields in order and reaches "Create removal"',
    (await rita.evaluate(() => document.activeElement.textContent.trim())) === 'Create removal'
      && wanted.every((id) => visited.includes(id)) && visited.indexOf('caseReference') < visited.indexOf('destinationAirport'),
    `${visited.join(',')} of ${fields.length} fields`);
  await rita.keyboard.press('Enter');
  await rita.waitForSelector('.govuk-error-summary', { timeout: 10000 }).catch(() => {});
  await shot(rita, 'empty-form');
  const summary = rita.locator('.govuk-error-summary');
  check('an empty form is answered with a GOV.UK error summary', await summary.isVisible());
  check('whose entries link to their fields', (await summary.locator('a[href="#caseReference"]').count()) === 1
    && (await summary.locator('a[href="#dobDay"]').count()) === 1);
  check('the error summary has focus (GOV.UK Frontend)', await rita.evaluate(() => document.activeElement.classList.contains('govuk-error-summary')));
  await axe(rita, 'the new removal page with errors');

  await fillRemoval(rita, { caseReference: 'CASE-WEB-R1', hoReference: 'HO-WEBR1', givenNames: 'Rhea', familyName: 'Secret', sensitivity: 'restricted' });
  await rita.getByRole('button', { name: 'Create removal' }).click();
  await rita.waitForURL(/\/cases\/RMV-/);
  const restricted = rita.url().split('/').pop();
  let row = await one('SELECT created_by, sensitivity, state FROM hublink.removal WHERE removal_reference = $1', [restricted]);
  check('the removal is created as rita, restricted (create_removal run as her role)',
    row && row.created_by === 'rita' && row.sensitivity === 'restricted' && row.state === 'new', JSON.stringify(row));
  await axe(rita, 'the case page');

  const before = (await one('SELECT count(*)::int AS n FROM hublink.removal')).n;
  await rita.goto('/cases/new');
  await fillRemoval(rita, { caseReference: 'CASE-WEB-R2', hoReference: 'HO-WEBR1', givenNames: 'Rhea', familyName: 'Secret', sensitivity: 'standard' });
  await rita.getByRole('button', { name: 'Create removal' }).click();
  const dupText = await rita.locator('.govuk-error-summary').textContent().catch(() => '');
  check('a duplicate (4.22) is refused with a clear message', /already has a live removal/.test(dupText), dupText.trim());
  check('and names the live removal to someone cleared for it', dupText.includes(restricted));
  check('and nothing was created', (await one('SELECT count(*)::int AS n FROM hublink.removal')).n === before);

  await rita.goto('/cases/new');
  await fillRemoval(rita, { caseReference: 'CASE-WEB-S1', hoReference: 'HO-WEBS1', givenNames: 'Stan', familyName: 'Open', sensitivity: 'standard' });
  await rita.getByRole('button', { name: 'Create removal' }).click();
  await rita.waitForURL(/\/cases\/RMV-/);
  const standard = rita.url().split('/').pop();

  // Markup in a field is shown as text, never run (Nunjucks autoescape; the CSP besides).
  await rita.goto('/cases/new');
  await fillRemoval(rita, { caseReference: 'CASE-WEB-X1', hoReference: 'HO-WEBX1', givenNames: '<img src=x id=injected>', familyName: '<script>window.pwned=1</script>', sensitivity: 'standard' });
  await rita.getByRole('button', { name: 'Create removal' }).click();
  await rita.waitForURL(/\/cases\/RMV-/);
  const xssRef = rita.url().split('/').pop();
  const shown = await rita.textContent('.govuk-summary-list');
  check('markup in a returnee\'s name is shown as text, not run (case page)',
    shown.includes('<img src=x id=injected>') && (await rita.locator('#injected').count()) === 0 && !(await rita.evaluate(() => window.pwned)));
  await rita.goto('/cases?reference=CASE-WEB-X1');
  check('nor on the cases list', (await rita.locator('#injected').count()) === 0 && (await rita.textContent('#cases')).includes('<script>'));
  check('a new removal offers no cancellation (it names no quote yet)', (await (async () => { await rita.goto(`/cases/${xssRef}`); return rita.getByText('Cancel the removal').count(); })()) === 0);

  await rita.goto('/cases');
  const list = await rita.textContent('#cases');
  check('the cases list shows both removals', list.includes(restricted) && list.includes(standard));
  await rita.goto('/cases?returnee=rhea');
  const found = await rita.textContent('#cases');
  check('search by returnee name finds the one', found.includes(restricted) && !found.includes(standard));
  await rita.goto('/cases?reference=CASE-WEB-S1&state=new&destination=LOS');
  const found2 = await rita.textContent('#cases');
  check('search by case reference, state and destination', found2.includes(standard) && !found2.includes(restricted));

  // --- Several returnees per removal (a family): add another, 4.22 for each ------------------
  await rita.goto('/cases/new');
  await fillRemoval(rita, { caseReference: 'CASE-WEB-F1', hoReference: 'HO-WEBF1', givenNames: 'Femi', familyName: 'Family', sensitivity: 'standard' });
  await rita.getByRole('button', { name: 'Add another returnee' }).click();
  await rita.waitForSelector('#hoReference_2');
  check('"Add another returnee" adds a second returnee, keeps what was entered and moves focus to it',
    (await rita.inputValue('#hoReference')) === 'HO-WEBF1' && (await rita.inputValue('#earliestDay')) !== ''
      && (await rita.evaluate(() => document.activeElement.id)) === 'hoReference_2');
  const fillSecond = async (ho, given) => {
    await rita.fill('#hoReference_2', ho); await rita.fill('#givenNames_2', given); await rita.fill('#familyName_2', 'Family');
    await rita.fill('#dobDay_2', '5'); await rita.fill('#dobMonth_2', '6'); await rita.fill('#dobYear_2', '2012');
    await rita.fill('#nationality_2', 'NGA'); await rita.check('input[name=gender_2][value=F]');
    await rita.fill('#documentNumber_2', `P${ho.replace(/-/g, '')}`); await rita.fill('#documentCountry_2', 'NGA');
    await rita.fill('#detentionCentre_2', 'HARMONDSWORTH_IRC');
  };
  await rita.getByRole('button', { name: 'Create removal' }).click();
  const twoErrors = await rita.locator('.govuk-error-summary').textContent().catch(() => '');
  check('an empty second returnee: the error summary names returnee 2 and links to its fields',
    /Returnee 2: Enter the Home Office returnee reference/.test(twoErrors) && (await rita.locator('.govuk-error-summary a[href="#hoReference_2"]').count()) === 1, twoErrors.trim().slice(0, 300));
  await axe(rita, 'the new removal page with two returnees and errors');
  const nBefore = (await one('SELECT count(*)::int AS n FROM hublink.removal')).n;
  await fillSecond('HO-WEBS1', 'Sade');
  await rita.getByRole('button', { name: 'Create removal' }).click();
  const famDup = await rita.locator('.govuk-error-summary').textContent().catch(() => '');
  check('4.22 for each returnee: the second has a live removal, refused and linked to its field',
    /HO-WEBS1 already has a live removal/.test(famDup) && famDup.includes(standard)
      && (await rita.locator('.govuk-error-summary a[href="#hoReference_2"]').count()) === 1, famDup.trim());
  await fillSecond('HO-WEBF1', 'Sade');
  await rita.getByRole('button', { name: 'Create removal' }).click();
  const twice = await rita.locator('.govuk-error-summary').textContent().catch(() => '');
  check('the same returnee twice is refused by the Hub, linked to the second',
    /named more than once/.test(twice) && (await rita.locator('.govuk-error-summary a[href="#hoReference_2"]').count()) === 1, twice.trim());
  check('and nothing was created', (await one('SELECT count(*)::int AS n FROM hublink.removal')).n === nBefore);
  await rita.getByRole('button', { name: 'Add another returnee' }).click();
  await rita.waitForSelector('#hoReference_3');
  await rita.getByRole('button', { name: 'Remove returnee 2' }).click();
  await rita.waitForFunction(() => document.readyState === 'complete' && document.querySelectorAll('input[name^=hoReference]').length === 2);
  check('"Remove returnee 2" removes it and moves the third up', (await rita.locator('#hoReference_2').count()) === 1 && (await rita.inputValue('#hoReference_2')) === '');
  await fillSecond('HO-WEBF2', 'Sade');
  await rita.focus('#familyName_2');
  await rita.keyboard.press('Enter');
  await rita.waitForURL(/\/cases\/RMV-/);
  const family = rita.url().split('/').pop();
  const famRows = await db.query(`SELECT t.ho_returnee_reference AS ho FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
                                   WHERE r.removal_reference = $1 ORDER BY t.returnee_id`, [family]);
  check('Enter in a field creates the removal (never "add" or "remove"), with both returnees', famRows.rows.map((r) => r.ho).join(',') === 'HO-WEBF1,HO-WEBF2', famRows.rows.map((r) => r.ho).join(','));
  const famPage = await rita.textContent('.govuk-summary-list');
  check('the case page shows both returnees', /Femi Family \(HO-WEBF1\)/.test(famPage) && /Sade Family \(HO-WEBF2\)/.test(famPage));
  await rita.goto('/cases?returnee=sade');
  check('search finds the family by the second returnee, listing both', /HO-WEBF1/.test(await rita.textContent('#cases')) && (await rita.textContent('#cases')).includes(family));
  await rita.goto(`/cases/${family}/risk`);
  check('the risk page has a form for each returnee', (await rita.locator('form[action$="/risk"]').count()) === 2);
  const famToken = await rita.inputValue('input[name=_csrf]');
  const badFlag = await rita.request.post(`/cases/${family}/risk`, { form: { _csrf: famToken, returnee: 'HO-WEBF1', flags: 'NOT_A_FLAG' }, maxRedirects: 0 });
  check('a forged risk flag is refused by the Hub and shown in the error summary (400), nothing recorded',
    badFlag.status() === 400 && /Not a risk flag: NOT_A_FLAG/.test(await badFlag.text())
      && (await one(`SELECT count(*)::int AS n FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id)
                     WHERE t.ho_returnee_reference = 'HO-WEBF1' AND a.audience = 'hub'`)).n === 1, String(badFlag.status()));
  const noBooking = await rita.request.post(`/cases/${family}/cancel-booking`, { form: { _csrf: famToken, booking: 'escort', reason: 'RETURNEE_ILL' }, maxRedirects: 0 });
  check('cancelling a booking never requested: the Hub\'s plain refusal (400), nothing sent',
    noBooking.status() === 400 && /has no escort booking to cancel/.test(await noBooking.text()) && (await states(family)) === 'new/none/none', `${noBooking.status()} ${await states(family)}`);
  await axe(rita, 'the risk page of two returnees');

  // --- Quotes, live timeline, compare, book, amend, cancel -----------------------------------
  await rita.goto(`/cases/${standard}`);
  await rita.getByRole('button', { name: 'Request quotes' }).click();
  await rita.waitForLoadState();
  check('request quotes sends the travel quote request (unescorted)', (await states(standard)) === 'quoting/none/quote_requested', await states(standard));
  await rita.waitForFunction(() => /updates by itself/.test((document.getElementById('live-status') || {}).textContent));
  const live = await rita.evaluate(() => performance.getEntriesByType('navigation')[0].name);
  await tspQuotes(standard, 'HO-WEBS1');
  const updated = await rita.waitForFunction(() => /quote requested → quoted/.test((document.getElementById('timeline') || {}).textContent), null, { timeout: 10000 })
    .then(() => true, () => false);
  check('the TSP\'s quotes appear on the open case page without a reload (SSE fed by LISTEN)', updated);
  check('and the page was not reloaded', (await rita.evaluate(() => performance.getEntriesByType('navigation')[0].name)) === live);

  await rita.goto(`/cases/${standard}/quotes`);
  const table = await rita.textContent('#quotes');
  check('the quotes are compared side by side: price, expected cost, refundability, deadlines, itinerary',
    ['Price', 'Expected cost', 'Refundable', 'Deadlines', 'Itinerary', 'LOS'].every((w) => table.includes(w)), table.slice(0, 200));
  await axe(rita, 'the quotes page');
  await shot(rita, 'quotes');
  // Quotes past their expiry are not offered; the page asks for new ones (re-quote, 4.5).
  await db.query(`UPDATE hublink.travel_quote q SET expires_at = now() - interval '1 minute' FROM hublink.removal r
                   WHERE r.removal_id = q.removal_id AND r.removal_reference = $1`, [standard]);
  await rita.reload();
  check('expired quotes cannot be booked: the compare page offers "Ask for new quotes" instead',
    (await rita.locator('#quotes').count()) === 0 && (await rita.getByRole('button', { name: 'Ask for new quotes' }).count()) === 1);
  await axe(rita, 'the quotes page with no quote to book');
  await db.query(`UPDATE hublink.travel_quote q SET expires_at = '2099-01-01' FROM hublink.removal r
                   WHERE r.removal_id = q.removal_id AND r.removal_reference = $1`, [standard]);
  await rita.reload();
  const best = await one('SELECT travel_quote_reference FROM hublink.removal_quotes($1) ORDER BY rank LIMIT 1', [standard]);
  await rita.getByRole('button', { name: /Book option 1/ }).click();
  await rita.waitForURL(new RegExp(`/cases/${standard}$`));
  check('choosing option 1 books the best-ranked quote', (await states(standard)) === 'booking/none/booking_requested', await states(standard));
  await rita.waitForFunction(() => /updates by itself/.test((document.getElementById('live-status') || {}).textContent));
  await tspBooking(standard, 'HO-WEBS1', best.travel_quote_reference);
  const booked = await rita.waitForFunction(() => /→ booked/.test((document.getElementById('timeline') || {}).textContent), null, { timeout: 10000 })
    .then(() => true, () => false);
  check('the booking confirmation appears live on the case page', booked);
  check('the removal is booked', (await states(standard)) === 'booked/none/booked', await states(standard));
  await rita.reload();
  await shot(rita, 'case');
  if (SHOTS) await rita.screenshot({ path: `${SHOTS}/case-top.png` });

  await rita.getByText('Amend the travel booking').click();
  await rita.fill('#other', 'Wheelchair assistance at Heathrow, please.');
  await rita.getByRole('button', { name: 'Send amendment' }).click();
  await rita.waitForURL(new RegExp(`/cases/${standard}$`));
  const amended = await one("SELECT count(*)::int AS n FROM hublink.outbox WHERE removal_id = $1 AND message_type = 'TravelAmendment'", [standard]);
  check('amend sends a travel amendment with the reason', amended.n === 1, JSON.stringify(amended));

  await rita.getByText('Cancel the removal').click();
  await rita.selectOption('#reason', { index: 0 });
  await rita.fill('#reasonText', 'Judicial review lodged.');
  await rita.getByRole('button', { name: 'Cancel removal' }).click();
  await rita.waitForURL(new RegExp(`/cases/${standard}$`));
  const flash = await rita.locator('.govuk-error-summary').textContent().catch(() => '');
  const cancelled = await one("SELECT count(*)::int AS n FROM hublink.outbox WHERE removal_id = $1 AND message_type = 'TravelCancellation'", [standard]);
  check('cancel with a reason sends the travel cancellation', cancelled.n === 1, `${await states(standard)} ${flash.trim()}`);
  check('the timeline shows the cancellation', /cancel/i.test(await rita.textContent('#timeline')));

  const stolen = (await rita.context().cookies()).find((c) => c.name === '__Host-hublink-session');
  await rita.getByRole('button', { name: 'Sign out' }).click();
  check('sign out ends the session', /signed out/.test(await rita.textContent('h1')));
  await rita.goto('/cases');
  check('after sign-out the cases page needs sign-in again', new URL(rita.url()).pathname === '/');
  // A hostile copy of the cookie taken before the sign-out, and forged ones, open nothing.
  const tryCookie = async (value) => (await fetch(`${BASE}/cases`, { headers: { Cookie: `__Host-hublink-session=${value}` }, redirect: 'manual' }));
  const replay = await tryCookie(stolen.value);
  check('a cookie copied before the sign-out is refused after it', replay.status === 303 && replay.headers.get('location').startsWith('/?'),
    `${replay.status} ${replay.headers.get('location')}`);
  const forgedCookie = await tryCookie(crypto.randomBytes(32).toString("base64url"));
  const hashed = await tryCookie(crypto.createHash('sha256').update(stolen.value).digest('base64url'));
  check("a forged cookie, or one holding a session id's hash, is refused", forgedCookie.status === 303 && hashed.status === 303,
    `${forgedCookie.status} ${hashed.status}`);

  // --- Sam (standard clearance) never sees the restricted case ------------------------------
  const sam = await newPage();
  await signIn(sam, 'sam');
  const samList = await sam.textContent('#cases');
  check('sam\'s cases list shows the standard case', samList.includes(standard));
  check('but not the restricted one', !samList.includes(restricted));
  await sam.goto('/cases?returnee=rhea');
  check('nor does a search by its returnee find it', !(await sam.textContent('#cases')).includes(restricted));
  for (const path of [`/cases/${restricted}`, `/cases/${restricted}/quotes`, `/cases/${restricted}/events`,
    `/cases/${restricted}/risk`, `/cases/${restricted}/amend-escort`, `/cases/${restricted}/cancel-booking`]) {
    const r = await sam.goto(path);
    check(`sam gets "not found" for ${path.replace(restricted, 'the restricted case')}`, r.status() === 404 && !(await sam.textContent('body')).includes('Rhea'));
  }
  const token = await sam.inputValue('input[name=_csrf]');
  const stateBefore = await states(restricted);
  const r1 = await sam.request.post(`/cases/${restricted}/cancel`, { form: { _csrf: token, reason: 'RETURNEE_ILL' }, maxRedirects: 0 });
  check('sam cannot cancel it either (404, unchanged)', r1.status() === 404 && (await states(restricted)) === stateBefore, `${r1.status()} ${await states(restricted)}`);
  const risks = async () => (await one(`SELECT count(*)::int AS n FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id)
                                         JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = $1`, [restricted])).n;
  const risksBefore = await risks();
  const posts = await Promise.all([
    sam.request.post(`/cases/${restricted}/risk`, { form: { _csrf: token, returnee: 'HO-WEBR1', flags: 'VIOLENT' }, maxRedirects: 0 }),
    sam.request.post(`/cases/${restricted}/requote`, { form: { _csrf: token }, maxRedirects: 0 }),
    sam.request.post(`/cases/${restricted}/cancel-booking`, { form: { _csrf: token, booking: 'travel', reason: 'RETURNEE_ILL' }, maxRedirects: 0 }),
    sam.request.post(`/cases/${restricted}/amend-escort`, { form: { _csrf: token, other: 'x' }, maxRedirects: 0 })]);
  check('nor change its risk, re-quote, cancel one booking or amend its escort (404 each, unchanged)',
    posts.every((r) => r.status() === 404) && (await states(restricted)) === stateBefore && (await risks()) === risksBefore,
    `${posts.map((r) => r.status())} ${await states(restricted)}`);
  await sam.goto('/cases/new');
  await fillRemoval(sam, { caseReference: 'CASE-WEB-S2', hoReference: 'HO-WEBR1', givenNames: 'Rhea', familyName: 'Secret', sensitivity: 'standard' });
  await sam.getByRole('button', { name: 'Create removal' }).click();
  const samDup = await sam.locator('.govuk-error-summary').textContent().catch(() => '');
  check('sam is told a returnee has a live removal (4.22) without its reference', /already has a live removal/.test(samDup) && !samDup.includes(restricted), samDup.trim());
  check('sam cannot choose a sensitivity above his clearance', (await sam.locator('input[name=sensitivity]').count()) === 1);
  for (const path of ['/admin', '/mi']) {
    const r = await sam.goto(path);
    check(`a caseworker gets 403 for ${path}`, r.status() === 403);
  }

  // --- Alerts: those of the cases one may see, acknowledged as oneself ----------------------
  const raise = async (ref, subject) => (await one(
    "SELECT hublink.raise_alert('quote_expiring', $2, (SELECT removal_id FROM hublink.removal WHERE removal_reference = $1)) AS id", [ref, subject])).id;
  const stdAlert = await raise(standard, 'Quote expiring on the standard case');
  const resAlert = await raise(restricted, 'Quote expiring on Rhea Secret\'s case');
  await sam.goto('/alerts');
  const alertsText = await sam.textContent('#alerts');
  check('sam\'s alerts page lists the standard case\'s alert', alertsText.includes('standard case'));
  check('but not the restricted case\'s', !alertsText.includes('Rhea') && !alertsText.includes(restricted));
  await axe(sam, 'the alerts page');
  await sam.getByRole('button', { name: `Acknowledge alert ${stdAlert}` }).click();
  await sam.waitForURL(/\/alerts$/);
  const ack = await one('SELECT acknowledged_by FROM hublink.alert WHERE alert_id = $1', [stdAlert]);
  check('sam acknowledges it; the Hub records him, not the web login', ack.acknowledged_by === 'sam', JSON.stringify(ack));
  const tokenNow = await sam.inputValue('input[name=_csrf]');
  await sam.request.post(`/alerts/${resAlert}/acknowledge`, { form: { _csrf: tokenNow }, maxRedirects: 0 });
  const ack2 = await one('SELECT acknowledged_by FROM hublink.alert WHERE alert_id = $1', [resAlert]);
  check('sam cannot acknowledge the restricted case\'s alert by its id', ack2.acknowledged_by === null, JSON.stringify(ack2));

  // --- CSRF ---------------------------------------------------------------------------------
  const count = async () => (await one('SELECT count(*)::int AS n FROM hublink.removal')).n;
  const n0 = await count();
  const form = { caseReference: 'CASE-FORGED', hoReference: 'HO-FORGED', givenNames: 'F', familyName: 'G', dobDay: '1', dobMonth: '1', dobYear: '1990',
    nationality: 'NGA', gender: 'M', documentType: 'PASSPORT', documentNumber: 'P1', documentCountry: 'NGA', detentionCentre: 'X',
    earliestDay: '1', earliestMonth: '1', earliestYear: '2099', latestDay: '2', latestMonth: '1', latestYear: '2099',
    destinationDescription: 'X', destinationCountry: 'NGA', destinationAirport: 'LOS', sensitivity: 'standard' };
  const f1 = await sam.request.post('/cases/new', { form, maxRedirects: 0 });
  check('a forged form without the CSRF token is refused (403)', f1.status() === 403, String(f1.status()));
  const f2 = await sam.request.post('/cases/new', { form: { ...form, _csrf: 'x'.repeat(43) }, maxRedirects: 0 });
  check('a wrong CSRF token is refused (403)', f2.status() === 403, String(f2.status()));
  const f3 = await sam.request.post('/cases/new', { form: { ...form, _csrf: token }, headers: { Origin: 'http://evil.example' }, maxRedirects: 0 });
  check('the right token from another origin is refused (403)', f3.status() === 403, String(f3.status()));
  check('and no removal was created by them', (await count()) === n0);

  // --- Time-out (the second server: 3 s idle) -----------------------------------------------
  const idle = await newPage(BASE2);
  await signIn(idle, 'sam', BASE2);
  check('sam signs in on the server with a 3-second idle time-out', new URL(idle.url()).pathname === '/cases');
  await idle.waitForTimeout(4500);
  await idle.goto('/cases');
  check('a timed-out session is sent to sign in', new URL(idle.url()).pathname === '/' && /signed out because/.test(await idle.textContent('main')), idle.url());

  // --- Failures, lock-out, and the security records -----------------------------------------
  const urs = await newPage();
  await signIn(urs, 'ursula');
  check('an identity with no mapping row is refused', /not set up/.test(await urs.textContent('main')));
  const forged = await urs.goto('/auth/callback?code=forged&state=forged');
  check('a callback without a sign-in under way is refused (400)', forged.status() === 400);
  // lou's database logons fail three times (hublink.lockout_failures = 3 here): locked out
  const { spawnSync } = await import('node:child_process');
  for (let i = 0; i < 3; i++) {
    spawnSync('psql', ['-X', '-h', '127.0.0.1', '-U', 'lou', '-c', 'SELECT 1'], { env: { ...env, PGPASSWORD: 'wrong', PGPASSFILE: '/dev/null' } });
  }
  const lou = await newPage();
  await signIn(lou, 'lou');
  check('a role locked out by failed database logons cannot sign in on the web (same lock-out)', /locked/.test(await lou.textContent('main')));
  await flush();
  const logons = (await db.query("SELECT role_name, outcome FROM hublink.logon WHERE method = 'oidc' ORDER BY logon_id")).rows.map((r) => `${r.role_name}:${r.outcome}`);
  check('web sign-ins are in hublink.logon (method oidc) as the person', logons.includes('rita:succeeded') && logons.includes('sam:succeeded'), logons.join(' '));
  check('the unmapped identity\'s failure is recorded', logons.includes('oidc:ursula:failed'), logons.join(' '));
  check('the forged callback is recorded as a failure', logons.includes('oidc:unknown:failed'), logons.join(' '));
  check('the locked role\'s web sign-in is recorded as refused_locked', logons.includes('lou:refused_locked'), logons.join(' '));
  const outs = (await db.query("SELECT role_name, detail->>'reason' AS reason FROM hublink.security_event WHERE kind = 'web_sign_out' ORDER BY 1, 2")).rows.map((r) => `${r.role_name}:${r.reason}`);
  check('sign-out and time-out are security events', outs.includes('rita:signed out') && outs.includes('sam:timed out'), outs.join(' '));

  // --- Ada (admin): alerts, admin, MI -------------------------------------------------------
  const ada = await newPage();
  await signIn(ada, 'ada');
  // Alerts of no removal (protective monitoring) are the admins': hublink.monitoring_alerts.
  const monitoringAlert = (await one("SELECT hublink.raise_alert('quote_expiring', 'Monitoring: a test alert of no removal') AS id")).id;
  const adaAlerts = await ada.goto('/alerts');
  const adaAlertsText = adaAlerts.status() === 200 ? await ada.textContent('#monitoring-alerts') : '';
  check('an admin sees the alerts of no removal', adaAlertsText.includes('Monitoring: a test alert of no removal'), String(adaAlerts.status()));
  check('but no alert of a case (alerts of removals are removal data)', (await ada.locator('#alerts').count()) === 0
    && !adaAlertsText.includes('standard case'));
  await axe(ada, 'the alerts page as an admin');
  await ada.getByRole('button', { name: `Acknowledge alert ${monitoringAlert}` }).click();
  await ada.waitForURL(/\/alerts$/);
  const adaAck = await one('SELECT acknowledged_by FROM hublink.alert WHERE alert_id = $1', [monitoringAlert]);
  check('ada acknowledges it as herself', adaAck.acknowledged_by === 'ada', JSON.stringify(adaAck));
  const samAgain = await newPage();
  await signIn(samAgain, 'sam');
  await samAgain.goto('/alerts?all=1');
  check('a caseworker does not see alerts of no removal', !(await samAgain.textContent('main')).includes('Monitoring: a test alert')
    && (await samAgain.locator('#monitoring-alerts').count()) === 0);

  // The cases list pages (25 a page, docs/web.md "Figures"): only the page shown is decrypted.
  await db.query(`SELECT hublink.create_removal('CASE-PAGE-' || i, jsonb_build_array(jsonb_build_object(
      'personalDetails', jsonb_build_object('hoReturneeReference', 'HO-PAGE' || i, 'name', jsonb_build_object('givenNames', 'Paige', 'familyName', 'Number' || i),
                                            'dateOfBirth', '1990-01-01', 'nationality', 'NGA', 'gender', 'F'),
      'travelDocuments', '[{"type": "PASSPORT", "number": "P12345", "issuingCountry": "NGA"}]'::jsonb,
      'location', '{"detentionCentreId": "HARMONDSWORTH_IRC"}'::jsonb)),
    current_date + 10, current_date + 20, '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}', sensitivity => 'standard')
    FROM generate_series(1, 26) i`);
  const auditMark = (await one('SELECT max(audit_id) AS id FROM hublink.audit_log')).id;
  await samAgain.goto('/cases');
  const firstPage = await samAgain.textContent('#cases');
  check('the cases list shows 25 a page, newest first, with a link to the next',
    /Cases 1 to 25/.test(firstPage) && firstPage.includes('Number26') && !firstPage.includes('Number1 ')
    && (await samAgain.getByRole('link', { name: /Next/ }).count()) === 1, firstPage.slice(0, 80));
  const decrypted = await one(`SELECT count(*)::int AS n FROM hublink.audit_log WHERE audit_id > $1 AND action = 'decrypt' AND role_name = 'sam'`, [auditMark]);
  check('and decrypts, audited as the person, the names of those 25 only', decrypted.n === 25, String(decrypted.n));
  await axe(samAgain, 'the cases page with pages');
  await samAgain.getByRole('link', { name: /Next/ }).click();
  await samAgain.waitForURL(/page=2/);
  const secondPage = await samAgain.textContent('#cases');
  check('the next page goes on from there', secondPage.includes('Number1 ') && !secondPage.includes('Number26')
    && (await samAgain.getByRole('link', { name: /Previous/ }).count()) === 1, secondPage.slice(0, 80));
  await ada.goto('/admin');
  await axe(ada, 'the admin page');
  await ada.selectOption('#role', 'sam');
  await ada.selectOption('#level', 'sensitive');
  await ada.getByRole('button', { name: 'Set clearance' }).click();
  await ada.waitForURL(/\/admin$/);
  const cl = await one("SELECT level, granted_by FROM hublink.role_clearance WHERE role_name = 'sam'");
  check('ada sets a clearance (set_clearance, recorded as granted by her)', cl.level === 'sensitive' && cl.granted_by === 'ada', JSON.stringify(cl));
  await ada.fill('#subject', 'ursula');
  await ada.fill('#roleName', 'lou');
  await ada.fill('#displayName', 'Ursula Mapped');
  await ada.getByRole('button', { name: 'Add person' }).click();
  await ada.waitForURL(/\/admin$/);
  const mapped = await one("SELECT role_name, added_by FROM hublink.security_web_identity WHERE subject = 'ursula'");
  check('ada lets a person sign in (a row of security_web_identity, added by her)', mapped && mapped.role_name === 'lou' && mapped.added_by === 'ada', JSON.stringify(mapped));
  await ada.getByRole('button', { name: "Remove Ursula Mapped's sign-in" }).click();
  await ada.waitForURL(/\/admin$/);
  check('and removes it', !(await one("SELECT 1 AS x FROM hublink.security_web_identity WHERE subject = 'ursula'")));
  await ada.selectOption('#list', 'delay');
  await ada.fill('#code', 'VOLCANIC_ASH');
  await ada.fill('#description', 'Volcanic ash closed the airspace.');
  await ada.getByRole('button', { name: 'Add code' }).click();
  await ada.waitForURL(/\/admin$/);
  check('ada adds a reason code to a reference list (4.17)', Boolean(await one("SELECT 1 AS x FROM hublink.reason_code WHERE list = 'delay' AND code = 'VOLCANIC_ASH'")));
  await ada.goto('/mi');
  await axe(ada, 'the MI page');
  const csv = await ada.request.get('/mi/mi_volume.csv');
  check('the MI exports download (mi_volume.csv)', csv.status() === 200 && /text\/csv/.test(csv.headers()['content-type']), String(csv.status()));
  const adaCases = await ada.goto('/cases');
  check('an admin (no need to know cases) gets 403 for the cases page', adaCases.status() === 403);

  check('no page had a CSP violation, a script error or a resource that failed to load',
    problems.filter((p) => !/Failed to load resource: the server responded with a status of (400|401|403|404)/.test(p)).length === 0, problems.join(' | '));
  check(`axe ran on ${axePages.length} pages`, axePages.length >= 11);
} catch (err) {
  check('the browser journey ran to its end', false, err.stack);
} finally {
  await browser.close();
  await db.end();
}
console.log(`web: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
