// Passkeys on the pages: "Sign in with a passkey" (and the browser's passkey autofill) on the sign-in
// page, "Use a passkey" on its second step (the code page), "Add a passkey" on the account page. Only
// the JSON API and the code page's own options are called (same origin); without JavaScript or WebAuthn
// the buttons stay hidden and the password and code forms work as before.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const text = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  // The service's options are WebAuthn's JSON form; the browser wants ArrayBuffers for the binary members.
  function creationOptions(json) {
    return {
      ...json,
      challenge: bytes(json.challenge),
      user: { ...json.user, id: bytes(json.user.id) },
      excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: bytes(c.id) })),
    };
  }

  function requestOptions(json) {
    return {
      ...json,
      challenge: bytes(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: bytes(c.id) })),
    };
  }

  function credentialJson(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: text(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = text(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = text(r.authenticatorData);
      response.signature = text(r.signature);
      if (r.userHandle) response.userHandle = text(r.userHandle);
    }
    return { id: credential.id, rawId: text(credential.rawId), type: credential.type, response, clientExtensionResults: {} };
  }

  // A page's own endpoint takes a form (its CSRF token: URLSearchParams); the JSON API takes JSON.
  async function call(path, body, token) {
    const form = body instanceof URLSearchParams;
    const headers = form ? { Accept: "application/json" } : { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(path, { method: "POST", headers, body: form ? body : JSON.stringify(body || {}), credentials: "same-origin" });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.message || "The server refused (" + response.status + ").");
    return answer;
  }

  function show(element, message) {
    element.textContent = message;
    element.hidden = !message;
    if (message) element.focus();
  }

  // A person who closes the browser's dialog has changed their mind: no error for that.
  const cancelled = (error) => error && (error.name === "NotAllowedError" || error.name === "AbortError");

  function signInPage(root) {
    const status = root.querySelector("[data-passkey-status]");
    const button = root.querySelector("[data-passkey-sign-in]");
    let autofill = null;

    async function signIn(mediation) {
      const options = requestOptions(await call("/auth/user/passkey/options"));
      const request = { publicKey: options };
      if (mediation) {
        autofill = new AbortController();
        Object.assign(request, { mediation, signal: autofill.signal });
      }
      const credential = await navigator.credentials.get(request);
      const { token } = await call("/auth/user/passkey", { credential: credentialJson(credential) });
      try {
        await call("/auth/session", {}, token);
      } catch (refused) {
        throw new Error("This passkey's account has no admin user yet: open your invite link to finish setting it up.");
      }
      window.location.assign(root.dataset.next || "/app/");
    }

    button.hidden = false;
    button.addEventListener("click", async () => {
      if (autofill) autofill.abort(); // one WebAuthn request at a time
      show(status, "");
      try {
        await signIn(null);
      } catch (error) {
        if (!cancelled(error)) show(status, error.message);
      }
    });
    // The browser's passkey autofill on the email field (autocomplete="username webauthn").
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
        if (!available) return;
        signIn("conditional").catch((error) => {
          if (!cancelled(error)) show(status, error.message);
        });
      });
    }
  }

  function accountPage(root) {
    const status = root.querySelector("[data-passkey-status]");
    const form = root.querySelector("[data-passkey-add]");
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show(status, "");
      try {
        const options = creationOptions(await call("/auth/passkeys/options"));
        const credential = await navigator.credentials.create({ publicKey: options });
        const label = form.elements.label.value.trim();
        await call("/auth/passkeys", { credential: credentialJson(credential), ...(label ? { label } : {}) });
        window.location.reload();
      } catch (error) {
        if (!cancelled(error)) show(status, error.message);
      }
    });
  }

  // A password sign-in's second step: the passkey signs this challenge's options, and the form carries its
  // answer to the server as it would carry a typed code (the server says what went wrong, on the page).
  function secondFactorPage(root) {
    const status = root.querySelector("[data-passkey-status]");
    const form = root.querySelector("[data-passkey-answer]");
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show(status, "");
      try {
        const csrf = new URLSearchParams({ csrf_token: form.elements.csrf_token.value });
        const credential = await navigator.credentials.get({ publicKey: requestOptions(await call(root.dataset.options, csrf)) });
        form.elements.credential.value = JSON.stringify(credentialJson(credential));
        form.submit(); // no submit event: this handler does not run again
      } catch (error) {
        if (!cancelled(error)) show(status, error.message);
      }
    });
  }

  document.querySelectorAll("[data-passkeys]").forEach((root) => {
    if (root.dataset.passkeys === "sign-in") signInPage(root);
    if (root.dataset.passkeys === "second-factor") secondFactorPage(root);
    if (root.dataset.passkeys === "account") accountPage(root);
  });
})();
