// Takes the README's screenshot of a case page (docs/web-case-page.png) in headless Chromium:
// signs in through the test provider and shoots the first case of the list, or the one named.
//   node web/test/screenshot.mjs BASE_URL USERNAME PASSWORD OUT.png [RMV-…]
// With the demo running: the sign-ins are printed by make demo (web/scripts/start).
import { chromium } from 'playwright-core';

const [base, username, password, out, reference] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ baseURL: base, viewport: { width: 960, height: 1000 } });
  await page.goto('/');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.href.startsWith(base));
  if (reference) await page.goto(`/cases/${reference}`);
  else await page.locator('#cases a').first().click();
  await page.waitForFunction(() => /updates by itself/.test(document.getElementById('live-status').textContent));
  await page.screenshot({ path: out, fullPage: false });
} finally {
  await browser.close();
}
