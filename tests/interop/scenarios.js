// What the SDK scenario scripts (storefront.js, admin_keys.js, mfa.js) share: a step the server may refuse, the
// session-mode SDK with a cookie jar, and running the scenario named on the command line with the arguments after
// the base URL.
"use strict"

const Medusa = require("@medusajs/js-sdk").default

// A step the server may refuse: its answer, or the SDK's FetchError as {status, message}.
async function attempt(step) {
  try {
    return await step()
  } catch (error) {
    if (typeof error.status !== "number") throw error
    return { status: error.status, message: error.message }
  }
}

// Session mode: the SDK turns every token into a cookie session (POST /auth/session). Node's fetch keeps
// no cookies, so a small jar plays the browser's part: it stores Set-Cookie and sends Cookie back, as a browser
// does for a request whose credentials are not "omit" (the SDK omits them in JWT mode).
// ``cookies``: the jar to start from (name -> value), e.g. one a scenario run before handed on.
function sessionSdk(baseUrl, cookies = {}) {
  const jar = new Map(Object.entries(cookies))
  const realFetch = globalThis.fetch
  globalThis.fetch = async (input, init = {}) => {
    const withCookies = init.credentials !== "omit"
    const headers = new Headers(init.headers)
    if (withCookies && jar.size) headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "))
    const response = await realFetch(input, { ...init, headers })
    for (const line of withCookies ? response.headers.getSetCookie() : []) {
      const [pair, ...attributes] = line.split(";")
      const name = pair.slice(0, pair.indexOf("=")).trim()
      const value = pair.slice(pair.indexOf("=") + 1).trim()
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /expires=thu, 01 jan 1970/i.test(a))
      if (expired || !value) jar.delete(name)
      else jar.set(name, value)
    }
    return response
  }
  return { sdk: new Medusa({ baseUrl, auth: { type: "session" } }), jar }
}

// Runs scenarios[scenario](...args) and prints its answer as one JSON line; exits 1 (2: no such scenario).
function runScenario(scenarios, scenario, args) {
  const run = scenarios[scenario]
  if (!run) {
    console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(", ")}`)
    process.exit(2)
  }
  run(...args)
    .then((result) => console.log(JSON.stringify(result)))
    .catch((error) => {
      console.error(error && error.stack ? error.stack : error)
      if (error && typeof error.status === "number") console.error(`status ${error.status}: ${error.message}`)
      process.exit(1)
    })
}

module.exports = { attempt, runScenario, sessionSdk }
