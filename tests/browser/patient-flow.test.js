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
import { snapshot, waitForNewFile, parseEml, mailTo, linksIn } from './lib/outbox.js';
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

/** Every page the scenarios check (axe, reflow, text size); test l says which ones were missed. */
const EXPECTED_PAGES = [
  // a. SMS (reply "off")
  'landing', 'send (sms)', 'code (sms)', 'message', 'reply (off: 403)',
  // b. e-mail without JavaScript
  'landing (no JS)', 'send (e-mail, no JS)', 'code (e-mail, no JS)', 'message (no JS)',
  // c. lockout; d. gone and unknown
  'send (sms, lockout)', 'code (wrong code)', 'locked', 'revoked', 'expired', 'unknown link',
  // e. reply
  'message (reply allowed)', 'reply', 'reply (empty: error)', 'message (after reply)', 'reply (once, used: 409)',
  // f. forward
  'forward', 'forward (bad address)', 'message (after forward)', 'message (forwarded, with note)',
  // h. English
  'landing (en)', 'code (en)', 'message (en)', 'reply (en)', 'forward (en)',
  // i. remember this device; j. not my number
  'code (remember this device)', 'not my number',
];

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
        // Sent with `"reply": "off"`: no "Beantwoorden", a .reply-refused paragraph instead;
        // the organisation allows forwarding (the default).
        await patient.messagePage(s, page, {
          subject,
          bodyLines,
          attachments: [{ name: pdf.name, kind: /PDF/i }],
          reply: false,
          forward: true,
        });
        await patient.download(s, page, pdf);
        // The sender reads the conversation (API): on the patient's "Wie heeft dit bericht
        // bekeken?" with their own accesses, never the file name or the phone number.
        const st = await s.zegel.status(s.token, id);
        const thread = await s.zegel.api('GET', `/api/v1/threads/${encodeURIComponent(st.thread_id)}`, s.token);
        assert.equal(thread.status, 200, `GET /api/v1/threads/{id}: ${thread.text}`);
        await patient.accessLog(s, page, {
          first: 'U: bekeken',
          includes: [
            `De afzender, ${SENDER.name} (${SENDER.orgName}): bekeken`,
            'U: bijlage gedownload',
            'U: geopend met de code',
          ],
          hidden: [pdf.name, phone, '12345678', email],
        });
        await refusedReply(s, page, { status: 403, name: 'reply (off: 403)', link });
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

    test('e. reply with an attachment ("reply": "once"): notice, thread, sender inbox, own copy; no second reply', async () => {
      const pdf = { name: 'vragenlijst.pdf', type: 'application/pdf', bytes: samplePdf() };
      const answer = { name: 'ingevulde vragenlijst.pdf', type: 'application/pdf', bytes: samplePdf() };
      const email = 'patient.reply@example.nl';
      const code = '274019';
      const subject = 'Vragenlijst voor uw afspraak';
      const bodyLines = ['Beste mevrouw Visser,', 'Wilt u de vragenlijst ingevuld terugsturen?'];
      // One line: a browser sends a textarea's line breaks as CRLF.
      const replyText = 'Hierbij de ingevulde vragenlijst. Groet, Els Visser';
      const { id, link } = await patient.sendAndNotify(s, {
        subject,
        body: bodyLines.join('\n\n'),
        recipient: { email, verification: 'code', code },
        attachments: [pdf],
        reply: 'once',
      });
      const ctx = await phoneContext(s.browser);
      try {
        const page = await ctx.newPage();
        await patient.openWithSenderCode(s, page, { link, code });
        await patient.messagePage(s, page, {
          subject,
          bodyLines,
          attachments: [{ name: pdf.name, kind: /PDF/i }],
          reply: true,
          forward: true,
          name: 'message (reply allowed)',
        });
        await patient.reply(s, page, { body: replyText, files: [answer], tryEmpty: true, tooMany: true, name: 'reply' });
        // Back on the message page: the reply in the thread, and ("once") no second reply.
        await threadShows(page, [replyText, answer.name], 'the reply');
        await patient.messageActions(page, { reply: false, forward: true });
        await s.checks.checkPage(page, 'message (after reply)');

        // The sender's side: the inbox item, the text, the attachment byte for byte, the event.
        const items = await s.zegel.inbox(s.token);
        const mine = items.filter((i) => i.type === 'reply' && i.from?.email === email);
        assert.equal(mine.length, 1, `one reply from ${email} in GET /api/v1/inbox: ${JSON.stringify(items)}`);
        const item = mine[0];
        assert.ok(String(item.subject ?? '').includes(subject), `the inbox item names the subject: ${JSON.stringify(item)}`);
        assert.equal(item.attachment_count, 1, `the inbox item counts the attachment: ${JSON.stringify(item)}`);
        const full = await s.zegel.inboxItem(s.token, item.id);
        assert.equal(String(full.body).replace(/\r\n/g, '\n').trim(), replyText, 'GET /api/v1/inbox/{id}: the reply text');
        assert.equal(full.attachments?.length, 1, `GET /api/v1/inbox/{id}: one attachment: ${JSON.stringify(full.attachments)}`);
        const att = full.attachments[0];
        assert.equal(att.name, answer.name, 'the reply attachment keeps its name');
        assert.equal(att.size, answer.bytes.length, 'the reply attachment size');
        const got = await s.zegel.apiBytes(`/api/v1/inbox/${encodeURIComponent(item.id)}/attachments/${encodeURIComponent(att.id)}`, s.token);
        assert.equal(got.status, 200, `GET /api/v1/inbox/{id}/attachments/{aid}: ${got.status}`);
        assert.ok(got.bytes.equals(answer.bytes), `the sender gets the reply attachment byte for byte (${got.bytes.length} of ${answer.bytes.length} bytes)`);
        const events = await s.zegel.eventTypes(s.token, id);
        assert.ok(events.includes('replied'), `a "replied" event: ${events.join(', ')}`);

        // The own copy holds the whole conversation.
        await patient.ownCopy(s, page, { texts: [bodyLines[1], replyText], attachments: [pdf, answer] });

        // A second reply: the page says why not (409), and a POST stores nothing.
        await refusedReply(s, page, { status: 409, name: 'reply (once, used: 409)', link });
        const after = (await s.zegel.inbox(s.token)).filter((i) => i.type === 'reply' && i.from?.email === email);
        assert.equal(after.length, 1, 'a refused second reply was not stored');
      } finally {
        await ctx.close();
      }
    });

    test('f. forward with a phone number and a note; the new recipient verifies by SMS on their own', async () => {
      const email = 'patient.forward@example.nl';
      const code = '518302';
      const subject = 'Medicatieoverzicht';
      const bodyLines = ['Beste meneer De Boer,', 'Hierbij uw medicatieoverzicht.'];
      const newEmail = 'dochter.deboer@example.nl';
      const newPhone = '06 2345 6789';
      const note = 'Voor je afspraak bij de apotheek morgen. Groet, papa';
      const { id, link } = await patient.sendAndNotify(s, {
        subject,
        body: bodyLines.join('\n'),
        recipient: { email, verification: 'code', code },
      });
      const ctx = await phoneContext(s.browser);
      let mailBefore;
      try {
        const page = await ctx.newPage();
        await patient.openWithSenderCode(s, page, { link, code });
        await patient.messagePage(s, page, { subject, bodyLines, reply: false, forward: true, name: null });
        mailBefore = snapshot(s.zegel.mailDir, 'eml');
        await patient.forward(s, page, { email: newEmail, phone: newPhone, note, badEmail: 'iemand@ziekenhuis', name: 'forward' });
        await s.checks.checkPage(page, 'message (after forward)');
      } finally {
        await ctx.close();
      }

      // The sender sees it.
      const events = await s.zegel.eventTypes(s.token, id);
      assert.ok(events.includes('forwarded'), `a "forwarded" event: ${events.join(', ')}`);
      const items = await s.zegel.inbox(s.token);
      const fwd = items.find((i) => i.type === 'forward' && i.to?.email === newEmail);
      assert.ok(fwd, `GET /api/v1/inbox lists the forward to ${newEmail}: ${JSON.stringify(items)}`);
      assert.equal(fwd.from?.email, email, 'the forward is from the recipient who forwarded');

      // The new recipient's own notification, with their own link and no content.
      const { parsed: mail } = await waitForNewFile(s.zegel.mailDir, 'eml', {
        before: mailBefore,
        parse: parseEml,
        accept: (m) => mailTo(m, newEmail) && linksIn(m).length > 0,
        what: `notification mail to ${newEmail}`,
      });
      assert.match(mail.to, new RegExp(newEmail.replace(/\./g, '\\.'), 'i'), 'To: the new recipient');
      const links = [...new Set(linksIn(mail))];
      assert.equal(links.length, 1, `the forward notification holds one /m/ link:\n${mail.text}`);
      const newLink = links[0];
      assert.notEqual(newLink, link, 'the new recipient gets their own link');
      for (const secret of [subject, note, bodyLines[1]]) {
        assert.ok(!mail.text.includes(secret) && !mail.html.includes(secret), `the forward notification carries content: ${secret}`);
      }

      // Their own flow, in a browser of their own: SMS to their phone, their own code.
      const ctx2 = await phoneContext(s.browser);
      try {
        const page = await ctx2.newPage();
        await patient.landing(s, page, { link: newLink, messageId: id, name: null });
        await patient.pressOpen(s, page);
        const smsBefore = snapshot(s.zegel.smsDir, 'json');
        await patient.confirmSend(s, page, { expectMasked: /06-\*{4}-\*{2}89/, hidden: ['23456789'], name: null });
        const code2 = await patient.codeFromSms(s, smsBefore, newPhone);
        const r = await patient.enterCode(s, page, code2, { label: 'enter the forwarded recipient\'s SMS code' });
        assert.equal(r.status(), 200, `the forwarded recipient after the right code: ${await patient.where(page)}`);
        await patient.messagePage(s, page, { subject, bodyLines, name: null });
        await patient.assertVisible(page.locator('.forward-note'), 'the forwarder\'s note in a .forward-note element');
        const shown = (await page.locator('.forward-note').first().innerText()).replace(/\s+/g, ' ');
        assert.ok(shown.includes(note), `.forward-note shows the note ${JSON.stringify(note)}: ${JSON.stringify(shown)}`);
        await s.checks.checkPage(page, 'message (forwarded, with note)');
      } finally {
        await ctx2.close();
      }
    });

    test('g. own copy: the conversation as an .eml download', async () => {
      const pdf = { name: 'ontslagbrief.pdf', type: 'application/pdf', bytes: samplePdf() };
      const code = '640275';
      const subject = 'Ontslagbrief';
      const bodyLines = ['Beste meneer Smit,', 'Hierbij uw ontslagbrief & de leefregels <na de operatie>.'];
      const { link } = await patient.sendAndNotify(s, {
        subject,
        body: bodyLines.join('\n\n'),
        recipient: { email: 'patient.copy@example.nl', verification: 'code', code },
        attachments: [pdf],
      });
      const ctx = await phoneContext(s.browser);
      try {
        const page = await ctx.newPage();
        await patient.openWithSenderCode(s, page, { link, code });
        await patient.messagePage(s, page, { subject, bodyLines, attachments: [{ name: pdf.name, kind: /PDF/i }], name: null });
        await patient.ownCopy(s, page, { texts: bodyLines, attachments: [pdf] });
      } finally {
        await ctx.close();
      }
    });

    test('h. language: English landing, code, message, reply and forward pages, kept by the cookie; back to Dutch', async () => {
      const code = '903174';
      const subject = 'Uitslag longfoto';
      const bodyLines = ['Beste mevrouw Jansen,', 'De foto is goed.'];
      const { link } = await patient.sendAndNotify(s, {
        subject,
        body: bodyLines.join('\n'),
        recipient: { email: 'patient.english@example.nl', verification: 'code', code },
        reply: 'unlimited',
      });
      const ctx = await phoneContext(s.browser);
      try {
        const page = await ctx.newPage();
        await patient.visit(page, link);
        assert.equal(await patient.htmlLang(page), 'nl', 'the landing page is Dutch by default (Accept-Language nl-NL)');
        await patient.switchLanguage(s, page, 'en', { name: 'landing (en)' });
        await patient.assertVisible(patient.openButton(page, 'en'), 'the "Open message" button on the English landing page');
        assert.equal(await patient.openButton(page, 'nl').count(), 0, 'no "Bericht openen" on the English landing page');

        // The choice is kept by the cookie: the POST and the pages after it have no ?lang=.
        let r = await patient.submit(page, patient.openButton(page, 'en'), { tap: true });
        assert.equal(r.status(), 200, `after "Open message": ${await patient.where(page)}`);
        assert.match(new URL(page.url()).pathname, /\/code$/, `expected the code page, ${await patient.where(page)}`);
        assert.equal(new URL(page.url()).searchParams.get('lang'), null, 'the code page URL carries no ?lang=');
        assert.equal(await patient.htmlLang(page), 'en', 'the code page stays English (zegel_lang cookie)');
        await s.checks.checkPage(page, 'code (en)');
        r = await patient.enterCode(s, page, code, { label: 'enter the code (English)' });
        assert.equal(r.status(), 200, `after the right code: ${await patient.where(page)}`);
        assert.equal(await patient.htmlLang(page), 'en', 'the message page stays English');
        await patient.messagePage(s, page, { subject, bodyLines, reply: true, forward: true, lang: 'en', name: 'message (en)' });
        const base = patient.tokenPath(page);

        r = await patient.submit(page, patient.replyLink(page, 'en'), { tap: true });
        assert.equal(r.status(), 200, `"Reply": ${await patient.where(page)}`);
        assert.equal(await patient.htmlLang(page), 'en', 'the reply page stays English');
        await patient.checkForm(page, 'antwoord', patient.replyFormSpec('en'));
        await s.checks.checkPage(page, 'reply (en)');

        await patient.visit(page, `${s.zegel.base}${base}/bericht`);
        r = await patient.submit(page, patient.forwardLink(page, 'en'), { tap: true });
        assert.equal(r.status(), 200, `"Forward": ${await patient.where(page)}`);
        assert.equal(await patient.htmlLang(page), 'en', 'the forward page stays English');
        await patient.checkForm(page, 'doorsturen', patient.forwardFormSpec('en'));
        await s.checks.checkPage(page, 'forward (en)');

        // Back to Dutch on the message page; the cookie keeps that too.
        await patient.visit(page, `${s.zegel.base}${base}/bericht`);
        assert.equal(await patient.htmlLang(page), 'en', 'the message page is English before switching back');
        await patient.switchLanguage(s, page, 'nl');
        await patient.messageActions(page, { reply: true, forward: true, lang: 'nl' });
        await patient.visit(page, link);
        assert.equal(await patient.htmlLang(page), 'nl', 'the landing page is Dutch again (zegel_lang=nl)');
        await patient.assertVisible(patient.openButton(page, 'nl'), '"Bericht openen" after switching back');
      } finally {
        await ctx.close();
      }
    });

    test('i. remember this device: no code on a later visit; the sender revokes it; a code again', async () => {
      const policy = await s.zegel.orgPolicy(s.sender.orgSlug, { 'device-days': 30 });
      assert.equal(policy.device_days, 30, `zegel admin org policy --device-days 30: ${JSON.stringify(policy)}`);
      try {
        const phone = '0634567812';
        const email = 'patient.device@example.nl';
        const subject = 'Controle-afspraak';
        const bodyLines = ['Beste meneer Mulder,', 'Uw controle is op dinsdag.'];
        const { id, link } = await patient.sendAndNotify(s, {
          subject,
          body: bodyLines.join('\n'),
          recipient: { email, phone, verification: 'sms' },
        });
        let device;
        const ctx = await phoneContext(s.browser);
        try {
          const page = await ctx.newPage();
          await patient.visit(page, link);
          await patient.pressOpen(s, page);
          const smsBefore = snapshot(s.zegel.smsDir, 'json');
          await patient.confirmSend(s, page, { expectMasked: /06-\*{4}-\*{2}12/, name: null });
          const code = await patient.codeFromSms(s, smsBefore, phone);
          const box = await patient.rememberBox(page);
          await s.checks.checkPage(page, 'code (remember this device)');
          await box.check();
          const r = await patient.enterCode(s, page, code, { label: 'enter the code, remember this device' });
          assert.equal(r.status(), 200, `after the right code: ${await patient.where(page)}`);
          await patient.messagePage(s, page, { subject, bodyLines, name: null });
          const base = patient.tokenPath(page);
          device = await patient.cookie(page, 'zegel_device');
          assert.ok(device, `a zegel_device cookie after verifying with "remember" ticked (cookies: ${(await ctx.cookies()).map((c) => c.name).join(', ')})`);
          assert.equal(device.httpOnly, true, 'zegel_device is HttpOnly');
          assert.equal(device.path, base, 'zegel_device is limited to Path=/m/{token}');
          assert.ok(device.expires > Date.now() / 1000 + 86400, `zegel_device outlives the browser session (expires ${device.expires}): a session cookie would forget the device when the browser closes`);
        } finally {
          await ctx.close();
        }

        // A later visit, after the session ended: a fresh browser with only the device cookie.
        await laterVisit(s, device, link, async (page, base) => {
          assert.equal(new URL(page.url()).pathname, `${base}/bericht`, `"Bericht openen" with a remembered device goes straight to the message page, ${await patient.where(page)}`);
          await patient.assertVisible(page.getByRole('heading', { level: 1, name: subject }), 'the subject on the message page');
        });

        // The sender revokes the device.
        const st = await s.zegel.status(s.token, id);
        const rec = (st.recipients || []).find((x) => x.email === email) || (st.recipients || [])[0];
        const devices = rec?.devices || [];
        assert.equal(devices.length, 1, `GET /api/v1/messages/{id}: recipients[].devices lists the remembered device: ${JSON.stringify(rec)}`);
        assert.ok(devices[0].id, `a device has an id: ${JSON.stringify(devices[0])}`);
        const del = await s.zegel.revokeDevice(s.token, devices[0].id);
        assert.ok(del.status === 200 || del.status === 204, `DELETE /api/v1/devices/{id}: ${del.status} ${del.text}`);

        await laterVisit(s, device, link, async (page, base) => {
          assert.equal(new URL(page.url()).pathname, `${base}/send`, `after the sender revoked the device "Bericht openen" asks for a code again, ${await patient.where(page)}`);
        });
      } finally {
        await s.zegel.orgPolicy(s.sender.orgSlug, { 'device-days': 0 });
      }
    });

    test('j. the SMS confirm page: "Dit is niet mijn nummer" leads to a page without a form', async () => {
      const phone = '0645678923';
      const { link } = await patient.sendAndNotify(s, {
        subject: 'Uw afspraak',
        body: 'Uw afspraak is verzet.',
        recipient: { email: 'patient.notmine@example.nl', phone, verification: 'sms' },
      });
      const ctx = await phoneContext(s.browser);
      try {
        const page = await ctx.newPage();
        await patient.visit(page, link);
        await patient.pressOpen(s, page);
        assert.match(new URL(page.url()).pathname, /\/send$/, `expected the SMS confirm page, ${await patient.where(page)}`);
        const smsBefore = snapshot(s.zegel.smsDir, 'json');
        await patient.notMyNumber(s, page);
        const newSms = [...snapshot(s.zegel.smsDir, 'json')].filter((n) => !smsBefore.has(n));
        assert.deepEqual(newSms, [], '"Dit is niet mijn nummer" sent an SMS');
      } finally {
        await ctx.close();
      }
    });

    test('k. layout: no horizontal scrolling at 320 CSS px, text follows 200 % on every page', () => {
      const lines = [
        ...s.checks.reflow.map((p) => `320 px, ${p.page}: scrollWidth ${p.scrollWidth} > 320 (innerWidth ${p.innerWidth}); too wide: ${p.wide.join(' | ')}`),
        ...s.checks.textZoom.map((p) => `text 200 %, ${p.page}: ${p.problem}`),
      ];
      for (const w of s.checks.textZoomWarnings) console.log(`[${backend}] warning: text 200 %, ${w.page}: ${w.warning}`);
      assert.ok(Object.keys(s.checks.axe).length > 0, 'no page was checked');
      assert.deepEqual(lines, [], `layout problems:\n${lines.join('\n')}`);
    });

    test('l. accessibility: no serious or critical axe violations (WCAG 2.1 A/AA) on any page', () => {
      const pages = Object.keys(s.checks.axe);
      const blocking = s.checks.blockingViolations();
      const lines = blocking.flatMap((v) => v.nodes.map((n) => `${v.page}: ${v.id} [${v.impact}] ${v.help} — ${n.target} ${n.html.slice(0, 120)}`));
      if (lines.length && AXE_ALLOW_FAIL) {
        console.log(`[${backend}] ZEGEL_AXE_ALLOW_FAIL=1: NOT failing on ${lines.length} serious/critical axe finding(s):\n${lines.join('\n')}`);
      } else {
        assert.deepEqual(lines, [], `serious/critical axe violations:\n${lines.join('\n')}`);
      }
      const missing = EXPECTED_PAGES.filter((p) => !pages.includes(p));
      assert.deepEqual(missing, [], `axe did not run on ${missing.length} of ${EXPECTED_PAGES.length} pages (a scenario above stopped early): ${missing.join(', ')}`);
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

/** The "Andere berichten in dit gesprek" section shows each of `texts` in an `article.thread-item`. */
async function threadShows(page, texts, what) {
  await patient.assertVisible(page.getByRole('heading', { name: patient.UI.nl.earlier, exact: true }), `the "${patient.UI.nl.earlier}" heading`);
  const items = page.locator('article.thread-item');
  const all = (await items.allInnerTexts()).map((t) => t.replace(/\s+/g, ' '));
  assert.ok(all.length > 0, `no article.thread-item on the message page (${await patient.where(page)})`);
  for (const t of texts) {
    assert.ok(all.some((x) => x.includes(t)), `${what} in an article.thread-item: ${JSON.stringify(t)} not in ${JSON.stringify(all)}`);
  }
}

/**
 * Replying is not allowed (policy "off": 403; "once" and used: 409): GET /m/{token}/antwoord
 * shows a page saying why, without a reply form; a POST with a valid CSRF token gets the same
 * status. Leaves the page on the GET answer.
 */
async function refusedReply(s, page, { status, name, link }) {
  const url = `${s.zegel.base}${patient.tokenPath(page)}/antwoord`;
  s.checks.log(`step: open /antwoord although replying is not allowed (expect ${status})`);
  const r = await patient.visit(page, url);
  assert.equal(r.status(), status, `GET /m/<token>/antwoord when replying is not allowed: ${await patient.where(page)}, expected ${status}`);
  assert.equal(await page.locator('h1').count(), 1, 'the page has one heading');
  assert.equal(await page.locator('textarea[name=body], input[name=attachment]').count(), 0, 'no reply form when replying is not allowed');
  const heading = (await page.locator('h1').innerText()).trim();
  await s.checks.checkPage(page, name);
  // A POST anyway (the CSRF token from the landing page's form, same cookie jar).
  const landing = await (await page.request.get(link)).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(landing)?.[1];
  assert.ok(csrf, 'a csrf field on the landing page');
  const post = await page.request.post(url, { multipart: { csrf, body: 'Nog een vraag.' }, maxRedirects: 0 });
  const h1 = (/<h1[^>]*>([^<]*)</.exec(await post.text())?.[1] || '').trim();
  assert.equal(post.status(), status, `POST /m/<token>/antwoord when replying is not allowed: HTTP ${post.status()} ("${h1}"), expected ${status}`);
  // The same page as the GET, not a CSRF or session refusal that happens to share the status.
  assert.equal(h1, heading, `POST /m/<token>/antwoord answers the same "not possible" page as the GET`);
}

/**
 * A later visit after the session ended: a fresh browser holding only the device cookie opens
 * the link and presses "Bericht openen"; `check(page, base)` says where that must lead. No
 * code goes out on the way.
 */
async function laterVisit(s, device, link, check) {
  const ctx = await phoneContext(s.browser);
  try {
    await ctx.addCookies([device]);
    const page = await ctx.newPage();
    const smsBefore = snapshot(s.zegel.smsDir, 'json');
    const mailBefore = snapshot(s.zegel.mailDir, 'eml');
    s.checks.log('step: a later visit with the device cookie');
    await patient.visit(page, link);
    const r = await patient.submit(page, patient.openButton(page), { tap: true });
    assert.equal(r.status(), 200, `"Bericht openen" on a later visit: ${await patient.where(page)}`);
    await check(page, patient.tokenPath(page));
    const newSms = [...snapshot(s.zegel.smsDir, 'json')].filter((n) => !smsBefore.has(n));
    const newMail = [...snapshot(s.zegel.mailDir, 'eml')].filter((n) => !mailBefore.has(n));
    assert.deepEqual(newSms, [], 'a later visit sent an SMS');
    assert.deepEqual(newMail, [], 'a later visit sent a mail');
  } finally {
    await ctx.close();
  }
}
