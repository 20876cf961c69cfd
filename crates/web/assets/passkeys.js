// Passkeys, for the pages that offer them (/login: "Use a passkey"; /account: "Add a passkey").
// The buttons are hidden until this script finds a browser that can use passkeys: without
// JavaScript they are absent, and the password path works alone. The browser's JSON forms of
// the WebAuthn options and answers (parse...OptionsFromJSON, toJSON) carry them to and from
// the API under /api/passkeys/.
'use strict';
(function () {
  const PKC = window.PublicKeyCredential;
  if (!PKC || !PKC.parseCreationOptionsFromJSON || !PKC.parseRequestOptionsFromJSON) return;

  async function post(path, body) {
    const r = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body || {}),
      credentials: 'same-origin',
    });
    let json = null;
    try { json = await r.json(); } catch (_) { /* an empty answer */ }
    return { ok: r.ok, status: r.status, json };
  }

  function say(where, text) {
    const el = document.getElementById(where);
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
  }

  const signIn = document.getElementById('passkey-signin');
  if (signIn) {
    signIn.hidden = false;
    signIn.addEventListener('click', async () => {
      const email = document.getElementById('email').value.trim();
      if (!email) {
        say('passkey-error', 'Enter your email first, then use your passkey.');
        document.getElementById('email').focus();
        return;
      }
      try {
        const start = await post('/api/passkeys/authenticate/start', { email });
        if (!start.ok) throw new Error(start.json && start.json.detail || 'refused');
        const publicKey = PKC.parseRequestOptionsFromJSON(start.json.options.publicKey);
        const credential = await navigator.credentials.get({ publicKey });
        const done = await post('/api/passkeys/authenticate/finish', {
          ceremony: start.json.ceremony,
          credential: credential.toJSON(),
        });
        if (!done.ok) throw new Error('refused');
        window.location.assign('/dashboard');
      } catch (_) {
        say('passkey-error', 'That passkey did not sign you in. Try again, or use your password.');
      }
    });
  }

  const add = document.getElementById('passkey-add');
  const addForm = document.getElementById('passkey-new');
  if (add && addForm) {
    addForm.hidden = false;
    add.addEventListener('click', async () => {
      try {
        const start = await post('/api/passkeys/register/start');
        if (!start.ok) throw new Error(start.json && start.json.detail || 'refused');
        const publicKey = PKC.parseCreationOptionsFromJSON(start.json.options.publicKey);
        const credential = await navigator.credentials.create({ publicKey });
        const name = document.getElementById('passkey-name');
        const done = await post('/api/passkeys/register/finish', {
          ceremony: start.json.ceremony,
          name: name ? name.value : '',
          credential: credential.toJSON(),
        });
        if (!done.ok) throw new Error('refused');
        window.location.assign('/account?passkey=added');
      } catch (e) {
        say('passkey-error', 'The passkey was not added: ' + (e && e.message || 'try again') + '.');
      }
    });
  }
})();
