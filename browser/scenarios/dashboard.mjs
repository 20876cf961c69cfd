// The creator dashboard, as a person uses it, in Debian's Chromium with a real browser's user
// agent. A stranger signs up, adds a passkey (a virtual authenticator) and signs in with it;
// creates a page; adds three links with the keyboard; drags the third to the top (SortableJS in
// its fallback mode) and finds the public page in that order; moves one with "Move down"; taps
// a link on the public page and sees the click in the editor within a window; finds it in the
// analytics page's CSV; restores a version. Two browsers edit one profile: the one that saved
// second from an older version is told, and what it typed is still in its form; nothing is
// lost. With JavaScript off, a person edits a link, reorders with the buttons and adds a link.
// Every page is checked with axe, for policy violations, console errors and requests leaving
// the server; each page's weight (what crossed the wire, compressed) is reported; screenshots
// at phone and desktop sizes go to `shots`.
import { open, check, violations, PERSON_UA } from '../harness.mjs';

const DESKTOP = { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false };

export default async function (browser, args) {
  const { origin, linkOrigin, email, password, adminEmail, adminPassword, shots } = args;
  const problems = [];
  const steps = [];
  const weights = {};
  const deadline = (ms) => Date.now() + ms;

  // what a page weighs: every response's body as it crossed the wire, from a fresh load
  async function weigh(context, path, name) {
    const page = await context.newPage();
    const sizes = [];
    page.on('requestfinished', (req) => sizes.push(req.sizes().catch(() => null)));
    await page.goto(origin + path, { waitUntil: 'load' });
    await page.waitForLoadState('networkidle');
    // every finished request's sizes, once each has been read
    weights[name] = (await Promise.all(sizes))
      .filter(Boolean)
      .reduce((n, s) => n + s.responseBodySize + s.responseHeadersSize, 0);
    await page.close();
  }

  const lookOn = (page, tag) => async (name, { axe = true } = {}) => {
    if (axe) for (const v of await check(page)) problems.push(`${tag} ${name}: ${v}`);
    for (const v of await violations(page)) problems.push(`${tag} ${name}: policy: ${v}`);
    if (shots) await page.screenshot({ path: `${shots}/${tag}-${name}.png`, fullPage: true });
  };

  async function submitWith(page, locator) {
    await locator.focus();
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
  }

  async function typeInto(page, locator, text) {
    await locator.focus();
    await page.keyboard.press('Control+A');
    await page.keyboard.type(text);
  }

  async function signIn(page, who, secret) {
    await page.goto(origin + '/login', { waitUntil: 'load' });
    await typeInto(page, page.getByRole('textbox', { name: 'Email' }), who);
    await page.keyboard.press('Tab');
    await page.keyboard.type(secret);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
  }

  const titles = async (page) =>
    page.locator('ol#links > li .title').allTextContents();
  const publicTitles = async (page) => {
    const p = await page.context().newPage();
    await p.goto(origin + '/ada', { waitUntil: 'load' });
    const t = await p.locator('a.link').allTextContents();
    await p.close();
    return t;
  };
  const expectOrder = async (page, want, what) => {
    const got = await titles(page);
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${what}: the editor shows ${JSON.stringify(got)}`);
    const pub = await publicTitles(page);
    if (JSON.stringify(pub) !== JSON.stringify(want)) problems.push(`${what}: the public page shows ${JSON.stringify(pub)}`);
  };

  // --- A: sign up, a passkey, a page, three links, drag, move, a click, the CSV, restore
  const A = await open(browser, origin, { also: [linkOrigin], userAgent: PERSON_UA });
  {
    const { context, page } = A;
    const look = lookOn(page, 'phone');
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });

    await page.goto(origin + '/signup', { waitUntil: 'load' });
    await typeInto(page, page.getByRole('textbox', { name: 'Email' }), email);
    await page.keyboard.press('Tab');
    await page.keyboard.type('Ada');
    await page.keyboard.press('Tab');
    await page.keyboard.type(password);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
    if (!page.url().endsWith('/dashboard')) problems.push(`signed up, landed on ${page.url()}`);
    await look('home-empty');

    // a passkey, then sign out and back in with it alone
    await page.goto(origin + '/account', { waitUntil: 'load' });
    await page.getByRole('button', { name: 'Add a passkey' }).waitFor({ state: 'visible', timeout: 5000 });
    await typeInto(page, page.getByRole('textbox', { name: 'Passkey name' }), 'Phone');
    await page.keyboard.press('Tab');
    await Promise.all([page.waitForURL('**/account?passkey=added', { timeout: 10000 }), page.keyboard.press('Enter')]);
    await submitWith(page, page.getByRole('button', { name: 'Sign out' }));
    const use = page.getByRole('button', { name: 'Use a passkey' });
    await use.waitFor({ state: 'visible', timeout: 5000 });
    await typeInto(page, page.getByRole('textbox', { name: 'Email' }), email);
    await use.focus();
    await Promise.all([page.waitForURL('**/dashboard', { timeout: 10000 }), page.keyboard.press('Enter')]);
    steps.push('passkey');

    // "Create page", keyboard only
    await typeInto(page, page.getByRole('textbox', { name: 'Username' }), 'ada');
    await typeInto(page, page.getByRole('textbox', { name: 'Display name' }), 'Ada Lovelace');
    await submitWith(page, page.getByRole('button', { name: 'Create page' }));
    if (!page.url().includes('/dashboard/ada')) problems.push(`made the page, landed on ${page.url()}`);
    await look('editor-new');
    steps.push('created');

    // three links through the form named "Add link"
    for (const n of ['One', 'Two', 'Three']) {
      const form = page.getByRole('form', { name: 'Add link' });
      await typeInto(page, form.getByRole('textbox', { name: 'Title' }), n);
      await typeInto(page, form.getByRole('textbox', { name: 'URL' }), `${linkOrigin}/?to=${n.toLowerCase()}`);
      await submitWith(page, form.getByRole('button', { name: 'Add link' }));
    }
    const items = page.getByRole('listitem').filter({ has: page.locator('.title') });
    if ((await items.count()) !== 3) problems.push(`after three adds, ${await items.count()} list items`);
    await expectOrder(page, ['One', 'Two', 'Three'], 'added');
    await look('editor-three');
    steps.push('added');

    // drag the third to the top (SortableJS, fallback mode: mouse events)
    // the whole list on the screen, as a person would hold it to drag
    await page.locator('ol#links > li').nth(2).scrollIntoViewIfNeeded();
    await page.evaluate(() => document.getElementById('links').scrollIntoView({ block: 'center' }));
    const grips = page.locator('ol#links .grip');
    const from = await grips.nth(2).boundingBox();
    const to = await page.locator('ol#links > li').first().boundingBox();
    await Promise.all([
      page.waitForURL(/saved=order/, { timeout: 10000 }),
      (async () => {
        // one move a frame: SortableJS's fallback looks for the place under the pointer once a
        // frame, so moves within one frame would be seen as one
        const frame = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
        const x0 = from.x + from.width / 2, y0 = from.y + from.height / 2;
        const x1 = to.x + 20, y1 = to.y + 4;
        await page.mouse.move(x0, y0);
        await page.mouse.down();
        await frame();
        for (let i = 1; i <= 24; i++) {
          await page.mouse.move(x0 + ((x1 - x0) * i) / 24, y0 + ((y1 - y0) * i) / 24);
          await frame();
        }
        await page.mouse.up();
      })(),
    ]).catch((e) => problems.push(`the drag did not save an order: ${e.message}`));
    await expectOrder(page, ['Three', 'One', 'Two'], 'dragged');
    steps.push('dragged');

    // "Move down" on "One", with the keyboard
    const one = page.getByRole('listitem').filter({ hasText: 'One' });
    await submitWith(page, one.getByRole('button', { name: 'Move down' }));
    await expectOrder(page, ['Three', 'Two', 'One'], 'moved down');
    steps.push('moved');

    // a person taps "Two" on the public page; the editor shows it within a window
    const visitor = await context.newPage();
    await visitor.goto(origin + '/ada', { waitUntil: 'load' });
    await Promise.all([visitor.waitForNavigation({ waitUntil: 'load' }), visitor.getByRole('link', { name: 'Two' }).tap()]);
    await visitor.close();
    let seen = false;
    for (const end = deadline(15000); Date.now() < end; ) {
      await page.goto(origin + '/dashboard/ada', { waitUntil: 'load' });
      const words = await page.getByRole('listitem').filter({ hasText: 'Two' }).locator('.state').textContent();
      if (words.includes('1 person clicked')) { seen = true; break; }
      await page.waitForTimeout(250);
    }
    if (!seen) problems.push('the click was not in the editor within 15 s');
    steps.push('counted');

    // the analytics page, and its CSV
    await page.getByRole('link', { name: 'Analytics' }).first().click();
    await page.waitForLoadState('load');
    await look('analytics');
    const csvHref = await page.getByRole('link', { name: /CSV/ }).getAttribute('href');
    const csv = await (await context.request.get(origin + csvHref)).text();
    const row = csv.split('\n').find((l) => l.startsWith('link,') && l.includes('Two'));
    if (!row || !/,1,1,0,/.test(row)) problems.push(`the CSV's row of "Two": ${row}`);
    const table = await page.getByRole('table', { name: 'Clicks per link' }).textContent();
    if (!/Two\s*1\s*0/.test(table)) problems.push(`the table of clicks per link: ${table}`);
    steps.push('csv');

    // history: restore the version with the links in their first order
    await page.goto(origin + '/dashboard/ada/history', { waitUntil: 'load' });
    await look('history');
    const v = page.locator('ol.versions > li').filter({ hasText: 'Added the link “Three”' });
    await submitWith(page, v.getByRole('button', { name: 'Restore' }));
    if (!page.url().includes('restored=')) problems.push(`restored, landed on ${page.url()}`);
    await page.goto(origin + '/dashboard/ada', { waitUntil: 'load' });
    await expectOrder(page, ['One', 'Two', 'Three'], 'restored');
    steps.push('restored');

    // share: the QR code, and an import's dry run (shown, not applied)
    await page.goto(origin + '/dashboard/ada/share', { waitUntil: 'load' });
    const qr = await page.getByRole('img', { name: /QR code/ }).evaluate((img) => img.naturalWidth);
    if (!(qr > 0)) problems.push('the QR code did not load');
    await look('share');
    await page.getByLabel('Format').selectOption('csv');
    await typeInto(page, page.getByRole('textbox', { name: 'File contents' }), 'title,url\nFour,https://four.example');
    await submitWith(page, page.getByRole('button', { name: 'Preview import' }));
    const preview = await page.getByRole('status').textContent().catch(() => '');
    if (!preview.includes('Adds 1 link: Four') || !preview.includes('Removes 3 links'))
      problems.push(`the import's dry run: ${preview}`);
    if ((await page.getByRole('button', { name: 'Apply import' }).count()) !== 1) problems.push('no "Apply import"');
    await look('import-preview');
    await page.goto(origin + '/dashboard', { waitUntil: 'load' });
    await look('home');
    steps.push('share');

    await weigh(context, '/dashboard/ada', 'editor');
    await weigh(context, '/dashboard/ada/analytics', 'analytics');
  }

  // --- two browsers on one profile: the later save from an older version is told; nothing lost
  {
    const B = await open(browser, origin, { also: [linkOrigin], userAgent: PERSON_UA });
    await signIn(B.page, email, password);
    await B.page.goto(origin + '/dashboard/ada', { waitUntil: 'load' });
    await A.page.goto(origin + '/dashboard/ada', { waitUntil: 'load' });
    // A adds a link; B, from the page it read before, renames the profile
    const form = A.page.getByRole('form', { name: 'Add link' });
    await typeInto(A.page, form.getByRole('textbox', { name: 'Title' }), 'From A');
    await typeInto(A.page, form.getByRole('textbox', { name: 'URL' }), `${linkOrigin}/?to=a`);
    await submitWith(A.page, form.getByRole('button', { name: 'Add link' }));
    const profileForm = B.page.getByRole('form', { name: 'Profile' });
    await typeInto(B.page, profileForm.getByRole('textbox', { name: 'Display name' }), 'Ada from B');
    await submitWith(B.page, profileForm.getByRole('button', { name: 'Save' }));
    const told = await B.page.getByRole('alert').first().textContent().catch(() => '');
    if (!told.includes('Someone else changed this page')) problems.push(`B was not told: ${told}`);
    const kept = await profileForm.getByRole('textbox', { name: 'Display name' }).inputValue();
    if (kept !== 'Ada from B') problems.push(`B's input was not kept: ${kept}`);
    if (!(await titles(B.page)).includes('From A')) problems.push("B does not see A's link");
    await lookOn(B.page, 'phone')('editor-stale');
    // B saves again, now from the current version: both changes stand
    await submitWith(B.page, profileForm.getByRole('button', { name: 'Save' }));
    const h = await B.page.getByRole('heading', { level: 1 }).textContent();
    if (!h.includes('Ada from B')) problems.push(`B's second save: ${h}`);
    if (!(await titles(B.page)).includes('From A')) problems.push("A's link was lost");
    for (const w of B.problems) if (!w.includes('412')) problems.push(`B: ${w}`);
    await B.context.close();
    steps.push('two browsers');
  }
  for (const w of A.problems) if (!w.includes('412')) problems.push(`A: ${w}`);
  await A.context.close();

  // --- desktop size: the editor beside its preview, the analytics page
  {
    const D = await open(browser, origin, { also: [linkOrigin], userAgent: PERSON_UA, ...DESKTOP });
    await signIn(D.page, email, password);
    await D.page.goto(origin + '/dashboard/ada', { waitUntil: 'load' });
    const frame = D.page.frameLocator('iframe[title="Preview of your page"]');
    const inPreview = await frame.locator('a.link').allTextContents();
    if (!inPreview.includes('From A')) problems.push(`the preview shows ${JSON.stringify(inPreview)}`);
    await lookOn(D.page, 'desktop')('editor');
    await D.page.goto(origin + '/dashboard/ada/analytics?range=30d', { waitUntil: 'load' });
    await lookOn(D.page, 'desktop')('analytics');
    for (const w of D.problems) problems.push(`desktop: ${w}`);
    await D.context.close();
    steps.push('desktop');
  }

  // --- JavaScript off: edit a link, reorder with the buttons, add a link
  {
    const N = await open(browser, origin, { also: [linkOrigin], userAgent: PERSON_UA, javaScriptEnabled: false });
    const { page } = N;
    const look = lookOn(page, 'nojs');
    await signIn(page, email, password);
    await page.goto(origin + '/dashboard/ada', { waitUntil: 'load' });
    const row = page.getByRole('listitem').filter({ hasText: 'Three' });
    await row.locator('summary').focus();
    await page.keyboard.press('Enter');
    const edit = page.getByRole('form', { name: 'Edit Three' });
    await typeInto(page, edit.getByRole('textbox', { name: 'Title' }), 'Three (edited)');
    await submitWith(page, edit.getByRole('button', { name: 'Save' }));
    const edited = page.getByRole('listitem').filter({ hasText: 'Three (edited)' });
    await submitWith(page, edited.getByRole('button', { name: 'Move up' }));
    const before = await titles(page);
    const form = page.getByRole('form', { name: 'Add link' });
    await typeInto(page, form.getByRole('textbox', { name: 'Title' }), 'No script');
    await typeInto(page, form.getByRole('textbox', { name: 'URL' }), `${linkOrigin}/?to=n`);
    await submitWith(page, form.getByRole('button', { name: 'Add link' }));
    const want = [...before, 'No script'];
    await expectOrder(page, want, 'without JavaScript');
    if (JSON.stringify(before) !== JSON.stringify(['One', 'Three (edited)', 'Two', 'From A']))
      problems.push(`edited and moved up without JavaScript: ${JSON.stringify(before)}`);
    await look('editor', { axe: false });
    for (const w of N.problems) problems.push(`nojs: ${w}`);
    await N.context.close();
    steps.push('nojs');
  }

  // --- the admin's pages
  if (adminEmail) {
    const M = await open(browser, origin, { also: [linkOrigin], userAgent: PERSON_UA, ...DESKTOP });
    await signIn(M.page, adminEmail, adminPassword);
    await M.page.goto(origin + '/dashboard/admin', { waitUntil: 'load' });
    const text = await M.page.locator('main').textContent();
    if (!text.includes(email) || !text.includes('@ada') || !text.includes('ready')) problems.push('the admin page lacks the account, the profile or the health');
    await lookOn(M.page, 'desktop')('admin');
    // a page that is not there says so in words (a 404 on purpose: not a console error to count)
    const r = await M.page.goto(origin + '/dashboard/nobody-here', { waitUntil: 'load' });
    if (r.status() !== 404 || !(await M.page.getByRole('heading', { level: 1 }).textContent()).includes('Not found'))
      problems.push(`a page not there: ${r.status()}`);
    await lookOn(M.page, 'desktop')('not-found');
    for (const w of M.problems) if (!w.includes('404')) problems.push(`admin: ${w}`);
    await M.context.close();
    steps.push('admin');
  }
  return { problems, steps, weights };
}
