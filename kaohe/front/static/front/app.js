/* kaohe employee app: the service worker, "read to the end", signing (passkey, password,
 * e-mailed code, drawn signature) and passkey registration. No dependencies. */
(function () {
  "use strict";

  var body = document.body;

  function byId(id) { return document.getElementById(id); }

  function show(element, text) {
    if (!element) return;
    element.textContent = text || "";
    element.hidden = !text;
  }

  /* POST JSON with the CSRF token; resolves to the JSON answer, rejects with its "error". */
  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": body.dataset.csrf || ""
      },
      body: JSON.stringify(data || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) throw new Error(json.error || response.status + " " + response.statusText);
        return json;
      });
    });
  }

  /* -- base64url <-> ArrayBuffer, and WebAuthn options/credentials as JSON -- */

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var binary = atob(b64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: fromB64url(item.id) });
    });
  }

  function requestOptions(json) {
    var options = Object.assign({}, json.publicKey || json);
    options.challenge = fromB64url(options.challenge);
    if (options.allowCredentials) options.allowCredentials = withIds(options.allowCredentials);
    return options;
  }

  function creationOptions(json) {
    var options = Object.assign({}, json.publicKey || json);
    options.challenge = fromB64url(options.challenge);
    options.user = Object.assign({}, options.user, { id: fromB64url(options.user.id) });
    if (options.excludeCredentials) options.excludeCredentials = withIds(options.excludeCredentials);
    return options;
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      try { return credential.toJSON(); } catch (e) { /* build it by hand below */ }
    }
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toB64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    }
    if (response.authenticatorData) {
      json.response.authenticatorData = toB64url(response.authenticatorData);
      json.response.signature = toB64url(response.signature);
      json.response.userHandle = response.userHandle ? toB64url(response.userHandle) : null;
    }
    return json;
  }

  function passkeysWork() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  }

  function webauthnMessage(error, holder) {
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return holder.dataset.cancelled;
    }
    return (error && error.message) || String(error);
  }

  /* -- the service worker (app shell and offline page) -- */

  function registerServiceWorker() {
    if (!("serviceWorker" in navigator) || !body.dataset.sw) return;
    navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope })
      .catch(function () { /* the app works without it */ });
  }

  /* -- reading to the end -- */

  function enableSigning() {
    document.querySelectorAll(".sign-btn").forEach(function (button) { button.disabled = false; });
    show(byId("read-hint"), "");
  }

  function watchReading() {
    var sentinel = byId("read-sentinel");
    if (!sentinel) return;
    if (sentinel.dataset.read) { enableSigning(); return; }
    if (!("IntersectionObserver" in window)) {
      post(sentinel.dataset.url).then(enableSigning);
      return;
    }
    var sending = false;
    var observer = new IntersectionObserver(function (entries) {
      var seen = entries.some(function (entry) { return entry.isIntersecting; });
      if (!seen || sending) return;
      sending = true;
      post(sentinel.dataset.url).then(function () {
        observer.disconnect();
        sentinel.dataset.read = "1";
        enableSigning();
      }, function (error) {
        sending = false;
        show(byId("sign-error"), error.message);
      });
    });
    observer.observe(sentinel);
  }

  /* -- the drawn signature -- */

  var drawnValue = function () { return null; };

  function drawnPad() {
    var canvas = byId("drawn-pad");
    if (!canvas) return;
    var context = canvas.getContext("2d");
    var drawing = false;
    var inked = false;

    function blank() {
      context.fillStyle = "#fff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.lineWidth = 4;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.strokeStyle = "#1d2330";
      inked = false;
    }

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return [(event.clientX - box.left) * canvas.width / box.width,
              (event.clientY - box.top) * canvas.height / box.height];
    }

    canvas.addEventListener("pointerdown", function (event) {
      drawing = true;
      if (canvas.setPointerCapture) canvas.setPointerCapture(event.pointerId);
      var p = point(event);
      context.beginPath();
      context.moveTo(p[0], p[1]);
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var p = point(event);
      context.lineTo(p[0], p[1]);
      context.stroke();
      inked = true;
      event.preventDefault();
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (name) {
      canvas.addEventListener(name, function () { drawing = false; });
    });
    byId("drawn-clear").addEventListener("click", blank);
    blank();
    drawnValue = function () { return inked ? canvas.toDataURL("image/png") : null; };
  }

  /* -- signing -- */

  function signPanel() {
    var panel = byId("sign-panel");
    if (!panel) return;
    var errorBox = byId("sign-error");
    var statusBox = byId("sign-status");
    var busy = false;
    var codeCeremony = null;

    function begin(method) { return post(panel.dataset.begin, { method: method }); }

    function finish(fields) {
      fields.drawn = drawnValue();
      return post(panel.dataset.finish, fields);
    }

    function act(work) {
      return function (event) {
        event.preventDefault();
        if (busy) return;
        busy = true;
        panel.classList.add("busy");
        show(errorBox, "");
        work().then(function (answer) {
          if (answer && answer.redirect) window.location.assign(answer.redirect);
        }).catch(function (error) {
          show(errorBox, webauthnMessage(error, panel));
        }).then(function () {
          busy = false;
          panel.classList.remove("busy");
        });
      };
    }

    var passkeyButton = byId("sign-passkey");
    if (passkeyButton) {
      passkeyButton.addEventListener("click", act(function () {
        if (!passkeysWork()) return Promise.reject(new Error(panel.dataset.unsupported));
        return begin("passkey").then(function (started) {
          return navigator.credentials.get({ publicKey: requestOptions(started.options) })
            .then(function (credential) {
              return finish({ ceremony: started.ceremony, assertion: credentialJSON(credential) });
            });
        });
      }));
    }

    byId("fallback-password").addEventListener("submit", act(function () {
      var password = byId("sign-password").value;
      return begin("password").then(function (started) {
        return finish({ ceremony: started.ceremony, password: password });
      });
    }));

    byId("send-code").addEventListener("click", act(function () {
      return begin("email_code").then(function (started) {
        codeCeremony = started.ceremony;
        byId("code-entry").hidden = false;
        show(statusBox, panel.dataset.codeSent);
        byId("sign-code").focus();
      });
    }));

    byId("code-entry").addEventListener("submit", act(function () {
      return finish({ ceremony: codeCeremony, code: byId("sign-code").value.trim() });
    }));
  }

  /* -- passkey registration -- */

  function passkeyForm() {
    var form = byId("add-passkey-form");
    if (!form) return;
    var errorBox = byId("passkey-error");
    if (!passkeysWork()) {
      show(errorBox, form.dataset.unsupported);
      byId("add-passkey").disabled = true;
      return;
    }
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) return;
      busy = true;
      show(errorBox, "");
      var name = byId("passkey-name").value.trim();
      post(form.dataset.begin, {}).then(function (started) {
        return navigator.credentials.create({ publicKey: creationOptions(started.options) })
          .then(function (credential) {
            return post(form.dataset.finish, {
              ceremony: started.ceremony, credential: credentialJSON(credential), name: name
            });
          });
      }).then(function (answer) {
        window.location.assign(answer.redirect);
      }).catch(function (error) {
        show(errorBox, webauthnMessage(error, form));
      }).then(function () { busy = false; });
    });
  }

  registerServiceWorker();
  drawnPad();
  signPanel();
  passkeyForm();
  watchReading();
})();
