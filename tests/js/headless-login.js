// A headless "browser" for a zone's sign-in, in Node: the JS twin of tests/sdk/headless_login.py (client contract
// D.4.2, D.11.2). It follows the authorization endpoint's redirects with fetch(redirect: 'manual'), keeps the cookies
// by hand, and posts each page's single form the way a browser without JavaScript would: hidden fields as they are,
// `email` / `password` filled in, the first submit button (or, on a page without a password input, the one whose value
// is `decision`). It stops at the first Location that starts with the client's redirect URI (nothing listens there)
// and returns that URL for validateAuthResponse.
//
// Nothing in it knows Keyzone's page paths; it relies only on the stable page shape the zone promises (one <form> per
// page, inputs named email and password, a consent form whose buttons are decision=allow then decision=deny).

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const MAX_STEPS = 20

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e) => {
    const l = e.toLowerCase()
    if (l.startsWith('#x')) return String.fromCodePoint(parseInt(l.slice(2), 16))
    if (l.startsWith('#')) return String.fromCodePoint(parseInt(l.slice(1), 10))
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[l]
  })
}

function attributes(tag) {
  const out = {}
  // name="value" | name='value' | name=value | name
  const re = /([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g
  const body = tag.replace(/^<\s*[a-z]+/i, '').replace(/\/?>$/, '')
  for (const m of body.matchAll(re)) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '')
  }
  return out
}

/** Every <form> of a page: its action, method and controls (inputs and buttons, in document order). */
export function parseForms(html) {
  const forms = []
  for (const m of html.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/gi)) {
    const open = m[0].match(/^<form\b[^>]*>/i)[0]
    const attrs = attributes(open)
    const controls = []
    for (const c of m[0].matchAll(/<(input|button)\b[^>]*>/gi)) {
      const a = attributes(c[0])
      const tag = c[1].toLowerCase()
      const type = (a.type || (tag === 'button' ? 'submit' : 'text')).toLowerCase()
      controls.push({ tag, type, name: a.name, value: a.value ?? '', disabled: 'disabled' in a })
    }
    forms.push({ action: attrs.action ?? '', method: (attrs.method || 'get').toLowerCase(), controls })
  }
  return forms
}

class CookieJar {
  #cookies = new Map() // name -> { value, path }

  store(setCookies) {
    for (const header of setCookies) {
      const [pair, ...attrs] = header.split(';').map((p) => p.trim())
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      let path = '/'
      let expired = value === ''
      for (const a of attrs) {
        const [k, v = ''] = a.split('=')
        if (k.toLowerCase() === 'path') path = v
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true
      }
      if (expired) this.#cookies.delete(name)
      else this.#cookies.set(name, { value, path })
    }
  }

  header(url) {
    const path = new URL(url).pathname
    return [...this.#cookies]
      .filter(([, c]) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map(([n, c]) => `${n}=${c.value}`)
      .join('; ')
  }

  get names() {
    return [...this.#cookies.keys()]
  }
}

/** A browser: a cookie jar that lives across logins (so a second authorization reuses the session). */
export function newBrowser() {
  return { jar: new CookieJar() }
}

/**
 * Drive the sign-in from `authorizationUrl` until a redirect to `redirectUri`.
 * Returns { callback: URL, steps: [{ method, url, status, location?, page? }] } where page is
 * 'sign-in' | 'consent' | 'other' for the 200 HTML pages.
 */
export async function login(browser, authorizationUrl, redirectUri, { email, password, decision = 'allow' } = {}) {
  const steps = []
  let method = 'GET'
  let url = String(authorizationUrl)
  let body
  let credentialsPosted = false
  const trace = () => steps.map((s) => `  ${s.method} ${s.url} => ${s.status}${s.location ? ` -> ${s.location}` : ''}`).join('\n')

  while (true) {
    if (steps.length >= MAX_STEPS) throw new Error(`no redirect to ${redirectUri} after ${MAX_STEPS} requests:\n${trace()}`)
    const headers = { accept: 'text/html' }
    const cookie = browser.jar.header(url)
    if (cookie) headers.cookie = cookie
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      headers.origin = 'null' // the pages are served with Referrer-Policy: no-referrer
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' })
    browser.jar.store(res.headers.getSetCookie())
    const step = { method, url, status: res.status }
    steps.push(step)

    if (REDIRECTS.has(res.status)) {
      await res.arrayBuffer()
      const loc = res.headers.get('location')
      if (!loc) throw new Error(`a ${res.status} without Location:\n${trace()}`)
      step.location = new URL(loc, url).href
      if (step.location.startsWith(redirectUri)) return { callback: new URL(step.location), steps }
      method = 'GET'
      url = step.location.split('#')[0]
      body = undefined
      continue
    }

    const text = await res.text()
    const ctype = res.headers.get('content-type') || ''
    if (res.status !== 200 || !ctype.includes('html')) {
      throw new Error(`headless login stopped: HTTP ${res.status} (${ctype}) ${text.slice(0, 300)}\n${trace()}`)
    }
    const forms = parseForms(text)
    if (forms.length !== 1) throw new Error(`expected one <form> on the page, found ${forms.length}:\n${trace()}`)
    const [form] = forms
    const named = (n) => form.controls.some((c) => c.name === n && c.tag === 'input')
    const hasPassword = form.controls.some((c) => c.tag === 'input' && c.type === 'password')
    const submits = form.controls.filter((c) => c.type === 'submit' || c.type === 'image')
    if (hasPassword && credentialsPosted) {
      throw new Error(`the sign-in form came back after the credentials were posted (refused?):\n${trace()}`)
    }
    step.page = hasPassword ? 'sign-in' : submits.some((c) => c.name === 'decision') ? 'consent' : 'other'

    const fill = {}
    if (named('email') && email !== undefined) fill.email = email
    if (hasPassword) {
      if (password === undefined) throw new Error(`a sign-in form, but no password was given:\n${trace()}`)
      fill.password = password
      credentialsPosted = true
    }
    const submitter = hasPassword || decision === 'allow' ? submits[0] : submits.find((c) => c.value === decision)
    if (!submitter) throw new Error(`no submit control for decision ${decision}:\n${trace()}`)

    const data = new URLSearchParams()
    for (const c of form.controls) {
      if (!c.name || c.disabled || c.tag !== 'input' || ['submit', 'image', 'reset', 'button', 'file', 'checkbox', 'radio'].includes(c.type)) continue
      data.append(c.name, c.name in fill ? fill[c.name] : c.value)
    }
    if (submitter.name) data.append(submitter.name, submitter.value)

    const target = form.action ? new URL(form.action, url).href : url.split('#')[0]
    if (form.method === 'post') {
      method = 'POST'
      url = target
      body = data.toString()
    } else {
      method = 'GET'
      url = `${target.split('?')[0]}?${data}`
      body = undefined
    }
  }
}
