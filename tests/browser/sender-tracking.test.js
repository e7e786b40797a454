// Real-browser test of following a sent message (issue 13, helper C): the sender's status page
// shows "Geopend" and "Gedownload" (with the client address) after the patient's flow, the
// patient's reply arrives in the inbox marked unread, the sender answers it in the same thread
// and the patient sees the answer, then "Intrekken" (after its confirmation page) makes the
// patient's link show the revoked page. Debian's chromium (playwright-core), once per backend,
// against the real `zegel serve`. Run by scripts/browser-test.sh (see README.md here).
//
// Signing in: until the sign-in page (/inloggen) exists, the sender's session is made by this
// test straight in the database (a `sender_sessions` row holding the SHA-256 of a random
// cookie value, as the server's own `start_sender_session` does) and put in the browser as the
// `zegel_sender` cookie: `signIn` below. Switching to /inloggen means replacing that one
// function with filling "E-mailadres" and "Wachtwoord" and pressing "Inloggen".
//
// Environment: as patient-flow.test.js (ZEGEL_BIN, ZEGEL_BROWSER_ARTIFACTS,
// ZEGEL_BROWSER_POSTGRES_URL, ZEGEL_BROWSER_BACKENDS, ZEGEL_AXE_ALLOW_FAIL).

import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Zegel } from './lib/zegel.js';
import { launchBrowser, phoneContext, PageChecks } from './lib/pages.js';
import { snapshot, waitForNewFile, parseEml, mailTo, linksIn } from './lib/outbox.js';
import * as patient from './lib/patient.js';

const execFileP = promisify(execFile);
const BIN = process.env.ZEGEL_BIN;
const ARTIFACTS = process.env.ZEGEL_BROWSER_ARTIFACTS;
const PG_URL = process.env.ZEGEL_BROWSER_POSTGRES_URL || '';
const AXE_ALLOW_FAIL = process.env.ZEGEL_AXE_ALLOW_FAIL === '1';
if (!BIN || !ARTIFACTS) {
  throw new Error('set ZEGEL_BIN and ZEGEL_BROWSER_ARTIFACTS (scripts/browser-test.sh does)');
}
const BACKENDS = (process.env.ZEGEL_BROWSER_BACKENDS || (PG_URL ? 'sqlite postgres' : 'sqlite')).split(/\s+/).filter(Boolean);

// Its own organisation and sender: the PostgreSQL database is shared with patient-flow.test.js.
const SENDER = {
  email: 'arts.volgen@example.org',
  name: 'Dr. Bram Visser',
  orgSlug: 'volgdorp',
  orgName: 'Ziekenhuis Volgdorp',
};

const EXPECTED_PAGES = ['sent list', 'message status (downloaded)', 'inbox (unread)', 'reply (sender)', 'revoke confirmation', 'message status (revoked)'];

/**
 * A signed-in sender in `ctx`: a session row for `email` (SHA-256 of a random 43-character
 * cookie value) and the `zegel_sender` cookie. Replace with the /inloggen form once it exists.
 */
async function signIn(s, ctx, email) {
  const token = randomBytes(32).toString('base64url');
  const hash = createHash('sha256').update(token, 'utf8').digest('hex');
  const now = Date.now();
  if (s.zegel.databaseUrl) {
    if (!/^[a-z0-9.@-]+$/.test(email)) throw new Error(`unexpected e-mail ${email}`);
    const { stdout } = await execFileP('psql', [
      s.zegel.databaseUrl, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c',
      `INSERT INTO sender_sessions (token_hash, user_id, created_at, last_seen_at) SELECT decode('${hash}', 'hex'), id, ${now}, ${now} FROM users WHERE email = '${email}' RETURNING 1`,
    ]);
    assert.equal(stdout.trim(), '1', `a session row for ${email}`);
  } else {
    const py = [
      'import sqlite3, sys',
      'c = sqlite3.connect(sys.argv[1], timeout=30)',
      'uid = c.execute("SELECT id FROM users WHERE email = ?", (sys.argv[2],)).fetchone()[0]',
      'c.execute("INSERT INTO sender_sessions (token_hash, user_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)", (bytes.fromhex(sys.argv[3]), uid, int(sys.argv[4]), int(sys.argv[4])))',
      'c.commit()',
      'print(1)',
    ].join('\n');
    const { stdout } = await execFileP(process.env.ZEGEL_BROWSER_PYTHON || 'python3', ['-c', py, s.zegel.sqliteFile, email, hash, String(now)]);
    assert.equal(stdout.trim(), '1', `a session row for ${email}`);
  }
  await ctx.addCookies([{ name: 'zegel_sender', value: token, url: s.zegel.base, httpOnly: true, sameSite: 'Strict' }]);
}

/** The recipient's status as the message page shows it (`.status` in their section). */
async function statusOf(page, email) {
  const section = page.locator('section.recipient', { has: page.getByRole('heading', { name: new RegExp(email.replace(/[.@]/g, '\\$&')) }) });
  return (await section.locator('.status').first().innerText()).trim();
}

for (const backend of BACKENDS) {
  describe(`sender tracking in a browser on ${backend}`, () => {
    const s = { backend, sender: SENDER };
    let dataRoot;

    before(async () => {
      if (backend === 'postgres' && !PG_URL) throw new Error('the postgres run needs ZEGEL_BROWSER_POSTGRES_URL');
      dataRoot = mkdtempSync(join(tmpdir(), `zegel-browser-tracking-${backend}-`));
      const dir = join(ARTIFACTS, `tracking-${backend}`);
      s.zegel = new Zegel({
        bin: BIN,
        dataDir: join(dataRoot, 'data'),
        databaseUrl: backend === 'postgres' ? PG_URL : undefined,
        logDir: dir,
      });
      s.token = await s.zegel.createSender(SENDER);
      await s.zegel.start();
      s.browser = await launchBrowser();
      s.checks = new PageChecks({ browser: s.browser, dir, label: `tracking ${backend}` });
      s.checks.log(`zegel serve on ${s.zegel.base} (${backend}), artifacts ${dir}`);
    });

    after(async () => {
      if (s.checks) {
        const { axePath } = s.checks.writeSummaries();
        console.log(`\n[tracking ${backend}] ${s.checks.axeReport()}\n[tracking ${backend}] axe summary: ${axePath}`);
      }
      await s.browser?.close();
      await s.zegel?.stop();
      if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
    });

    test('follow a message to "Gedownload", answer the reply in the thread, revoke', async () => {
      const pdf = { name: 'uitslag.pdf', type: 'application/pdf', bytes: Buffer.from(`%PDF-1.4\n${randomBytes(800).toString('hex')}\n%%EOF\n`) };
      const email = 'patient.volgen@example.nl';
      const subject = 'Uitslag MRI';
      const { id, link } = await patient.sendAndNotify(s, {
        subject,
        body: 'De uitslag staat in de bijlage.',
        recipient: { email, verification: 'email' },
        attachments: [pdf],
        reply: 'unlimited',
      });
      const senderCtx = await phoneContext(s.browser);
      const patientCtx = await phoneContext(s.browser);
      try {
        const desk = await senderCtx.newPage();
        await signIn(s, senderCtx, SENDER.email);
        // The sent list: the message, its recipient "Verstuurd".
        let r = await patient.visit(desk, s.zegel.url('/berichten'));
        assert.equal(r.status(), 200, await patient.where(desk));
        assert.match(await patient.visibleText(desk), /Verstuurd/);
        await s.checks.checkPage(desk, 'sent list');

        // The patient: link, code by mail, the message, the attachment.
        const phone = await patientCtx.newPage();
        await patient.visit(phone, link);
        await patient.pressOpen(s, phone);
        const mailBefore = snapshot(s.zegel.mailDir, 'eml');
        await patient.confirmSend(s, phone, { expectMasked: /\*+@example\.nl/, hidden: [email], name: null });
        const code = await patient.codeFromMail(s, mailBefore, email);
        r = await patient.enterCode(s, phone, code);
        assert.equal(r.status(), 200, await patient.where(phone));

        // Opened (before the download).
        await patient.submit(desk, desk.getByRole('link', { name: subject }));
        assert.equal(new URL(desk.url()).pathname, `/berichten/${id}`);
        assert.equal(await statusOf(desk, email), 'Geopend');
        await patient.download(s, phone, pdf);
        await patient.visit(desk, s.zegel.url(`/berichten/${id}`));
        assert.equal(await statusOf(desk, email), 'Gedownload');
        const timeline = await patient.visibleText(desk);
        assert.match(timeline, /Bijlage gedownload \(vanaf 127\.0\.0\.1\)/, 'the timeline names the address of the download');
        assert.match(timeline, /Geopend \(vanaf 127\.0\.0\.1\)/);
        await s.checks.checkPage(desk, 'message status (downloaded)');

        // The patient replies; the inbox shows it unread.
        await patient.visit(phone, `${link}/bericht`);
        await patient.reply(s, phone, { body: 'Wat betekent deze uitslag?', name: null });
        r = await patient.visit(desk, s.zegel.url('/inbox'));
        assert.equal(r.status(), 200);
        await patient.assertVisible(desk.locator('.inbox-item.unread'), 'an unread reply');
        await s.checks.checkPage(desk, 'inbox (unread)');
        await patient.submit(desk, desk.locator('.inbox-item.unread a').first());
        assert.match(await patient.visibleText(desk), /Wat betekent deze uitslag\?/);
        await s.checks.checkPage(desk, 'reply (sender)');

        // The answer, in the same thread: the patient gets a notification and sees it.
        const before = snapshot(s.zegel.mailDir, 'eml');
        await desk.locator('textarea[name=body]').fill('De uitslag is goed, er is niets aan de hand.');
        r = await patient.submit(desk, desk.getByRole('button', { name: 'Versturen' }));
        assert.equal(r.status(), 200, await patient.where(desk));
        assert.match(await patient.visibleText(desk), /beveiligd verstuurd/);
        await waitForNewFile(s.zegel.mailDir, 'eml', {
          before,
          parse: parseEml,
          accept: (m) => mailTo(m, email) && linksIn(m).length > 0,
          what: `the notification of the answer to ${email}`,
        });
        await patient.visit(phone, `${link}/bericht`);
        assert.match(await patient.visibleText(phone), /De uitslag is goed, er is niets aan de hand\./, 'the patient sees the answer in the thread');
        await patient.visit(desk, s.zegel.url('/inbox'));
        assert.equal(await desk.locator('.inbox-item.unread').count(), 0, 'read now');

        // Revoke: the link goes to a confirmation page first; then the patient's link is gone.
        await patient.visit(desk, s.zegel.url(`/berichten/${id}`));
        await patient.submit(desk, desk.getByRole('link', { name: 'Intrekken' }));
        assert.equal(new URL(desk.url()).pathname, `/berichten/${id}/intrekken`);
        await s.checks.checkPage(desk, 'revoke confirmation');
        assert.equal((await s.zegel.status(s.token, id)).state, 'active', 'the confirmation page changes nothing');
        r = await patient.submit(desk, desk.getByRole('button', { name: 'Intrekken' }));
        assert.equal(r.status(), 200, await patient.where(desk));
        assert.equal(await statusOf(desk, email), 'Ingetrokken');
        await s.checks.checkPage(desk, 'message status (revoked)');
        r = await patient.visit(phone, link);
        assert.equal(r.status(), 410, 'the patient link shows the revoked page');
        assert.match(await patient.visibleText(phone), /ingetrokken/i);
      } finally {
        await senderCtx.close();
        await patientCtx.close();
      }
    });

    test('layout and axe: reflow at 320 px, text at 200 %, no serious or critical violations on the sender pages', () => {
      const layout = [
        ...s.checks.reflow.map((p) => `320 px, ${p.page}: scrollWidth ${p.scrollWidth} > 320; too wide: ${p.wide.join(' | ')}`),
        ...s.checks.textZoom.map((p) => `text 200 %, ${p.page}: ${p.problem}`),
      ];
      assert.deepEqual(layout, [], `layout problems:\n${layout.join('\n')}`);
      const pages = Object.keys(s.checks.axe);
      const lines = s.checks.blockingViolations().flatMap((v) => v.nodes.map((n) => `${v.page}: ${v.id} [${v.impact}] ${v.help} — ${n.target} ${n.html.slice(0, 120)}`));
      if (lines.length && AXE_ALLOW_FAIL) {
        console.log(`[tracking ${backend}] ZEGEL_AXE_ALLOW_FAIL=1: NOT failing on:\n${lines.join('\n')}`);
      } else {
        assert.deepEqual(lines, [], `serious/critical axe violations:\n${lines.join('\n')}`);
      }
      const missing = EXPECTED_PAGES.filter((p) => !pages.includes(p));
      assert.deepEqual(missing, [], `axe did not run on: ${missing.join(', ')}`);
    });
  });
}
