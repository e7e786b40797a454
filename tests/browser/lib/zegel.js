// One real `zegel serve` process on a fresh data directory (SQLite, or a PostgreSQL database the
// caller created), the CLI commands on the same data, and the sender API over fetch.

import { spawn, execFile } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const execFileP = promisify(execFile);

const START_TIMEOUT_MS = 60000; // migrations on a cold PostgreSQL included
const READY_TIMEOUT_MS = 30000;
const COMMAND_TIMEOUT_MS = 60000;

/** Every child we started, killed when this process exits however it exits. */
const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class Zegel {
  /**
   * @param {object} o
   * @param {string} o.bin          path of the `zegel` binary
   * @param {string} o.dataDir      fresh data directory (SQLite database, blobs, key, outbox)
   * @param {string} [o.databaseUrl] `postgres://...`; SQLite in the data directory when absent
   * @param {string} o.logDir       where the server's stdout/stderr go (server.log)
   */
  constructor({ bin, dataDir, databaseUrl, logDir, publicHost }) {
    this.bin = bin;
    // The host of ZEGEL_PUBLIC_URL and of `base` (the server listens on 127.0.0.1 either
    // way): `localhost` for passkeys, which a browser refuses on an IP address.
    this.publicHost = publicHost || '127.0.0.1';
    this.dataDir = dataDir;
    this.databaseUrl = databaseUrl || null;
    this.logDir = logDir;
    this.proc = null;
    this.base = null;
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(logDir, { recursive: true });
  }

  get backend() {
    return this.databaseUrl ? 'postgres' : 'sqlite';
  }

  get mailDir() {
    return join(this.dataDir, 'outbox', 'mail');
  }

  get smsDir() {
    return join(this.dataDir, 'outbox', 'sms');
  }

  /** `<data>/zegel.db`: the default SQLite database with only ZEGEL_DATA_DIR set (contract). */
  get sqliteFile() {
    return join(this.dataDir, 'zegel.db');
  }

  /** The environment for every run: inherited ZEGEL_* variables removed, then ours. */
  env(extra = {}) {
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('ZEGEL_')) env[k] = v;
    }
    env.ZEGEL_DATA_DIR = this.dataDir;
    if (this.databaseUrl) env.ZEGEL_DATABASE_URL = this.databaseUrl;
    // The browser tests are not about rate limiting: one test client makes a few hundred
    // requests in a minute, more than the defaults leave for one person.
    env.ZEGEL_RATE_LIMIT_PER_MINUTE = '6000';
    env.ZEGEL_RATE_LIMIT_BURST = '2000';
    return { ...env, ...extra };
  }

  /** Runs a CLI command that exits by itself; returns its stdout. */
  async run(args) {
    try {
      const { stdout } = await execFileP(this.bin, args, {
        env: this.env(),
        cwd: this.dataDir,
        timeout: COMMAND_TIMEOUT_MS,
        maxBuffer: 4 * 1024 * 1024,
      });
      return stdout;
    } catch (e) {
      throw new Error(`\`zegel ${args.join(' ')}\` failed: ${e.message}\nstdout:\n${e.stdout ?? ''}\nstderr:\n${e.stderr ?? ''}`);
    }
  }

  /**
   * A sender in its own organisation (so the pages can show the names) and an API token for it
   * (`zegel admin token create --email E` prints only the token).
   */
  async createSender({ email, name, orgSlug, orgName }) {
    await this.run(['admin', 'org', 'create', '--slug', orgSlug, '--name', orgName]);
    await this.run(['admin', 'user', 'create', '--email', email, '--name', name, '--org', orgSlug]);
    const token = (await this.run(['admin', 'token', 'create', '--email', email])).trim();
    if (!/^zgl_[A-Za-z0-9_-]+$/.test(token)) {
      throw new Error(`\`zegel admin token create\` printed ${JSON.stringify(token)}, not only a zgl_ token`);
    }
    return token;
  }

  /** Starts `zegel serve` on a free port and waits for the listening line and /readyz 200. */
  async start() {
    let lastError;
    // Picking a free port and binding it later can race with another process: try again then.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const port = await freePort();
      try {
        await this.#startOn(port, attempt);
        return this.base;
      } catch (e) {
        lastError = e;
        if (!e.bindFailed) throw e;
      }
    }
    throw lastError;
  }

  async #startOn(port, attempt) {
    const listen = `http://127.0.0.1:${port}`;
    const base = `http://${this.publicHost}:${port}`;
    const log = createWriteStream(join(this.logDir, attempt === 1 ? 'server.log' : `server-${attempt}.log`));
    const proc = spawn(this.bin, ['serve'], {
      env: this.env({
        ZEGEL_LISTEN: `127.0.0.1:${port}`,
        ZEGEL_PUBLIC_URL: base,
      }),
      cwd: this.dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(proc);
    proc.on('exit', () => children.delete(proc));
    let output = '';
    const collect = (chunk) => {
      output += chunk;
      log.write(chunk);
    };
    proc.stderr.on('data', collect);
    const listening = new Promise((resolve, reject) => {
      let buf = '';
      proc.stdout.on('data', (chunk) => {
        collect(chunk);
        buf += chunk;
        // CONTRACT: `listening on http://ADDR` on stdout once the socket is bound.
        const m = /^listening on (http:\/\/\S+)$/m.exec(buf);
        if (m) resolve(m[1]);
      });
      proc.on('exit', (code, signal) => {
        const err = new Error(`zegel serve exited (${code ?? signal}) before listening on ${base}:\n${output}`);
        err.bindFailed = /address already in use|os error 98/i.test(output);
        reject(err);
      });
      setTimeout(() => reject(new Error(`zegel serve: no \`listening on\` within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS).unref();
    });
    let addr;
    try {
      addr = await listening;
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    }
    if (addr !== listen) {
      proc.kill('SIGKILL');
      throw new Error(`zegel serve listens on ${addr}, expected ${listen}`);
    }
    this.proc = proc;
    this.base = base;
    this.output = () => output;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`${listen}/readyz`, { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) return;
        last = `status ${r.status}`;
      } catch (e) {
        last = e.message;
      }
      await sleep(50);
    }
    throw new Error(`/readyz not 200 within ${READY_TIMEOUT_MS} ms (last: ${last})`);
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(t);
    this.proc = null;
  }

  url(path) {
    return `${this.base}${path}`;
  }

  async api(method, path, token, body) {
    const r = await fetch(this.url(path), {
      method,
      headers: { Authorization: `Bearer ${token}` },
      body,
      redirect: 'manual',
    });
    const text = await r.text();
    let json;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: r.status, json, text };
  }

  /**
   * `POST /api/v1/messages` as multipart: the `message` JSON part first (contract), then one
   * `attachment` file part per `{ name, type, bytes }`. Asserts 201; returns the response JSON.
   */
  async sendMessage(token, message, attachments = []) {
    const form = new FormData();
    form.append('message', new Blob([JSON.stringify(message)], { type: 'application/json' }), 'message.json');
    for (const a of attachments) {
      form.append('attachment', new Blob([a.bytes], { type: a.type }), a.name);
    }
    const r = await this.api('POST', '/api/v1/messages', token, form);
    if (r.status !== 201) throw new Error(`POST /api/v1/messages: ${r.status} ${r.text}`);
    return r.json;
  }

  /** `POST /api/v1/messages/{id}/revoke` (asserts 200). */
  async revoke(token, id) {
    const r = await this.api('POST', `/api/v1/messages/${encodeURIComponent(id)}/revoke`, token);
    if (r.status !== 200) throw new Error(`POST /api/v1/messages/${id}/revoke: ${r.status} ${r.text}`);
    return r.json;
  }

  /** `GET /api/v1/messages/{id}` (asserts 200). */
  async status(token, id) {
    const r = await this.api('GET', `/api/v1/messages/${encodeURIComponent(id)}`, token);
    if (r.status !== 200) throw new Error(`GET /api/v1/messages/${id}: ${r.status} ${r.text}`);
    return r.json;
  }

  /** The event types of every recipient of message `id`. */
  async eventTypes(token, id) {
    const s = await this.status(token, id);
    return (s.recipients || []).flatMap((r) => (r.events || []).map((e) => e.type));
  }

  /** A sender API GET that answers bytes (an attachment): `{ status, bytes, headers }`. */
  async apiBytes(path, token) {
    const r = await fetch(this.url(path), { headers: { Authorization: `Bearer ${token}` }, redirect: 'manual' });
    return { status: r.status, bytes: Buffer.from(await r.arrayBuffer()), headers: r.headers };
  }

  /** `GET /api/v1/inbox` (asserts 200): the `items`. */
  async inbox(token) {
    const r = await this.api('GET', '/api/v1/inbox', token);
    if (r.status !== 200) throw new Error(`GET /api/v1/inbox: ${r.status} ${r.text}`);
    if (!Array.isArray(r.json?.items)) throw new Error(`GET /api/v1/inbox: no "items" array: ${r.text}`);
    return r.json.items;
  }

  /** `GET /api/v1/inbox/{id}` (asserts 200): one reply with its body and attachments. */
  async inboxItem(token, id) {
    const r = await this.api('GET', `/api/v1/inbox/${encodeURIComponent(id)}`, token);
    if (r.status !== 200) throw new Error(`GET /api/v1/inbox/${id}: ${r.status} ${r.text}`);
    return r.json;
  }

  /** `DELETE /api/v1/devices/{id}`: `{ status, json, text }` (the caller asserts). */
  revokeDevice(token, id) {
    return this.api('DELETE', `/api/v1/devices/${encodeURIComponent(id)}`, token);
  }

  /**
   * `zegel admin org policy --slug S [--device-days N] ...` on the same data as the running
   * server (the CLI reads the same ZEGEL_DATA_DIR / ZEGEL_DATABASE_URL); returns the policy
   * JSON it prints. `flags`: { 'device-days': 30, forward: true, ... }.
   */
  async orgPolicy(slug, flags = {}) {
    const args = ['admin', 'org', 'policy', '--slug', slug];
    for (const [k, v] of Object.entries(flags)) args.push(`--${k}`, String(v));
    const out = await this.run(args);
    try {
      return JSON.parse(out);
    } catch {
      throw new Error(`\`zegel ${args.join(' ')}\` did not print the policy as JSON:\n${out}`);
    }
  }

  /**
   * Moves the expiry of message `id` into the past, straight in the database (there is no API
   * for it): `expires_at` is unix milliseconds in both schemas.
   */
  async expireInDatabase(id, expiresAtMs = Date.now() - 60000) {
    if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`unexpected message id ${id}`);
    const ms = Math.trunc(expiresAtMs);
    if (this.databaseUrl) {
      const { stdout } = await execFileP(
        'psql',
        [this.databaseUrl, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', `UPDATE messages SET expires_at = ${ms} WHERE id = '${id}' RETURNING id`],
        { timeout: COMMAND_TIMEOUT_MS },
      );
      if (stdout.trim() !== id) throw new Error(`psql UPDATE messages did not update ${id}: ${stdout}`);
    } else {
      const py = [
        'import sqlite3, sys',
        'c = sqlite3.connect(sys.argv[1], timeout=30)',
        'n = c.execute("UPDATE messages SET expires_at = ? WHERE id = ?", (int(sys.argv[2]), sys.argv[3])).rowcount',
        'c.commit()',
        'print(n)',
      ].join('\n');
      const { stdout } = await execFileP(process.env.ZEGEL_BROWSER_PYTHON || 'python3', ['-c', py, this.sqliteFile, String(ms), id], {
        timeout: COMMAND_TIMEOUT_MS,
      });
      if (stdout.trim() !== '1') throw new Error(`sqlite UPDATE messages updated ${stdout.trim()} row(s) for ${id}`);
    }
  }
}
