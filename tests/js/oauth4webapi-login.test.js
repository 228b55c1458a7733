// A person signing in through a zone, seen by oauth4webapi (panva) as a strict OpenID Connect relying party (issue
// #12 "Tests (real clients, unchanged)"; client contract D.11.4 case 8). Started by tests/sdk/test_js_client.py
// with the variables of oauth4webapi.test.js plus:
//
//   KEYZONE_PUBLIC_CLIENT_ID   a `public` credential of the application (client authentication `none`)
//   KEYZONE_CLIENT_ID/SECRET   that application's `password` credential (client_secret_basic)
//   KEYZONE_REDIRECT_URI       http://127.0.0.1:<port>/callback; the application registers the port-less loopback URI
//                              (RFC 8252 §7.3: any port). Nothing listens there: the driver stops at the redirect.
//   KEYZONE_LOGIN_RESOURCE     a resource provided by an application with consent "required"
//   KEYZONE_USER_ID / _EMAIL / _PASSWORD   a person provisioned in the zone
//
// The login itself is driven by headless-login.js (fetch without following redirects, a cookie jar, the pages'
// forms posted). Everything after the redirect is oauth4webapi's: validateAuthResponse (state, and RFC 9207 `iss`,
// which it requires because the metadata says authorization_response_iss_parameter_supported), the code grant with
// PKCE S256, processAuthorizationCodeResponse with requireIdToken, the expected nonce and max_age (ID token signature
// from the JWKS, iss, aud = client_id, exp, iat, nonce, auth_time), validateJwtAccessToken on the user access token
// (RFC 9068), userInfoRequest + processUserInfoResponse (expected subject), refreshTokenGrantRequest +
// processRefreshTokenResponse, and the refresh token's reuse after the grace window failing with invalid_grant; a client
// registered with dynamicClientRegistrationRequest, prompt=none and max_age=0.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import * as oauth from 'oauth4webapi'

import { login, newBrowser } from './headless-login.js'

function env(name) {
  const v = process.env[name]
  if (!v) {
    throw new Error(`${name} is not set: run this through tests/sdk/test_js_client.py (scripts/sdk-tests.sh)`)
  }
  return v
}

const ISSUER = env('KEYZONE_ISSUER')
const PUBLIC_CLIENT_ID = env('KEYZONE_PUBLIC_CLIENT_ID')
const CLIENT_ID = env('KEYZONE_CLIENT_ID')
const CLIENT_SECRET = env('KEYZONE_CLIENT_SECRET')
const REDIRECT_URI = env('KEYZONE_REDIRECT_URI')
const RESOURCE = env('KEYZONE_LOGIN_RESOURCE')
const USER_ID = env('KEYZONE_USER_ID')
const EMAIL = env('KEYZONE_USER_EMAIL')
const PASSWORD = env('KEYZONE_USER_PASSWORD')

// The zone's reuse grace window (docs/sign-in.md: a rotated-out refresh token presented again within 10 s gets a
// fresh token); the server counts whole seconds, so 11 s after the rotation is past it for sure.
const REUSE_AFTER_MS = 11_500
const MAX_AGE = 300

const issuer = new URL(ISSUER)
const insecure = { [oauth.allowInsecureRequests]: true }
const publicClient = { client_id: PUBLIC_CLIENT_ID }
const confidentialClient = { client_id: CLIENT_ID }

let asPromise
function discover() {
  asPromise ??= oauth
    .discoveryRequest(issuer, { algorithm: 'oidc', ...insecure })
    .then((res) => oauth.processDiscoveryResponse(issuer, res))
  return asPromise
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

/** An authorization request as an RP builds it: PKCE S256, state, and the given extra parameters. */
async function authorizationRequest(as, client, params) {
  const codeVerifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const url = new URL(as.authorization_endpoint)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('client_id', client.client_id)
  url.searchParams.set('redirect_uri', REDIRECT_URI)
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier))
  url.searchParams.set('code_challenge_method', 'S256')
  url.searchParams.set('state', state)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v))
  return { url, state, codeVerifier }
}

async function validateUserToken(as, token, clientId) {
  const claims = await oauth.validateJwtAccessToken(
    as, new Request(RESOURCE, { headers: { authorization: `Bearer ${token}` } }), RESOURCE,
    { signingAlgorithms: ['RS256'], ...insecure },
  )
  assert.equal(claims.sub, USER_ID, 'the user access token is the person\'s')
  assert.equal(claims.client_id, clientId)
  assert.equal(claims.aud, RESOURCE)
  assert.equal(claims.sub_profile, 'user')
  return claims
}

// Set by the first test, used by the last one (the reuse check waits out the grace window while the tests in between
// run, instead of sleeping the whole window).
const rotation = {}

test('public client: PKCE, state, nonce, max_age, iss; strict ID token; userinfo; refresh rotates', async () => {
  const as = await discover()
  assert.equal(as.authorization_response_iss_parameter_supported, true, 'the zone advertises RFC 9207 iss')
  assert.equal(as.authorization_endpoint, `${ISSUER}/oauth/authorize`)
  assert.equal(as.userinfo_endpoint, `${ISSUER}/oauth/userinfo`)
  assert.ok(as.grant_types_supported.includes('authorization_code'), JSON.stringify(as.grant_types_supported))
  assert.ok(as.code_challenge_methods_supported.includes('S256'))

  const nonce = oauth.generateRandomNonce()
  const req = await authorizationRequest(as, publicClient, {
    scope: 'openid email profile offline_access', nonce, max_age: MAX_AGE, resource: RESOURCE,
  })
  const browser = newBrowser()
  const { callback, steps } = await login(browser, req.url, REDIRECT_URI, { email: EMAIL, password: PASSWORD })
  const pages = steps.filter((s) => s.page).map((s) => s.page)
  assert.deepEqual(pages, ['sign-in', 'consent'], 'a new browser signs in, then consents (consent "required")')

  // RFC 9207: validateAuthResponse refuses a response without iss (the metadata advertises it) or with another one.
  const params = oauth.validateAuthResponse(as, publicClient, callback, req.state)
  assert.equal(params.get('iss'), ISSUER)

  const codeResponse = await oauth.authorizationCodeGrantRequest(
    as, publicClient, oauth.None(), params, REDIRECT_URI, req.codeVerifier, insecure,
  )
  const tokens = await oauth.processAuthorizationCodeResponse(as, publicClient, codeResponse, {
    expectedNonce: nonce, maxAge: MAX_AGE, requireIdToken: true,
  })
  assert.equal(tokens.token_type, 'bearer')
  assert.equal(typeof tokens.expires_in, 'number')
  assert.equal(typeof tokens.refresh_token, 'string')
  for (const s of ['openid', 'email', 'profile', 'offline_access']) {
    assert.ok(tokens.scope.split(' ').includes(s), `${s} granted: ${tokens.scope}`)
  }

  const id = oauth.getValidatedIdTokenClaims(tokens)
  assert.equal(id.iss, ISSUER)
  assert.equal(id.sub, USER_ID)
  assert.equal(id.aud, PUBLIC_CLIENT_ID)
  assert.equal(id.nonce, nonce)
  assert.equal(id.email, EMAIL)
  const now = Math.floor(Date.now() / 1000)
  assert.ok(typeof id.auth_time === 'number' && id.auth_time <= now + 5 && id.auth_time > now - 120, `auth_time ${id.auth_time}`)
  assert.equal(typeof id.sid, 'string')

  await validateUserToken(as, tokens.access_token, PUBLIC_CLIENT_ID)

  const info = await oauth.processUserInfoResponse(
    as, publicClient, id.sub, await oauth.userInfoRequest(as, publicClient, tokens.access_token, insecure),
  )
  assert.equal(info.sub, USER_ID)
  assert.equal(info.email, EMAIL)
  // processUserInfoResponse compares sub with the expected subject.
  await rejects(
    oauth.processUserInfoResponse(
      as, publicClient, 'someone-else', await oauth.userInfoRequest(as, publicClient, tokens.access_token, insecure),
    ),
    'processUserInfoResponse with another expected subject',
  )

  const refreshed = await oauth.processRefreshTokenResponse(
    as, publicClient, await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), tokens.refresh_token, insecure),
  )
  rotation.at = Date.now()
  assert.notEqual(refreshed.access_token, tokens.access_token)
  assert.equal(typeof refreshed.refresh_token, 'string')
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'the refresh token rotates')
  await validateUserToken(as, refreshed.access_token, PUBLIC_CLIENT_ID)
  // OIDC Core §12.2: an ID token from a refresh keeps iss, sub, aud and the original auth_time.
  const refreshedId = oauth.getValidatedIdTokenClaims(refreshed)
  if (refreshedId) {
    assert.deepEqual(
      [refreshedId.iss, refreshedId.sub, refreshedId.aud, refreshedId.auth_time],
      [id.iss, id.sub, id.aud, id.auth_time],
    )
  }
  Object.assign(rotation, { old: tokens.refresh_token, current: refreshed.refresh_token, browser })
})

test('denied consent (prompt=consent, signed-in browser): validateAuthResponse reports access_denied', async () => {
  const as = await discover()
  assert.ok(rotation.browser, 'the first test signed the browser in')
  const req = await authorizationRequest(as, publicClient, { scope: 'openid', resource: RESOURCE, prompt: 'consent' })
  const { callback, steps } = await login(rotation.browser, req.url, REDIRECT_URI, { decision: 'deny' })
  assert.deepEqual(steps.filter((s) => s.page).map((s) => s.page), ['consent'], 'the session skips sign-in')
  // iss is checked before the error is reported: an error response carries it too.
  const err = await rejects(
    Promise.resolve().then(() => oauth.validateAuthResponse(as, publicClient, callback, req.state)),
    'validateAuthResponse on a denial',
  )
  assert.ok(err instanceof oauth.AuthorizationResponseError, `expected AuthorizationResponseError, got ${err}`)
  assert.equal(err.error, 'access_denied')
})

test('a client registered by oauth4webapi (DCR); prompt=none answers from the session; max_age=0 signs in again', async () => {
  const as = await discover()
  const client = await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(as, {
      client_name: 'oauth4webapi login test',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }, insecure),
  )
  assert.match(client.client_id, /^ua:/, JSON.stringify(client))
  assert.equal(client.client_secret, undefined, 'a public client gets no secret')

  // OpenID only, no resource: the access token is for the userinfo endpoint, and no application asks for consent.
  const browser = newBrowser()
  async function signIn(params, expectedPages, maxAge) {
    const nonce = oauth.generateRandomNonce()
    const req = await authorizationRequest(as, client, { scope: 'openid email', nonce, ...params })
    const { callback, steps } = await login(browser, req.url, REDIRECT_URI, { email: EMAIL, password: PASSWORD })
    assert.deepEqual(steps.filter((s) => s.page).map((s) => s.page), expectedPages, `pages for ${JSON.stringify(params)}`)
    const tokens = await oauth.processAuthorizationCodeResponse(
      as, client,
      await oauth.authorizationCodeGrantRequest(
        as, client, oauth.None(), oauth.validateAuthResponse(as, client, callback, req.state), REDIRECT_URI,
        req.codeVerifier, insecure,
      ),
      { expectedNonce: nonce, requireIdToken: true, ...(maxAge === undefined ? {} : { maxAge }) },
    )
    return { tokens, id: oauth.getValidatedIdTokenClaims(tokens) }
  }

  const first = await signIn({}, ['sign-in'])
  assert.equal(first.id.aud, client.client_id)
  const info = await oauth.processUserInfoResponse(
    as, client, USER_ID, await oauth.userInfoRequest(as, client, first.tokens.access_token, insecure),
  )
  assert.equal(info.email, EMAIL)

  // prompt=none with a live session: a code at once, from the same sign-in (same sid and auth_time).
  const silent = await signIn({ prompt: 'none' }, [])
  assert.deepEqual([silent.id.sid, silent.id.auth_time], [first.id.sid, first.id.auth_time])

  // max_age=0 is prompt=login (OIDC Core §3.1.2.1): the password again, however recent the sign-in.
  const fresh = await signIn({ max_age: 0 }, ['sign-in'], 0)
  assert.ok(fresh.id.auth_time >= first.id.auth_time, `auth_time ${fresh.id.auth_time} after ${first.id.auth_time}`)

  // A public client signs people in; it cannot get tokens of its own (client_credentials), nor can the public
  // credential (client contract D.12 item 7).
  for (const c of [client, publicClient]) {
    const cc = await rejects(
      oauth.processClientCredentialsResponse(
        as, c, await oauth.clientCredentialsGrantRequest(as, c, oauth.None(), new URLSearchParams({ resource: RESOURCE }), insecure),
      ),
      `client_credentials for the public client ${c.client_id}`,
    )
    assert.ok(cc instanceof oauth.ResponseBodyError || cc instanceof oauth.WWWAuthenticateChallengeError, String(cc))
    const error = cc.error ?? (await cc.response.json()).error
    assert.ok(['invalid_client', 'unauthorized_client'].includes(error), `got ${error}`)
  }

  // Both: login_required, by redirect, with iss.
  const req = await authorizationRequest(as, client, { scope: 'openid', prompt: 'none', max_age: 0 })
  const { callback, steps } = await login(browser, req.url, REDIRECT_URI)
  assert.deepEqual(steps.filter((s) => s.page), [], 'prompt=none shows no page')
  const err = await rejects(
    Promise.resolve().then(() => oauth.validateAuthResponse(as, client, callback, req.state)),
    'validateAuthResponse on prompt=none with max_age=0',
  )
  assert.ok(err instanceof oauth.AuthorizationResponseError, `expected AuthorizationResponseError, got ${err}`)
  assert.equal(err.error, 'login_required')
})

test('confidential client (client_secret_basic): code flow without nonce, refresh, replayed code', async () => {
  const as = await discover()
  const auth = oauth.ClientSecretBasic(CLIENT_SECRET)
  const req = await authorizationRequest(as, confidentialClient, { scope: 'openid email', resource: RESOURCE })
  const { callback } = await login(newBrowser(), req.url, REDIRECT_URI, { email: EMAIL, password: PASSWORD })
  const params = oauth.validateAuthResponse(as, confidentialClient, callback, req.state)

  const tokens = await oauth.processAuthorizationCodeResponse(
    as, confidentialClient,
    await oauth.authorizationCodeGrantRequest(as, confidentialClient, auth, params, REDIRECT_URI, req.codeVerifier, insecure),
    { requireIdToken: true }, // no nonce sent: the ID token must carry none (expectNoNonce)
  )
  const id = oauth.getValidatedIdTokenClaims(tokens)
  assert.equal(id.aud, CLIENT_ID)
  assert.equal(id.sub, USER_ID)
  assert.equal(id.nonce, undefined)
  await validateUserToken(as, tokens.access_token, CLIENT_ID)

  const refreshed = await oauth.processRefreshTokenResponse(
    as, confidentialClient, await oauth.refreshTokenGrantRequest(as, confidentialClient, auth, tokens.refresh_token, insecure),
  )
  await validateUserToken(as, refreshed.access_token, CLIENT_ID)

  // The same code again: invalid_grant, and what it issued is revoked (RFC 6749 §4.1.2).
  const replay = await rejects(
    oauth.processAuthorizationCodeResponse(
      as, confidentialClient,
      await oauth.authorizationCodeGrantRequest(as, confidentialClient, auth, params, REDIRECT_URI, req.codeVerifier, insecure),
    ),
    'redeeming the code a second time',
  )
  assert.ok(replay instanceof oauth.ResponseBodyError, `expected ResponseBodyError, got ${replay}`)
  assert.equal(replay.error, 'invalid_grant')
  const dead = await rejects(
    oauth.processRefreshTokenResponse(
      as, confidentialClient, await oauth.refreshTokenGrantRequest(as, confidentialClient, auth, refreshed.refresh_token, insecure),
    ),
    'refreshing with a token issued under a replayed code',
  )
  assert.equal(dead.error, 'invalid_grant')

  // The code is bound to the PKCE challenge: another verifier is refused.
  const req2 = await authorizationRequest(as, confidentialClient, { scope: 'openid', resource: RESOURCE })
  const { callback: cb2 } = await login(newBrowser(), req2.url, REDIRECT_URI, { email: EMAIL, password: PASSWORD })
  const wrongVerifier = await rejects(
    oauth.processAuthorizationCodeResponse(
      as, confidentialClient,
      await oauth.authorizationCodeGrantRequest(
        as, confidentialClient, auth, oauth.validateAuthResponse(as, confidentialClient, cb2, req2.state), REDIRECT_URI,
        oauth.generateRandomCodeVerifier(), insecure,
      ),
    ),
    'redeeming with a wrong code_verifier',
  )
  assert.equal(wrongVerifier.error, 'invalid_grant')
})

test('a rotated-out refresh token used again after the grace window: invalid_grant, and the family is revoked', async () => {
  const as = await discover()
  assert.ok(rotation.old && rotation.current, 'the first test rotated a refresh token')
  const wait = rotation.at + REUSE_AFTER_MS - Date.now()
  if (wait > 0) await sleep(wait)
  const reuse = await rejects(
    oauth.processRefreshTokenResponse(
      as, publicClient, await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), rotation.old, insecure),
    ),
    'reusing a rotated-out refresh token',
  )
  assert.ok(reuse instanceof oauth.ResponseBodyError, `expected ResponseBodyError, got ${reuse}`)
  assert.equal(reuse.status, 400)
  assert.equal(reuse.error, 'invalid_grant')
  const family = await rejects(
    oauth.processRefreshTokenResponse(
      as, publicClient, await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), rotation.current, insecure),
    ),
    'the newest refresh token after the reuse',
  )
  assert.equal(family.error, 'invalid_grant')
})
