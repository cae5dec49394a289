// Medusa's own JS SDK (@medusajs/js-sdk) as a storefront or admin dashboard drives a redirect sign-in.
//
// usage: node sdk_redirect.js <backend URL> '<steps as JSON>'
// Steps run in order in one SDK instance (its token kept in memory, as the SDK does outside a browser):
//   ["login", actor, provider, payload]     sdk.auth.login      -> {location}
//   ["callback", actor, provider, query]    sdk.auth.callback   -> the token
//   ["createUser", provider]                sdk.auth.createUser -> {user}
//   ["refresh"]                             sdk.auth.refresh    -> {token}
//   ["adminMe"]                             sdk.admin.user.me   -> {user}
//   ["createCustomer", body]                sdk.store.customer.create -> {customer}
//   ["customerMe"]                          sdk.store.customer.retrieve -> {customer}
// Prints one JSON line: {"results": [...]} and, if a step failed, "error": {step, status, message}.

const Medusa = require("@medusajs/js-sdk").default;

async function main() {
  const [baseUrl, stepsJson] = process.argv.slice(2);
  const sdk = new Medusa({ baseUrl, auth: { type: "jwt", jwtTokenStorageMethod: "memory" } });
  const run = {
    login: (actor, provider, payload) => sdk.auth.login(actor, provider, payload),
    callback: (actor, provider, query) => sdk.auth.callback(actor, provider, query),
    createUser: (provider) => sdk.auth.createUser(provider),
    refresh: () => sdk.auth.refresh(),
    adminMe: () => sdk.admin.user.me(),
    createCustomer: (body) => sdk.store.customer.create(body),
    customerMe: () => sdk.store.customer.retrieve(),
  };
  const results = [];
  for (const [name, ...args] of JSON.parse(stepsJson)) {
    try {
      results.push(await run[name](...args));
    } catch (error) {
      const answer = { results, error: { step: name, status: error.status ?? null, message: error.message } };
      process.stdout.write(`${JSON.stringify(answer)}\n`);
      return;
    }
  }
  process.stdout.write(`${JSON.stringify({ results })}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
