// The sender's side in the browser: a signed-in session without the sign-in page.
//
// Until a scenario signs in through /inloggen, `sessionCookie` writes a session row straight
// into the database (what `Zegel::start_sender_session` stores: the SHA-256 of a random
// base64url token, the user, now) and returns the `zegel_sender` cookie for the browser
// context. A scenario that signs in for real replaces the call by the sign-in steps; nothing
// else changes.

import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const TIMEOUT_MS = 60000;

/** psql with `sql` on standard input; resolves to its trimmed standard output. */
function psqlStdin(args, sql) {
  return new Promise((resolve, reject) => {
    const p = spawn('psql', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), TIMEOUT_MS);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim());
      else reject(new Error(`psql failed (${code}): ${err}`));
    });
    p.stdin.end(sql);
  });
}

/** Runs one SQL statement on the server's database; returns its single text value. */
async function sqlValue(zegel, sql, params) {
  if (zegel.databaseUrl) {
    // psql variables quote the values (:'name'); they apply to SQL read from standard input,
    // not to -c.
    const args = [zegel.databaseUrl, '-v', 'ON_ERROR_STOP=1', '-qAt'];
    params.forEach((p, i) => args.push('-v', `p${i}=${p}`));
    let i = 0;
    const pgSql = sql.replace(/\?/g, () => `:'p${i++}'`);
    return psqlStdin(args, `${pgSql};\n`);
  }
  const py = [
    'import sqlite3, sys, json',
    'c = sqlite3.connect(sys.argv[1], timeout=30)',
    'params = json.loads(sys.argv[3])',
    'params = [bytes.fromhex(p[4:]) if isinstance(p, str) and p.startswith("hex:") else p for p in params]',
    'row = c.execute(sys.argv[2], params).fetchone()',
    'c.commit()',
    'print(row[0] if row else "")',
  ].join('\n');
  const { stdout } = await execFileP(
    process.env.ZEGEL_BROWSER_PYTHON || 'python3',
    ['-c', py, zegel.sqliteFile, sql, JSON.stringify(params)],
    { timeout: TIMEOUT_MS },
  );
  return stdout.trim();
}

/**
 * A fresh session for the sender `email`: `{ name: 'zegel_sender', value, url }`, ready for
 * `context.addCookies([...])`.
 */
export async function sessionCookie(zegel, email) {
  const userId = await sqlValue(zegel, 'SELECT id FROM users WHERE email = ?', [email.toLowerCase()]);
  if (!userId) throw new Error(`no user ${email}`);
  const token = randomBytes(32).toString('base64url');
  const hash = createHash('sha256').update(token).digest('hex');
  const now = String(Date.now());
  const sql = zegel.databaseUrl
    ? "INSERT INTO sender_sessions (token_hash, user_id, created_at, last_seen_at) VALUES (decode(?, 'hex'), ?, CAST(? AS BIGINT), CAST(? AS BIGINT)) RETURNING user_id"
    : 'INSERT INTO sender_sessions (token_hash, user_id, created_at, last_seen_at) VALUES (?, ?, ?, ?) RETURNING user_id';
  const params = zegel.databaseUrl ? [hash, userId, now, now] : [`hex:${hash}`, userId, Number(now), Number(now)];
  const stored = await sqlValue(zegel, sql, params);
  if (stored !== userId) throw new Error(`the session row was not stored (${stored})`);
  return { name: 'zegel_sender', value: token, url: zegel.base };
}

/**
 * Gives the sender `email` the password `password` (`zegel admin user password --email E`, the
 * password on standard input) on the server's data.
 */
export function setPassword(zegel, email, password) {
  return new Promise((resolve, reject) => {
    const p = spawn(zegel.bin, ['admin', 'user', 'password', '--email', email], {
      env: zegel.env(),
      cwd: zegel.dataDir,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), TIMEOUT_MS);
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`zegel admin user password failed (${code}): ${err}`));
    });
    p.stdin.end(`${password}\n`);
  });
}

/** Signs in on /inloggen with e-mail address and password (no second factor enrolled). */
export async function signIn(page, zegel, email, password) {
  await page.goto(zegel.url('/inloggen'));
  await page.getByLabel('E-mailadres').fill(email);
  await page.getByLabel('Wachtwoord').fill(password);
  await page.getByRole('button', { name: 'Inloggen', exact: true }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/inloggen'));
}
