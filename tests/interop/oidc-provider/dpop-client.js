// Test fixture for tests/interop_dpop.rs: a DPoP (RFC 9449) client made of panva's `jose`
// (the copy oidc-provider depends on, hoisted into node_modules/; not a direct dependency so
// that package-lock.json, and the installed tree, stay oidc-provider's alone).
//
// Usage: node dpop-client.js TOKEN_ENDPOINT CLIENT_ID CLIENT_SECRET SCOPE RESOURCE
//                            [METHOD URL]...
// Generates an ES256 key pair, asks TOKEN_ENDPOINT for an access token by client_credentials
// (client_secret_basic, RFC 8707 `resource`) with a DPoP proof for that POST, then makes one
// proof for each METHOD URL pair, with `ath` for the token it got. Prints one JSON line:
//   {"token_type", "access_token", "jkt", "proofs": [...]}   (proofs in the order asked)
// and exits; on any failure it prints the reason on stderr and exits 1. Never loops, never
// waits for anything but the one token request (bounded by a 10 s timeout).
import { createHash, randomUUID } from 'node:crypto';
import {
  SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair,
} from 'jose';

const [tokenEndpoint, clientId, clientSecret, scope, resource, ...rest] = process.argv.slice(2);
if (!resource || rest.length % 2 !== 0) {
  process.stderr.write('usage: dpop-client.js TOKEN_ENDPOINT CLIENT_ID CLIENT_SECRET SCOPE RESOURCE [METHOD URL]...\n');
  process.exit(2);
}

const { publicKey, privateKey } = await generateKeyPair('ES256');
const jwk = await exportJWK(publicKey); // public members only: kty, crv, x, y

// RFC 9449 §4.2: typ dpop+jwt, the public key in the header; jti, htm, htu, iat, and ath
// (base64url of the SHA-256 of the access token) when a token goes with it.
function proof(htm, htu, accessToken) {
  const claims = { htm, htu };
  if (accessToken !== undefined) {
    claims.ath = createHash('sha256').update(accessToken).digest('base64url');
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .setJti(randomUUID())
    .setIssuedAt()
    .sign(privateKey);
}

// RFC 6749 §2.3.1: id and secret form-encoded before Basic.
const basic = Buffer.from(
  `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`,
).toString('base64');
const response = await fetch(tokenEndpoint, {
  method: 'POST',
  headers: {
    authorization: `Basic ${basic}`,
    'content-type': 'application/x-www-form-urlencoded',
    dpop: await proof('POST', tokenEndpoint),
  },
  body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
  signal: AbortSignal.timeout(10_000),
});
const body = await response.text();
if (response.status !== 200) {
  process.stderr.write(`token endpoint answered ${response.status}: ${body}\n`);
  process.exit(1);
}
const { token_type: tokenType, access_token: accessToken } = JSON.parse(body);

const proofs = [];
for (let i = 0; i < rest.length; i += 2) {
  proofs.push(await proof(rest[i], rest[i + 1], accessToken));
}
const jkt = await calculateJwkThumbprint(jwk, 'sha256');
process.stdout.write(`${JSON.stringify({
  token_type: tokenType, access_token: accessToken, jkt, proofs,
})}\n`);
