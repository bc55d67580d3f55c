// Passkeys in the tokend console: the only script of the console, for the WebAuthn
// ceremonies (the browser API needs JavaScript). Buttons with data-passkey="register"
// or data-passkey="sign-in" start them; the server's options and the authenticator's
// answers travel as JSON with base64url binary fields, as webauthn-rs speaks them.
(function () {
  'use strict';
  function b64uToBuf(s) {
    var b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64u(buf) {
    var bytes = new Uint8Array(buf), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
    }).then(function (r) { return r.json(); });
  }
  function say(text, ok) {
    var p = document.getElementById('passkey-status');
    if (p) { p.textContent = text; p.className = 'flash ' + (ok ? 'success' : 'error'); }
  }
  function register(btn) {
    var csrf = btn.getAttribute('data-csrf');
    var name = (document.getElementById('passkey-name') || {}).value || 'passkey';
    post('/admin/passkeys/register/start', { csrf: csrf }).then(function (o) {
      if (!o.publicKey) throw new Error(o.message || 'refused');
      var pk = o.publicKey;
      pk.challenge = b64uToBuf(pk.challenge);
      pk.user.id = b64uToBuf(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
      return navigator.credentials.create({ publicKey: pk });
    }).then(function (cred) {
      return post('/admin/passkeys/register/finish', {
        csrf: csrf, name: name, credential: {
          id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, extensions: {},
          response: {
            attestationObject: bufToB64u(cred.response.attestationObject),
            clientDataJSON: bufToB64u(cred.response.clientDataJSON)
          }
        }
      });
    }).then(function (r) {
      say(r.message, r.ok);
      if (r.ok) window.location.reload();
    }).catch(function (e) { say('The passkey was not registered: ' + e.message, false); });
  }
  function signIn(btn) {
    var csrf = btn.getAttribute('data-csrf');
    post('/admin/factor/passkey/start', { csrf: csrf }).then(function (o) {
      if (!o.publicKey) throw new Error(o.message || 'refused');
      var pk = o.publicKey;
      pk.challenge = b64uToBuf(pk.challenge);
      (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
      return navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      var r = cred.response;
      return post('/admin/factor/passkey/finish', {
        csrf: csrf, credential: {
          id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, extensions: {},
          response: {
            authenticatorData: bufToB64u(r.authenticatorData),
            clientDataJSON: bufToB64u(r.clientDataJSON),
            signature: bufToB64u(r.signature),
            userHandle: r.userHandle ? bufToB64u(r.userHandle) : null
          }
        }
      });
    }).then(function (r) {
      say(r.message, r.ok);
      if (r.ok) window.location.assign(r.to);
    }).catch(function (e) { say('The passkey did not sign you in: ' + e.message, false); });
  }
  document.addEventListener('click', function (ev) {
    var btn = ev.target.closest('[data-passkey]');
    if (!btn) return;
    ev.preventDefault();
    if (btn.getAttribute('data-passkey') === 'register') register(btn); else signIn(btn);
  });
})();
