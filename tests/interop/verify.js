// The guide's "Verify Tokens Using JWKS" code (src/api/middlewares/jwks-auth.ts), kept as written
// there, run as a script: `node verify.js TOKEN` (or the token on stdin) prints {"valid": true|false}
// on one line and exits 0. MEDUSA_BACKEND_URL says where the JWKS is served.
"use strict"

const jwt = require("jsonwebtoken")
const { JwksClient } = require("jwks-rsa")

const MEDUSA_BACKEND_URL = process.env.MEDUSA_BACKEND_URL || "http://localhost:9000"

// Create JWKS client with caching
const jwksClient = new JwksClient({
  // This is the API route where your JWKS is exposed
  jwksUri: `${MEDUSA_BACKEND_URL}/.well-known/jwks.json`,
  cache: true,
  rateLimit: true,
  jwksRequestsPerMinute: 5,
  cacheMaxAge: 60 * 60 * 1000, // 1 hour in ms
})

// Helper to get signing key
async function getKey(header) {
  try {
    const key = await jwksClient.getSigningKey(header.kid)

    return key.getPublicKey()
  } catch (err) {
    throw new Error(`Failed to get signing key: ${err.message}`)
  }
}

// Function that validates JWT token
async function isValidJWTToken(token) {
  if (!token) {
    return false
  }

  try {
    // Decode the token to get the header
    const decoded = jwt.decode(token, { complete: true })

    if (
      !decoded ||
      !decoded.header ||
      !decoded.header.kid ||
      !decoded.payload.actor_id
    ) {
      return false
    }

    const publicKey = await getKey(decoded.header)

    return new Promise((resolve) => {
      jwt.verify(
        token,
        publicKey,
        {
          ignoreExpiration: false,
          ignoreNotBefore: false,
        },
        (err) => {
          if (err) {
            console.error("Error verifying JWT token:", err)
            resolve(false)
          }

          resolve(true)
        }
      )
    })
  } catch (err) {
    console.error("Error validating JWT token:", err)
    return false
  }
}

// -- the script around it -----------------------------------------------------------------------

async function readToken() {
  if (process.argv.length > 2) {
    return process.argv[2].trim()
  }
  const chunks = []
  for await (const chunk of process.stdin) {
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString("utf8").trim()
}

async function main() {
  const valid = await isValidJWTToken(await readToken())
  // Exit as soon as the line is written: the answer is the printed value, never a hanging process.
  process.stdout.write(JSON.stringify({ valid }) + "\n", () => process.exit(0))
}

main().catch((err) => {
  console.error("verify.js failed:", err)
  process.exit(2)
})
