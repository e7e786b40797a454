// Real-browser tests of the patient flow: Debian's chromium (playwright-core) on a phone-sized
// viewport against the real `zegel serve`, once per backend. Run by scripts/browser-test.sh,
// which builds the binary and prepares the databases; see README.md here.
//
// Environment:
//   ZEGEL_BIN                   the zegel binary (required)
//   ZEGEL_BROWSER_ARTIFACTS     where screenshots and summaries go (required; outside git)
//   ZEGEL_BROWSER_POSTGRES_URL  postgres://... of a fresh, empty database: adds the PostgreSQL run
//   ZEGEL_BROWSER_BACKENDS      "sqlite postgres" (default: sqlite, plus postgres when its URL is set)
//   ZEGEL_AXE_ALLOW_FAIL=1      local iteration only: report serious/critical axe violations
//                               without failing

import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Zegel } from './lib/zegel.js';
import { launchBrowser, phoneContext, PageChecks, documentResponse } from './lib/pages.js';
import { snapshot } from './lib/outbox.js';
import * as patient from './lib/patient.js';

const BIN = process.env.ZEGEL_BIN;
const ARTIFACTS = process.env.ZEGEL_BROWSER_ARTIFACTS;
const PG_URL = process.env.ZEGEL_BROWSER_POSTGRES_URL || '';
const AXE_ALLOW_FAIL = process.env.ZEGEL_AXE_ALLOW_FAIL === '1';
if (!BIN || !ARTIFACTS) {
  throw new Error('set ZEGEL_BIN and ZEGEL_BROWSER_ARTIFACTS (scripts/browser-test.sh does)');
}
const BACKENDS = (process.env.ZEGEL_BROWSER_BACKENDS || (PG_URL ? 'sqlite postgres' : 'sqlite')).split(/\s+/).filter(Boolean);

const SENDER = {
  email: 'arts@example.org',
  name: 'Dr. Anna de Vries',
  orgSlug: 'testdorp',
  orgName: 'Ziekenhuis Testdorp',
};

/** A small but real PDF with binary bytes in it (a download must not mangle them). */
function samplePdf() {
  const noise = randomBytes(1500);
  const head = Buffer.from(
    '%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n' +
      '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n' +
      '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n' +
      `4 0 obj << /Length ${noise.length} >> stream\n`,
    'latin1',
  );
  const tail = Buffer.from('\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');
  return Buffer.concat([head, noise, tail]);
}

/** A tiny PNG (1×1, grey) followed by nothing else. */
function samplePng() {
  return Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==',
    'base64',
  );
}

for (const backend of BACKENDS) {
  describe(`browser tests on ${backend}`, () => {
    /** Shared by the steps: the server, the sender token, the browser, the page checks. */
    const s = { backend, sender: SENDER };
    let dataRoot;

    before(async () => {
      if (backend === 'postgres' && !PG_URL) throw new Error('the postgres run needs ZEGEL_BROWSER_POSTGRES_URL');
      if (backend !== 'postgres' && backend !== 'sqlite') throw new Error(`unknown backend ${backend}`);
      dataRoot = mkdtempSync(join(tmpdir(), `zegel-browser-${backend}-`));
      const dir = join(ARTIFACTS, backend);
      s.zegel = new Zegel({
        bin: BIN,
        dataDir: join(dataRoot, 'data'),
        databaseUrl: backend === 'postgres' ? PG_URL : undefined,
        logDir: dir,
      });
      s.token = await s.zegel.createSender(SENDER);
      await s.zegel.start();
      s.browser = await launchBrowser();
      s.checks = new PageChecks({ browser: s.browser, dir, label: backend });
      s.checks.log(`zegel serve on ${s.zegel.base} (${backend}), chromium ${s.browser.version()}, artifacts ${dir}`);
    });

    after(async () => {
      if (s.checks) {
        const { axePath, layoutPath } = s.checks.writeSummaries();
        console.log(`\n[${backend}] ${s.checks.axeReport()}`);
        console.log(`[${backend}] axe summary: ${axePath}\n[${backend}] layout summary: ${layoutPath}`);
      }
      await s.browser?.close();
      await s.zegel?.stop();
      if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
    });

    test('a. SMS: landing, confirm the masked number, code from the SMS, message, download', async () => {
      const pdf = { name: 'uitslag-bloedonderzoek.pdf', type: 'application/pdf', bytes: samplePdf() };
      const phone = '0612345678';
      const email = 'patient.sms@example.nl';
      const subject = 'Uitslag bloedonderzoek';
      const bodyLines = ['Beste mevrouw Jansen,', 'Hb 8,4 mmol/l <geen actie nodig> & tot ziens'];
      const { id, link } = await patient.sendAndNotify(s, {
        subject,
        body: bodyLines.join('\n\n'),
        recipient: { email, phone, verification: 'sms' },
        attachments: [pdf],
      });
      const ctx = await phoneContext(s.browser);
      try {
        const page = await ctx.newPage();
        await patient.landing(s, page, { link, messageId: id });
        await patient.pressOpen(s, page);
        const smsBefore = snapshot(s.zegel.smsDir, 'json');
        await patient.confirmSend(s, page, { expectMasked: /06-\*{4}-\*{2}78/, hidden: ['12345678'], name: 'send (sms)' });
        const code = await patient.codeFromSms(s, smsBefore, phone);
        await s.checks.checkPage(page, 'code (sms)');
        const r = await patient.enterCode(s, page, code, { label: 'enter the SMS code' });
        assert.equal(r.status(), 200, `after the right code: ${await patient.where(page)}`);
        await patient.messagePage(s, page, {
          subject,
          bodyLines,
          attachments: [{ name: pdf.name, kind: /PDF/i }],
        });
        await patient.download(s, page, pdf);
      } finally {
        await ctx.close();
      }
    });

    test('b. e-mail, JavaScript off: the same flow with the code from the code mail', async () => {
      const png = { name: 'röntgenfoto knie.png', type: 'image/png', bytes: samplePng() };
      const email = 'patient.mail@example.nl';
      const subject = 'Foto van uw knie';
      const bodyLines = ['Beste meneer Bakker,', 'Hierbij de foto.'];
      const { id, link } = await patient.sendAndNotify(s, {
        subject,
        body: bodyLines.join('\n'),
        recipient: { email, verification: 'email' },
        attachments: [png],
      });
      const ctx = await phoneContext(s.browser, { javaScriptEnabled: false });
      try {
        const page = await ctx.newPage();
        const opts = { javaScriptEnabled: false };
        await patient.landing(s, page, { link, messageId: id, name: 'landing (no JS)', ...opts });
        await patient.pressOpen(s, page);
        const mailBefore = snapshot(s.zegel.mailDir, 'eml');
        await patient.confirmSend(s, page, { expectMasked: /\*+@example\.nl/, hidden: [email], name: 'send (e-mail, no JS)', ...opts });
        const code = await patient.codeFromMail(s, mailBefore, email);
        await s.checks.checkPage(page, 'code (e-mail, no JS)', opts);
        const r = await patient.enterCode(s, page, code, { label: 'enter the mail code (no JS)' });
        assert.equal(r.status(), 200, `after the right code: ${await patient.where(page)}`);
        await patient.messagePage(s, page, {
          subject,
          bodyLines,
          attachments: [{ name: png.name, kind: /afbeelding|image|PNG/i }],
          name: 'message (no JS)',
          ...opts,
        });
        await patient.download(s, page, png);
      } finally {
        await ctx.close();
      }
    });

    test('c. a wrong code 5 times: the locked page (429, Retry-After)', async () => {
      const phone = '0687654321';
      const { id, link } = await patient.sendAndNotify(s, {
        subject: 'Afspraakbevestiging',
        body: 'Uw afspraak staat vast.',
        recipient: { email: 'patient.locked@example.nl', phone, verification: 'sms' },
      });
      const ctx = await phoneContext(s.browser);
      try {
        const page = await ctx.newPage();
        await patient.visit(page, link);
        await patient.pressOpen(s, page);
        const smsBefore = snapshot(s.zegel.smsDir, 'json');
        await patient.confirmSend(s, page, { expectMasked: /06-\*{4}-\*{2}21/, name: 'send (sms, lockout)' });
        const code = await patient.codeFromSms(s, smsBefore, phone);
        const wrong = String((Number(code) + 1) % 1000000).padStart(6, '0');
        for (let i = 1; i <= 4; i++) {
          const r = await patient.enterCode(s, page, wrong, { label: `wrong code ${i}` });
          assert.equal(r.status(), 401, `wrong code ${i}: ${await patient.where(page)}`);
          await patient.codeField(page);
          const alert = page.getByRole('alert');
          assert.ok((await alert.count()) > 0, `wrong code ${i}: the page says so in a role=alert element`);
          assert.equal(await page.locator('input[name=code]').getAttribute('aria-invalid'), 'true', 'the field is marked invalid');
          if (i === 1) await s.checks.checkPage(page, 'code (wrong code)');
        }
        const r = await patient.enterCode(s, page, wrong, { label: 'wrong code 5' });
        assert.equal(r.status(), 429, `the 5th wrong code: ${await patient.where(page)}, expected 429`);
        const retryAfter = Number(await r.headerValue('retry-after'));
        assert.ok(retryAfter > 0, `429 carries Retry-After: ${await r.headerValue('retry-after')}`);
        assert.equal(await page.locator('input[name=code]').count(), 0, 'the locked page has no code field');
        assert.equal(await page.locator('h1').count(), 1, 'the locked page has a heading');
        await s.checks.checkPage(page, 'locked');
        // The lockout holds for the link too.
        await patient.visit(page, link);
        const again = await patient.submit(page, patient.openButton(page));
        assert.equal(again.status(), 429, `"Bericht openen" while locked: ${await patient.where(page)}`);
        const events = await s.zegel.eventTypes(s.token, id);
        assert.ok(events.includes('locked'), `a "locked" event: ${events.join(', ')}`);
      } finally {
        await ctx.close();
      }
    });

    test('d1. a revoked message: 410 page', async () => {
      const { id, link } = await patient.sendAndNotify(s, {
        subject: 'Verkeerd bericht',
        body: 'Dit bericht wordt ingetrokken.',
        recipient: { email: 'patient.revoked@example.nl', verification: 'email' },
      });
      await s.zegel.revoke(s.token, id);
      await goneOrMissing(s, link, 410, 'revoked');
    });

    test('d2. an expired message: 410 page', async () => {
      const { id, link } = await patient.sendAndNotify(s, {
        subject: 'Oud bericht',
        body: 'Dit bericht verloopt.',
        recipient: { email: 'patient.expired@example.nl', verification: 'email' },
      });
      await s.zegel.expireInDatabase(id);
      await goneOrMissing(s, link, 410, 'expired');
    });

    test('d3. an unknown link: 404 page', async () => {
      const token = randomBytes(32).toString('base64url');
      assert.equal(token.length, 43);
      await goneOrMissing(s, `${s.zegel.base}/m/${token}`, 404, 'unknown link');
    });

    // TODO(reply): e. reply with an attachment (message page "Beantwoorden"), then the sender's
    //   GET /api/v1/inbox shows it. Not tested yet: the pages are being built.
    // TODO(forward): forward to a new recipient, who gets a notification and verifies on their own.
    // TODO(language): the language switch; the page checks on the English pages.

    test('e. layout: no horizontal scrolling at 320 CSS px, text follows 200 % on every page', () => {
      const lines = [
        ...s.checks.reflow.map((p) => `320 px, ${p.page}: scrollWidth ${p.scrollWidth} > 320 (innerWidth ${p.innerWidth}); too wide: ${p.wide.join(' | ')}`),
        ...s.checks.textZoom.map((p) => `text 200 %, ${p.page}: ${p.problem}`),
      ];
      for (const w of s.checks.textZoomWarnings) console.log(`[${backend}] warning: text 200 %, ${w.page}: ${w.warning}`);
      assert.ok(Object.keys(s.checks.axe).length > 0, 'no page was checked');
      assert.deepEqual(lines, [], `layout problems:\n${lines.join('\n')}`);
    });

    test('f. accessibility: no serious or critical axe violations (WCAG 2.1 A/AA) on any page', () => {
      const pages = Object.keys(s.checks.axe);
      const blocking = s.checks.blockingViolations();
      const lines = blocking.flatMap((v) => v.nodes.map((n) => `${v.page}: ${v.id} [${v.impact}] ${v.help} — ${n.target} ${n.html.slice(0, 120)}`));
      if (lines.length && AXE_ALLOW_FAIL) {
        console.log(`[${backend}] ZEGEL_AXE_ALLOW_FAIL=1: NOT failing on ${lines.length} serious/critical axe finding(s):\n${lines.join('\n')}`);
      } else {
        assert.deepEqual(lines, [], `serious/critical axe violations:\n${lines.join('\n')}`);
      }
      assert.ok(pages.length >= 14, `axe ran on only ${pages.length} of 14 pages (${pages.join(', ')}): a scenario above stopped early`);
    });
  });
}

/** Opens `url`, expects `status` and a clear page (a heading, no forms to fill), checks it. */
async function goneOrMissing(s, url, status, name) {
  const ctx = await phoneContext(s.browser);
  try {
    const page = await ctx.newPage();
    s.checks.log(`step: open the ${name} link`);
    const r = await patient.visit(page, url);
    assert.equal(r.status(), status, `${name}: ${await patient.where(page)}, expected ${status}`);
    assert.equal(documentResponse(page)?.status(), status);
    assert.equal(await page.locator('h1').count(), 1, `the ${name} page has one heading`);
    assert.equal(await patient.openButton(page).count(), 0, `the ${name} page offers no "Bericht openen"`);
    assert.equal(await page.locator('input[name=code]').count(), 0, `the ${name} page has no code field`);
    if (status === 410) {
      // Whom to contact: the sender and the organisation.
      const text = await patient.visibleText(page);
      assert.ok(text.includes(s.sender.orgName), `the ${name} page names the organisation to contact: ${text}`);
    }
    await s.checks.checkPage(page, name);
  } finally {
    await ctx.close();
  }
}
