// The browser (Debian's chromium through playwright-core), phone-sized contexts, and the checks
// every visited page gets: a screenshot, an axe-core scan (WCAG 2.1 A/AA), no horizontal
// scrolling at 320 CSS px (WCAG 1.4.10) and text at 200 % (WCAG 1.4.4).

import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const AXE_VERSION = require('axe-core/package.json').version;

export const CHROMIUM = process.env.ZEGEL_CHROMIUM || '/usr/bin/chromium';

/** The phone the patient holds. */
export const PHONE = { width: 390, height: 844 };
/** WCAG 1.4.10 reflow: 320 CSS px wide (1280 px at 400 %). */
export const NARROW = { width: 320, height: 640 };
/** The care worker's desktop. */
export const DESKTOP = { width: 1280, height: 900 };
/** Impacts that fail the run. */
export const BLOCKING_IMPACTS = new Set(['serious', 'critical']);
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
  });
}

/** page -> the last response that loaded its main document (after any redirects). */
const lastDocument = new WeakMap();

/** The response that the page shows now: its status and headers. */
export function documentResponse(page) {
  return lastDocument.get(page) || null;
}

/** A fresh phone context: own cookies, Dutch locale, downloads accepted. */
export async function phoneContext(browser, { javaScriptEnabled = true } = {}) {
  const ctx = await browser.newContext({
    viewport: PHONE,
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
    locale: 'nl-NL',
    timezoneId: 'Europe/Amsterdam',
    javaScriptEnabled,
    acceptDownloads: true,
  });
  trackDocuments(ctx);
  return ctx;
}

/** A fresh desktop context (1280 px wide, the care worker's screen): own cookies, Dutch. */
export async function desktopContext(browser, { javaScriptEnabled = true } = {}) {
  const ctx = await browser.newContext({
    viewport: DESKTOP,
    locale: 'nl-NL',
    timezoneId: 'Europe/Amsterdam',
    javaScriptEnabled,
    acceptDownloads: true,
  });
  trackDocuments(ctx);
  return ctx;
}

/** Remembers, per page, the response that loaded its main document (`documentResponse`). */
function trackDocuments(ctx) {
  ctx.on('response', (r) => {
    const req = r.request();
    const frame = req.frame();
    if (req.isNavigationRequest() && frame === frame.page().mainFrame() && !(r.status() >= 300 && r.status() < 400)) {
      lastDocument.set(frame.page(), r);
    }
  });
}

function slug(s) {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * Collects what the page checks find over one backend run and writes the screenshots and the
 * JSON summaries into `dir`.
 */
export class PageChecks {
  constructor({ browser, dir, label }) {
    this.browser = browser;
    this.dir = dir;
    this.label = label;
    this.n = 0;
    /** page name -> { url, status, javaScriptEnabled, violations, incomplete } */
    this.axe = {};
    /** [{ page, scrollWidth, innerWidth, wide }]: horizontal scrolling at 320 px (fails the run) */
    this.reflow = [];
    /** [{ page, problem }]: text that does not grow (fails the run) */
    this.textZoom = [];
    /** [{ page, warning }]: horizontal scrolling with 200 % text on the phone (reported only) */
    this.textZoomWarnings = [];
    mkdirSync(dir, { recursive: true });
  }

  log(msg) {
    console.log(`[${this.label}] ${msg}`);
  }

  /** A numbered full-page screenshot; returns its path. */
  async screenshot(page, step, { fullPage = true } = {}) {
    this.n += 1;
    const path = join(this.dir, `${String(this.n).padStart(3, '0')}-${slug(step)}.png`);
    await page.screenshot({ path, fullPage });
    this.log(`  screenshot ${path}`);
    return path;
  }

  /**
   * Every check on the page as it is now (also for a page that was the answer to a POST: nothing
   * is reloaded). `name` identifies the page in the summaries ("landing", "code (sms)", ...).
   */
  async checkPage(page, name, { javaScriptEnabled = true } = {}) {
    const response = documentResponse(page);
    const status = response ? response.status() : null;
    this.log(`check page "${name}" (${page.url().replace(/\/m\/[A-Za-z0-9_-]+/, '/m/<token>')}, HTTP ${status ?? '?'})`);
    await this.screenshot(page, name);
    await this.#axe(page, name, response, javaScriptEnabled);
    await this.#reflow(page, name);
    await this.#textZoom(page, name);
  }

  // ---------- axe ----------

  async #axe(page, name, response, javaScriptEnabled) {
    const status = response ? response.status() : null;
    let target = page;
    let twin = null;
    if (!javaScriptEnabled) {
      // With JavaScript disabled the page's event loop does not run, so axe (which awaits
      // timers and promises) would hang. Scan a twin instead: the same DOM, served at the same
      // URL with the same response headers (CSP included), in a JavaScript-enabled context.
      // The pages have no script of their own, so the DOM is exactly what the server sent.
      const html = await page.content();
      twin = await phoneContext(this.browser);
      target = await twin.newPage();
      const url = page.url();
      const headers = response ? await response.allHeaders() : { 'content-type': 'text/html; charset=utf-8' };
      delete headers['content-length'];
      delete headers['content-encoding'];
      await target.route((u) => u.href === url, (route) => route.fulfill({ status: status ?? 200, headers, body: html }));
      await target.goto(url);
    }
    try {
      // Evaluated through the DevTools protocol, which the page's CSP (`script-src 'self'`,
      // no inline scripts, no eval) does not apply to; the page itself keeps its real CSP.
      await target.evaluate(AXE_SOURCE);
      const result = await target.evaluate(
        (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations', 'incomplete'] }),
        AXE_TAGS,
      );
      const brief = (list) =>
        list.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          helpUrl: v.helpUrl,
          nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html, summary: n.failureSummary })),
        }));
      this.axe[name] = {
        url: page.url().replace(/\/m\/[A-Za-z0-9_-]+/, '/m/<token>'),
        status: status ?? null,
        javaScriptEnabled,
        violations: brief(result.violations),
        incomplete: brief(result.incomplete),
      };
      const v = result.violations;
      this.log(`  axe: ${v.length} violation(s)${v.length ? ': ' + v.map((x) => `${x.id} (${x.impact})`).join(', ') : ''}`);
    } finally {
      if (twin) await twin.close();
    }
  }

  // ---------- reflow at 320 CSS px ----------

  async #reflow(page, name) {
    const before = page.viewportSize();
    await page.setViewportSize(NARROW);
    try {
      const m = await page.evaluate(measureOverflow, NARROW.width);
      await this.screenshot(page, `${name} 320px`);
      if (m.scrollWidth > NARROW.width || m.innerWidth !== NARROW.width) {
        this.reflow.push({ page: name, ...m });
        this.log(`  320 px: horizontal scrolling (scrollWidth ${m.scrollWidth}, innerWidth ${m.innerWidth}); too wide: ${m.wide.join(' | ')}`);
      } else {
        this.log('  320 px: no horizontal scrolling');
      }
    } finally {
      await page.setViewportSize(before);
    }
  }

  // ---------- text at 200 % ----------

  /**
   * The user's text size at 200 %: the browser's default font size goes from 16 to 32 px
   * (DevTools `Page.setFontSizes`, what "font size: very large" in the browser settings or the
   * text-size setting of a phone does), on the phone viewport. Text sized in rem/em grows;
   * text sized in px does not: that fails. Horizontal scrolling then is a warning.
   */
  async #textZoom(page, name) {
    const cdp = await page.context().newCDPSession(page);
    try {
      const base = await page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
      await cdp.send('Page.setFontSizes', { fontSizes: { standard: 32, fixed: 26 } });
      const m = await page.evaluate(measureOverflow, PHONE.width);
      const zoomed = await page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
      // A full-page screenshot re-applies the device emulation, which resets the font sizes:
      // make the viewport as tall as the page instead, set the fonts again, and shoot that.
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.setViewportSize({ width: PHONE.width, height: Math.min(Math.max(height, PHONE.height), 8000) });
      await cdp.send('Page.setFontSizes', { fontSizes: { standard: 32, fixed: 26 } });
      await this.screenshot(page, `${name} text 200pct`, { fullPage: false });
      if (!(zoomed >= base * 1.9)) {
        const problem = `body text ${base}px -> ${zoomed}px: does not follow the user's text size`;
        this.textZoom.push({ page: name, problem });
        this.log(`  text 200%: ${problem}`);
      } else {
        this.log(`  text 200%: body ${base}px -> ${zoomed}px`);
      }
      // WCAG 1.4.4 allows scrolling here (1.4.10 asks for 320 px at normal text size, checked
      // above); 200 % text on a 390 px phone is stricter, so this is a warning, not a failure.
      if (m.scrollWidth > PHONE.width) {
        const warning = `horizontal scrolling at 390 px (scrollWidth ${m.scrollWidth}); too wide: ${m.wide.join(' | ')}`;
        this.textZoomWarnings.push({ page: name, warning });
        this.log(`  text 200% (warning): ${warning}`);
      }
    } finally {
      await cdp.send('Page.setFontSizes', { fontSizes: { standard: 16, fixed: 13 } }).catch(() => {});
      await cdp.detach().catch(() => {});
      await page.setViewportSize(PHONE);
    }
  }

  // ---------- summaries ----------

  /** Blocking (serious/critical) axe violations, one line per rule and page. */
  blockingViolations() {
    const out = [];
    for (const [pageName, r] of Object.entries(this.axe)) {
      for (const v of r.violations) {
        if (BLOCKING_IMPACTS.has(v.impact)) out.push({ page: pageName, ...v });
      }
    }
    return out;
  }

  /** A readable list of every violation (any impact), grouped by rule. */
  axeReport() {
    const byRule = new Map();
    for (const [pageName, r] of Object.entries(this.axe)) {
      for (const v of r.violations) {
        const e = byRule.get(v.id) || { id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, pages: new Map() };
        e.pages.set(pageName, v.nodes);
        byRule.set(v.id, e);
      }
    }
    if (byRule.size === 0) return `axe ${AXE_VERSION}: no violations on ${Object.keys(this.axe).length} page(s)`;
    const lines = [`axe ${AXE_VERSION}: ${byRule.size} rule(s) violated (${[...BLOCKING_IMPACTS].join('/')} fail the run):`];
    for (const e of byRule.values()) {
      lines.push(`  - ${e.id} [${e.impact}] ${e.help} (${e.helpUrl})`);
      for (const [pageName, nodes] of e.pages) {
        for (const n of nodes) lines.push(`      ${pageName}: ${n.target}   ${n.html.slice(0, 160)}`);
      }
    }
    return lines.join('\n');
  }

  writeSummaries() {
    const axePath = join(this.dir, 'axe.json');
    writeFileSync(axePath, JSON.stringify({ axe: AXE_VERSION, tags: AXE_TAGS, pages: this.axe }, null, 2) + '\n');
    const layoutPath = join(this.dir, 'layout.json');
    writeFileSync(layoutPath, JSON.stringify({ reflow320: this.reflow, text200: this.textZoom, text200Warnings: this.textZoomWarnings }, null, 2) + '\n');
    return { axePath, layoutPath };
  }
}

/** Runs in the page: how wide the document is, and the innermost elements sticking out. */
function measureOverflow(limit) {
  const doc = document.documentElement;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    // Off-screen to the left (a skip link) does not scroll; sticking out on the right does.
    if (r.right > limit + 0.5) {
      // Report the innermost ones only.
      const child = [...el.children].some((c) => c.getBoundingClientRect().right > limit + 0.5);
      if (!child) {
        const id = el.id ? `#${el.id}` : '';
        const cls = el.classList.length ? `.${[...el.classList].join('.')}` : '';
        wide.push(`${el.tagName.toLowerCase()}${id}${cls} (${Math.round(r.left)}..${Math.round(r.right)})`);
      }
    }
  }
  return {
    scrollWidth: Math.max(doc.scrollWidth, document.body.scrollWidth),
    innerWidth: window.innerWidth,
    wide: wide.slice(0, 8),
  };
}
