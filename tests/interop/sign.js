// Signs a Medusa-shaped access token with jsonwebtoken, as a Node.js service holding the same
// private key would: `node sign.js PRIVATE_KEY.pem KID [PAYLOAD_JSON]` (payload on stdin when not
// given) prints the token. The given `kid` header, expiresIn "1h"; the algorithm is JWT_ALGORITHM
// (RS256 by default). jsonwebtoken signs RS256 and ES256; it has no EdDSA, so EdDSA tokens are signed
// with the `jose` package, as a Node.js service using Ed25519 keys would.
"use strict"

const fs = require("fs")
const jwt = require("jsonwebtoken")
const jose = require("jose")

async function signEdDSA(payload, privateKeyPem, keyid) {
  const key = await jose.importPKCS8(privateKeyPem, "EdDSA")
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg: "EdDSA", typ: "JWT", kid: keyid })
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(key)
}

async function readPayload() {
  if (process.argv.length > 4) {
    return process.argv[4]
  }
  const chunks = []
  for await (const chunk of process.stdin) {
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString("utf8")
}

async function main() {
  const [keyPath, keyid] = process.argv.slice(2, 4)
  if (!keyPath || !keyid) {
    console.error("usage: node sign.js PRIVATE_KEY.pem KID [PAYLOAD_JSON]")
    process.exit(2)
  }
  const privateKey = fs.readFileSync(keyPath, "utf8")
  // e.g. {actor_id, actor_type: "user", auth_identity_id, app_metadata: {user_id}, user_metadata: {}}
  const payload = JSON.parse(await readPayload())
  const algorithm = process.env.JWT_ALGORITHM || "RS256"
  const token =
    algorithm === "EdDSA"
      ? await signEdDSA(payload, privateKey, keyid)
      : jwt.sign(payload, privateKey, { algorithm, keyid, expiresIn: "1h" })
  process.stdout.write(token + "\n", () => process.exit(0))
}

main().catch((err) => {
  console.error("sign.js failed:", err.message)
  process.exit(2)
})
