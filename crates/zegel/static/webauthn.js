// Zegel: passkeys (WebAuthn) on the sign-in, set-up and settings pages.
// An element with data-webauthn="signin" or "register" holds a button; the element is
// hidden without JavaScript or WebAuthn and shown here. The server speaks JSON: the start
// URL answers {ceremony, options}, where binary fields are unpadded base64url; the finish
// URL takes {csrf, ceremony, credential, ...} and answers {redirect} or {error}.
"use strict";
(function () {
  function fromB64url(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) throw new Error(data.error || String(res.status));
        return data;
      });
    });
  }
  // Drops null fields (the browser's dictionaries take an absent member, not null).
  function clean(v) {
    if (Array.isArray(v)) return v.map(clean);
    if (v && typeof v === "object") {
      var out = {};
      Object.keys(v).forEach(function (k) {
        if (v[k] !== null && v[k] !== undefined) out[k] = clean(v[k]);
      });
      return out;
    }
    return v;
  }
  function creationOptions(o) {
    var pk = clean(o.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return { publicKey: pk };
  }
  function requestOptions(o) {
    var pk = clean(o.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return { publicKey: pk };
  }
  function registration(cred) {
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64url(cred.response.attestationObject),
        clientDataJSON: toB64url(cred.response.clientDataJSON),
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    };
  }
  function assertion(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null,
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    };
  }
  function setUp(box) {
    var kind = box.getAttribute("data-webauthn");
    var button = box.querySelector("button");
    var error = box.querySelector("[data-webauthn-error]");
    var csrf = box.getAttribute("data-csrf");
    function fail(e) {
      button.disabled = false;
      error.textContent = e && e.message ? e.message : String(e);
      error.hidden = false;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      error.hidden = true;
      var start = { csrf: csrf };
      var emailField = box.getAttribute("data-email-field");
      if (emailField) {
        var field = document.getElementById(emailField);
        start.email = field ? field.value : "";
      }
      post(box.getAttribute("data-start"), start)
        .then(function (data) {
          var get = kind === "register"
            ? navigator.credentials.create(creationOptions(data.options))
            : navigator.credentials.get(requestOptions(data.options));
          return get.then(function (cred) {
            var body = { csrf: csrf, ceremony: data.ceremony };
            if (kind === "register") {
              body.credential = registration(cred);
              var nameField = document.getElementById(box.getAttribute("data-name-field"));
              body.name = nameField ? nameField.value : "";
            } else {
              body.credential = assertion(cred);
              body.next = box.getAttribute("data-next") || "";
            }
            return post(box.getAttribute("data-finish"), body);
          });
        })
        .then(function (done) {
          window.location.assign(done.redirect);
        })
        .catch(fail);
    });
    box.hidden = false;
  }
  if (window.PublicKeyCredential && navigator.credentials) {
    document.querySelectorAll("[data-webauthn]").forEach(setUp);
  }
})();
