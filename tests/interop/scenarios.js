// What the SDK scenario scripts (storefront.js, admin_keys.js) share: a step the server may refuse, and
// running the scenario named on the command line with the arguments after the base URL.
"use strict"

// A step the server may refuse: its answer, or the SDK's FetchError as {status, message}.
async function attempt(step) {
  try {
    return await step()
  } catch (error) {
    if (typeof error.status !== "number") throw error
    return { status: error.status, message: error.message }
  }
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

module.exports = { attempt, runScenario }
