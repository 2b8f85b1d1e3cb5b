// Test fixture for tests/interop_oidc.rs and tests/interop_dpop.rs: panva's oidc-provider
// (an OpenID-certified authorization server nobody here wrote) on loopback, issuing access
// tokens by client_credentials: OPAQUE ones (RFC 7662 introspection, RFC 7009 revocation)
// and, for the resource `api://orders-dpop`, JWT ones (RFC 9068) that a token request with
// a `DPoP` proof (RFC 9449) binds to the proof's key (`token_type: DPoP`, `cnf.jkt`).
//
// Usage: node server.js [PORT]   (PORT, else $PORT, else 0 = pick a free one)
// Prints one JSON line on stdout once listening: {"issuer":"http://127.0.0.1:<port>"}.
// The endpoints are in its discovery document (/.well-known/openid-configuration).
// Everything is in memory; the secrets below are test values, never real ones.
import http from 'node:http';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);

// The Resource Servers a client may name with RFC 8707 `resource=`. The first two keep the
// opaque format; `api://orders-dpop` gets JWTs signed with the provider's keys (its
// jwks_uri; RS256, the default). Without `resource=` a client_credentials token is opaque
// too, and its introspection has no `aud`.
const resourceServers = {
  'api://orders': { scope: 'orders.read orders.write', accessTokenFormat: 'opaque' },
  'api://billing': { scope: 'orders.read', accessTokenFormat: 'opaque' },
  'api://orders-dpop': { scope: 'orders.read orders.write', accessTokenFormat: 'jwt' },
};

const configuration = {
  clients: [
    {
      // Us: the resource server that introspects (no grants of its own). The secret has
      // ':', '%' and '+' so that RFC 6749 §2.3.1's form-encoding of Basic credentials counts.
      client_id: 'api-gateway',
      client_secret: 'gw:s3cr3t%with+odd chars',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
    {
      // The API's caller: gets access tokens by client_credentials for these scopes.
      client_id: 'orders-app',
      client_secret: 'app-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'orders.read orders.write',
    },
  ],
  // Scopes the server knows (a client may only ask for those in its own `scope`).
  scopes: ['orders.read', 'orders.write'],
  features: {
    devInteractions: { enabled: false }, // no login pages: no user ever signs in here
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: {
      enabled: true,
      // Only the resource server may introspect (also silences the "change this default"
      // notice oidc-provider prints on stdout for every call).
      allowedPolicy: async (ctx, client) => client.clientId === 'api-gateway',
    },
    // RFC 9449: a token request with a `DPoP` proof gets a token bound to its key; one
    // without stays Bearer (no client here sets `dpop_bound_access_tokens`). No
    // `nonceSecret`: it would be needed only for server nonces, which are off
    // (`requireNonce` returns false by default). Proof replay detection stays on.
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: async (ctx, indicator) => {
        if (!Object.hasOwn(resourceServers, indicator)) throw new errors.InvalidTarget();
        return resourceServers[indicator];
      },
    },
  },
  // The DPoP proof algorithms it accepts: its default ES256 and EdDSA, and some of RSA's.
  enabledJWA: { dPoPSigningAlgValues: ['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256'] },
  ttl: { ClientCredentials: 600 }, // seconds; set, so no notice about the default
};

// Listen first: the issuer is our own URL, port included.
const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// Ended by the test (SIGTERM or SIGKILL, by PID); exit cleanly on SIGTERM/SIGINT.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
