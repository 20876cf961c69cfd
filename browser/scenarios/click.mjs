// A visitor opens a page and taps its first link, with the user agent given (a real browser's,
// or headless Chromium's own when `ua` is null). Reports where the tap led.
import { open } from '../harness.mjs';

export default async function (browser, { origin, path, ua }) {
  const { context, page, problems } = await open(browser, origin, ua ? { userAgent: ua } : {});
  await page.goto(origin + path, { waitUntil: 'load' });
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator('a.link').first().tap()]);
  const landed = page.url();
  await context.close();
  return { problems, landed };
}
