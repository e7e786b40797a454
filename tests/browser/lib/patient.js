// The steps a patient takes, one function each, so scenarios can be put together from them.
// Selectors are form field names, roles and button types, the classes the pages promise
// (`reply-refused`, `forward-note`, `thread-item`) and the stable product strings ("Bericht
// openen", "Beantwoorden", "Doorsturen", ... and their English twins); no sentences.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { documentResponse } from './pages.js';
import { snapshot, waitForNewFile, parseEml, parseSms, mailTo, linksIn, codeIn, samePhone, mimeLeaves } from './outbox.js';

const NAV_TIMEOUT_MS = 15000;
/** Attachments one reply may carry (the server's default, ZEGEL_MAX_REPLY_ATTACHMENTS). */
export const MAX_REPLY_ATTACHMENTS = 10;

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

/** The product strings the selectors use, per page language. */
export const UI = {
  nl: {
    open: 'Bericht openen',
    reply: 'Beantwoorden',
    forward: 'Doorsturen',
    sendReply: 'Antwoord versturen',
    sendForward: 'Veilig doorsturen',
    earlier: 'Andere berichten in dit gesprek',
    notMine: 'Dit is niet mijn nummer',
    remember: /Dit apparaat.*onthouden/is,
  },
  en: {
    open: 'Open message',
    reply: 'Reply',
    forward: 'Forward',
    sendReply: 'Send reply',
    sendForward: 'Forward securely',
    earlier: 'Other messages in this conversation',
    notMine: 'This is not my number',
    remember: /Remember this device/i,
  },
};

/** The primary button of the landing page ("Bericht openen", en "Open message"). */
export function openButton(page, lang = 'nl') {
  return page.getByRole('button', { name: new RegExp(UI[lang].open, 'i') });
}

/** The message page's "Beantwoorden" link (en "Reply"). */
export function replyLink(page, lang = 'nl') {
  return page.getByRole('link', { name: UI[lang].reply, exact: true });
}

/** The message page's "Doorsturen" link (en "Forward"). */
export function forwardLink(page, lang = 'nl') {
  return page.getByRole('link', { name: UI[lang].forward, exact: true });
}

/** The message page's own-copy link (`/m/{token}/kopie`, "Kopie downloaden (.eml)"). */
export function copyLink(page) {
  return page.locator('a[href$="/kopie"]');
}

/** `/m/<token>` of the page the browser shows. */
export function tokenPath(page) {
  const m = /^\/m\/[A-Za-z0-9_-]+/.exec(new URL(page.url()).pathname);
  assert.ok(m, `not a page under /m/{token}: ${page.url()}`);
  return m[0];
}

/** The path a link points at (resolved against the page). */
async function hrefPath(page, locator) {
  return new URL(await locator.first().getAttribute('href'), page.url()).pathname;
}

/** `<html lang>` of the page. */
export function htmlLang(page) {
  return page.locator('html').getAttribute('lang');
}

/** The cookie `name` of the page's context (undefined when there is none). */
export async function cookie(page, name) {
  return (await page.context().cookies()).find((c) => c.name === name);
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
  const eventsBefore = await s.zegel.eventTypes(s.token, messageId);
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
  if (name) await s.checks.checkPage(page, name, { javaScriptEnabled });
  // Nothing happened: no code went out, no access was logged.
  const newSms = [...snapshot(s.zegel.smsDir, 'json')].filter((n) => !smsBefore.has(n));
  const newMail = [...snapshot(s.zegel.mailDir, 'eml')].filter((n) => !mailBefore.has(n));
  assert.deepEqual(newSms, [], 'GET /m/<token> sent an SMS');
  assert.deepEqual(newMail, [], 'GET /m/<token> sent a mail');
  // Counted against what was there before: a forwarded message was opened by others already.
  const events = await s.zegel.eventTypes(s.token, messageId);
  const count = (list, e) => list.filter((x) => x === e).length;
  for (const e of ['opened', 'viewed', 'code_requested', 'code_sent']) {
    assert.equal(count(events, e), count(eventsBefore, e), `GET /m/<token> recorded "${e}": ${events.join(', ')}`);
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
  if (name) await s.checks.checkPage(page, name, { javaScriptEnabled });
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
 * The message page: subject, body, each attachment with name, kind and size, and what the
 * recipient may do: `reply` true ("Beantwoorden" links to /antwoord) or false (no such link, a
 * `.reply-refused` paragraph says why), `forward` true ("Doorsturen" links to /doorsturen); the
 * own-copy link to /kopie is always there. `attachments`: [{ name, kind: RegExp }]. `name`
 * null: no page checks (a page already checked elsewhere).
 */
export async function messagePage(s, page, { subject, bodyLines, attachments = [], reply, forward, lang = 'nl', name = 'message', javaScriptEnabled = true }) {
  s.checks.log('step: read the message');
  const r = documentResponse(page);
  assert.equal(r?.status(), 200, `message page: ${await where(page)}`);
  assert.equal(new URL(page.url()).pathname, `${tokenPath(page)}/bericht`, `expected the message page, ${await where(page)}`);
  await assertVisible(page.getByRole('heading', { level: 1, name: subject }), `the subject "${subject}" as the heading`);
  const text = await visibleText(page);
  for (const line of bodyLines) assert.ok(text.includes(line), `the message page shows the body line ${JSON.stringify(line)}`);
  assert.ok(text.includes(s.sender.name), 'the message page names the sender');
  for (const a of attachments) {
    const link = page.getByRole('link', { name: a.name });
    await assertVisible(link, `the attachment link "${a.name}"`);
    const item = (await link.first().locator('xpath=ancestor::li[1]').innerText()).replace(/\s+/g, ' ');
    assert.match(item, a.kind, `the attachment line shows the kind: ${item}`);
    assert.match(item, /\d+(?:[.,]\d+)?\s?(?:bytes|B|kB|KB|MB|GB)\b/, `the attachment line shows the size: ${item}`);
  }
  // The page checks first: axe and layout findings are kept even when an action is missing.
  if (name) await s.checks.checkPage(page, name, { javaScriptEnabled });
  await messageActions(page, { reply, forward, lang });
}

/** The actions on the message page (see `messagePage`); `undefined` checks nothing. */
export async function messageActions(page, { reply, forward, lang = 'nl' }) {
  const base = tokenPath(page);
  const t = UI[lang];
  if (reply === true) {
    await assertVisible(replyLink(page, lang), `the "${t.reply}" link (replying is allowed)`);
    assert.equal(await hrefPath(page, replyLink(page, lang)), `${base}/antwoord`, `"${t.reply}" links to /m/{token}/antwoord`);
    assert.equal(await page.locator('.reply-refused').count(), 0, `a .reply-refused paragraph although replying is allowed`);
  } else if (reply === false) {
    assert.equal(await replyLink(page, lang).count(), 0, `a "${t.reply}" link although replying is not allowed (${await where(page)})`);
    await assertVisible(page.locator('.reply-refused'), 'the .reply-refused paragraph saying why replying is not possible');
    const why = (await page.locator('.reply-refused').first().innerText()).trim();
    assert.ok(why.length > 20, `.reply-refused explains why: ${JSON.stringify(why)}`);
  }
  if (forward === true) {
    await assertVisible(forwardLink(page, lang), `the "${t.forward}" link (the organisation allows forwarding)`);
    assert.equal(await hrefPath(page, forwardLink(page, lang)), `${base}/doorsturen`, `"${t.forward}" links to /m/{token}/doorsturen`);
  } else if (forward === false) {
    assert.equal(await forwardLink(page, lang).count(), 0, `a "${t.forward}" link although forwarding is not allowed`);
  }
  await assertVisible(copyLink(page), 'the own-copy link (href /m/{token}/kopie)');
  assert.equal(await copyLink(page).count(), 1, 'one own-copy link');
}

/**
 * The form that posts to `/m/{token}/<action>`: method POST, `enctype`, the hidden `csrf` field
 * first (a multipart body is read in order: the token before any file), and every field of
 * `fields` ([{ tag, name, type?, multiple? }]) present with a label. Returns the form locator.
 */
export async function checkForm(page, action, { enctype, fields, submitName }) {
  const form = page.locator(`form[action$="/${action}"]`);
  assert.equal(await form.count(), 1, `one form posting to /m/{token}/${action} (${await where(page)})`);
  const info = await form.evaluate((f) => {
    const label = (el) =>
      [...(el.labels || [])].map((l) => l.innerText.trim()).join(' ') ||
      el.getAttribute('aria-label') ||
      (el.getAttribute('aria-labelledby') || '')
        .split(/\s+/)
        .map((id) => document.getElementById(id)?.innerText.trim() || '')
        .join(' ')
        .trim();
    return {
      method: f.method,
      enctype: f.enctype,
      fields: [...f.elements].map((e) => ({
        tag: e.tagName.toLowerCase(),
        name: e.name,
        type: e.type,
        multiple: !!e.multiple,
        label: e.type === 'hidden' || e.tagName === 'BUTTON' ? null : label(e),
      })),
    };
  });
  assert.equal(info.method, 'post', `the ${action} form posts`);
  assert.equal(info.enctype, enctype, `the ${action} form's enctype`);
  const first = info.fields[0];
  assert.ok(first && first.name === 'csrf' && first.type === 'hidden', `the first field of the ${action} form is the hidden csrf field, found ${JSON.stringify(first)}`);
  for (const want of fields) {
    const got = info.fields.find((f) => f.name === want.name);
    assert.ok(got, `the ${action} form has a field name="${want.name}" (fields: ${info.fields.map((f) => f.name).join(', ')})`);
    assert.equal(got.tag, want.tag, `field ${want.name}: element`);
    if (want.type) assert.equal(got.type, want.type, `field ${want.name}: type`);
    if (want.multiple !== undefined) assert.equal(got.multiple, want.multiple, `field ${want.name}: multiple`);
    assert.ok(got.label, `field ${want.name} has a label`);
  }
  await assertVisible(form.getByRole('button', { name: submitName, exact: true }), `the submit button "${submitName}"`);
  return form;
}

/** The reply form (`/m/{token}/antwoord`) as the spec has it, for `checkForm`. */
export function replyFormSpec(lang = 'nl') {
  return {
    enctype: 'multipart/form-data',
    fields: [
      { tag: 'textarea', name: 'body' },
      { tag: 'input', name: 'attachment', type: 'file', multiple: true },
    ],
    submitName: UI[lang].sendReply,
  };
}

/** The forward form (`/m/{token}/doorsturen`) as the spec has it, for `checkForm`. */
export function forwardFormSpec(lang = 'nl') {
  return {
    enctype: 'application/x-www-form-urlencoded',
    fields: [
      { tag: 'input', name: 'email', type: 'email' },
      { tag: 'input', name: 'phone', type: 'tel' },
      { tag: 'textarea', name: 'note' },
    ],
    submitName: UI[lang].sendForward,
  };
}

/**
 * Submits `form` with its button `submitName` even when the browser's own validation would stop
 * it (a `required` field left empty, say): what is tested is the server's answer.
 */
async function submitForm(s, page, form, submitName) {
  if (!(await form.evaluate((f) => f.checkValidity()))) {
    s.checks.log('  (the browser would refuse this form itself; submitting with novalidate to see the server\'s answer)');
    await form.evaluate((f) => {
      f.noValidate = true;
    });
  }
  return submit(page, form.getByRole('button', { name: submitName, exact: true }), { tap: true });
}

/** After a successful POST: 303 to `/m/{token}/bericht?<flag>=1`, 200, a role="status" notice. */
async function landedWithNotice(page, r, base, flag, what) {
  const post = r.request().redirectedFrom();
  assert.ok(post, `${what}: the POST answers with a redirect, got HTTP ${r.status()} (${await where(page)})`);
  assert.equal(post.method(), 'POST', `${what}: the redirect comes from the POST`);
  const postResponse = await post.response();
  assert.equal(postResponse?.status(), 303, `${what}: the POST answers 303`);
  assert.equal(r.status(), 200, `${what}: ${await where(page)}`);
  const url = new URL(page.url());
  assert.equal(url.pathname, `${base}/bericht`, `${what}: lands on the message page`);
  assert.equal(url.searchParams.get(flag), '1', `${what}: redirected to /m/{token}/bericht?${flag}=1, got ${url.search}`);
  await assertVisible(page.getByRole('status'), `${what}: a role="status" notice on the message page`);
  const notice = (await page.getByRole('status').first().innerText()).trim();
  assert.ok(notice.length > 10, `${what}: the notice says something: ${JSON.stringify(notice)}`);
}

/**
 * "Beantwoorden" → the reply page (form checked) → optionally the empty form first (422,
 * role=alert) and one file too many (422, role=alert) → text and files → 303 to
 * /bericht?beantwoord=1 with the notice. `files`:
 * [{ name, type, bytes }]. Page names: `${name}` and `${name} (empty: error)`; null: no checks.
 */
export async function reply(s, page, { body, files = [], tryEmpty = false, tooMany = false, name = 'reply' }) {
  s.checks.log('step: reply ("Beantwoorden")');
  const base = tokenPath(page);
  await assertVisible(replyLink(page), 'the "Beantwoorden" link');
  let r = await submit(page, replyLink(page), { tap: true });
  assert.equal(r.status(), 200, `the reply page: ${await where(page)}`);
  assert.equal(new URL(page.url()).pathname, `${base}/antwoord`, `"Beantwoorden" leads to /m/{token}/antwoord`);
  const formSpec = replyFormSpec('nl');
  let form = await checkForm(page, 'antwoord', formSpec);
  if (name) await s.checks.checkPage(page, name);
  if (tryEmpty) {
    s.checks.log('step: send an empty reply');
    r = await submitForm(s, page, form, UI.nl.sendReply);
    assert.equal(r.status(), 422, `an empty reply without files: ${await where(page)}, expected 422 with the form again`);
    await assertVisible(page.getByRole('alert'), 'the error of an empty reply in a role="alert" element');
    form = await checkForm(page, 'antwoord', formSpec);
    if (name) await s.checks.checkPage(page, `${name} (empty: error)`);
  }
  if (tooMany) {
    s.checks.log(`step: a reply with ${MAX_REPLY_ATTACHMENTS + 1} attachments (at most ${MAX_REPLY_ATTACHMENTS})`);
    await form.locator('textarea[name=body]').fill(body);
    await form.locator('input[name=attachment]').setInputFiles(
      Array.from({ length: MAX_REPLY_ATTACHMENTS + 1 }, (_, i) => ({ name: `foto-${i + 1}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`bijlage ${i + 1}\n`) })),
    );
    r = await submitForm(s, page, form, UI.nl.sendReply);
    assert.equal(r.status(), 422, `a reply with ${MAX_REPLY_ATTACHMENTS + 1} attachments: ${await where(page)}, expected 422 with the form again`);
    await assertVisible(page.getByRole('alert'), `the error of ${MAX_REPLY_ATTACHMENTS + 1} attachments in a role="alert" element`);
    form = await checkForm(page, 'antwoord', formSpec);
  }
  s.checks.log(`step: write the reply, attach ${files.map((f) => f.name).join(', ') || 'nothing'}, send`);
  await form.locator('textarea[name=body]').fill(body);
  if (files.length) {
    await form.locator('input[name=attachment]').setInputFiles(files.map((f) => ({ name: f.name, mimeType: f.type, buffer: f.bytes })));
  }
  await s.checks.screenshot(page, 'reply (filled)');
  r = await submitForm(s, page, form, UI.nl.sendReply);
  await landedWithNotice(page, r, base, 'beantwoord', 'after sending the reply');
  return r;
}

/**
 * "Doorsturen" → the forward page (form checked) → optionally a bad address first (422,
 * role=alert) → e-mail, phone, note → 303 to /bericht?doorgestuurd=1 with the notice.
 */
export async function forward(s, page, { email, phone = '', note = '', badEmail, name = 'forward' }) {
  s.checks.log('step: forward ("Doorsturen")');
  const base = tokenPath(page);
  await assertVisible(forwardLink(page), 'the "Doorsturen" link');
  let r = await submit(page, forwardLink(page), { tap: true });
  assert.equal(r.status(), 200, `the forward page: ${await where(page)}`);
  assert.equal(new URL(page.url()).pathname, `${base}/doorsturen`, `"Doorsturen" leads to /m/{token}/doorsturen`);
  const formSpec = forwardFormSpec('nl');
  let form = await checkForm(page, 'doorsturen', formSpec);
  if (name) await s.checks.checkPage(page, name);
  if (badEmail) {
    s.checks.log(`step: forward to a bad address (${badEmail})`);
    await form.locator('input[name=email]').fill(badEmail);
    r = await submitForm(s, page, form, UI.nl.sendForward);
    assert.equal(r.status(), 422, `forwarding to ${badEmail}: ${await where(page)}, expected 422 with the form again`);
    await assertVisible(page.getByRole('alert'), 'the error of a bad address in a role="alert" element');
    form = await checkForm(page, 'doorsturen', formSpec);
    if (name) await s.checks.checkPage(page, `${name} (bad address)`);
  }
  s.checks.log(`step: forward to ${email}${phone ? ` (SMS to ${phone})` : ''}`);
  await form.locator('input[name=email]').fill(email);
  await form.locator('input[name=phone]').fill(phone);
  await form.locator('textarea[name=note]').fill(note);
  await s.checks.screenshot(page, 'forward (filled)');
  r = await submitForm(s, page, form, UI.nl.sendForward);
  await landedWithNotice(page, r, base, 'doorgestuurd', 'after forwarding');
  return r;
}

/**
 * Downloads the own copy (/kopie) through the browser: an .eml that starts with MIME headers,
 * is multipart/mixed, holds `texts` in its text part and every attachment of `attachments`
 * ([{ name, bytes }]) byte for byte. Returns the raw file.
 */
export async function ownCopy(s, page, { texts = [], attachments = [] }) {
  s.checks.log('step: download the own copy (.eml)');
  const link = copyLink(page);
  await assertVisible(link, 'the own-copy link (href /m/{token}/kopie)');
  assert.equal(await hrefPath(page, link), `${tokenPath(page)}/kopie`, 'the own-copy link points at /m/{token}/kopie');
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: NAV_TIMEOUT_MS }), link.click()]);
  const failure = await dl.failure();
  assert.equal(failure, null, `the download of the own copy failed: ${failure}`);
  // A download fires no response event: the headers come from the same GET through the
  // context's request client (same cookies).
  const response = await page.request.get(new URL(await link.getAttribute('href'), page.url()).href, { maxRedirects: 0 });
  assert.equal(response.status(), 200, `GET /m/<token>/kopie: HTTP ${response.status()}`);
  const headers = response.headers();
  assert.match(headers['content-type'] || '', /^message\/rfc822\b/i, `the own copy is served as Content-Type: message/rfc822, got ${headers['content-type']}`);
  assert.match(headers['content-disposition'] || '', /^attachment\b/i, `the own copy is a download (Content-Disposition: ${headers['content-disposition']})`);
  assert.match(dl.suggestedFilename(), /\.eml$/i, `the own copy's file name ends in .eml: ${dl.suggestedFilename()}`);
  const raw = (await readFile(await dl.path())).toString('utf8');
  const head = raw.slice(0, raw.search(/\r?\n\r?\n/) + 1);
  assert.match(raw, /^[A-Za-z][A-Za-z0-9-]*:[ \t]?\S/, `the .eml starts with a MIME header: ${JSON.stringify(raw.slice(0, 80))}`);
  assert.match(head, /^MIME-Version:\s*1\.0/im, 'the .eml has MIME-Version: 1.0 in its headers');
  assert.match(raw, /^Content-Type:\s*multipart\/mixed/im, 'the .eml holds Content-Type: multipart/mixed');
  const leaves = mimeLeaves(raw);
  const text = leaves
    .filter((l) => l.type === 'text/plain')
    .map((l) => l.bytes.toString('utf8'))
    .join('\n')
    .replace(/\r\n/g, '\n');
  for (const t of texts) assert.ok(text.includes(t), `the .eml's text holds ${JSON.stringify(t)}:\n${text.slice(0, 2000)}`);
  for (const a of attachments) {
    const part = leaves.find((l) => l.bytes.equals(a.bytes));
    assert.ok(part, `the .eml holds the attachment ${a.name} byte for byte (parts: ${leaves.map((l) => `${l.type} ${l.filename ?? ''} ${l.bytes.length} B`).join('; ')})`);
    assert.equal((part.headers['content-transfer-encoding'] || '').toLowerCase(), 'base64', `${a.name} is base64 in the .eml`);
  }
  s.checks.log(`  own copy: ${raw.length} bytes, ${leaves.length} part(s)`);
  return raw;
}

/**
 * Follows the page-header link with hreflang=`lang`: the page comes back in that language
 * (`<html lang>`) and the `zegel_lang` cookie remembers it. `name`: run the page checks.
 */
export async function switchLanguage(s, page, lang, { name } = {}) {
  s.checks.log(`step: switch the language to ${lang}`);
  const link = page.locator(`a[hreflang="${lang}"]`);
  assert.equal(await link.count(), 1, `one link with hreflang="${lang}" on ${await where(page)}`);
  const r = await submit(page, link, { tap: true });
  assert.equal(r.status(), 200, `after switching to ${lang}: ${await where(page)}`);
  assert.equal(await htmlLang(page), lang, `<html lang> after switching to ${lang}`);
  const c = await cookie(page, 'zegel_lang');
  assert.equal(c?.value, lang, `the zegel_lang cookie keeps ${lang}: ${JSON.stringify(c)}`);
  if (name) await s.checks.checkPage(page, name);
}

/**
 * On the SMS confirm page: "Dit is niet mijn nummer" → /ander-nummer, 200, a page without a
 * form that tells the patient to ask the sender to resend.
 */
export async function notMyNumber(s, page, { name = 'not my number' } = {}) {
  s.checks.log('step: "Dit is niet mijn nummer"');
  const base = tokenPath(page);
  const link = page.getByRole('link', { name: UI.nl.notMine });
  await assertVisible(link, `the "${UI.nl.notMine}" link on the SMS confirm page`);
  assert.equal(await hrefPath(page, link), `${base}/ander-nummer`, `"${UI.nl.notMine}" links to /m/{token}/ander-nummer`);
  const r = await submit(page, link, { tap: true });
  assert.equal(r.status(), 200, `the "not my number" page: ${await where(page)}`);
  assert.equal(new URL(page.url()).pathname, `${base}/ander-nummer`);
  assert.equal(await page.locator('h1').count(), 1, 'the "not my number" page has one heading');
  assert.equal(await page.locator('form').count(), 0, 'the "not my number" page has no form');
  const text = await visibleText(page);
  assert.ok(text.includes(s.sender.name) || text.includes(s.sender.orgName), `the "not my number" page says whom to ask: ${text}`);
  if (name) await s.checks.checkPage(page, name);
}

/** The "remember this device" checkbox on the code page, with its label; returns it. */
export async function rememberBox(page, lang = 'nl') {
  const box = page.locator('input[name=remember]');
  await assertVisible(box, 'the "remember this device" checkbox input[name=remember] on the code page');
  assert.equal(await box.getAttribute('type'), 'checkbox', 'input[name=remember] is a checkbox');
  const label = await box.evaluate((el) => [...(el.labels || [])].map((l) => l.innerText).join(' '));
  assert.match(label, UI[lang].remember, `the checkbox's label: ${JSON.stringify(label)}`);
  assert.equal(await box.evaluate((el) => el.form?.action.endsWith('/verify')), true, 'the checkbox is in the code form');
  return box;
}

/**
 * The fast way to the message page for a message with `verification: "code"`: link → "Bericht
 * openen" → the code page → the sender's code → the message page. No page checks.
 */
export async function openWithSenderCode(s, page, { link, code }) {
  s.checks.log('step: open the message with the code from the sender');
  await visit(page, link);
  let r = await submit(page, openButton(page), { tap: true });
  assert.equal(r.status(), 200, `after "Bericht openen": ${await where(page)}`);
  assert.match(new URL(page.url()).pathname, /\/code$/, `expected the code page, ${await where(page)}`);
  r = await enterCode(s, page, code, { label: 'enter the code from the sender' });
  assert.equal(r.status(), 200, `after the right code: ${await where(page)}`);
  assert.match(new URL(page.url()).pathname, /\/bericht$/, `expected the message page, ${await where(page)}`);
  return r;
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

/**
 * "Wie heeft dit bericht bekeken?" at the end of the message page, after a reload (itself a new
 * visit, listed first): its heading, and the rows, newest first, as "who: what" texts, starting
 * with `first` and holding every one of `includes` (exact texts); none of `hidden` anywhere in
 * the section. On a phone the section fits the viewport's width. Returns the rows.
 */
export async function accessLog(s, page, { first, includes = [], hidden = [] }) {
  s.checks.log('step: "Wie heeft dit bericht bekeken?"');
  const r = await page.reload({ waitUntil: 'load', timeout: NAV_TIMEOUT_MS });
  assert.equal(r?.status(), 200, `the message page again: ${await where(page)}`);
  const heading = page.getByRole('heading', { level: 2, name: 'Wie heeft dit bericht bekeken?' });
  await heading.scrollIntoViewIfNeeded();
  await assertVisible(heading, 'the heading "Wie heeft dit bericht bekeken?"');
  const section = page.locator('section.access-log');
  const rows = (await section.locator('ol.accesses > li').allInnerTexts()).map((t) =>
    t.replace(/\s+/g, ' ').trim(),
  );
  const whoWhat = rows.map((t) => t.replace(/^.*?\d{1,2}:\d{2}\s*/, ''));
  assert.equal(whoWhat[0], first, `the newest access first: ${JSON.stringify(rows)}`);
  for (const want of includes) {
    assert.ok(whoWhat.includes(want), `"${want}" among the accesses: ${JSON.stringify(rows)}`);
  }
  for (const row of rows) {
    assert.match(row, /\d{4}/, `each access says when: ${JSON.stringify(row)}`);
  }
  const text = await section.innerText();
  for (const h of hidden) assert.ok(!text.includes(h), `"${h}" must not be in the access list`);
  const box = await section.boundingBox();
  const width = page.viewportSize().width;
  assert.ok(box && box.x >= 0 && box.x + box.width <= width + 1, `the section fits the ${width}px wide screen: ${JSON.stringify(box)}`);
  await s.checks.screenshot(page, 'access log');
  return rows;
}

export async function assertVisible(locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: 5000 });
  } catch {
    assert.fail(`not visible: ${what}`);
  }
}
