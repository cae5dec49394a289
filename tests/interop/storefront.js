// Medusa's own JS SDK (@medusajs/js-sdk 2.21) driven as a storefront (and a dashboard) would, against a
// live medusa_auth. Usage: node storefront.js <scenario> <base url> [arguments...]; prints one JSON line
// with what each step returned, or {status, message} for a step the server refused.
"use strict"

const Medusa = require("@medusajs/js-sdk").default
const { attempt, runScenario, sessionSdk: sessionSdkAt } = require("./scenarios")

const [scenario, baseUrl, ...args] = process.argv.slice(2)

// In Node there is no localStorage: keep the JWT in memory, as a server-side storefront would.
function jwtSdk() {
  return new Medusa({ baseUrl, auth: { type: "jwt", jwtTokenStorageMethod: "memory" } })
}

// Session mode, cookies kept in a jar (scenarios.js).
const sessionSdk = () => sessionSdkAt(baseUrl)

const bearer = (token) => ({ Authorization: `Bearer ${token}` })

const scenarios = {
  // register -> create -> login -> retrieve -> update -> refresh -> retrieve -> providers -> reset -> logout
  async journey(email, password) {
    const sdk = jwtSdk()
    const registration = await sdk.auth.register("customer", "emailpass", { email, password })
    const { customer: created } = await sdk.store.customer.create(
      { email, first_name: "Ada" },
      {},
      bearer(registration),
    )
    const access = await sdk.auth.login("customer", "emailpass", { email, password })
    const { customer: retrieved } = await sdk.store.customer.retrieve()
    const { customer: updated } = await sdk.store.customer.update({ last_name: "Lovelace", metadata: { news: true } })
    const { token: refreshed } = await sdk.auth.refresh()
    const { customer: afterRefresh } = await sdk.store.customer.retrieve()
    const providers = await sdk.auth.listProviders("customer")
    const reset = await sdk.auth.resetPassword("customer", "emailpass", { identifier: email })
    await sdk.auth.logout()
    const afterLogout = await attempt(() => sdk.store.customer.retrieve())
    return {
      registration, created, access, retrieved, updated, refreshed, afterRefresh, providers,
      resetStatus: reset === undefined ? 201 : reset, afterLogout,
    }
  },

  // The mailed link's token: set a new password (once), then sign in with it.
  async reset(email, token, newPassword, oldPassword) {
    const sdk = jwtSdk()
    const updated = await attempt(() => sdk.auth.updateProvider("customer", "emailpass", { password: newPassword }, token))
    const again = await attempt(() => sdk.auth.updateProvider("customer", "emailpass", { password: "x".repeat(12) }, token))
    const withOldPassword = await attempt(() => sdk.auth.login("customer", "emailpass", { email, password: oldPassword }))
    const access = await sdk.auth.login("customer", "emailpass", { email, password: newPassword })
    const { customer } = await sdk.store.customer.retrieve()
    return { updated: updated === undefined ? "ok" : updated, again, withOldPassword, access, customer }
  },

  // An admin (created with the CLI) registers as a shopper with the same email and password.
  async adminShops(email, password) {
    const sdk = jwtSdk()
    const registered = await attempt(() => sdk.auth.register("customer", "emailpass", { email, password }))
    const actorless = await sdk.auth.login("customer", "emailpass", { email, password })
    const { customer } = await sdk.store.customer.create({ email, first_name: "Admin" }, {}, bearer(actorless))
    const shopper = await sdk.auth.login("customer", "emailpass", { email, password })
    const { customer: me } = await sdk.store.customer.retrieve()
    const shopperOnAdmin = await attempt(() => sdk.admin.user.me())
    const admin = await sdk.auth.login("user", "emailpass", { email, password })
    const { user } = await sdk.admin.user.me()
    const adminOnStore = await attempt(() => sdk.store.customer.retrieve())
    return { registered, actorless, customer, shopper, me, shopperOnAdmin, admin, user, adminOnStore }
  },

  // The dashboard's invite flow for an email that already shops (Medusa issue 12521).
  async inviteCustomer(email, password, inviteToken) {
    const sdk = jwtSdk()
    const registered = await attempt(() => sdk.auth.register("user", "emailpass", { email, password }))
    const actorless = await sdk.auth.login("user", "emailpass", { email, password })
    const { user } = await sdk.admin.invite.accept(
      { invite_token: inviteToken, email, first_name: "Ada", last_name: "Lovelace" },
      {},
      bearer(actorless),
    )
    const { token: admin } = await sdk.auth.refresh()
    const { user: me } = await sdk.admin.user.me()
    const shopper = await sdk.auth.login("customer", "emailpass", { email, password })
    const { customer } = await sdk.store.customer.retrieve()
    return { registered, actorless, user, admin, me, shopper, customer }
  },

  // Every cross-actor attempt a storefront or dashboard could make, each through the SDK.
  async crossActor(userEmail, customerEmail, password) {
    const sdk = jwtSdk()
    const refused = {}
    await sdk.auth.login("customer", "emailpass", { email: customerEmail, password })
    refused.customerOnAdminMe = await attempt(() => sdk.admin.user.me())
    refused.customerListingUsers = await attempt(() => sdk.admin.user.list())
    refused.customerInviting = await attempt(() => sdk.admin.invite.create({ email: "x@example.com" }))
    refused.customerCreatingAnotherCustomer = await attempt(() => sdk.store.customer.create({ email: customerEmail }))
    await sdk.auth.login("user", "emailpass", { email: userEmail, password })
    refused.userOnStoreMe = await attempt(() => sdk.store.customer.retrieve())
    refused.userUpdatingStoreMe = await attempt(() => sdk.store.customer.update({ first_name: "X" }))
    refused.userCreatingACustomer = await attempt(() => sdk.store.customer.create({ email: userEmail }))
    const userRegistration = await sdk.auth.register("user", "emailpass", { email: "new-user@example.com", password })
    refused.userRegistrationCreatingACustomer = await attempt(() =>
      sdk.store.customer.create({ email: "new-user@example.com" }, {}, bearer(userRegistration)),
    )
    const customerRegistration = await sdk.auth.register("customer", "emailpass", { email: "new-cus@example.com", password })
    refused.customerRegistrationAcceptingAnInvite = await attempt(() =>
      sdk.admin.invite.accept({ invite_token: "not-checked-first", email: "new-cus@example.com" }, {}, bearer(customerRegistration)),
    )
    refused.customerRegistrationOnStoreMe = await attempt(() => sdk.store.customer.retrieve({}, bearer(customerRegistration)))
    refused.unknownActorLogin = await attempt(() => sdk.auth.login("admin", "emailpass", { email: userEmail, password }))
    refused.unknownProviderLogin = await attempt(() => sdk.auth.login("customer", "github", { email: customerEmail, password }))
    refused.unknownActorRegister = await attempt(() => sdk.auth.register("manager", "emailpass", { email: "m@example.com", password }))
    refused.unknownActorProviders = await attempt(() => sdk.auth.listProviders("admin"))
    refused.unknownActorReset = await attempt(() => sdk.auth.resetPassword("vendor", "emailpass", { identifier: userEmail }))
    return refused
  },

  // Session mode: login makes a cookie session; the cookie alone then opens the customer's routes, not /admin.
  async session(email, password) {
    const { sdk, jar } = sessionSdk()
    const access = await sdk.auth.login("customer", "emailpass", { email, password })
    const cookies = [...jar.keys()]
    const { customer } = await sdk.store.customer.retrieve()
    const { customer: updated } = await sdk.store.customer.update({ company_name: "Engines Ltd" })
    const onAdmin = await attempt(() => sdk.admin.user.me())
    await sdk.auth.logout()
    const afterLogout = await attempt(() => sdk.store.customer.retrieve())
    return { access, cookies, customer, updated, onAdmin, afterLogout, jarAfterLogout: [...jar.keys()] }
  },

  // Session mode, an admin becoming a shopper: the actor-less customer token becomes a session that creates the customer.
  async sessionAdminShops(email, password) {
    const { sdk } = sessionSdk()
    const actorless = await sdk.auth.login("customer", "emailpass", { email, password })
    const beforeCreate = await attempt(() => sdk.store.customer.retrieve())
    const { customer } = await sdk.store.customer.create({ email })
    await sdk.auth.login("customer", "emailpass", { email, password })
    const { customer: me } = await sdk.store.customer.retrieve()
    return { actorless, beforeCreate, customer, me }
  },
}

runScenario(scenarios, scenario, args)
