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
const streaming = () => page.waitForLoadState().then(() => page.waitForFunction(() => /updates by itself/.test((document.getElementById('live-status') || {}).textContent)));

try {
  await page.goto('/');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.fill('#username', 'rita');
  await page.fill('#password', users.rita.password);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.href.startsWith(base));
  check('rita signs in', new URL(page.url()).pathname === '/cases');

  await page.goto('/cases/new');
  await page.fill('#caseReference', 'CASE-WEB-3P');
  await page.fill('#hoReference', 'HO-WEB3P1');
  await page.fill('#givenNames', 'Ada');
  await page.fill('#familyName', 'Obi');
  await page.fill('#dobDay', '2'); await page.fill('#dobMonth', '11'); await page.fill('#dobYear', '1990');
  await page.fill('#nationality', 'NGA');
  await page.check('input[name=gender][value=F]');
  await page.fill('#documentNumber', 'A1234567');
  await page.fill('#documentCountry', 'NGA');
  await page.fill('#detentionCentre', 'HARMONDSWORTH_IRC');
  await page.check('input[name=flags][value=SELF_HARM]');
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
  const ref = page.url().split('/').pop();
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

  await page.reload();
  await page.getByText('Cancel the removal').click();
  await page.fill('#reasonText', 'Judicial review lodged.');
  await page.getByRole('button', { name: 'Cancel removal' }).click();
  await page.waitForURL(new RegExp(`/cases/${ref}$`));
  await streaming();
  check('the cancellation is answered with the providers\' money, shown live (4.20)', await live(/Refund|Cancellation Fee/));
  await page.waitForFunction(() => /Escort: .*→ cancelled/.test((document.getElementById('timeline') || {}).textContent), null, { timeout: 30000 }).catch(() => {});
  check('the removal is cancelled at the Hub', (await states(ref)).startsWith('cancelled/'), await states(ref));
} catch (err) {
  check('the journey ran to its end', false, err.stack);
} finally {
  await browser.close();
  await db.end();
}
console.log(`web-three-parties: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
