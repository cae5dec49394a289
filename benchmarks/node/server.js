// The guide's "Verify Tokens Using JWKS" middleware (src/api/middlewares/jwks-auth.ts) on express, as
// the benchmark's Node.js peer: GET /bench/plain (bare express) and GET /bench/protected (behind the
// middleware). MEDUSA_BACKEND_URL is where the JWKS is served; PORT where this listens (127.0.0.1).
"use strict"

const express = require("express")
const jwt = require("jsonwebtoken")
const { JwksClient } = require("jwks-rsa")

const MEDUSA_BACKEND_URL = process.env.MEDUSA_BACKEND_URL || "http://localhost:9000"

// Create JWKS client with caching (the guide's settings)
const jwksClient = new JwksClient({
  jwksUri: `${MEDUSA_BACKEND_URL}/.well-known/jwks.json`,
  cache: true,
  rateLimit: true,
  jwksRequestsPerMinute: 5,
  cacheMaxAge: 60 * 60 * 1000,
})

async function getKey(header) {
  const key = await jwksClient.getSigningKey(header.kid)
  return key.getPublicKey()
}

async function isValidJWTToken(token) {
  if (!token) {
    return false
  }
  try {
    const decoded = jwt.decode(token, { complete: true })
    if (!decoded || !decoded.header || !decoded.header.kid || !decoded.payload.actor_id) {
      return false
    }
    const publicKey = await getKey(decoded.header)
    return await new Promise((resolve) => {
      jwt.verify(token, publicKey, { ignoreExpiration: false, ignoreNotBefore: false }, (err) => resolve(!err))
    })
  } catch (err) {
    return false
  }
}

async function jwksAuth(req, res, next) {
  const header = req.headers.authorization || ""
  const token = header.startsWith("Bearer ") ? header.slice(7) : null
  if (!(await isValidJWTToken(token))) {
    return res.status(401).json({ type: "unauthorized", message: "Invalid auth token provided" })
  }
  next()
}

const app = express()
const body = { ok: true }
app.get("/bench/plain", (req, res) => res.json(body))
app.get("/bench/protected", jwksAuth, (req, res) => res.json(body))
app.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"))
