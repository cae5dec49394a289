// A real OpenID Connect provider for the tests: panva's oidc-provider (certified), on 127.0.0.1.
//
// It listens on a free port, prints one JSON line {"issuer": ...} once it answers, and serves until
// killed. Clients register themselves through the standard dynamic registration endpoint (/reg), so
// each test module brings its own redirect URIs. People sign in through oidc-provider's own
// development interactions (any login, any password; then a consent page), which a test drives
// over HTTP or a headless browser. The login is the account id (`sub`); an account whose login
// starts with "unverified" has `email_verified: false`.
//
// Test-only controls, under /__test/ (nothing of the provider's protocol changes):
//   POST /__test/accounts/<login>  {claims}   set an account's claims (email, name, ...)
//   POST /__test/tamper            {mode}     alter the id_token of the next token response:
//     "resign" (same claims, the provider's own key: a control), "signature" (another key, same kid),
//     "issuer", "audience", "nonce", "expired" (each re-signed with the provider's key), "none"
//     (alg none), "hs256" (HMAC with the client secret, as OpenID Connect allows but we refuse).

import http from 'node:http';
import crypto from 'node:crypto';

import Provider from 'oidc-provider';
import { SignJWT, exportJWK, generateKeyPair, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';

const ALG = 'RS256';
const KID = 'provider-key-1';

const { privateKey } = await generateKeyPair(ALG, { extractable: true });
const signingJwk = { ...(await exportJWK(privateKey)), kid: KID, alg: ALG, use: 'sig' };
const { privateKey: strangerKey } = await generateKeyPair(ALG, { extractable: true });

const accounts = new Map();
let tamperMode = null;

function accountClaims(login) {
  const set = accounts.get(login) || {};
  const local = login.replace(/[^a-zA-Z0-9._-]/g, '') || 'someone';
  return {
    sub: login,
    email: `${local}@example.test`,
    email_verified: !login.startsWith('unverified'),
    name: `Test ${local}`,
    given_name: 'Test',
    family_name: local,
    picture: `https://pictures.example.test/${local}.png`,
    ...set,
  };
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function tamper(idToken, clientSecret, issuer) {
  const mode = tamperMode;
  tamperMode = null;
  const claims = decodeJwt(idToken);
  const header = decodeProtectedHeader(idToken);
  const now = Math.floor(Date.now() / 1000);
  const changed = { ...claims };
  if (mode === 'issuer') changed.iss = `${issuer}/another`;
  if (mode === 'audience') changed.aud = 'another-client';
  if (mode === 'nonce') changed.nonce = 'not-the-nonce';
  if (mode === 'expired') Object.assign(changed, { iat: now - 7200, exp: now - 3600 });
  if (mode === 'none') {
    const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(changed)}.`;
  }
  if (mode === 'hs256') {
    const secret = new TextEncoder().encode(clientSecret);
    return new SignJWT(changed).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secret);
  }
  const key = mode === 'signature' ? strangerKey : await importJWK(signingJwk, ALG);
  return new SignJWT(changed).setProtectedHeader({ ...header, alg: ALG, kid: KID }).sign(key);
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [signingJwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
  },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'picture'],
  },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return accountClaims(id); } };
  },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/__test/') && ctx.method === 'POST') {
    const body = await readJson(ctx.req);
    if (ctx.path === '/__test/tamper') {
      tamperMode = body.mode;
    } else if (ctx.path.startsWith('/__test/accounts/')) {
      accounts.set(decodeURIComponent(ctx.path.slice('/__test/accounts/'.length)), body);
    } else {
      ctx.status = 404;
      return;
    }
    ctx.body = { ok: true };
    return;
  }
  await next();
  if (ctx.path === '/token' && tamperMode && ctx.body && typeof ctx.body.id_token === 'string') {
    const client = ctx.oidc && ctx.oidc.client;
    ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, client ? client.clientSecret : '', issuer) };
  }
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
