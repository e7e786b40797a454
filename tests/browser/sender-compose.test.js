// Real-browser test of composing a message (issue 13): Debian's chromium (playwright-core)
// against the real `zegel serve`, once per backend, with JavaScript (the upload goes through
// compose.js's XMLHttpRequest with its progress bar). Run by scripts/browser-test.sh.
//
// Signing in: the first scenario signs in on /inloggen with a password set by `zegel admin
// user password`; the second takes a session from lib/sender.js (`sessionCookie`, a session row
// written straight into the database), which needs no sign-in page.
//
// Environment: as patient-flow.test.js (ZEGEL_BIN, ZEGEL_BROWSER_ARTIFACTS,
// ZEGEL_BROWSER_POSTGRES_URL, ZEGEL_BROWSER_BACKENDS, ZEGEL_AXE_ALLOW_FAIL).

import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Zegel } from './lib/zegel.js';
import { launchBrowser, PageChecks } from './lib/pages.js';
import { snapshot, waitForNewFile, parseEml, mailTo, linksIn } from './lib/outbox.js';
import { sessionCookie, setPassword, signIn } from './lib/sender.js';

const BIN = process.env.ZEGEL_BIN;
const ARTIFACTS = process.env.ZEGEL_BROWSER_ARTIFACTS;
const PG_URL = process.env.ZEGEL_BROWSER_POSTGRES_URL || '';
if (!BIN || !ARTIFACTS) {
  throw new Error('set ZEGEL_BIN and ZEGEL_BROWSER_ARTIFACTS (scripts/browser-test.sh does)');
}
const BACKENDS = (process.env.ZEGEL_BROWSER_BACKENDS || (PG_URL ? 'sqlite postgres' : 'sqlite')).split(/\s+/).filter(Boolean);

const PASSWORD = 'paarse-olifant-zwemt-7-kilometer';

const SENDER = {
  email: 'verpleegkundige@example.org',
  name: 'Sanne Bakker',
  orgSlug: 'compose',
  orgName: 'Ziekenhuis Compose',
};

/** Files under `dir`, recursively (0 when it does not exist). */
function countFiles(dir) {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).length;
}

for (const backend of BACKENDS) {
  describe(`compose in the browser on ${backend}`, () => {
    const s = { backend };
    let dataRoot;

    before(async () => {
      if (backend === 'postgres' && !PG_URL) throw new Error('the postgres run needs ZEGEL_BROWSER_POSTGRES_URL');
      dataRoot = mkdtempSync(join(tmpdir(), `zegel-compose-${backend}-`));
      const dir = join(ARTIFACTS, `compose-${backend}`);
      s.zegel = new Zegel({
        bin: BIN,
        dataDir: join(dataRoot, 'data'),
        databaseUrl: backend === 'postgres' ? PG_URL : undefined,
        logDir: dir,
      });
      s.token = await s.zegel.createSender(SENDER);
      await setPassword(s.zegel, SENDER.email, PASSWORD);
      await s.zegel.start();
      s.browser = await launchBrowser();
      s.checks = new PageChecks({ browser: s.browser, dir, label: `compose ${backend}` });
    });

    after(async () => {
      if (s.checks) {
        s.checks.writeSummaries();
        console.log(`\n[compose ${backend}] ${s.checks.axeReport()}`);
      }
      await s.browser?.close();
      await s.zegel?.stop();
      if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
    });

    test('compose with an attachment, see the first-time warning, send anyway', async () => {
      const ctx = await s.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nl-NL' });
      try {
        const page = await ctx.newPage();
        await signIn(page, s.zegel, SENDER.email, PASSWORD);
        const res = await page.goto(s.zegel.url('/berichten/nieuw'));
        assert.equal(res.status(), 200);
        await s.checks.checkPage(page, 'compose');

        const email = 'patient.compose@example.nl';
        await page.getByLabel('Aan', { exact: true }).fill(email);
        await page.getByLabel('Controle').selectOption('email');
        // With JavaScript only the fields a method needs are shown.
        assert.equal(await page.getByLabel('Mobiel nummer').isVisible(), false);
        await page.getByLabel('Onderwerp').fill('Uitslag MRI');
        await page.getByLabel('Bericht', { exact: true }).fill('Beste meneer De Boer,\n\nZie de bijlage.');
        const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(300 * 1024)]);
        await page.getByLabel('Bijlagen').setInputFiles([{ name: 'mri-verslag.pdf', mimeType: 'application/pdf', buffer: pdf }]);
        await page.getByLabel('Beschikbaar (dagen)').fill('10');
        await page.getByLabel('Leesbevestiging').check();

        // "Versturen": compose.js uploads with XMLHttpRequest (progress bar, cancel button)
        // and follows the server's answer: the confirmation step.
        const upload = page.waitForRequest((r) => r.url().endsWith('/berichten/nieuw') && r.method() === 'POST' && r.resourceType() === 'xhr');
        await page.getByRole('button', { name: 'Versturen' }).click();
        await upload;
        await page.waitForURL(/\/berichten\/nieuw\/[0-9a-f-]+\/controle$/);
        await page.getByText('Eerste bericht aan dit adres').waitFor();
        assert.ok((await page.locator('.addr-list').textContent()).includes(email));
        await s.checks.checkPage(page, 'compose: confirmation');

        // Nothing has gone out yet.
        const mailDir = s.zegel.mailDir;
        const before = snapshot(mailDir, 'eml');
        await page.getByRole('button', { name: 'Toch versturen' }).click();
        await page.waitForURL(/\/berichten\/[0-9a-f-]+$/);
        const id = new URL(page.url()).pathname.split('/').pop();

        // The notification reaches the patient, without content.
        const { parsed } = await waitForNewFile(mailDir, 'eml', {
          before,
          parse: parseEml,
          accept: (m) => mailTo(m, email),
          what: 'notification',
        });
        assert.equal(linksIn(parsed).length, 1);
        assert.ok(!parsed.raw.includes('Uitslag MRI') && !parsed.raw.includes('mri-verslag'));
        // The message is the sender's, with the attachment uploaded before the confirmation.
        const status = await s.zegel.status(s.token, id);
        assert.equal(status.recipients[0].email, email);
        assert.ok(status.recipients[0].events.some((e) => e.type === 'sent'));
      } finally {
        await ctx.close();
      }
    });

    test('an upload can be stopped: nothing is kept', async () => {
      const ctx = await s.browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'nl-NL' });
      try {
        await ctx.addCookies([await sessionCookie(s.zegel, SENDER.email)]);
        const page = await ctx.newPage();
        await page.goto(s.zegel.url('/berichten/nieuw'));
        // Slow the upload down so that it can be stopped half-way.
        await page.route('**/berichten/nieuw', async (route) => {
          if (route.request().method() !== 'POST') return route.continue();
          await new Promise((r) => setTimeout(r, 3000));
          return route.continue();
        });
        await page.getByLabel('Aan', { exact: true }).fill('stop@example.nl');
        await page.getByLabel('Onderwerp').fill('Stoppen');
        await page.getByLabel('Bijlagen').setInputFiles([{ name: 'groot.bin', mimeType: 'application/octet-stream', buffer: randomBytes(2 * 1024 * 1024) }]);
        await page.getByRole('button', { name: 'Versturen' }).click();
        await page.locator('#upload-progress').waitFor({ state: 'visible' });
        await page.getByRole('button', { name: 'Stoppen' }).click();
        await page.getByText('Gestopt. Er is niets verstuurd of bewaard.').waitFor();
        assert.equal(page.url(), s.zegel.url('/berichten/nieuw'));
        const list = await s.zegel.api('GET', '/api/v1/messages', s.token);
        assert.ok(!list.text.includes('stop@example.nl'));
        // No blob is left of the stopped upload (only the first test's one attachment).
        const deadline = Date.now() + 5000;
        let blobs = countFiles(join(s.zegel.dataDir, 'blobs'));
        while (blobs > 1 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          blobs = countFiles(join(s.zegel.dataDir, 'blobs'));
        }
        assert.equal(blobs, 1);
      } finally {
        await ctx.close();
      }
    });
  });
}
