// A stranger with an invitation, keyboard only: the link's page (axe), a refused password (the
// page says so, axe), then "Create account" (their account, axe); with JavaScript on and off,
// one invitation each. The sign-up page where sign-up is closed to invitations (axe). Screenshots
// of each step go to `shots`.
import { open, check, violations, PERSON_UA } from '../harness.mjs';

export default async function (browser, { origin, links, shots }) {
  const problems = [];
  const steps = [];
  for (const [i, js] of [true, false].entries()) {
    const tag = js ? 'js' : 'nojs';
    const { context, page, problems: watched } = await open(browser, origin, {
      userAgent: PERSON_UA,
      javaScriptEnabled: js,
    });
    const at = (p) => `${tag}: ${p}`;
    const look = async (name) => {
      if (js) {
        for (const v of await check(page)) problems.push(at(`${name}: ${v}`));
        for (const v of await violations(page)) problems.push(at(`${name}: policy: ${v}`));
      }
      if (shots) await page.screenshot({ path: `${shots}/${tag}-${name}.png`, fullPage: true });
    };
    const email = `guest${i}@example.com`;
    const fill = async (password) => {
      await page.getByRole('textbox', { name: 'Email' }).focus();
      await page.keyboard.press('Control+A');
      await page.keyboard.type(email);
      await page.keyboard.press('Tab');
      await page.keyboard.press('Control+A');
      await page.keyboard.type('Guest');
      await page.keyboard.press('Tab');
      await page.keyboard.type(password);
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
    };
    await page.goto(origin + links[i], { waitUntil: 'load' });
    if ((await page.getByRole('button', { name: 'Create account' }).count()) !== 1)
      problems.push(at('no button named "Create account"'));
    await look('invite');

    await fill('password123');
    const alert = await page.getByRole('alert').textContent().catch(() => null);
    if (!alert || !alert.includes('The password')) problems.push(at(`no clear error: ${alert}`));
    await look('invite-refused');

    await fill('a long and private phrase');
    if (!page.url().endsWith('/account')) problems.push(at(`signed up, landed on ${page.url()}`));
    await look('account');
    for (const w of watched) {
      // the refused password is a 422 on purpose; Chromium logs that as a console error
      if (w.includes('422')) continue;
      problems.push(at(w));
    }
    steps.push(tag);
    await context.close();
  }
  const { context, page } = await open(browser, origin, { userAgent: PERSON_UA });
  await page.goto(origin + '/signup', { waitUntil: 'load' });
  for (const v of await check(page)) problems.push(`signup: ${v}`);
  if (shots) await page.screenshot({ path: `${shots}/signup.png`, fullPage: true });
  steps.push('signup');
  await context.close();
  return { problems, steps };
}
