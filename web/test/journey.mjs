// An escorted removal through the web interface on the three-party stack (test/web/three-parties):
// the ESP's and the TSP's engines answer over the broker, and the case page shows each answer
// live. TAP lines; closing line "web-three-parties: N passed, M failed".
//   node web/test/journey.mjs BASE_URL USERS.json      (libpq variables: the Hub, a superuser)
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import pg from 'pg';

const [base, usersFile] = process.argv.slice(2);
const users = Object.fromEntries(JSON.parse(fs.readFileSync(usersFile, 'utf8')).map((u) => [u.username, u]));
let passed = 0;
let failed = 0;
function check(what, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${passed + failed} - ${what}${!ok && detail ? `: ${detail}` : ''}`);
  return ok;
}
const db = new pg.Client();
await db.connect();
const states = async (ref) => {
  const { rows } = await db.query('SELECT state, escort_state, travel_state FROM hublink.removal WHERE removal_reference = $1', [ref]);
  return rows[0] ? `${rows[0].state}/${rows[0].escort_state}/${rows[0].travel_state}` : 'none';
};
const browser = await chromium.launch({ executablePath: process.env.HUBLINK_WEB_TEST_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await (await browser.newContext({ baseURL: base })).newPage();
// Waits until the open case page's timeline (updated only by the live stream) matches.
const live = (re) => page.waitForFunction((src) => new RegExp(src).test((document.getElementById('timeline') || {}).textContent), re.source, { timeout: 30000 })
  .then(() => true, () => false);
// Polls the Hub's states until they match (a provider's answer and the state it moves may be
// applied in separate transactions now that batches commit early: hublink.batch_time_limit).
const statesBecome = async (ref, re, ms = 30000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    if (re.test(await states(ref))) return true;
  }
  return re.test(await states(ref));
};
const streaming = () => page.waitForLoadState().then(() => page.waitForFunction(() => /updates by itself/.test((document.getElementById('live-status') || {}).textContent)));

// The new removal form, filled in (its keyboard use is checked in browser.mjs).
async function createRemoval(caseRef, ho, flags) {
  await page.goto('/cases/new');
  await page.fill('#caseReference', caseRef);
  await page.fill('#hoReference', ho);
  await page.fill('#givenNames', 'Ada');
  await page.fill('#familyName', 'Obi');
  await page.fill('#dobDay', '2'); await page.fill('#dobMonth', '11'); await page.fill('#dobYear', '1990');
  await page.fill('#nationality', 'NGA');
  await page.check('input[name=gender][value=F]');
  await page.fill('#documentNumber', 'A1234567');
  await page.fill('#documentCountry', 'NGA');
  await page.fill('#detentionCentre', 'HARMONDSWORTH_IRC');
  for (const f of flags) await page.check(`input[name=flags][value=${f}]`);
  const d1 = new Date(Date.now() + 8 * 86400e3);
  const d2 = new Date(Date.now() + 12 * 86400e3);
  for (const [p, d] of [['earliest', d1], ['latest', d2]]) {
    await page.fill(`#${p}Day`, String(d.getUTCDate()));
    await page.fill(`#${p}Month`, String(d.getUTCMonth() + 1));
    await page.fill(`#${p}Year`, String(d.getUTCFullYear()));
  }
  await page.fill('#destinationDescription', 'Lagos, Nigeria');
  await page.fill('#destinationCountry', 'NGA');
  await page.fill('#destinationAirport', 'LOS');
  await page.check('input[name=sensitivity][value=standard]');
  await page.getByRole('button', { name: 'Create removal' }).click();
  await page.waitForURL(/\/cases\/RMV-/);
  return page.url().split('/').pop();
}

// --- The keyboard alone (issue 16 "the main journey works with the keyboard alone") -------------
// Only Tab, Shift+Tab, Enter, Space and the arrow keys move around and act; text is typed into
// the field that has focus. keys counts the presses, so a page that traps or loses focus fails.
const kb = page.keyboard;
const keys = { Tab: 0, 'Shift+Tab': 0, Enter: 0, Space: 0, ArrowDown: 0, ArrowRight: 0 };
const press = async (k) => {
  if (!(k in keys)) throw new Error(`${k} is not a key of the keyboard-only journey`);
  keys[k]++;
  await kb.press(k);
};
const focused = () => page.evaluate(() => {
  const e = document.activeElement;
  return { id: e.id, name: e.getAttribute('name'), value: e.value, text: (e.innerText || '').replace(/\s+/g, ' ').trim(), tag: e.tagName };
});
// Tab (or Shift+Tab) until the focused element matches; throws after max presses.
async function tabTo(match, what, { back = false, max = 120 } = {}) {
  for (let i = 0; i < max; i++) {
    await press(back ? 'Shift+Tab' : 'Tab');
    const a = await focused();
    if (match(a)) return a;
  }
  throw new Error(`the keyboard never reached ${what}`);
}
const id = (x) => (a) => a.id === x;
const text = (re) => (a) => re.test(a.text);
async function typeInto(fieldId, value) {
  await tabTo(id(fieldId), `#${fieldId}`);
  await kb.type(value);
}
// Enter on the focused link or button, then wait for the page it leads to.
async function enterAndLoad(url) {
  await Promise.all([page.waitForURL(url, { timeout: 30000 }), press('Enter')]);
  await page.waitForLoadState();
}
// A case page loaded again by keyboard: Cases in the menu, then the case's link.
async function openCaseByKeyboard(ref) {
  await tabTo((a) => a.tag === 'A' && a.text === 'Cases', 'the Cases link');
  await enterAndLoad(/\/cases$/);
  await tabTo((a) => a.tag === 'A' && a.text === ref, `the link to ${ref}`);
  await enterAndLoad(new RegExp(`/cases/${ref}$`));
}

try {
  // Signing in by keyboard: Tab to "Sign in", Enter; at the provider, type, Tab, type, Enter.
  await page.goto('/');
  await tabTo(text(/^Sign in$/), 'Sign in');
  await enterAndLoad((u) => !u.href.startsWith(base));
  await typeInto('username', 'rita');
  await typeInto('password', users.rita.password);
  await enterAndLoad((u) => u.href.startsWith(base));
  check('rita signs in with the keyboard alone', new URL(page.url()).pathname === '/cases');

  const ref = await createRemoval('CASE-WEB-3P', 'HO-WEB3P1', ['SELF_HARM']);
  const profiled = (await db.query('SELECT escorted FROM hublink.removal WHERE removal_reference = $1', [ref])).rows[0];
  check('a removal with a self-harm flag is created and profiled as escorted (4.18)', profiled && profiled.escorted === true && (await states(ref)) === 'new/none/none', `${JSON.stringify(profiled)} ${await states(ref)}`);

  await page.getByRole('button', { name: 'Request quotes' }).click();
  await streaming();
  check('the escort quote request goes to the ESP', /quoting\/(quote_requested|quoted)\/none/.test(await states(ref)), await states(ref));
  check('the ESP\'s quotes appear on the case page live', await live(/Escort: quote requested → quoted/));
  await page.reload();
  await page.getByRole('button', { name: 'Request travel quotes' }).click();
  await streaming();
  check('the TSP\'s quotes, on the escort\'s dates, appear live', await live(/Travel: quote requested → quoted/));

  await page.goto(`/cases/${ref}/quotes`);
  const table = await page.textContent('#quotes');
  check('the quotes are compared side by side with their escort part', /escort \d/.test(table) && /ESP-/.test(table) && /Expected cost/.test(table), table.slice(0, 200));
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  check('axe: no WCAG 2.2 AA violation on the quotes of an escorted removal', axe.violations.length === 0, axe.violations.map((v) => v.id).join(' '));
  await page.getByRole('button', { name: /Book option 1/ }).click();
  await page.waitForURL(new RegExp(`/cases/${ref}$`));
  await streaming();
  check('both providers confirm and the removal is booked, live', await live(/Removal: booking → booked/), await states(ref));
  check('booked at the Hub', (await states(ref)) === 'booked/booked/booked', await states(ref));

  await page.reload();
  if (process.env.HUBLINK_WEB_TEST_SHOTS) {
    // The README's picture (docs/web-case-page.png): the booked escorted removal.
    await page.setViewportSize({ width: 960, height: 1180 });
    await streaming();
    await page.screenshot({ path: `${process.env.HUBLINK_WEB_TEST_SHOTS}/web-case-page.png` });
    await page.setViewportSize({ width: 1280, height: 720 });
  }
  const updatesBefore = ((await page.textContent('#timeline')).match(/TravelUpdate/g) || []).length;
  await page.getByText('Amend the travel booking').click();
  await page.fill('#other', 'Wheelchair assistance at Heathrow, please.');
  await page.getByRole('button', { name: 'Send amendment' }).click();
  await page.waitForURL(new RegExp(`/cases/${ref}$`));
  await streaming();
  check('the amendment goes to the TSP and its answer (a travel update) appears live', updatesBefore === 0 && await live(/TravelUpdate/), `${updatesBefore} ${await states(ref)}`);

  const axeClean = async (what) => {
    const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
    check(`axe: no WCAG 2.2 AA violation on ${what}`, r.violations.length === 0, r.violations.map((v) => `${v.id}: ${v.nodes[0] && v.nodes[0].target}`).join(' '));
  };
  const summary = async () => ((await page.locator('.govuk-error-summary').textContent().catch(() => '')) || '').replace(/\s+/g, ' ');

  // --- 1. escort amendment (4.9, 4.10): the ESP answers with its outcome and cost -----------
  await page.waitForFunction(() => /Travel: amended → booked/.test((document.getElementById('timeline') || {}).textContent), null, { timeout: 30000 }).catch(() => {});
  await page.goto(`/cases/${ref}`);
  await page.getByRole('link', { name: 'Amend the escort booking' }).click();
  await page.waitForURL(new RegExp(`/cases/${ref}/amend-escort$`));
  await axeClean('the escort amendment page');
  await page.getByRole('button', { name: 'Send the escort amendment' }).click();
  check('an empty escort amendment gets the GOV.UK error summary, nothing sent', /There is a problem.*Choose a segment/.test(await summary())
    && (await db.query("SELECT count(*)::int AS n FROM hublink.amendment a JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = $1 AND a.booking = 'escort'", [ref])).rows[0].n === 0, await summary());
  await axeClean('the escort amendment page with errors');
  const seg = (await db.query(
    `SELECT s.segment_id, q.escort_date::text AS d FROM hublink.escort_segment s JOIN hublink.removal r USING (removal_id)
       JOIN hublink.escort_booking k ON k.removal_id = r.removal_id AND k.outcome = 'ACCEPTED'
       JOIN hublink.escort_quote q ON q.removal_id = r.removal_id AND q.escort_quote_reference = k.escort_quote_reference
      WHERE r.removal_reference = $1 AND s.current AND s.returnee_present ORDER BY s.segment_id LIMIT 1`, [ref])).rows[0];
  const [y, m, d] = seg.d.split('-');
  await page.check(`input[name=segment][value="${seg.segment_id}"]`);
  await page.fill('#startDay', d); await page.fill('#startMonth', m); await page.fill('#startYear', y);
  await page.fill('#startTime', '05:30');
  await page.fill('#finishDay', d); await page.fill('#finishMonth', m); await page.fill('#finishYear', y);
  await page.fill('#finishTime', '09:45');
  await page.selectOption('#reason', 'EARLIER_COLLECTION');
  await page.getByRole('button', { name: 'Send the escort amendment' }).click();
  await page.waitForURL(new RegExp(`/cases/${ref}$`));
  await streaming();
  check('the escort amendment goes to the ESP and its outcome appears live', await live(/Escort amendment accepted/), await states(ref));
  check('with its cost (the ESP\'s change fee) (4.20)', await live(/Change Fee: GBP [0-9.]+\s+Escort booking/));

  // A risk change after booking (4.18) reaches the ESP as an escort amendment: the subset the
  // Hub's profiling made for it (ABSCONDER and SELF_HARM, never HIGH_PROFILE).
  await page.goto(`/cases/${ref}/risk`);
  await page.check('input[name=flags][value=ABSCONDER]');
  await page.check('input[name=flags][value=HIGH_PROFILE]');
  await page.getByRole('button', { name: 'Record the assessment of HO-WEB3P1' }).click();
  await page.waitForURL(/\/risk\?done=1$/);
  await page.getByRole('link', { name: 'an escort amendment' }).click();
  await page.check('input[name=sendRisk][value=yes]');
  await page.getByRole('button', { name: 'Send the escort amendment' }).click();
  await page.waitForURL(new RegExp(`/cases/${ref}$`));
  await streaming();
  const sentRisk = (await db.query(`SELECT a.details::text AS d FROM hublink.amendment a JOIN hublink.removal r USING (removal_id)
                                     WHERE r.removal_reference = $1 AND a.booking = 'escort' ORDER BY a.amendment_id DESC LIMIT 1`, [ref])).rows[0];
  check('the new risk goes to the ESP as an escort amendment with the flags it may see, not HIGH_PROFILE',
    sentRisk && /"escortRiskAssessment": \{"flags": \["ABSCONDER", "SELF_HARM"\]/.test(sentRisk.d) && !/HIGH_PROFILE/.test(sentRisk.d), sentRisk && sentRisk.d);
  check('and the ESP\'s answer to it appears live',
    await page.waitForFunction(() => ((document.getElementById('timeline') || {}).textContent.match(/Escort amendment (accepted|not accepted)/g) || []).length >= 2, null, { timeout: 30000 }).then(() => true, () => false),
    await states(ref));

  // --- 2. cancelling one booking (4.20): travel, then escort, each with the provider's money --
  await page.goto(`/cases/${ref}/cancel-booking`);
  await axeClean('the cancel-one-booking page');
  await page.getByRole('button', { name: 'Cancel this booking' }).click();
  check('cancelling without choosing gets the error summary', /Select the booking to cancel.*Select the reason/.test(await summary()), await summary());
  await axeClean('the cancel-one-booking page with errors');
  await page.check('input[name=booking][value=travel]');
  await page.selectOption('#reason', 'RETURNEE_ILL');
  await page.fill('#reasonText', 'Admitted to hospital.');
  await page.getByRole('button', { name: 'Cancel this booking' }).click();
  await page.waitForURL(new RegExp(`/cases/${ref}$`));
  await streaming();
  check('the travel booking alone is cancelled and the TSP\'s money appears live', await live(/(Refund|Cancellation Fee): GBP [0-9.]+\s+Travel booking/) && await statesBecome(ref, /^cancelled\/booked\/cancelled$/), await states(ref));
  await page.goto(`/cases/${ref}/cancel-booking`);
  await page.check('input[name=booking][value=travel]');
  await page.selectOption('#reason', 'RETURNEE_ILL');
  await page.getByRole('button', { name: 'Cancel this booking' }).click();
  check('cancelling it again: the Hub\'s refusal in the error summary', /has no travel booking to cancel/.test(await summary()), await summary());
  await page.check('input[name=booking][value=escort]');
  await page.selectOption('#reason', 'RETURNEE_ILL');
  await page.getByRole('button', { name: 'Cancel this booking' }).click();
  await page.waitForURL(new RegExp(`/cases/${ref}$`));
  await streaming();
  check('then the escort booking, the ESP\'s cancellation fee shown live', await live(/Cancellation Fee: GBP [0-9.]+\s+Escort booking/), await states(ref));
  await page.waitForFunction(() => /Escort: booked → cancelled/.test((document.getElementById('timeline') || {}).textContent), null, { timeout: 30000 }).catch(() => {});
  check('both bookings are cancelled at the Hub', await statesBecome(ref, /^cancelled\/cancelled\/cancelled$/), await states(ref));
  await page.goto(`/cases/${ref}/cancel-booking`);
  const costs = (await page.locator('main table tbody tr').allTextContents()).map((t) => t.replace(/\s+/g, ' '));
  check('the cancel page lists the providers\' costs', costs.some((t) => /Escort ?Cancellation fee ?GBP [0-9.]+/.test(t)) && costs.some((t) => /Travel ?(Refund|Cancellation fee) ?GBP/.test(t)), costs.join(' | '));

  // --- 3, 4, 6. by keyboard alone: create, quotes, a risk change after them (4.18: escorts now
  // needed), re-quote, choose again, book, amend, cancel -------------------------------------
  await tabTo((a) => a.tag === 'A' && a.text === 'New removal', 'New removal in the menu');
  await enterAndLoad(/\/cases\/new$/);
  await typeInto('caseReference', 'CASE-WEB-3P-B');
  await typeInto('hoReference', 'HO-WEB3P2');
  await typeInto('givenNames', 'Bola');
  await typeInto('familyName', 'Ade');
  await typeInto('dobDay', '4'); await typeInto('dobMonth', '7'); await typeInto('dobYear', '1985');
  await typeInto('nationality', 'NGA');
  await tabTo((a) => a.name === 'gender', 'the gender radios');   // the first radio of the group
  await press('ArrowRight');                                        // arrows move to and choose F
  await typeInto('documentNumber', 'B7654321');
  await typeInto('documentCountry', 'NGA');
  await typeInto('detentionCentre', 'HARMONDSWORTH_IRC');
  const k1 = new Date(Date.now() + 8 * 86400e3);
  const k2 = new Date(Date.now() + 12 * 86400e3);
  for (const [p, d] of [['earliest', k1], ['latest', k2]]) {
    await typeInto(`${p}Day`, String(d.getUTCDate())); await typeInto(`${p}Month`, String(d.getUTCMonth() + 1)); await typeInto(`${p}Year`, String(d.getUTCFullYear()));
  }
  await typeInto('destinationDescription', 'Lagos, Nigeria');
  await typeInto('destinationCountry', 'NGA');
  await typeInto('destinationAirport', 'LOS');
  await tabTo((a) => a.name === 'sensitivity', 'the sensitivity radios');
  await press('Space');                                             // the first level: standard
  const chosen = await page.evaluate(() => [document.querySelector('input[name=gender]:checked')?.value, document.querySelector('input[name=sensitivity]:checked')?.value]);
  await tabTo(text(/^Create removal$/), 'Create removal');
  await enterAndLoad(/\/cases\/RMV-/);
  const ref2 = page.url().split('/').pop();
  const rowB = (await db.query('SELECT escorted, sensitivity, created_by FROM hublink.removal WHERE removal_reference = $1', [ref2])).rows[0];
  check('keyboard: a removal is created (radios chosen with arrows and Space), not escorted', chosen.join() === 'F,standard' && rowB && rowB.escorted === false && rowB.sensitivity === 'standard', `${chosen} ${JSON.stringify(rowB)}`);
  await tabTo(text(/^Request quotes$/), 'Request quotes');
  await enterAndLoad(new RegExp(`/cases/${ref2}$`));
  await streaming();
  check('keyboard: quotes requested, the TSP\'s appear live', await live(/Travel: quote requested → quoted/), await states(ref2));

  await tabTo(text(/^Change the risk profile$/), 'Change the risk profile');
  await enterAndLoad(new RegExp(`/cases/${ref2}/risk$`));
  await axeClean('the risk profile page');
  await tabTo((a) => a.name === 'flags' && a.value === 'SELF_HARM', 'the SELF_HARM checkbox');
  await press('Space');
  await typeInto('notes-HO-WEB3P2', 'Open ACDT plan since Monday.');
  await tabTo(text(/^Record the assessment of HO-WEB3P2$/), 'Record the assessment');
  await enterAndLoad(new RegExp(`/cases/${ref2}/risk\\?done=1$`));
  const riskPage = (await page.textContent('main')).replace(/\s+/g, ' ');
  check('keyboard: the new risk is profiled: escorted, an escort, the old quotes no longer bookable (4.18)',
    /Escorted Yes/.test(riskPage) && /Escorts required: 1/.test(riskPage) && /Quotes that can be booked 0/.test(riskPage), riskPage.slice(0, 600));
  await tabTo(text(/^Ask for new quotes$/), 'Ask for new quotes');
  await enterAndLoad(new RegExp(`/cases/${ref2}$`));
  await streaming();
  check('keyboard: the re-quote goes to the ESP, whose quotes appear live', await live(/Escort: quote requested → quoted/), await states(ref2));
  await openCaseByKeyboard(ref2);
  await tabTo(text(/^Request travel quotes$/), 'Request travel quotes');
  await enterAndLoad(new RegExp(`/cases/${ref2}$`));
  await streaming();
  check('keyboard: travel quotes on the escort\'s dates appear live',
    await page.waitForFunction(() => ((document.getElementById('timeline') || {}).textContent.match(/Travel: quote requested → quoted/g) || []).length >= 2, null, { timeout: 30000 }).then(() => true, () => false), await states(ref2));
  await openCaseByKeyboard(ref2);
  await tabTo(text(/^Compare \d+ quotes?$/), 'Compare quotes');
  await enterAndLoad(new RegExp(`/cases/${ref2}/quotes$`));
  const table2 = await page.textContent('#quotes').catch(() => '');
  check('the new quotes carry the escort the new risk needs', /ESP-/.test(table2), table2.slice(0, 200));
  await tabTo(text(/^Book option 1/), 'Book option 1');
  await enterAndLoad(new RegExp(`/cases/${ref2}$`));
  await streaming();
  check('keyboard: chosen again and booked with both providers, live', await live(/Removal: booking → booked/), await states(ref2));

  await openCaseByKeyboard(ref2);
  await tabTo(text(/^Amend the travel booking$/), 'Amend the travel booking');
  await press('Enter');                                             // opens the details
  await typeInto('other', 'Aisle seat for the escort, please.');
  await tabTo(text(/^Send amendment$/), 'Send amendment');
  await enterAndLoad(new RegExp(`/cases/${ref2}$`));
  await streaming();
  check('keyboard: the travel amendment is answered by the TSP, live', await live(/TravelUpdate/), await states(ref2));

  // The whole removal cancelled, the providers' money shown.
  await tabTo(text(/^Cancel the removal$/), 'Cancel the removal');
  await press('Space');                                             // details open with Space too
  await tabTo(id('reason'), 'the reason');
  const firstReason = await page.inputValue('#reason');
  await press('ArrowDown');                                         // the next reason of the list
  const reason = await page.inputValue('#reason');
  await typeInto('reasonText', 'Judicial review lodged.');
  await tabTo(text(/^Cancel removal$/), 'Cancel removal');
  await enterAndLoad(new RegExp(`/cases/${ref2}$`));
  await streaming();
  check('keyboard: the cancellation, its reason chosen with an arrow key, is answered with the providers\' money, live (4.20)',
    reason !== firstReason && await live(/Refund|Cancellation Fee/) && (await page.textContent('#timeline')).includes(`${reason}: Judicial review lodged.`), `${firstReason} → ${reason}`);
  await page.waitForFunction(() => /Escort: .*→ cancelled/.test((document.getElementById('timeline') || {}).textContent), null, { timeout: 30000 }).catch(() => {});
  check('the removal is cancelled at the Hub', await statesBecome(ref2, /^cancelled\//), await states(ref2));
  console.log(`# keys pressed: ${JSON.stringify(keys)}`);
} catch (err) {
  check('the journey ran to its end', false, err.stack);
} finally {
  await browser.close();
  await db.end();
}
console.log(`web-three-parties: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
