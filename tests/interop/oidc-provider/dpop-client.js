// Test fixture for tests/interop_dpop.rs: a DPoP (RFC 9449) client made of panva's `jose`
// (the copy oidc-provider depends on, hoisted into node_modules/; not a direct dependency so
// that package-lock.json, and the installed tree, stay oidc-provider's alone).
//
// Usage: node dpop-client.js '<JSON>', the JSON object having
//   requests      [[METHOD, URL], ...]: one proof is made for each, in order
//   alg           the JWS algorithm of a new key pair (ES256, EdDSA = Ed25519, PS256, ...)
//   key           or, instead of alg, the key of an earlier run ({alg, public, private} JWKs)
//   token_request {endpoint, client_id, client_secret, scope, resource}: ask `endpoint` for an
//                 access token by client_credentials (client_secret_basic, RFC 8707
//                 `resource`) with a DPoP proof for that POST
//   access_token  or, instead of token_request, the token the proofs are for (`ath`)
//   nonce         optional: the server's DPoP-Nonce, put in every proof but the token request's
// Prints one JSON line, {"token_type", "access_token", "jkt", "key", "proofs": [...]}, and
// exits; on any failure it prints why on stderr and exits 1. It never waits for anything but
// the one token request (at most 10 s).
import { createHash, randomUUID } from 'node:crypto';
import {
  SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK,
} from 'jose';

const input = JSON.parse(process.argv[2] ?? 'null');
if (!input || !Array.isArray(input.requests) || !(input.alg || input.key)) {
  process.stderr.write("usage: dpop-client.js '{\"alg\": ..., \"requests\": [[METHOD, URL]], ...}'\n");
  process.exit(2);
}

let key = input.key;
if (!key) {
  const pair = await generateKeyPair(input.alg, { extractable: true });
  key = {
    alg: input.alg,
    public: await exportJWK(pair.publicKey), // public members only (kty, crv, x, y / n, e)
    private: await exportJWK(pair.privateKey),
  };
}
const privateKey = await importJWK(key.private, key.alg);

// RFC 9449 §4.2: typ dpop+jwt, the public key in the header; jti, htm, htu, iat, and ath
// (base64url of the SHA-256 of the access token) and nonce when there are.
function proof(htm, htu, accessToken, nonce) {
  const claims = { htm, htu };
  if (accessToken !== undefined) {
    claims.ath = createHash('sha256').update(accessToken).digest('base64url');
  }
  if (nonce !== undefined) claims.nonce = nonce;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.public })
    .setJti(randomUUID())
    .setIssuedAt()
    .sign(privateKey);
}

let tokenType;
let accessToken = input.access_token;
if (input.token_request) {
  const {
    endpoint, client_id: id, client_secret: secret, scope, resource,
  } = input.token_request;
  // RFC 6749 §2.3.1: id and secret form-encoded before Basic.
  const basic = Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
      dpop: await proof('POST', endpoint),
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await response.text();
  if (response.status !== 200) {
    process.stderr.write(`token endpoint answered ${response.status}: ${body}\n`);
    process.exit(1);
  }
  ({ token_type: tokenType, access_token: accessToken } = JSON.parse(body));
}

const proofs = [];
for (const [method, url] of input.requests) {
  proofs.push(await proof(method, url, accessToken, input.nonce));
}
const jkt = await calculateJwkThumbprint(key.public, 'sha256');
process.stdout.write(`${JSON.stringify({
  token_type: tokenType, access_token: accessToken, jkt, key, proofs,
})}\n`);
