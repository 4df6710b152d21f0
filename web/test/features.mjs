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
const SHOTS = env.HUBLINK_WEB_TEST_SHOTS; // a directory: full-page pictures of the new pages (docs/web.md)
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
async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}
const errorSummary = async (page) => ((await page.locator('.govuk-error-summary').count()) ? page.textContent('.govuk-error-summary') : '');
// A removal made in SQL as the superuser (the new removal form is browser.mjs's).
async function makeRemoval(ho, sensitivity, name = 'Sena') {
  return (await one(`SELECT hublink.create_removal('CASE-' || $1, jsonb_build_array(jsonb_build_object(
      'personalDetails', jsonb_build_object('hoReturneeReference', $1::text, 'name', jsonb_build_object('givenNames', $3::text, 'familyName', 'Okoro'),
                                            'dateOfBirth', '1990-01-01', 'nationality', 'NGA', 'gender', 'F'),
      'travelDocuments', jsonb_build_array(jsonb_build_object('type', 'PASSPORT', 'number', 'P' || replace($1, '-', ''), 'issuingCountry', 'NGA')),
      'location', '{"detentionCentreId": "HARMONDSWORTH_IRC"}'::jsonb)),
    current_date + 10, current_date + 20, '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}', sensitivity => $2::text) AS ref`,
  [ho, sensitivity, name])).ref;
}
const level = async (ref) => (await one('SELECT sensitivity FROM hublink.removal WHERE removal_reference = $1', [ref])).sensitivity;
// The TSP's answers (messages 4 and 6) from the schema examples, for one returnee of this
// removal (the examples' HO-7731904, renamed), applied as the worker would.
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
async function bookTravel(reference, hoRef) {
  await db.query("SELECT hublink.request_travel_quotes($1, '{LHR}')", [reference]);
  await db.query('SELECT hublink.handle_message($1)', [tspMessage('travel-quote-response.json', reference, hoRef, (b, keep, rename) => {
    for (const q of b.quotes) {
      delete q.escortQuoteReference;
      q.conditions.expiresAt = '2099-01-01T00:00:00+00:00';
      q.costs.perTraveller = q.costs.perTraveller.filter((p) => keep(p.traveller)).map((p) => ({ ...p, traveller: rename(p.traveller) }));
      for (const seg of q.itinerary) seg.travellers = seg.travellers.filter(keep).map(rename);
    }
  })]);
  await db.query("SELECT hublink.choose_quote($1, 'TSP-TQ-88412-1')", [reference]);
  await db.query('SELECT hublink.handle_message($1)', [tspMessage('travel-booking-response.json', reference, hoRef, (b, keep, rename) => {
    b.confirmation.tickets = b.confirmation.tickets.filter((t) => keep(t.traveller)).map((t) => ({ ...t, traveller: rename(t.traveller) }));
  })]);
}

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
  await shot(ada, 'web-admin-sign-ins');
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


  // --- A case's sensitivity (change_sensitivity, sensitivity_choices) -----------------------
  await db.query('GRANT hublink_admin TO bo'); // an admin who is also a caseworker, cleared for sensitive
  const sref = await makeRemoval('HO-WEBS1', 'restricted');
  const cole = await newPage();
  await signIn(cole, 'cole');
  await cole.goto('/cases');
  const coleToken = await cole.inputValue('input[name=_csrf]');
  const coleGet = await cole.goto(`/cases/${sref}/sensitivity`);
  const coleLower = await cole.request.post(`/cases/${sref}/sensitivity`, { form: { _csrf: coleToken, level: 'standard', reason: 'let me see it' }, maxRedirects: 0 });
  check('a caseworker not cleared for a case gets 404 for its sensitivity page, and lowering it by a forged post to see it fails (404, unchanged)',
    coleGet.status() === 404 && coleLower.status() === 404 && (await level(sref)) === 'restricted', `${coleGet.status()} ${coleLower.status()}`);

  await rita.goto(`/cases/${sref}`);
  await rita.getByRole('link', { name: 'Change the sensitivity' }).click();
  await rita.waitForURL(/\/sensitivity$/);
  await axe(rita, 'the sensitivity page');
  await shot(rita, 'web-case-sensitivity');
  await rita.getByRole('button', { name: 'Change the sensitivity' }).click();
  await rita.waitForLoadState();
  const empty = await errorSummary(rita);
  check('an empty form is answered by the error summary (the level, the reason), linked to the fields',
    empty.includes('Select the new sensitivity') && empty.includes('Enter why the sensitivity changes')
      && (await rita.locator('.govuk-error-summary a[href="#level"]').count()) === 1 && (await rita.locator('.govuk-error-summary a[href="#reason"]').count()) === 1, empty);
  await axe(rita, 'the sensitivity page with errors');
  await rita.check('input[name=level][value=standard]');
  await rita.fill('#reason', 'The Home Office no longer names it restricted.');
  await rita.getByRole('button', { name: 'Change the sensitivity' }).click();
  await rita.waitForURL(new RegExp(`/cases/${sref}$`));
  const lowered = await one(`SELECT c.changed_by, c.reason, a.severity FROM hublink.sensitivity_change c JOIN hublink.removal r USING (removal_id)
                               JOIN hublink.alert a ON a.removal_id = r.removal_id AND a.kind = 'removal_sensitivity_changed'
                              WHERE r.removal_reference = $1`, [sref]);
  check('rita lowers it with a reason: the case page shows standard, the change is kept as hers and is a warning alert',
    (await level(sref)) === 'standard' && (await rita.textContent('main')).includes('standard')
      && lowered && lowered.changed_by === 'rita' && lowered.severity === 'warning', JSON.stringify(lowered));
  check('now a standard caseworker sees it', (await cole.goto(`/cases/${sref}`)).status() === 200);
  const coleRaise = await cole.request.post(`/cases/${sref}/sensitivity`, { form: { _csrf: coleToken, level: 'restricted', reason: 'hide it' }, maxRedirects: 0 });
  const raiseText = await coleRaise.text();
  check('a caseworker raising it above its clearance by a forged post is refused by the Hub in the error summary (400), unchanged',
    coleRaise.status() === 400 && raiseText.includes('above the clearance of this login') && (await level(sref)) === 'standard', String(coleRaise.status()));

  const bo = await newPage();
  await signIn(bo, 'bo');
  await bo.goto(`/cases/${sref}/sensitivity`);
  check('an admin who is also a caseworker is warned which level would hide the case from them',
    (await bo.textContent('main')).includes('you would no longer see this case') && (await bo.locator('input[name=hide]').count()) === 1);
  await bo.check('input[name=level][value=restricted]');
  await bo.fill('#reason', 'Named restricted again.');
  await bo.getByRole('button', { name: 'Change the sensitivity' }).click();
  await bo.waitForLoadState();
  const hideErr = await errorSummary(bo);
  check('choosing it without ticking the confirmation is refused by the Hub, linked to the checkbox, unchanged',
    /would hide removal .* from you/.test(hideErr) && (await bo.locator('.govuk-error-summary a[href="#hide"]').count()) === 1
      && (await level(sref)) === 'standard', hideErr);
  await axe(bo, 'the sensitivity page asking for the confirmation');
  await bo.check('input[name=hide][value=yes]');
  await bo.getByRole('button', { name: 'Change the sensitivity' }).click();
  await bo.waitForURL(/\/cases$/);
  check('with it ticked the case is restricted and gone from their view (404)',
    (await level(sref)) === 'restricted' && (await bo.goto(`/cases/${sref}`)).status() === 404);
  await rita.goto(`/cases/${sref}/sensitivity`);
  const history = await rita.textContent('#sensitivity-changes');
  check('the page lists every change with who and why', history.includes('bo') && history.includes('Named restricted again.')
    && history.includes('rita') && history.includes('no longer names it restricted'), history.slice(0, 300));

  // --- A structured travel amendment (amend_travel_itinerary) and the provider's answer --------
  const tref = await makeRemoval('HO-WEBT1', 'standard', 'Tobi');
  await bookTravel(tref, 'HO-WEBT1');
  const sent = async () => (await one(`SELECT count(*)::int AS n FROM hublink.amendment a JOIN hublink.removal r USING (removal_id)
                                        WHERE r.removal_reference = $1 AND a.booking = 'travel'`, [tref])).n;
  await rita.goto(`/cases/${tref}`);
  await rita.getByRole('link', { name: 'Change the travel date or destination' }).click();
  await rita.waitForURL(/\/amend-travel$/);
  check('the travel amendment page shows the booked flights', (await rita.textContent('#flights')).includes('LHR'), await rita.textContent('#flights'));
  await axe(rita, 'the travel amendment page');
  await rita.getByRole('button', { name: 'Send the amendment' }).click();
  await rita.waitForLoadState();
  check('an empty form: the error summary asks for the reason, linked to it, nothing sent',
    (await errorSummary(rita)).includes('Select why the travel changes') && (await rita.locator('.govuk-error-summary a[href="#reason"]').count()) === 1
      && (await sent()) === 0, await errorSummary(rita));
  await axe(rita, 'the travel amendment page with errors');
  await rita.selectOption('#reason', 'EARLIER_COLLECTION');
  await rita.getByRole('button', { name: 'Send the amendment' }).click();
  await rita.waitForLoadState();
  check('a reason but nothing to change: the Hub refuses it in the error summary, nothing sent',
    (await errorSummary(rita)).includes('needs a new date or a new destination airport') && (await sent()) === 0, await errorSummary(rita));
  await rita.fill('#day', '1'); await rita.fill('#month', '1'); await rita.fill('#year', '2020');
  await rita.getByRole('button', { name: 'Send the amendment' }).click();
  await rita.waitForLoadState();
  check('a date in the past: refused by the Hub, linked to the date, what was entered kept, nothing sent',
    (await errorSummary(rita)).includes('is in the past') && (await rita.locator('.govuk-error-summary a[href="#day"]').count()) === 1
      && (await rita.inputValue('#year')) === '2020' && (await sent()) === 0, await errorSummary(rita));
  const d = new Date(Date.now() + 14 * 86400e3);
  const iso = d.toISOString().slice(0, 10);
  await rita.fill('#day', String(d.getUTCDate())); await rita.fill('#month', String(d.getUTCMonth() + 1)); await rita.fill('#year', String(d.getUTCFullYear()));
  await rita.fill('#airport', 'abv');
  await rita.fill('#reasonText', 'Lagos airport closed.');
  await rita.getByRole('button', { name: 'Send the amendment' }).click();
  await rita.waitForURL(/\/amend-travel$/);
  const asked = await rita.textContent('#amendments');
  const body = await one(`SELECT a.details -> 'itineraryChanges' -> 0 AS c FROM hublink.amendment a JOIN hublink.removal r USING (removal_id)
                           WHERE r.removal_reference = $1`, [tref]);
  check('a new date and airport with a reason are sent as the itinerary change of a travel amendment, shown waiting',
    asked.includes(`LHR to ABV on ${iso}`) && asked.includes('Waiting for the provider') && body && body.c.requestedSegments[0].endPoint.airportCode === 'ABV'
      && body.c.reason.code === 'EARLIER_COLLECTION', `${asked} ${JSON.stringify(body)}`);
  await rita.selectOption('#reason', 'SCHEDULE_CHANGE');
  await rita.fill('#airport', 'ABV');
  await rita.getByRole('button', { name: 'Send the amendment' }).click();
  await rita.waitForLoadState();
  check('sending it again before the answer (a second click) is refused by the Hub, nothing more sent',
    (await errorSummary(rita)).includes("waiting for the provider's answer") && (await sent()) === 1, await errorSummary(rita));
  // The TSP's answer arrives while the case page is open: outcome and change fee, live.
  await rita.goto(`/cases/${tref}`);
  const amendmentId = (await one(`SELECT a.message_id FROM hublink.amendment a JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = $1`, [tref])).message_id;
  await db.query('SELECT hublink.handle_message($1)', [{ messageId: crypto.randomUUID(), messageType: 'TravelUpdate', schemaVersion: '1.0',
    sentAt: new Date().toISOString(), sender: 'TSP', removalId: tref,
    body: { travelQuoteReference: 'TSP-TQ-88412-1', amendmentOutcome: { amendmentMessageId: amendmentId, accepted: true, reason: { code: 'EARLIER_COLLECTION' } },
      financial: { changeFee: { amount: '120.00', currency: 'GBP' }, reason: { code: 'EARLIER_COLLECTION', text: 'Reissued for Abuja.' } } } }]);
  let live = false;
  try {
    await rita.waitForFunction(() => /Travel amendment accepted/.test(document.querySelector('#timeline').textContent)
      && /GBP 120.00/.test(document.querySelector('#timeline').textContent), null, { timeout: 10000 });
    live = true;
  } catch { /* reported below */ }
  check('the provider\'s answer and its change fee appear on the open case page without a reload', live, await rita.textContent('#timeline'));
  await rita.goto(`/cases/${tref}/amend-travel`);
  await shot(rita, 'web-case-amend-travel');
  const answered = await rita.textContent('#amendments');
  const costs = await rita.textContent('#travel-costs');
  check('the amendment page shows the answer and the provider\'s cost', answered.includes('Accepted') && costs.includes('GBP 120.00') && costs.includes('Reissued for Abuja'),
    `${answered} | ${costs}`);
  const coleAmend = await cole.request.post(`/cases/${sref}/amend-travel`, { form: { _csrf: coleToken, reason: 'SCHEDULE_CHANGE', airport: 'ABV' }, maxRedirects: 0 });
  check('a caseworker not cleared for a case gets 404 for its travel amendment post', coleAmend.status() === 404, String(coleAmend.status()));

  // --- Editing a returnee (edit_returnee) -------------------------------------------------------
  const eref = await makeRemoval('HO-WEBE1', 'standard', 'Ena');
  await makeRemoval('HO-WEBE9', 'restricted', 'Hidden');
  const nameOf = async (ho) => (await one(`SELECT p.given_names FROM hublink.returnee t CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p
                                           JOIN hublink.removal r ON r.removal_id = t.removal_id WHERE r.removal_reference = $1 AND t.ho_returnee_reference = $2`, [eref, ho]) || {}).given_names;
  await cole.goto(`/cases/${eref}`);
  await cole.getByRole('link', { name: "Edit a returnee's details" }).click();
  await cole.waitForURL(/\/edit-returnee$/);
  check('the edit page is filled with the returnee\'s details as they are', (await cole.inputValue('#givenNames')) === 'Ena'
    && (await cole.inputValue('#hoReference')) === 'HO-WEBE1' && (await cole.inputValue('#dobYear')) === '1990', await cole.inputValue('#givenNames'));
  await axe(cole, 'the edit returnee page');
  await shot(cole, 'web-case-edit-returnee');
  await cole.fill('#givenNames', '');
  await cole.getByRole('button', { name: 'Save the changes' }).click();
  await cole.waitForLoadState();
  const blankErr = await errorSummary(cole);
  check('a blank name and no reason: the error summary, linked to the fields, nothing changed',
    blankErr.includes('Enter the returnee’s given names') && blankErr.includes('Enter why the details change')
      && (await cole.locator('.govuk-error-summary a[href="#givenNames"]').count()) === 1 && (await nameOf('HO-WEBE1')) === 'Ena', blankErr);
  await axe(cole, 'the edit returnee page with errors');
  await cole.fill('#givenNames', 'Ena');
  await cole.fill('#hoReference', 'HO-WEBE9');
  await cole.fill('#reason', 'Reference mistyped.');
  await cole.getByRole('button', { name: 'Save the changes' }).click();
  await cole.waitForLoadState();
  const dupErr = await errorSummary(cole);
  check('a new reference with a live removal elsewhere is refused (4.22), not naming a removal above the clearance, linked to the reference',
    dupErr.includes('returnee HO-WEBE9 already has a live removal') && dupErr.includes('above the clearance') && !/RMV-/.test(dupErr)
      && (await cole.locator('.govuk-error-summary a[href="#hoReference"]').count()) === 1
      && Boolean(await one("SELECT 1 AS x FROM hublink.returnee WHERE ho_returnee_reference = 'HO-WEBE1'")), dupErr);
  await cole.fill('#hoReference', 'HO-WEBE1');
  await cole.fill('#givenNames', 'Ena Grace');
  await cole.getByRole('button', { name: 'Save the changes' }).click();
  await cole.waitForURL(/\/edit-returnee\?ho=HO-WEBE1$/);
  const kept = await one(`SELECT c.fields, c.changed_by FROM hublink.returnee_change c JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = $1`, [eref]);
  check('the corrected name is saved as the person, kept with its reason, nothing sent before any quote',
    (await nameOf('HO-WEBE1')) === 'Ena Grace' && kept && kept.changed_by === 'cole' && kept.fields.join() === 'givenNames'
      && (await cole.textContent('main')).includes('The details were changed.'), JSON.stringify(kept));
  await bookTravel(eref, 'HO-WEBE1');
  await cole.goto(`/cases/${eref}/edit-returnee`);
  await cole.fill('#documentNumber', 'P99887766');
  await cole.fill('#reason', 'New passport issued.');
  await cole.getByRole('button', { name: 'Save the changes' }).click();
  await cole.waitForURL(/\/edit-returnee\?ho=HO-WEBE1$/);
  const amended = await one(`SELECT hublink.outbox_document(o.id) #> '{body,passengerUpdates,0}' AS p FROM hublink.outbox o
                              WHERE o.removal_id = $1 AND o.message_type = 'TravelAmendment'`, [eref]);
  check('once booked, the new document goes to the travel provider as an amendment, and the page says so',
    amended && amended.p.travelDocument.number === 'P99887766' && amended.p.traveller.hoReturneeReference === 'HO-WEBE1'
      && (await cole.textContent('main')).includes('sent to the travel provider as an amendment'), JSON.stringify(amended));
  await cole.fill('#familyName', 'Okoro-Bello');
  await cole.fill('#reason', 'Married name.');
  await cole.getByRole('button', { name: 'Save the changes' }).click();
  await cole.waitForLoadState();
  check('another edit while that amendment waits for its answer is refused by the Hub in the error summary',
    (await errorSummary(cole)).includes("waiting for the provider's answer"), await errorSummary(cole));
  const coleEdit = await cole.goto(`/cases/${sref}/edit-returnee`);
  check('a caseworker not cleared for a case gets 404 for its edit page', coleEdit.status() === 404, String(coleEdit.status()));
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
