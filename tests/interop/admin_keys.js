// Medusa's own JS SDK (@medusajs/js-sdk 2.21) managing API keys and admin users against a live medusa_auth,
// then used as Medusa's machines and storefronts use it: `new Medusa({ apiKey })` (HTTP Basic on /admin) and
// `new Medusa({ publishableKey })` (x-publishable-api-key on /store). Usage:
// node admin_keys.js <scenario> <base url> [arguments...]; prints one JSON line with what each step returned,
// or {status, message} for a step the server refused.
"use strict"

const Medusa = require("@medusajs/js-sdk").default
const { attempt, runScenario } = require("./scenarios")

const [scenario, baseUrl, ...args] = process.argv.slice(2)
const memory = { type: "jwt", jwtTokenStorageMethod: "memory" }

async function signedInAdmin(email, password) {
  const sdk = new Medusa({ baseUrl, auth: memory })
  await sdk.auth.login("user", "emailpass", { email, password })
  return sdk
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const scenarios = {
  // The dashboard makes keys; a machine and a storefront use them; a revoked key stops (within the bound).
  async apiKeys(email, password, shopperEmail) {
    const admin = await signedInAdmin(email, password)
    const { api_key: secret } = await admin.admin.apiKey.create({ title: "ci", type: "secret" })
    const { api_key: publishable } = await admin.admin.apiKey.create({ title: "storefront", type: "publishable" })
    const { api_key: retrieved } = await admin.admin.apiKey.retrieve(secret.id)
    const listed = await admin.admin.apiKey.list({ limit: 10 })
    const { api_key: renamed } = await admin.admin.apiKey.update(publishable.id, { title: "EU storefront" })

    const machine = new Medusa({ baseUrl, apiKey: secret.token, auth: memory })
    const machineUsers = await machine.admin.user.list()
    const machineMakesSecret = await attempt(() => machine.admin.apiKey.create({ title: "mine", type: "secret" }))
    const machineMe = await attempt(() => machine.admin.user.me())

    const anonymousShop = new Medusa({ baseUrl, auth: memory })
    const withoutKey = await attempt(() => anonymousShop.auth.register("customer", "emailpass", { email: shopperEmail, password }).then(() => anonymousShop.store.customer.create({ email: shopperEmail })))
    const shop = new Medusa({ baseUrl, publishableKey: publishable.token, auth: memory })
    await shop.auth.login("customer", "emailpass", { email: shopperEmail, password })
    const { customer } = await shop.store.customer.create({ email: shopperEmail })
    await shop.auth.refresh()
    const { customer: me } = await shop.store.customer.retrieve()

    const { api_key: revoked } = await admin.admin.apiKey.revoke(secret.id)
    let afterRevoke = null
    const deadline = Date.now() + 4000 // REVOCATION_REFRESH_SECONDS (2) on whichever worker answers, and some slack
    while (Date.now() < deadline) {
      afterRevoke = await attempt(() => machine.admin.user.list())
      if (afterRevoke.status === 401) break
      await sleep(100)
    }
    const deleted = await admin.admin.apiKey.delete(secret.id)
    const listedAfter = await admin.admin.apiKey.list()
    return {
      secret, publishable, retrieved, listed, renamed, machineUsers, machineMakesSecret, machineMe,
      withoutKey, customer, me, revoked, afterRevoke, deleted, listedAfter,
    }
  },

  // The dashboard manages another admin: update, sign-in methods, a reset token, delete.
  async users(email, password, otherEmail) {
    const admin = await signedInAdmin(email, password)
    const { users } = await admin.admin.user.list({ q: otherEmail.split("@")[0], order: "-created_at" })
    const other = users[0]
    const { user: updated } = await admin.admin.user.update(other.id, { first_name: "Grace", metadata: { team: "ops" } })
    const providers = await admin.admin.user.listAuthProviders(other.id)
    const { token } = await admin.admin.user.generateResetPasswordToken(other.id)
    const deleted = await admin.admin.user.delete(other.id)
    const { user: me } = await admin.admin.user.me()
    const deleteMyself = await attempt(() => admin.admin.user.delete(me.id))
    return { found: users.map((u) => u.email), updated, providers, tokenParts: token.split(".").length, deleted, deleteMyself }
  },
}

runScenario(scenarios, scenario, args)
