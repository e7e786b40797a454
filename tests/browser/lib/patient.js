// The steps a patient takes, one function each, so scenarios can be put together from them and
// new steps (reply, forward, language switch) appended later. Selectors are form field names,
// roles and button types, and the stable product strings "Bericht openen"; no sentences.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { documentResponse } from './pages.js';
import { snapshot, waitForNewFile, parseEml, parseSms, mailTo, linksIn, codeIn, samePhone } from './outbox.js';

const NAV_TIMEOUT_MS = 15000;

/** What the patient sees at once, without reading everything. */
export async function visibleText(page) {
  return (await page.locator('body').innerText()).replace(/\s+/g, ' ');
}

/** Where the browser is, for failure messages: `HTTP 403 at /m/<token>/start ("De pagina is verlopen")`. */
export async function where(page) {
  const r = documentResponse(page);
  const path = new URL(page.url()).pathname.replace(/\/m\/[A-Za-z0-9_-]+/, '/m/<token>');
  const h1 = await page.locator('h1').first().innerText({ timeout: 1000 }).catch(() => '');
  let out = `HTTP ${r ? r.status() : '?'} at ${path} ("${h1.trim()}")`;
  const origin = lastPostOrigin.get(page);
  if (r && r.status() === 403 && origin !== undefined) {
    // A real browser's form POST under `Referrer-Policy: no-referrer` carries `Origin: null`
    // (Fetch: serializing a request origin); a CSRF check that refuses "null" refuses everyone.
    out += `; the form POST carried Origin: ${origin}`;
  }
  return out;
}

/** page -> the Origin header of its last form POST (undefined: none sent). */
const lastPostOrigin = new WeakMap();

/** Clicks (or taps) something that submits a form or follows a link; waits for the new page. */
export async function submit(page, locator, { tap = false } = {}) {
  const loaded = page.waitForEvent('load', { timeout: NAV_TIMEOUT_MS });
  const posts = [];
  const onRequest = (req) => {
    if (req.isNavigationRequest() && req.method() === 'POST') posts.push(req.headerValue('origin'));
  };
  page.on('request', onRequest);
  try {
    if (tap) await locator.tap();
    else await locator.click();
    await loaded;
  } finally {
    page.off('request', onRequest);
  }
  if (posts.length) lastPostOrigin.set(page, (await posts[posts.length - 1]) ?? undefined);
  else lastPostOrigin.delete(page);
  const r = documentResponse(page);
  assert.ok(r, `no document response after submitting on ${page.url()}`);
  return r;
}

/** GET a URL in the browser; returns the final document response. */
export async function visit(page, url) {
  const r = await page.goto(url, { waitUntil: 'load', timeout: NAV_TIMEOUT_MS });
  assert.ok(r, `no response for ${url}`);
  return documentResponse(page) || r;
}

/** The primary button of the landing page. */
export function openButton(page) {
  return page.getByRole('button', { name: /Bericht openen/i });
}

/** The submit button of the form that posts to `/m/{token}/<action>` (robust against wording). */
export function formButton(page, action) {
  return page.locator(`form[action$="/${action}"] button[type=submit]`);
}

// ---------- sender side and outbox ----------

/**
 * Sends a message through the API and waits for its notification in the mail outbox; returns
 * `{ id, link, mail }`. `recipient` is one entry of the `recipients` array.
 */
export async function sendAndNotify(s, { subject, body, recipient, attachments = [], reply = 'off' }) {
  const before = snapshot(s.zegel.mailDir, 'eml');
  const created = await s.zegel.sendMessage(s.token, { subject, body, recipients: [recipient], reply }, attachments);
  assert.ok(created.id, `201 without an id: ${JSON.stringify(created)}`);
  const { parsed: mail } = await waitForNewFile(s.zegel.mailDir, 'eml', {
    before,
    parse: parseEml,
    accept: (m) => mailTo(m, recipient.email) && linksIn(m).length > 0,
    what: `notification mail to ${recipient.email}`,
  });
  const links = [...new Set(linksIn(mail))];
  assert.equal(links.length, 1, `the notification holds one /m/ link, found ${links.length}:\n${mail.text}`);
  const link = links[0];
  assert.ok(link.startsWith(`${s.zegel.base}/m/`), `the link ${link} does not point at ${s.zegel.base}`);
  assert.match(link, /\/m\/[A-Za-z0-9_-]{43,}$/, 'the token is unpadded base64url of >= 32 bytes');
  assert.ok(!mail.text.includes(subject) && !mail.html.includes(subject), 'the notification must not carry the subject');
  return { id: created.id, link, mail };
}

/** Waits for the code SMS to `phone` that arrived after `before`; returns the 6 digits. */
export async function codeFromSms(s, before, phone) {
  const { path, parsed } = await waitForNewFile(s.zegel.smsDir, 'json', {
    before,
    parse: parseSms,
    accept: (m) => samePhone(m.to, phone),
    what: `code SMS to ${phone}`,
  });
  s.checks.log(`  code SMS ${path}`);
  return codeIn(parsed.body);
}

/** Waits for the code mail to `email` (the newest new mail without a /m/ link); the 6 digits. */
export async function codeFromMail(s, before, email) {
  const { path, parsed } = await waitForNewFile(s.zegel.mailDir, 'eml', {
    before,
    parse: parseEml,
    accept: (m) => mailTo(m, email) && linksIn(m).length === 0 && /(?<!\d)\d{6}(?!\d)/.test(m.text.replace(/https?:\/\/\S+/g, ' ')),
    what: `code mail to ${email}`,
  });
  s.checks.log(`  code mail ${path}`);
  return codeIn(parsed.text);
}

// ---------- the pages ----------

/**
 * The landing page: 200, the sender and organisation, the "Bericht openen" button. Loading it
 * (twice, as a link scanner and then the patient would) changes nothing: no code is sent, no
 * access is logged.
 */
export async function landing(s, page, { link, messageId, name = 'landing', javaScriptEnabled = true }) {
  s.checks.log('step: open the link from the notification (twice)');
  const smsBefore = snapshot(s.zegel.smsDir, 'json');
  const mailBefore = snapshot(s.zegel.mailDir, 'eml');
  await visit(page, link);
  const r = await visit(page, link);
  assert.equal(r.status(), 200, `GET /m/<token>: ${r.status()}`);
  const text = await visibleText(page);
  assert.ok(text.includes(s.sender.name), `the landing page names the sender ${s.sender.name}: ${text}`);
  assert.ok(text.includes(s.sender.orgName), `the landing page names the organisation ${s.sender.orgName}: ${text}`);
  await assertVisible(openButton(page), 'the "Bericht openen" button');
  assert.equal(await page.locator('h1').count(), 1, 'one h1');
  await s.checks.checkPage(page, name, { javaScriptEnabled });
  // Nothing happened: no code went out, no access was logged.
  const newSms = [...snapshot(s.zegel.smsDir, 'json')].filter((n) => !smsBefore.has(n));
  const newMail = [...snapshot(s.zegel.mailDir, 'eml')].filter((n) => !mailBefore.has(n));
  assert.deepEqual(newSms, [], 'GET /m/<token> sent an SMS');
  assert.deepEqual(newMail, [], 'GET /m/<token> sent a mail');
  const events = await s.zegel.eventTypes(s.token, messageId);
  for (const e of ['opened', 'viewed', 'code_requested', 'code_sent']) {
    assert.ok(!events.includes(e), `GET /m/<token> recorded "${e}": ${events.join(', ')}`);
  }
}

/** Presses "Bericht openen" (a POST): lands on the page that offers to send the code. */
export async function pressOpen(s, page) {
  s.checks.log('step: press "Bericht openen"');
  const r = await submit(page, openButton(page), { tap: true });
  assert.equal(r.status(), 200, `after "Bericht openen": ${await where(page)}`);
  return r;
}

/**
 * The confirm page shows where the code goes (masked); pressing its button sends the code.
 * `expectMasked` is a RegExp for the masked destination.
 */
export async function confirmSend(s, page, { expectMasked, hidden = [], name, javaScriptEnabled = true }) {
  s.checks.log(`step: confirm sending the code (${name})`);
  assert.match(new URL(page.url()).pathname, /\/send$/, `expected the send page, ${await where(page)}`);
  const text = await visibleText(page);
  assert.match(text, expectMasked, `the send page shows the masked destination: ${text}`);
  for (const h of hidden) assert.ok(!text.includes(h), `the send page shows ${h} unmasked`);
  await s.checks.checkPage(page, name, { javaScriptEnabled });
  const r = await submit(page, formButton(page, 'send'), { tap: true });
  assert.equal(r.status(), 200, `after confirming: ${await where(page)}`);
  assert.match(new URL(page.url()).pathname, /\/code$/, `expected the code page, ${await where(page)}`);
}

/** The code field as the contract has it. */
export async function codeField(page) {
  const field = page.locator('input[name=code]');
  await assertVisible(field, 'the code field input[name=code]');
  assert.equal(await field.getAttribute('autocomplete'), 'one-time-code', 'code field autocomplete');
  assert.equal(await field.getAttribute('inputmode'), 'numeric', 'code field inputmode');
  // Its label is axe's to check (rule "label"): a finding there must not stop the flow.
  return field;
}

/** Types `code` and submits; returns the response of the page that follows. */
export async function enterCode(s, page, code, { label = 'enter the code' } = {}) {
  s.checks.log(`step: ${label}`);
  const field = await codeField(page);
  await field.fill(code);
  await s.checks.screenshot(page, `${label} (filled)`);
  return submit(page, formButton(page, 'verify'), { tap: true });
}

/**
 * The message page: subject, body, each attachment with name, kind and size.
 * `attachments`: [{ name, kind: RegExp }].
 */
export async function messagePage(s, page, { subject, bodyLines, attachments, name = 'message', javaScriptEnabled = true }) {
  s.checks.log('step: read the message');
  const r = documentResponse(page);
  assert.equal(r?.status(), 200, `message page: ${await where(page)}`);
  await assertVisible(page.getByRole('heading', { level: 1, name: subject }), `the subject "${subject}" as the heading`);
  const text = await visibleText(page);
  for (const line of bodyLines) assert.ok(text.includes(line), `the message page shows the body line ${JSON.stringify(line)}`);
  assert.ok(text.includes(s.sender.name), 'the message page names the sender');
  for (const a of attachments) {
    const link = page.getByRole('link', { name: a.name });
    await assertVisible(link, `the attachment link "${a.name}"`);
    const item = (await link.locator('xpath=ancestor::li[1]').innerText()).replace(/\s+/g, ' ');
    assert.match(item, a.kind, `the attachment line shows the kind: ${item}`);
    assert.match(item, /\d+(?:[.,]\d+)?\s?(?:bytes|B|kB|KB|MB|GB)\b/, `the attachment line shows the size: ${item}`);
  }
  await s.checks.checkPage(page, name, { javaScriptEnabled });
  // TODO(reply): "Beantwoorden" (reply to the sender only, with attachments) is being built;
  //   append a `reply(s, page, ...)` step here when the page has it.
  // TODO(forward): "Doorsturen" (secure forward to a new recipient who verifies on their own);
  //   append a `forward(s, page, ...)` step here.
  // TODO(language): the Dutch/English switch; append a `switchLanguage(s, page, 'en')` step and
  //   run the page checks again on the English page.
}

/** Downloads an attachment through the browser; asserts the bytes are the ones sent. */
export async function download(s, page, { name, bytes }) {
  s.checks.log(`step: download "${name}"`);
  const link = page.getByRole('link', { name });
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: NAV_TIMEOUT_MS }), link.click()]);
  const failure = await dl.failure();
  assert.equal(failure, null, `the download of ${name} failed: ${failure}`);
  const got = await readFile(await dl.path());
  assert.equal(got.length, bytes.length, `downloaded ${got.length} bytes of ${name}, sent ${bytes.length}`);
  assert.ok(got.equals(bytes), `the downloaded ${name} differs from what was sent`);
  assert.equal(dl.suggestedFilename(), name, 'the download keeps the file name');
  s.checks.log(`  downloaded ${got.length} bytes, identical`);
}

async function assertVisible(locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: 5000 });
  } catch {
    assert.fail(`not visible: ${what}`);
  }
}
