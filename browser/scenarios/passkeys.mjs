// Passkeys for real, in Chromium with a virtual authenticator (CDP WebAuthn): a person signs in
// with their password, adds a passkey from /account with the keyboard (axe), signs out, then
// signs in with the passkey alone: their email and "Use a passkey" (axe). With JavaScript off,
// the passkey buttons are absent and the password path is all there is.
import { open, check, violations, PERSON_UA } from '../harness.mjs';

async function keyboardSignIn(page, email, password) {
  await page.getByRole('textbox', { name: 'Email' }).focus();
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
}

export default async function (browser, { origin, email, password, shots }) {
  const problems = [];
  const steps = [];
  const look = async (page, name) => {
    for (const v of await check(page)) problems.push(`${name}: ${v}`);
    for (const v of await violations(page)) problems.push(`${name}: policy: ${v}`);
    if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  };

  {
    const { context, page, problems: watched } = await open(browser, origin, { userAgent: PERSON_UA });
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    await page.goto(origin + '/login', { waitUntil: 'load' });
    await keyboardSignIn(page, email, password);
    if (!page.url().endsWith('/dashboard')) problems.push(`signed in with the password, landed on ${page.url()}`);
    await page.goto(origin + '/account', { waitUntil: 'load' });
    await look(page, 'account-before');

    // add a passkey, keyboard only
    const add = page.getByRole('button', { name: 'Add a passkey' });
    await add.waitFor({ state: 'visible', timeout: 5000 });
    await page.getByRole('textbox', { name: 'Passkey name' }).focus();
    await page.keyboard.type('Laptop');
    await page.keyboard.press('Tab');
    const added = await Promise.all([
      page.waitForURL('**/account?passkey=added', { timeout: 10000 }),
      page.keyboard.press('Enter'),
    ]).then(() => true, () => false);
    if (!added) {
      const why = await page.locator('#passkey-error').textContent().catch(() => null);
      problems.push(`the passkey was not added: ${why}`);
      await context.close();
      return { problems, steps };
    }
    const listed = await page.locator('ul.passkeys li').allTextContents();
    if (listed.length !== 1 || !listed[0].includes('Laptop')) problems.push(`passkeys listed: ${JSON.stringify(listed)}`);
    await look(page, 'account-with-passkey');
    steps.push('registered');

    await page.getByRole('button', { name: 'Sign out' }).focus();
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
    if (!page.url().endsWith('/login')) problems.push(`signed out, landed on ${page.url()}`);

    // the passkey alone: the email, then "Use a passkey"
    const use = page.getByRole('button', { name: 'Use a passkey' });
    await use.waitFor({ state: 'visible', timeout: 5000 });
    await look(page, 'login-with-passkeys');
    await page.getByRole('textbox', { name: 'Email' }).focus();
    await page.keyboard.type(email);
    await use.focus();
    await Promise.all([page.waitForURL('**/dashboard', { timeout: 10000 }), page.keyboard.press('Enter')]);
    const heading = await page.getByRole('heading', { level: 1 }).textContent();
    if (heading !== 'Your pages') problems.push(`after the passkey: ${heading}`);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    if (credentials.length !== 1 || credentials[0].signCount < 1)
      problems.push(`the authenticator's credentials: ${JSON.stringify(credentials.map((c) => c.signCount))}`);
    steps.push('signed in with the passkey');
    for (const w of watched) problems.push(w);
    await context.close();
  }

  {
    const { context, page } = await open(browser, origin, { userAgent: PERSON_UA, javaScriptEnabled: false });
    await page.goto(origin + '/login', { waitUntil: 'load' });
    if ((await page.getByRole('button', { name: 'Use a passkey' }).count()) !== 0)
      problems.push('without JavaScript, "Use a passkey" is offered');
    if ((await page.getByRole('button', { name: 'Sign in' }).count()) !== 1)
      problems.push('without JavaScript, no "Sign in"');
    await keyboardSignIn(page, email, password);
    await page.goto(origin + '/account', { waitUntil: 'load' });
    if ((await page.getByRole('button', { name: 'Add a passkey' }).count()) !== 0)
      problems.push('without JavaScript, "Add a passkey" is offered');
    if (shots) await page.screenshot({ path: `${shots}/nojs-account.png`, fullPage: true });
    steps.push('nojs');
    await context.close();
  }
  return { problems, steps };
}
