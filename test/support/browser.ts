/**
 * The browser tests' Chromium (Debian's, driven by playwright-core): windows at a desktop's or a
 * phone's size, everything the page refused or failed at (CSP, errors), axe-core's findings per screen,
 * and screenshots in test-results/screens/ (git-ignored) for a person to look at.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENS = path.resolve('test-results/screens');
export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 390, height: 844 };
const AXE = readFileSync(path.resolve('node_modules/axe-core/axe.min.js'), 'utf8');

type Violation = { id: string; impact: string; nodes: number; targets: string[] };

export class BrowserSession {
  private readonly windows: BrowserContext[] = [];
  /** What the browser refused or failed at, on any page: nothing is expected. */
  readonly refusals: string[] = [];
  /** Every screen's axe-core violations, of any impact, written to `axeFile` at the end. */
  readonly axeReport: Record<string, Array<{ id: string; impact: string; nodes: number }>> = {};

  private constructor(
    private readonly browser: Browser,
    private readonly axeFile: string,
  ) {}

  static async launch(axeFile: string): Promise<BrowserSession> {
    mkdirSync(SCREENS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    return new BrowserSession(browser, axeFile);
  }

  /** A fresh window (its own sessionStorage) at a desktop's or a phone's size; `prepare` before its page. */
  async open(size: 'desktop' | 'phone', prepare?: (window: BrowserContext) => Promise<void>): Promise<Page> {
    const window = await this.browser.newContext(
      size === 'phone'
        ? { viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2, locale: 'en-GB' }
        : { viewport: DESKTOP, locale: 'en-GB' },
    );
    this.windows.push(window);
    await prepare?.(window);
    const page = await window.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) {
        // A 401, 403 or 404 the screen was asked to show is the browser reporting a response, not a refusal.
        if (/status of (401|403|404)/.test(message.text())) return;
        this.refusals.push(`${page.url()}: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => this.refusals.push(`${page.url()}: ${error.message}`));
    return page;
  }

  /** axe-core's serious and critical violations on the page as it is now (every finding is reported). */
  async axeViolations(page: Page, screen: string): Promise<Violation[]> {
    // Evaluated by the browser's debugging protocol, which the page's CSP does not govern.
    await page.evaluate(AXE);
    // A string, run in the page: its globals (document, axe) are the browser's, not Node's.
    const violations = await page.evaluate<Violation[]>(
      `axe.run(document, { resultTypes: ['violations'] }).then((results) =>
         results.violations.map((violation) => ({ id: violation.id, impact: violation.impact, nodes: violation.nodes.length,
           targets: violation.nodes.slice(0, 3).map((node) => String(node.target)) })))`,
    );
    this.axeReport[screen] = violations.map(({ id, impact, nodes }) => ({ id, impact, nodes }));
    return violations.filter(
      (violation) => violation.impact === 'serious' || violation.impact === 'critical',
    );
  }

  async close(): Promise<void> {
    writeFileSync(path.join(SCREENS, this.axeFile), `${JSON.stringify(this.axeReport, null, 2)}\n`);
    for (const window of this.windows) await window.close();
    await this.browser.close();
  }
}

/**
 * Whether the page is wider than the phone: it would scroll sideways. (Against the phone's width, not
 * the window's: a mobile browser widens its layout viewport to fit content wider than the screen.)
 */
export const scrollsSideways = (page: Page) =>
  page.evaluate<boolean>(`document.documentElement.scrollWidth > ${PHONE.width}`);

/** The whole page, and with `firstScreen` what the window shows as it opens. */
export async function screenshot(page: Page, name: string, options: { firstScreen?: boolean } = {}) {
  await page.screenshot({ path: path.join(SCREENS, `${name}.png`), fullPage: true });
  if (options.firstScreen) await page.screenshot({ path: path.join(SCREENS, `${name}-first-screen.png`) });
}
