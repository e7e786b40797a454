// The steps a care worker takes in the sender web app, one function each. Selectors are the
// labels and button names DESIGN.md "Sender web app (contract)" promises ("E-mailadres",
// "Wachtwoord", "Inloggen", "Verificatiecode", "Aan", "Controle", "Mobiel nummer",
// "Onderwerp", "Bericht", "Bijlagen", "Versturen", "Toch versturen", "Intrekken",
// "Uitloggen") and the Dutch statuses; no sentences.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { documentResponse } from './pages.js';
import { submit, visit, visibleText, where, assertVisible } from './patient.js';

export { desktopContext } from './pages.js';

/** RFC 4648 base32 (no padding needed) to bytes. */
function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) for `secret` (base32) at `timeMs`. */
export function totp(secret, timeMs = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 1000 / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

/** The `otpauth://totp/...` URI a set-up page shows as text, and its secret. */
export async function otpauthOnPage(page) {
  const text = await page.locator('body').innerText();
  const m = /otpauth:\/\/totp\/\S+/.exec(text);
  assert.ok(m, `the set-up page shows the otpauth:// URI as text: ${await where(page)}`);
  const uri = new URL(m[0]);
  const secret = uri.searchParams.get('secret');
  assert.ok(secret && /^[A-Z2-7]+=*$/i.test(secret), `a base32 secret in ${m[0]}`);
  return { uri: m[0], secret };
}

/** The TOTP code field as the contract has it. */
export async function codeField(page) {
  const field = page.getByLabel('Verificatiecode', { exact: true });
  await assertVisible(field, 'the "Verificatiecode" field');
  assert.equal(await field.getAttribute('autocomplete'), 'one-time-code');
  assert.equal(await field.getAttribute('inputmode'), 'numeric');
  return field;
}

/**
 * A code the server has not seen for `secret`: the current 30 s step, or the one after the
 * last used (the server accepts one step of clock skew and refuses a replayed step). `used`
 * is a Map of secret to the last step used.
 */
export async function freshTotp(secret, used) {
  const now = Math.floor(Date.now() / 1000 / 30);
  let step = Math.max(now, (used.get(secret) ?? -1) + 1);
  if (step > now + 1) {
    await new Promise((r) => setTimeout(r, ((step - 1) * 30 * 1000) - Date.now() + 200));
    step = Math.max(Math.floor(Date.now() / 1000 / 30), step);
  }
  used.set(secret, step);
  return totp(secret, step * 30 * 1000);
}

/**
 * The invite link: chooses `password` ("Nieuw wachtwoord", "Wachtwoord opslaan"), sets up
 * TOTP (secret from the otpauth URI shown as text, the first code computed from it,
 * "Bevestigen"), "Klaar": signed in. Returns the TOTP secret.
 */
export async function setUp(s, page, { link, password, used, name = 'set-up' }) {
  s.checks.log('step: open the set-up link, choose a password');
  let r = await visit(page, link);
  assert.equal(r.status(), 200, `the set-up page: ${await where(page)}`);
  if (name) await s.checks.checkPage(page, name);
  await page.getByLabel('Nieuw wachtwoord').fill(password);
  r = await submit(page, page.getByRole('button', { name: 'Wachtwoord opslaan' }));
  assert.equal(r.status(), 200, `after choosing a password: ${await where(page)}`);
  const { secret } = await otpauthOnPage(page);
  await assertVisible(page.locator('.totp-qr svg'), 'the QR code');
  if (name) await s.checks.checkPage(page, `${name} (TOTP)`);
  const field = await codeField(page);
  await field.fill(await freshTotp(secret, used));
  r = await submit(page, page.getByRole('button', { name: 'Bevestigen' }));
  assert.equal(r.status(), 200, `after the first TOTP code: ${await where(page)}`);
  await submit(page, page.getByRole('button', { name: 'Klaar' }));
  await visit(page, `${s.zegel.base}/berichten`);
  assert.equal(new URL(page.url()).pathname, '/berichten', `signed in after set-up: ${await where(page)}`);
  return secret;
}

/** "Uitloggen" (a POST): back at the sign-in page, and /berichten asks to sign in again. */
export async function signOut(s, page) {
  s.checks.log('step: sign out');
  const button = page.getByRole('button', { name: 'Uitloggen', exact: true });
  await assertVisible(button, 'the "Uitloggen" button');
  await submit(page, button);
  assert.equal(new URL(page.url()).pathname, '/inloggen', `after "Uitloggen": ${await where(page)}`);
  await visit(page, `${s.zegel.base}/berichten`);
  assert.equal(new URL(page.url()).pathname, '/inloggen', 'signed out: /berichten sends to /inloggen');
}

/** Sign-in with e-mail and password, then the TOTP step. */
export async function signIn(s, page, { email, password, secret, used, name = 'sign-in' }) {
  s.checks.log(`step: sign in as ${email}`);
  await visit(page, `${s.zegel.base}/inloggen`);
  if (name) await s.checks.checkPage(page, name);
  await assertVisible(page.getByRole('button', { name: 'Inloggen met passkey' }), 'the "Inloggen met passkey" button');
  // Keyboard only: Tab to the fields, type, Enter.
  const emailField = page.getByLabel('E-mailadres', { exact: true });
  const passwordField = page.getByLabel('Wachtwoord', { exact: true });
  await tabReaches(page, [['"E-mailadres"', emailField]]);
  await page.keyboard.type(email);
  await tabReaches(page, [['"Wachtwoord"', passwordField]]);
  await page.keyboard.type(password);
  const loaded = page.waitForEvent('load');
  await page.keyboard.press('Enter');
  await loaded;
  let r = documentResponse(page);
  assert.equal(r.status(), 200, `after e-mail and password: ${await where(page)}`);
  const field = await codeField(page);
  if (name) await s.checks.checkPage(page, `${name} (code)`);
  await field.fill(await freshTotp(secret, used));
  r = await submit(page, page.getByRole('button', { name: 'Bevestigen' }));
  assert.equal(r.status(), 200, `after the TOTP code: ${await where(page)}`);
  assert.match(new URL(page.url()).pathname, /^\/berichten/, `signed in: ${await where(page)}`);
}

/**
 * Compose: one recipient with SMS verification, subject, body, attachments; "Versturen" ->
 * the confirmation page with `warnings` -> "Toch versturen" -> the message's page. Returns
 * the message id.
 */
export async function compose(s, page, { email, phone, subject, body, files, warnings = [], name = 'compose' }) {
  s.checks.log(`step: compose a message to ${email}`);
  await visit(page, `${s.zegel.base}/berichten/nieuw`);
  if (name) await s.checks.checkPage(page, name);
  await tabReaches(page, [
    ['"Aan"', page.getByLabel('Aan', { exact: true })],
    ['"Controle"', page.getByLabel('Controle', { exact: true })],
    ['"Onderwerp"', page.getByLabel('Onderwerp', { exact: true })],
    ['"Bericht"', page.getByLabel('Bericht', { exact: true })],
    ['"Bijlagen"', page.getByLabel('Bijlagen', { exact: true })],
    ['"Versturen"', page.getByRole('button', { name: 'Versturen', exact: true })],
  ]);
  await page.getByLabel('Aan', { exact: true }).first().fill(email);
  await page.getByLabel('Controle', { exact: true }).first().selectOption('sms');
  await page.getByLabel('Mobiel nummer', { exact: true }).first().fill(phone);
  await page.getByLabel('Onderwerp', { exact: true }).fill(subject);
  await page.getByLabel('Bericht', { exact: true }).fill(body);
  await page.getByLabel('Bijlagen', { exact: true }).setInputFiles(files.map((f) => ({ name: f.name, mimeType: f.type, buffer: f.bytes })));
  let r = await submit(page, page.getByRole('button', { name: 'Versturen', exact: true }));
  if (warnings.length) {
    assert.equal(r.status(), 200, `the confirmation page: ${await where(page)}`);
    const text = await visibleText(page);
    for (const w of warnings) assert.ok(text.includes(w), `the confirmation page warns "${w}": ${text}`);
    if (name) await s.checks.checkPage(page, `${name} (confirm)`);
    r = await submit(page, page.getByRole('button', { name: 'Toch versturen', exact: true }));
  }
  assert.equal(r.status(), 200, `after sending: ${await where(page)}`);
  const m = /^\/berichten\/([^/?#]+)$/.exec(new URL(page.url()).pathname);
  assert.ok(m && m[1] !== 'nieuw', `after sending, the message's page: ${await where(page)}`);
  return m[1];
}

/** The message's page shows `status` for the recipient `email` (reloaded until it does). */
export async function expectStatus(s, page, { id, email, status, name }) {
  s.checks.log(`step: the status page shows "${status}" for ${email}`);
  const deadline = Date.now() + 15000;
  let text = '';
  while (Date.now() < deadline) {
    const r = await visit(page, `${s.zegel.base}/berichten/${id}`);
    assert.equal(r.status(), 200, `the message's page: ${await where(page)}`);
    const row = page.locator('tr, li, section, article').filter({ hasText: email }).filter({ hasText: status });
    if ((await row.count()) > 0) {
      if (name) await s.checks.checkPage(page, name);
      return;
    }
    text = await visibleText(page);
    await new Promise((res) => setTimeout(res, 300));
  }
  assert.fail(`the message's page shows "${status}" for ${email}: ${text}`);
}

/** "Intrekken" -> the confirmation step -> "Intrekken" again: the recipient is "Ingetrokken". */
export async function revoke(s, page, { id, email, name = 'revoke' }) {
  s.checks.log('step: revoke');
  await visit(page, `${s.zegel.base}/berichten/${id}`);
  const first = page.getByRole('button', { name: 'Intrekken', exact: true }).or(page.getByRole('link', { name: 'Intrekken', exact: true }));
  await tabReaches(page, [['"Intrekken"', first]]);
  await submit(page, first.first());
  assert.equal(documentResponse(page)?.status(), 200, `the revoke confirmation: ${await where(page)}`);
  const text = await visibleText(page);
  assert.ok(!text.includes('Ingetrokken'), 'one click does not revoke: a confirmation step comes first');
  if (name) await s.checks.checkPage(page, `${name} (confirm)`);
  await submit(page, page.getByRole('button', { name: /Intrekken/ }).first());
  await expectStatus(s, page, { id, email, status: 'Ingetrokken', name: null });
}

/**
 * Keyboard only: from the top of the page, Tab reaches each of `targets` (locators), in that
 * order, within `max` presses each; the focused element is visible (a focus indicator is CSS's
 * and axe's to check). Fails naming the first target Tab does not reach.
 */
export async function tabReaches(page, targets, { max = 60 } = {}) {
  await page.evaluate(() => {
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
    window.scrollTo(0, 0);
  });
  await page.locator('body').focus().catch(() => {});
  for (const [what, locator] of targets) {
    const handle = await locator.first().elementHandle();
    assert.ok(handle, `keyboard: ${what} is on the page`);
    let reached = false;
    for (let i = 0; i < max && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await handle.evaluate((el) => el === document.activeElement);
    }
    assert.ok(reached, `keyboard only: Tab does not reach ${what} on ${new URL(page.url()).pathname}`);
    assert.ok(await handle.isVisible(), `keyboard: ${what} is visible when focused`);
  }
}
