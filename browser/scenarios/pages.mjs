// Opens each page at phone size, as a visitor would: with JavaScript on (console errors, policy
// violations, requests leaving the server, axe), then with the keyboard only (the first Tab
// reaches the first link, and its focus ring shows), then with JavaScript off (the links are
// there). A screenshot of each goes to `shots`.
import { open, violations, check, PERSON_UA } from '../harness.mjs';

export default async function (browser, { origin, pages, shots }) {
  const problems = [];
  const seen = [];
  for (const { path, name, links } of pages) {
    const at = (p) => `${name} (${path}): ${p}`;
    const { context, page, problems: watched } = await open(browser, origin, {
      userAgent: PERSON_UA,
    });
    const res = await page.goto(origin + path, { waitUntil: 'load' });
    const status = res ? res.status() : 0;
    for (const v of await violations(page)) problems.push(at(`policy violation: ${v}`));
    for (const v of await check(page)) problems.push(at(v));
    if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
    if (links > 0) {
      await page.keyboard.press('Tab');
      const focus = await page.evaluate(() => {
        const el = document.activeElement;
        const s = getComputedStyle(el);
        return { cls: el.className, outline: s.outlineStyle, width: s.outlineWidth };
      });
      if (focus.cls !== 'link' || focus.outline === 'none' || focus.width === '0px') {
        problems.push(at(`the first Tab does not show a focused link: ${JSON.stringify(focus)}`));
      }
    }
    for (const w of watched) {
      // the not-found page is a 404 on purpose; Chromium logs that as a console error
      if (status === 404 && w.includes('404')) continue;
      problems.push(at(w));
    }
    await context.close();

    const off = await browser.newContext({ javaScriptEnabled: false, userAgent: PERSON_UA });
    const p2 = await off.newPage();
    await p2.goto(origin + path);
    const count = await p2.locator('a.link').count();
    if (count !== links) problems.push(at(`JavaScript off: ${count} links, expected ${links}`));
    await off.close();
    seen.push({ name, status });
  }
  return { problems, seen };
}
