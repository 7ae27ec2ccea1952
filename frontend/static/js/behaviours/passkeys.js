// Passkeys (WebAuthn), with the browser's own API: a form with data-passkey-ceremony ("create":
// Add a passkey; "get": sign in, or the second factor) and data-passkey-options (where to POST
// for the ceremony's options, JSON). Its [data-passkey-start] button asks the server for the
// options, runs navigator.credentials.create() or .get(), puts the answer (JSON, base64url as
// the server reads it) in the form's `credential` field and sends the form. Without WebAuthn
// the button is hidden and [data-passkey-unsupported] shown. Loaded by the pages that use it
// (Security, the login pages, the code step, the invitation page), not in app.js; htmx runs it
// again at each swap of those parts, hence `R.passkeys`.
// Autofill (conditional UI): on a page whose email field has autocomplete="username webauthn", a
// "get" form also asks for a passkey quietly when the page opens, so that the browser offers the
// person's passkeys in that field's suggestions; choosing one sends the form as the button does.
// A click on the button first withdraws that quiet request (one WebAuthn request at a time).
(function (R) {
  "use strict";
  if (R.passkeys) return;
  R.passkeys = true;

  function bytes(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var raw = atob(s), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }
  function text(buffer) {
    var all = new Uint8Array(buffer), s = "";
    for (var i = 0; i < all.length; i++) s += String.fromCharCode(all[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = bytes(c.id); });
  }
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  function options(url) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), Accept: "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error || R.t("passkeysUnavailable"));
        return body;
      });
    });
  }
  function ask(kind, o, quiet) {
    o.challenge = bytes(o.challenge);
    if (kind === "create") {
      o.user.id = bytes(o.user.id);
      ids(o.excludeCredentials);
      return navigator.credentials.create({ publicKey: o });
    }
    ids(o.allowCredentials);
    if (quiet) return navigator.credentials.get({ publicKey: o, mediation: "conditional", signal: quiet.signal });
    return navigator.credentials.get({ publicKey: o });
  }
  function encoded(credential) {
    var r = credential.response, out = {
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      response: { clientDataJSON: text(r.clientDataJSON) },
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    };
    if (credential.authenticatorAttachment) out.authenticatorAttachment = credential.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = text(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = text(r.authenticatorData);
      out.response.signature = text(r.signature);
      if (r.userHandle) out.response.userHandle = text(r.userHandle);
    }
    return JSON.stringify(out);
  }
  function failed(error) {
    var cancelled = error && (error.name === "NotAllowedError" || error.name === "AbortError");
    R.say({
      kind: "error",
      text: cancelled ? R.t("passkeyCancelled") :
        error && error.name === "InvalidStateError" ? R.t("passkeyKnown") :
        (error && error.message) || R.t("passkeyFailed")
    });
  }

  R.on("[data-passkey-start]", function (button) {
    var form = button.form;
    if (!form) return;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      button.hidden = true;
      var note = form.querySelector("[data-passkey-unsupported]");
      if (note) note.hidden = false;
      return;
    }
    function send(credential) {
      form.elements.credential.value = encoded(credential);
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }
    var quiet = null;
    var field = document.querySelector('input[autocomplete~="webauthn"]');
    var conditional = PublicKeyCredential.isConditionalMediationAvailable;
    if (form.dataset.passkeyCeremony === "get" && field && conditional && window.AbortController) {
      conditional.call(PublicKeyCredential).then(function (available) {
        if (!available) return;
        quiet = new AbortController();
        var mine = quiet;
        return options(form.dataset.passkeyOptions).then(function (o) {
          return ask("get", o, mine);
        }).then(send, function () {});  // unasked for: it fails quietly (withdrawn, no passkey, an IP host)
      }).catch(function () {});
    }
    button.addEventListener("click", function () {
      var kind = form.dataset.passkeyCeremony;
      if (kind === "create" && !form.reportValidity()) return;
      if (quiet) { quiet.abort(); quiet = null; }
      button.disabled = true;
      options(form.dataset.passkeyOptions).then(function (o) {
        return ask(kind, o);
      }).then(send).catch(failed).finally(function () {
        button.disabled = false;
      });
    });
  });
})(Roster);
