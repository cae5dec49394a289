// The guide's middleware with the `jose` package in place of jsonwebtoken + jwks-rsa, for EdDSA
// (jsonwebtoken has no EdDSA): `node verify_jose.js TOKEN` prints {"valid": true|false} on one line
// and exits 0. The keys come from $MEDUSA_BACKEND_URL/.well-known/jwks.json; jose pins the algorithm
// to the JWK and checks exp and nbf, as the guide's jwt.verify does.
"use strict"

const jose = require("jose")

const MEDUSA_BACKEND_URL = process.env.MEDUSA_BACKEND_URL || "http://localhost:9000"
const jwks = jose.createRemoteJWKSet(new URL(`${MEDUSA_BACKEND_URL}/.well-known/jwks.json`))

async function isValidJWTToken(token) {
  if (!token) {
    return false
  }
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks)
    return Boolean(protectedHeader.kid && payload.actor_id)
  } catch (err) {
    console.error("Error verifying JWT token:", err.code || err.message)
    return false
  }
}

async function main() {
  const token = (process.argv[2] || "").trim()
  const valid = await isValidJWTToken(token)
  process.stdout.write(JSON.stringify({ valid }) + "\n", () => process.exit(0))
}

main().catch((err) => {
  console.error("verify_jose.js failed:", err)
  process.exit(2)
})
