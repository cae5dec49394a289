// Medusa's own JS SDK (@medusajs/js-sdk 2.21) using a second factor (SPEC §11) against a live medusa_auth:
// sdk.auth.mfa.* and sdk.auth.verification.*, and sdk.auth.login's challenge answer, with JWTs and in session
// mode (auth: {type: "session"}, as Medusa's admin dashboard runs it).
// Usage: node mfa.js <scenario> <base url> [arguments...]; prints one JSON line with what each step returned,
// or {status, message} for a step the server refused.
"use strict"

const crypto = require("node:crypto")
const Medusa = require("@medusajs/js-sdk").default
const { attempt, runScenario, sessionSdk } = require("./scenarios")

const [scenario, baseUrl, ...args] = process.argv.slice(2)

function jwtSdk() {
  return new Medusa({ baseUrl, auth: { type: "jwt", jwtTokenStorageMethod: "memory" } })
}

const bearer = (token) => ({ Authorization: `Bearer ${token}` })

// RFC 6238 written out here (an authenticator app's side), so the secret is proved to work outside pyotp.
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
  let bits = ""
  for (const char of text.replace(/=+$/, "")) bits += alphabet.indexOf(char).toString(2).padStart(5, "0")
  const bytes = []
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2))
  return Buffer.from(bytes)
}

function totp(secret, step) {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(step))
  const mac = crypto.createHmac("sha1", base32(secret)).update(counter).digest()
  const offset = mac[mac.length - 1] & 0xf
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0")
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30)

// Start late in a 30-second step and the next step's code may fall out of the ±1 window mid-scenario: wait.
async function earlyInAStep() {
  const intoStep = (Date.now() / 1000) % 30
  if (intoStep > 15) await new Promise((resolve) => setTimeout(resolve, (30 - intoStep + 0.5) * 1000))
  return currentStep()
}

// Sign in with the password, start and verify a TOTP factor with this step's code; the next step's is left.
async function enrol(sdk, email, password) {
  const step = await earlyInAStep()
  const beforeMfa = await sdk.auth.login("user", "emailpass", { email, password })
  const started = await sdk.auth.mfa.start({ provider: "totp", label: "SDK" })
  const verified = await sdk.auth.mfa.verify(started.mfa_factor.id, { code: totp(started.secret, step) })
  // Enabling ended every sign-in, this one too: the answer's token is the caller's new one (not stored by the SDK).
  return { step, beforeMfa, started, enabled: verified.mfa_factor, enrolledToken: verified.token, secret: started.secret }
}

// Enrol, sign in again, send five wrong codes to the challenge, then the right one: what each answered.
async function spendChallenge(sdk, email, password) {
  const { step, secret } = await enrol(sdk, email, password)
  const challenged = await sdk.auth.login("user", "emailpass", { email, password })
  const wrong = []
  for (let i = 0; i < 5; i++) {
    wrong.push(await attempt(() => sdk.auth.mfa.verifyChallenge(challenged.mfa_challenge.id, { method: "totp", code: "000000" })))
  }
  const right = await attempt(() =>
    sdk.auth.mfa.verifyChallenge(challenged.mfa_challenge.id, { method: "totp", code: totp(secret, step + 1) }),
  )
  return { wrong, right }
}

const scenarios = {
  // start -> verify -> login answers the challenge -> verifyChallenge -> a protected route opens; a replay refused.
  async journey(email, password) {
    const sdk = jwtSdk()
    const { step, beforeMfa, started, enabled, enrolledToken, secret } = await enrol(sdk, email, password)
    const beforeMfaRefresh = await attempt(() => sdk.auth.refresh(bearer(beforeMfa)))
    const { user: enrolledUser } = await sdk.admin.user.me({}, bearer(enrolledToken))
    const challenged = await sdk.auth.login("user", "emailpass", { email, password })
    const challengeOnAdmin = await attempt(() => sdk.admin.user.me())
    const completed = await sdk.auth.mfa.verifyChallenge(challenged.mfa_challenge.id, {
      method: "totp",
      code: totp(secret, step + 1),
    })
    const { user } = await sdk.admin.user.me()
    const listed = await sdk.auth.mfa.list()
    const { token: refreshed } = await sdk.auth.refresh()
    const again = await sdk.auth.login("user", "emailpass", { email, password })
    const replayed = await attempt(() =>
      sdk.auth.mfa.verifyChallenge(again.mfa_challenge.id, { method: "totp", code: totp(secret, step + 1) }),
    )
    return {
      started, enabled, beforeMfa, enrolledToken, enrolledUser, listed, beforeMfaRefresh, challenged, challengeOnAdmin, completed, user, refreshed, replayed,
    }
  },

  // Five wrong codes spend a challenge; the right one after them gets nothing.
  async wrongCodes(email, password) {
    return spendChallenge(jwtSdk(), email, password)
  },

  // Recovery codes: generated after a completed sign-in, each works once; disabling needs a code.
  async recovery(email, password) {
    const sdk = jwtSdk()
    const { step, secret, enabled } = await enrol(sdk, email, password)
    const first = await sdk.auth.login("user", "emailpass", { email, password })
    const completed = await sdk.auth.mfa.verifyChallenge(first.mfa_challenge.id, { method: "totp", code: totp(secret, step + 1) })
    const { recovery_codes: codes } = await sdk.auth.mfa.generateRecoveryCodes({ count: 2 })
    const second = await sdk.auth.login("user", "emailpass", { email, password })
    const recovered = await sdk.auth.mfa.verifyChallenge(second.mfa_challenge.id, { method: "recovery_code", code: codes[0] })
    const { user } = await sdk.admin.user.me()
    const completedAfterRecovery = await attempt(() => sdk.auth.refresh(bearer(completed)))
    const third = await sdk.auth.login("user", "emailpass", { email, password })
    const reused = await attempt(() =>
      sdk.auth.mfa.verifyChallenge(third.mfa_challenge.id, { method: "recovery_code", code: codes[0] }),
    )
    const disableWithoutCode = await attempt(() => sdk.auth.mfa.disable(enabled.id, {}, bearer(recovered)))
    const disableWrongCode = await attempt(() => sdk.auth.mfa.disable(enabled.id, { code: "123456" }, bearer(recovered)))
    const disabled = await sdk.auth.mfa.disable(enabled.id, { method: "recovery_code", code: codes[1] }, bearer(recovered))
    const plain = await sdk.auth.login("user", "emailpass", { email, password })
    return {
      codes, completed, recovered, user, completedAfterRecovery, reused, disableWithoutCode, disableWrongCode, disabled,
      plain,
    }
  },

  // Tokens whose mfa_enabled is true with no completed challenge, on the admin's and the shopper's routes.
  async pending(adminToken, customerToken) {
    const sdk = jwtSdk()
    return {
      admin: await attempt(() => sdk.admin.user.me({}, bearer(adminToken))),
      customer: await attempt(() => sdk.store.customer.retrieve({}, bearer(customerToken))),
    }
  },

  // MFA_REQUIRED_FOR=user: an admin without a factor reaches only enrolment, then signs in with one.
  async required(email, password) {
    const sdk = jwtSdk()
    await sdk.auth.login("user", "emailpass", { email, password })
    const withoutFactor = await attempt(() => sdk.admin.user.me())
    const factors = await sdk.auth.mfa.list()
    const { step, secret } = await enrol(sdk, email, password)
    const challenged = await sdk.auth.login("user", "emailpass", { email, password })
    await sdk.auth.mfa.verifyChallenge(challenged.mfa_challenge.id, { method: "totp", code: totp(secret, step + 1) })
    const { user } = await sdk.admin.user.me()
    return { withoutFactor, factors, user }
  },
}

// Session mode (Medusa's admin dashboard): login posts the challenge token to /auth/session, so the browser holds the
// challenge; verifyChallenge sends the cookie alone and posts the token it gets to /auth/session: the session.
scenarios.sessionJourney = async (email, password) => {
  const { sdk, jar } = sessionSdk(baseUrl)
  const { step, secret, enabled } = await enrol(sdk, email, password) // by cookie: enabling starts the session afresh
  const { user: enrolledUser } = await sdk.admin.user.me()
  await sdk.auth.logout()
  const challenged = await sdk.auth.login("user", "emailpass", { email, password })
  const cookiesWhileWaiting = [...jar.keys()]
  const waitingOnAdmin = await attempt(() => sdk.admin.user.me())
  const waitingOnFactors = await attempt(() => sdk.auth.mfa.list())
  const id = challenged.mfa_challenge.id
  const right = totp(secret, step + 1)
  const wrong = await attempt(() => sdk.auth.mfa.verifyChallenge(id, { method: "totp", code: right === "000000" ? "111111" : "000000" }))
  const completed = await sdk.auth.mfa.verifyChallenge(id, { method: "totp", code: right })
  const { user } = await sdk.admin.user.me()
  const listed = await sdk.auth.mfa.list()
  const takenAgain = await attempt(() => sdk.auth.mfa.verifyChallenge(id, { method: "totp", code: right }))
  const again = await sdk.auth.login("user", "emailpass", { email, password })
  const replayed = await attempt(() => sdk.auth.mfa.verifyChallenge(again.mfa_challenge.id, { method: "totp", code: right }))
  const afterNewSignIn = await attempt(() => sdk.admin.user.me())
  return {
    enabled, enrolledUser, challenged, cookiesWhileWaiting, waitingOnAdmin, waitingOnFactors, wrong, completed, user,
    listed, takenAgain, replayed, afterNewSignIn,
  }
}

// Session mode: five wrong codes spend the challenge the browser holds; the right one after them gets nothing.
scenarios.sessionWrongCodes = async (email, password) => {
  const { sdk } = sessionSdk(baseUrl)
  const { wrong, right } = await spendChallenge(sdk, email, password)
  const onAdmin = await attempt(() => sdk.admin.user.me())
  return { wrong, right, onAdmin }
}

// Verification, step one: sign in (the verification form), ask for a code; the test reads the mail.
scenarios.verificationRequest = async (email, password) => {
  const sdk = jwtSdk()
  const answer = await sdk.auth.login("customer", "emailpass", { email, password })
  const onStore = await attempt(() => sdk.store.customer.retrieve())
  const requested = await sdk.auth.verification.request({ entity_id: email, entity_type: "email" })
  return { answer, onStore, requested }
}

// Step two: the code from the mail confirms the email; the next sign-in is an ordinary one.
scenarios.verificationConfirm = async (token, code, email, password) => {
  const sdk = jwtSdk()
  const wrong = await attempt(() =>
    sdk.auth.verification.confirm({ code: code === "000000" ? "111111" : "000000" }, bearer(token)),
  )
  const confirmed = await sdk.auth.verification.confirm({ code }, bearer(token))
  const again = await attempt(() => sdk.auth.verification.confirm({ code }, bearer(token)))
  const access = await sdk.auth.login("customer", "emailpass", { email, password })
  const { customer } = await sdk.store.customer.retrieve()
  return { wrong, confirmed, again, access, customer }
}

// Session mode, step one: login keeps the verification in the browser, the code is asked for with the cookie alone.
// The jar is handed on to step two (a browser that stays open while its person reads the mail).
scenarios.sessionVerificationRequest = async (email, password) => {
  const { sdk, jar } = sessionSdk(baseUrl)
  const answer = await sdk.auth.login("customer", "emailpass", { email, password })
  const onStore = await attempt(() => sdk.store.customer.retrieve())
  const requested = await sdk.auth.verification.request({ entity_id: email, entity_type: "email" })
  return { answer, onStore, requested, cookies: Object.fromEntries(jar) }
}

// Step two, in the same browser: the mailed code confirms by cookie; signing in again makes the session.
scenarios.sessionVerificationConfirm = async (cookies, code, email, password) => {
  const { sdk } = sessionSdk(baseUrl, JSON.parse(cookies))
  const wrong = await attempt(() => sdk.auth.verification.confirm({ code: code === "000000" ? "111111" : "000000" }))
  const confirmed = await sdk.auth.verification.confirm({ code })
  const again = await attempt(() => sdk.auth.verification.confirm({ code }))
  const access = await sdk.auth.login("customer", "emailpass", { email, password })
  const { customer } = await sdk.store.customer.retrieve()
  return { wrong, confirmed, again, access, customer }
}

runScenario(scenarios, scenario, args)
