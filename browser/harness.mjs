// The browser harness: Debian's Chromium (never a downloaded browser) driven by playwright-core,
// with axe-core. A test opens pages through `open`, which watches everything a visitor's browser
// would complain about: console errors, uncaught exceptions, content-security-policy violations,
// and any request that leaves the server under test (it is refused, and reported). `check` runs
// axe on the page as it stands.
import { chromium } from 'playwright-core';
import axe from 'axe-core';

export const CHROMIUM = process.env.LINKLEAF_CHROMIUM || '/usr/bin/chromium';

/// A phone: what most visitors of a link-in-bio page hold.
export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

/// A real browser's user agent, for tests whose counts matter: headless Chromium names itself
/// (HeadlessChrome) and is rightly counted as a robot.
export const PERSON_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 ' +
  '(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    // the sandbox needs user namespaces, which a container may not give
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/// A new context and page on `origin`, watched. `problems` collects what went wrong.
/// `options.also`: other origins of the same server (its address besides its name).
export async function open(browser, origin, options = {}) {
  const { also = [], ...rest } = options;
  const context = await browser.newContext({ ...PHONE, ...rest });
  const problems = [];
  const ours = [origin, ...also];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (ours.some((o) => url.startsWith(o + '/') || url === o) || url.startsWith('data:')) {
      return route.continue();
    }
    problems.push(`a request left the server: ${url}`);
    return route.abort('blockedbyclient');
  });
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  return { context, page, problems };
}

/// What the page's policy refused so far (JavaScript on only).
export async function violations(page) {
  return page.evaluate(() => window.__violations || []).catch(() => []);
}

/// axe's violations of WCAG 2.2 A and AA and its best practices, each as one line.
export async function check(page) {
  // evaluated through the DevTools protocol: the page's policy (no scripts) does not apply
  await page.evaluate(axe.source);
  const result = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'],
    }),
  );
  return result.violations.map(
    (v) => `axe ${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
  );
}
