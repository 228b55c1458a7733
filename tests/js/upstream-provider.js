// A GitHub-style plain OAuth 2 upstream API provider for the delegated-access
// tests (tests/sdk/test_delegated.py; client-contract-login D.10): panva's
// oidc-provider without `openid`, opaque access tokens for one API that live
// ACCESS_TOKEN_TTL seconds, rotating refresh tokens, PKCE, introspection, and
// its development interactions (any login/password; a consent page), which
// tests/sdk/headless_login.py drives.
//
// Environment: PORT, REDIRECT_URIS (comma-separated), CLIENT_ID,
// CLIENT_SECRET, API (the resource identifier the tokens are for),
// ACCESS_TOKEN_TTL (seconds). GET /_test/counts answers how many code
// redemptions and refreshes the token endpoint granted, so a test can count
// upstream refreshes. Prints "ready" once listening.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const api = process.env.API;
const ttl = Number(process.env.ACCESS_TOKEN_TTL || '4');
const counts = { codes: 0, refreshes: 0, refresh_failures: 0 };

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: process.env.REDIRECT_URIS.split(','),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['repo', 'read:user'],
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => api,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'repo read:user',
        accessTokenFormat: 'opaque',
        accessTokenTTL: ttl,
      }),
    },
  },
  pkce: { required: () => true },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  cookies: { keys: ['keyzone-delegated-access-tests'] },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
});

provider.on('grant.success', (ctx) => {
  const gt = ctx.oidc.params.grant_type;
  if (gt === 'refresh_token') counts.refreshes += 1;
  if (gt === 'authorization_code') counts.codes += 1;
});
provider.on('grant.error', (ctx) => {
  if (ctx.oidc.params?.grant_type === 'refresh_token') counts.refresh_failures += 1;
});

const handle = provider.callback();
http.createServer((req, res) => {
  if (req.url === '/_test/counts') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(counts));
    return;
  }
  handle(req, res);
}).listen(port, '127.0.0.1', () => console.log('ready'));
