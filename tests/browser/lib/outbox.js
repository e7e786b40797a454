// The dev outbox of a `zegel serve` without SMTP relay or SMS gateway:
//   <data>/outbox/mail/<unix ms>-<id>.eml   RFC 5322 mail (written to a temp file, then renamed)
//   <data>/outbox/sms/<unix ms>-<id>.json   {"to","body"}
// Helpers to wait for a new file and to read links and codes out of it.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 50;

/** File names in `dir` ending in `.ext` (no dot files: still being written), oldest first. */
export function listFiles(dir, ext) {
  let names;
  try {
    names = readdirSync(dir);
  } catch (e) {
    if (e.code === 'ENOENT') return [];
    throw e;
  }
  // The names start with the unix time in ms (13 digits until the year 2286): a string sort is
  // a time sort; the id after it breaks ties.
  return names.filter((n) => !n.startsWith('.') && n.endsWith(`.${ext}`)).sort();
}

/** A snapshot of what is already there, to tell new files from old ones later. */
export function snapshot(dir, ext) {
  return new Set(listFiles(dir, ext));
}

/**
 * Waits for a file that is not in `before` and for which `accept(parsed, path)` is true; returns
 * `{ path, parsed }` of the newest such file. `parse(raw)` turns the file's text into `parsed`.
 */
export async function waitForNewFile(dir, ext, { before = new Set(), parse, accept = () => true, timeoutMs = 20000, what }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fresh = listFiles(dir, ext).filter((n) => !before.has(n));
    for (const name of fresh.reverse()) {
      const path = join(dir, name);
      const parsed = parse(readFileSync(path, 'utf8'));
      if (accept(parsed, path)) return { path, parsed };
    }
    if (Date.now() > deadline) {
      const all = listFiles(dir, ext);
      throw new Error(
        `no new ${what ?? ext} file in ${dir} within ${timeoutMs} ms ` +
          `(${all.length} file(s) there, ${all.length - before.size} new, none matching)`,
      );
    }
    await sleep(POLL_MS);
  }
}

// ---------- SMS ----------

export function parseSms(raw) {
  const j = JSON.parse(raw);
  if (typeof j.to !== 'string' || typeof j.body !== 'string') {
    throw new Error(`an outbox SMS must be {"to","body"} strings: ${raw}`);
  }
  return j;
}

/** True when `to` (any formatting: +31 6..., 06-...) is the Dutch mobile number `phone`. */
export function samePhone(to, phone) {
  const tail = (s) => s.replace(/\D/g, '').slice(-9);
  return tail(to) === tail(phone);
}

// ---------- mail ----------

/** Splits a MIME entity into unfolded headers (lower-case names) and its body. */
function splitEntity(raw) {
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : '';
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) {
      const k = line.slice(0, i).trim().toLowerCase();
      if (!(k in headers)) headers[k] = line.slice(i + 1).trim();
    }
  }
  return { headers, body };
}

/** The bytes of a MIME body in its Content-Transfer-Encoding. */
function decodeBytes(body, encoding) {
  const enc = (encoding || '7bit').toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64');
  if (enc === 'quoted-printable') {
    const soft = body.replace(/=\r?\n/g, '');
    const out = [];
    for (let i = 0; i < soft.length; i++) {
      const hex = soft.slice(i + 1, i + 3);
      if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
        out.push(parseInt(hex, 16));
        i += 2;
      } else {
        out.push(...Buffer.from(soft[i], 'utf8'));
      }
    }
    return Buffer.from(out);
  }
  return Buffer.from(body, 'utf8');
}

function decodeBody(body, encoding, charset) {
  const bytes = decodeBytes(body, encoding);
  const cs = (charset || 'utf-8').toLowerCase();
  return new TextDecoder(cs === 'us-ascii' ? 'utf-8' : cs).decode(bytes);
}

function param(value, name) {
  const m = new RegExp(`;\\s*${name}="?([^";]+)"?`, 'i').exec(value || '');
  return m ? m[1] : undefined;
}

/** The leaf parts of a (multipart) entity: [{ type, text }]. */
function leafParts(raw) {
  const { headers, body } = splitEntity(raw);
  const ct = headers['content-type'] || 'text/plain; charset=us-ascii';
  const type = ct.split(';')[0].trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = param(ct, 'boundary');
    if (!boundary) return [];
    const parts = body.split(`--${boundary}`).slice(1);
    return parts
      .filter((p) => !p.startsWith('--'))
      .map((p) => p.replace(/^\r?\n/, ''))
      .flatMap(leafParts);
  }
  return [{ type, text: decodeBody(body, headers['content-transfer-encoding'], param(ct, 'charset')) }];
}

/** A parsed .eml: headers, the text and HTML parts (decoded). */
export function parseEml(raw) {
  const { headers } = splitEntity(raw);
  const parts = leafParts(raw);
  return {
    raw,
    headers,
    to: headers.to || '',
    text: parts.filter((p) => p.type === 'text/plain').map((p) => p.text).join('\n'),
    html: parts.filter((p) => p.type === 'text/html').map((p) => p.text).join('\n'),
  };
}

/** Is this mail addressed to `email`? */
export function mailTo(mail, email) {
  return mail.to.toLowerCase().includes(email.toLowerCase());
}

/** The `/m/{token}` links in the text part. */
export function linksIn(mail) {
  return mail.text.match(/https?:\/\/[^\s<>"]+\/m\/[A-Za-z0-9_-]+/g) || [];
}

/** The one-time code: 6 consecutive digits (contract), in the text part of a mail or an SMS body. */
export function codeIn(text) {
  // Links carry random base64url tokens that may hold 6 digits in a row: not a code.
  const all = text.replace(/https?:\/\/\S+/g, ' ').match(/(?<!\d)\d{6}(?!\d)/g) || [];
  if (all.length === 0) throw new Error(`no 6-digit code in:\n${text}`);
  return all[0];
}

// ---------- MIME with binary parts (the recipient's own copy, an .eml download) ----------

/**
 * Every leaf of a MIME entity with its decoded bytes: [{ headers, type, filename, bytes }].
 * `raw` is the file's text (UTF-8); binary content is base64 or quoted-printable in it.
 */
export function mimeLeaves(raw) {
  const { headers, body } = splitEntity(raw);
  const ct = headers['content-type'] || 'text/plain; charset=us-ascii';
  const type = ct.split(';')[0].trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = param(ct, 'boundary');
    if (!boundary) return [];
    return body
      .split(`--${boundary}`)
      .slice(1)
      .filter((p) => !p.startsWith('--'))
      .map((p) => p.replace(/^\r?\n/, '').replace(/\r?\n$/, ''))
      .flatMap(mimeLeaves);
  }
  const bytes = decodeBytes(body, headers['content-transfer-encoding']);
  // A message inside the message (a conversation can be laid out that way): its own parts.
  if (type === 'message/rfc822') return mimeLeaves(bytes.toString('utf8'));
  const disposition = headers['content-disposition'] || '';
  const filename = param(disposition, 'filename') || param(ct, 'name');
  return [{ headers, type, filename, bytes }];
}
