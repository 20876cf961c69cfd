// A person signs in with the keyboard only: the sign-in page (axe), a wrong password (the
// page says so, axe), the right one (their account, axe), then "Sign out". And the same with
// JavaScript off (no axe there: it runs in the page). Screenshots of each step go to `shots`.
import { open, check, violations, PERSON_UA } from '../harness.mjs';

async function signIn(page, email, password) {
  await page.keyboard.press('Tab'); // to the email field (the first control)
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
}

export default async function (browser, { origin, email, password, shots }) {
  const problems = [];
  const steps = [];
  for (const js of [true, false]) {
    const tag = js ? 'js' : 'nojs';
    const { context, page, problems: watched } = await open(browser, origin, {
      userAgent: PERSON_UA,
      javaScriptEnabled: js,
    });
    const at = (p) => `${tag}: ${p}`;
    const look = async (name) => {
      // axe runs in the page: with JavaScript off it cannot, and the markup is the same as
      // the pass with it on, which axe checked
      if (js) {
        for (const v of await check(page)) problems.push(at(`${name}: ${v}`));
        for (const v of await violations(page)) problems.push(at(`${name}: policy: ${v}`));
      }
      if (shots) await page.screenshot({ path: `${shots}/${tag}-${name}.png`, fullPage: true });
    };
    await page.goto(origin + '/login', { waitUntil: 'load' });
    const button = page.getByRole('button', { name: 'Sign in' });
    if ((await button.count()) !== 1) problems.push(at('no button named "Sign in"'));
    await look('login');

    await signIn(page, email, 'not the password');
    const alert = await page.getByRole('alert').textContent().catch(() => null);
    if (!alert || !alert.includes('do not match')) problems.push(at(`no clear error: ${alert}`));
    const kept = await page.locator('#email').inputValue();
    if (kept !== email) problems.push(at(`the email was not kept: ${kept}`));
    await look('login-failed');

    // the email is kept: Tab past it to the password
    await page.locator('#email').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.type(password);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
    if (!page.url().endsWith('/dashboard')) problems.push(at(`signed in, landed on ${page.url()}`));
    const heading = await page.getByRole('heading', { level: 1 }).textContent();
    if (heading !== 'Your pages') problems.push(at(`dashboard heading: ${heading}`));
    await look('dashboard');

    await page.getByRole('button', { name: 'Sign out' }).focus();
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
    if (!page.url().endsWith('/login')) problems.push(at(`signed out, landed on ${page.url()}`));
    await page.goto(origin + '/account', { waitUntil: 'load' });
    if (!page.url().endsWith('/login')) problems.push(at('after sign-out /account is still open'));
    for (const w of watched) {
      // the failed sign-in is a 401 on purpose; Chromium logs that as a console error
      if (w.includes('401')) continue;
      problems.push(at(w));
    }
    steps.push(tag);
    await context.close();
  }
  return { problems, steps };
}
