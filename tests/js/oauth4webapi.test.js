// A zone's authorization server driven by an independent, strict OAuth client: oauth4webapi (panva), pinned in
// package.json. It starts nothing: tests/sdk/test_js_client.py sets up a zone through the management API and runs
// `node --test` here with these environment variables:
//
//   KEYZONE_ISSUER         the zone's issuer, http://127.0.0.1:<port>/z/<zone_id>
//   KEYZONE_CLIENT_ID      a password credential's client_id, and KEYZONE_CLIENT_SECRET its secret
//   KEYZONE_APP_ID         that credential's application (the tokens' sub)
//   KEYZONE_RESOURCE       a resource identifier with the scope `read`; KEYZONE_RESOURCE2 a second resource
//
// What is exercised: RFC 8414 discovery (path-inserted) and OpenID discovery (appended), both with oauth4webapi's
// exact issuer check; client_credentials with client_secret_basic and client_secret_post; RFC 9068 validation of the
// access token with validateJwtAccessToken (typ at+jwt, iss, aud, exp, iat, jti, client_id, sub, RS256 signature
// from the zone's JWKS); introspection and revocation; and the errors: a wrong secret, an unknown resource, a token
// validated for another audience and a token with a broken signature.
//
// The zone is served over plain http on loopback, so every request passes oauth4webapi's allowInsecureRequests.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import * as oauth from 'oauth4webapi'

function env(name) {
  const v = process.env[name]
  if (!v) {
    throw new Error(`${name} is not set: run this through tests/sdk/test_js_client.py (scripts/sdk-tests.sh)`)
  }
  return v
}

const ISSUER = env('KEYZONE_ISSUER')
const CLIENT_ID = env('KEYZONE_CLIENT_ID')
const CLIENT_SECRET = env('KEYZONE_CLIENT_SECRET')
const APP_ID = env('KEYZONE_APP_ID')
const RESOURCE = env('KEYZONE_RESOURCE')
const RESOURCE2 = env('KEYZONE_RESOURCE2')

const issuer = new URL(ISSUER)
const insecure = { [oauth.allowInsecureRequests]: true }
const client = { client_id: CLIENT_ID }

let asPromise
function discover() {
  asPromise ??= oauth
    .discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
    .then((res) => oauth.processDiscoveryResponse(issuer, res))
  return asPromise
}

// RFC 6749 §2.3.1 / Appendix B as oauth4webapi applies it to client_secret_basic: every character but [A-Za-z0-9] is
// percent-encoded (a space becomes '+') before the base64 of "<client_id>:<client_secret>".
function formUrlEncode(s) {
  return encodeURIComponent(s).replace(/(?:[-_.!~*'()]|%20)/g, (c) =>
    c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function explainBasicRefusal(err) {
  if (err instanceof oauth.WWWAuthenticateChallengeError && err.status === 401) {
    assert.fail(
      'client_secret_basic with the right secret was refused (401 invalid_client). oauth4webapi form-urlencodes ' +
        'client_id and client_secret before base64 (RFC 6749 §2.3.1, Appendix B), so the decoded Basic value was ' +
        `"${formUrlEncode(CLIENT_ID)}:${formUrlEncode(CLIENT_SECRET)}" for the secret "${CLIENT_SECRET}"; ` +
        'the token endpoint must percent-decode both parts',
    )
  }
  throw err
}

async function clientCredentials(as, auth, parameters) {
  const res = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(parameters), insecure)
  return oauth.processClientCredentialsResponse(as, client, res).catch(explainBasicRefusal)
}

function bearerRequest(token) {
  return new Request(RESOURCE, { headers: { authorization: `Bearer ${token}` } })
}

async function validate(as, token, audience = RESOURCE) {
  return oauth.validateJwtAccessToken(as, bearerRequest(token), audience, {
    signingAlgorithms: ['RS256'],
    ...insecure,
  })
}

function decodeHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString())
}

async function rejects(promise, what) {
  try {
    const got = await promise
    assert.fail(`expected ${what} to fail, it succeeded: ${JSON.stringify(got).slice(0, 300)}`)
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err
    return err
  }
}

test('RFC 8414 discovery (path-inserted) returns the zone metadata with the exact issuer', async () => {
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  const expectedUrl = `${issuer.origin}/.well-known/oauth-authorization-server${issuer.pathname}`
  assert.equal(res.url, expectedUrl, 'oauth4webapi builds the RFC 8414 §3.1 path-inserted URL')
  const as = await oauth.processDiscoveryResponse(issuer, res)
  assert.equal(as.issuer, ISSUER)
  assert.equal(as.token_endpoint, `${ISSUER}/oauth/token`)
  assert.equal(as.jwks_uri, `${ISSUER}/.well-known/jwks.json`)
  assert.equal(as.introspection_endpoint, `${ISSUER}/oauth/introspect`)
  assert.equal(as.revocation_endpoint, `${ISSUER}/oauth/revoke`)
  assert.ok(as.grant_types_supported.includes('client_credentials'), JSON.stringify(as.grant_types_supported))
  assert.ok(as.token_endpoint_auth_methods_supported.includes('client_secret_basic'))
})

test('OpenID discovery (appended) returns the same issuer', async () => {
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure })
  assert.equal(res.url, `${ISSUER}/.well-known/openid-configuration`)
  const as = await oauth.processDiscoveryResponse(issuer, res)
  assert.equal(as.issuer, ISSUER)
  assert.equal(as.token_endpoint, `${ISSUER}/oauth/token`)
})

test('discovery for another issuer is refused by the issuer check', async () => {
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  const err = await rejects(
    oauth.processDiscoveryResponse(new URL(`${ISSUER}-other`), res),
    'processDiscoveryResponse with a different expected issuer',
  )
  assert.equal(err.code, oauth.JSON_ATTRIBUTE_COMPARISON, String(err))
})

test('the test credential exercises the form-urlencoding of client_secret_basic', () => {
  // Set up by test_js_client.py: the secret has a character RFC 6749's encoding changes, so the Basic header differs
  // from the raw "<client_id>:<client_secret>" (the keycardai clients send it raw; both must work).
  assert.notEqual(formUrlEncode(CLIENT_SECRET), CLIENT_SECRET, `expected a secret containing '-' or '_', got ${CLIENT_SECRET}`)
})

test('client_credentials with client_secret_basic gives an RFC 9068 RS256 token that validateJwtAccessToken accepts', async () => {
  const as = await discover()
  const tokens = await clientCredentials(as, oauth.ClientSecretBasic(CLIENT_SECRET), { resource: RESOURCE, scope: 'read' })
  assert.equal(tokens.token_type, 'bearer')
  assert.equal(typeof tokens.expires_in, 'number')
  assert.ok(tokens.expires_in > 0)
  assert.equal(tokens.scope, 'read')

  const header = decodeHeader(tokens.access_token)
  assert.equal(header.alg, 'RS256')
  assert.equal(header.typ, 'at+jwt')
  assert.equal(typeof header.kid, 'string')

  const claims = await validate(as, tokens.access_token)
  assert.equal(claims.iss, ISSUER)
  assert.equal(claims.aud, RESOURCE)
  assert.equal(claims.sub, APP_ID)
  assert.equal(claims.client_id, CLIENT_ID)
  assert.equal(claims.scope, 'read')
  assert.equal(typeof claims.jti, 'string')
  const now = Math.floor(Date.now() / 1000)
  assert.ok(Math.abs(claims.iat - now) < 120, `iat ${claims.iat} close to now ${now}`)
  assert.ok(claims.exp > now, `exp ${claims.exp} in the future`)
})

test('client_credentials with client_secret_post; two resources give an aud array', async () => {
  const as = await discover()
  const params = new URLSearchParams()
  params.append('resource', RESOURCE)
  params.append('resource', RESOURCE2)
  const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost(CLIENT_SECRET), params, insecure)
  const tokens = await oauth.processClientCredentialsResponse(as, client, res)
  const claims = await validate(as, tokens.access_token, RESOURCE2)
  assert.deepEqual([...claims.aud].sort(), [RESOURCE, RESOURCE2].sort())
  assert.equal(claims.client_id, CLIENT_ID)
})

test('validateJwtAccessToken refuses the token for another audience and with a broken signature', async () => {
  const as = await discover()
  const { access_token: token } = await clientCredentials(as, oauth.ClientSecretPost(CLIENT_SECRET), { resource: RESOURCE })

  const aud = await rejects(validate(as, token, RESOURCE2), 'validation for another audience')
  assert.equal(aud.code, oauth.JWT_CLAIM_COMPARISON, String(aud))

  const [h, p, s] = token.split('.')
  const sig = Buffer.from(s, 'base64url')
  sig[0] ^= 0xff
  const forged = `${h}.${p}.${sig.toString('base64url')}`
  const bad = await rejects(validate(as, forged), 'validation of a token with a broken signature')
  assert.match(String(bad.message), /signature/i, String(bad))
})

test('a wrong secret gets 401 invalid_client with a Basic challenge', async () => {
  // RFC 6749 §5.2: a client that authenticated with the Authorization header gets a 401 with a WWW-Authenticate
  // challenge for that scheme. oauth4webapi reports a challenge before the body: WWWAuthenticateChallengeError.
  const as = await discover()
  const res = await oauth.clientCredentialsGrantRequest(
    as, client, oauth.ClientSecretBasic(`${CLIENT_SECRET}x`), new URLSearchParams({ resource: RESOURCE }), insecure,
  )
  const err = await rejects(oauth.processClientCredentialsResponse(as, client, res), 'a wrong client secret')
  assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, `expected WWWAuthenticateChallengeError, got ${err}`)
  assert.equal(err.status, 401)
  assert.equal(err.cause[0].scheme, 'basic', JSON.stringify(err.cause))
  const body = await err.response.json()
  assert.equal(body.error, 'invalid_client', JSON.stringify(body))
})

test('an unknown resource gets a ResponseBodyError invalid_target', async () => {
  const as = await discover()
  const err = await rejects(
    clientCredentials(as, oauth.ClientSecretPost(CLIENT_SECRET), { resource: 'https://unknown.invalid/api' }),
    'a token for an unknown resource',
  )
  assert.ok(err instanceof oauth.ResponseBodyError, `expected ResponseBodyError, got ${err}`)
  assert.equal(err.status, 400)
  assert.equal(err.error, 'invalid_target')
  assert.equal(typeof err.error_description, 'string')
})

test('introspection, revocation, then the token is inactive (client_secret_post)', async () => {
  const as = await discover()
  const auth = oauth.ClientSecretPost(CLIENT_SECRET)
  const { access_token: token } = await clientCredentials(as, auth, { resource: RESOURCE })

  const live = await oauth
    .processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, insecure))
    .catch(explainBasicRefusal)
  assert.equal(live.active, true)
  assert.equal(live.client_id, CLIENT_ID)
  assert.equal(live.sub, APP_ID)
  assert.equal(live.aud, RESOURCE)

  const revoked = await oauth.revocationRequest(as, client, auth, token, insecure)
  assert.equal(await oauth.processRevocationResponse(revoked), undefined)

  const dead = await oauth.processIntrospectionResponse(
    as, client, await oauth.introspectionRequest(as, client, auth, token, insecure),
  )
  assert.deepEqual(dead, { active: false })
})

test('introspection with client_secret_basic', async () => {
  const as = await discover()
  const { access_token: token } = await clientCredentials(as, oauth.ClientSecretPost(CLIENT_SECRET), { resource: RESOURCE })
  const auth = oauth.ClientSecretBasic(CLIENT_SECRET)
  const live = await oauth
    .processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, insecure))
    .catch(explainBasicRefusal)
  assert.equal(live.active, true)
  assert.equal(live.client_id, CLIENT_ID)
})
