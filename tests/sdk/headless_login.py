"""A headless "browser" for a zone's sign-in: follows the authorization endpoint's redirects and posts its pages'
forms with `httpx`, the way a person's browser would without JavaScript (client contract D.4.2, D.11.2).

    with new_browser() as browser:
        result = login(browser, authorization_url, redirect_uri, email="ann@example.com", password="...")
    result.query        # {"code": ..., "state": ..., "iss": ...} or {"error": ..., "state": ..., "iss": ...}
    result.steps        # every request it made: method, URL, status, Location, headers, the page's HTML and form
    result.pages        # the 200 HTML pages it saw (sign-in, consent, ...)

What it does, step by step (nothing in it knows Keyzone's page paths):
  * GET the authorization URL; on a 30x follow `Location` (resolved against the request URL) with a GET; stop at the
    first `Location` that starts with `redirect_uri` and return its parsed query (nothing needs to listen there);
  * on a 200 HTML page, parse its single `<form>` (stdlib `html.parser`): action, method, hidden fields, the other
    named controls, the submit controls. Fill `email` / `password` when the form has those inputs, pick the submitter
    (the first submit control; for a `decision` other than "allow" the submit control whose value is that decision),
    and send the form: `application/x-www-form-urlencoded`, to the action resolved against the page's URL;
  * anything else stops the run with `LoginStopped` (which keeps every step, so a test can assert on the page): a
    4xx/5xx, a page that is not HTML, with no form or more than one, a redirect without `Location`, the sign-in form
    coming back after the credentials were posted (a refused password), or more than `max_steps` requests.

Cookies live in the `httpx.Client`'s jar (httpx stores every response's `Set-Cookie`, also with
`follow_redirects=False`), so a second `login` with the same client carries the browser session. Like Chromium, a
form POST carries `Origin: <page origin>`, or `Origin: null` when the page was served with
`Referrer-Policy: no-referrer` (Fetch, "append a request Origin header"); no `Referer` then either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
DEFAULT_MAX_STEPS = 20
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
    "User-Agent": "keyzone-headless-login/1 (httpx)",
}


# --------------------------------------------------------------------------- HTML forms


@dataclass
class Control:
    """One form control: `<input>`, `<button>`, `<select>` or `<textarea>`."""

    tag: str
    type: str  # lowercased; inputs default to "text", buttons to "submit"
    name: Optional[str]
    value: str
    attrs: Dict[str, Optional[str]]
    checked: bool = False
    disabled: bool = False

    @property
    def is_submit(self) -> bool:
        return (self.tag == "button" and self.type == "submit") or (self.tag == "input" and self.type in ("submit", "image"))


@dataclass
class Form:
    action: str  # as written; "" means the page's own URL
    method: str  # lowercased, "get" when absent
    enctype: str
    attrs: Dict[str, Optional[str]]
    controls: List[Control] = field(default_factory=list)

    def named(self, name: str) -> List[Control]:
        return [c for c in self.controls if c.name == name]

    def has_input(self, name: str) -> bool:
        return any(not c.is_submit for c in self.named(name))

    @property
    def input_names(self) -> List[str]:
        """Names of the named controls that are not submit controls, in document order."""
        return [c.name for c in self.controls if c.name and not c.is_submit]

    @property
    def hidden(self) -> Dict[str, str]:
        return {c.name: c.value for c in self.controls if c.tag == "input" and c.type == "hidden" and c.name}

    @property
    def has_password(self) -> bool:
        return any(c.tag == "input" and c.type == "password" for c in self.controls)

    @property
    def submit_controls(self) -> List[Control]:
        return [c for c in self.controls if c.is_submit]

    def resolved_action(self, page_url: str) -> str:
        return urljoin(page_url, self.action) if self.action else page_url.split("#", 1)[0]

    def fields(self, fill: Optional[Dict[str, str]] = None, submitter: Optional[Control] = None) -> List[Tuple[str, str]]:
        """The form data set (HTML "constructing the entry list"): named, enabled controls other than submit controls,
        checkboxes and radios only when checked, `fill` replacing the values of the controls it names; then the
        submitter's name=value."""
        fill = dict(fill or {})
        out: List[Tuple[str, str]] = []
        for c in self.controls:
            if not c.name or c.disabled or c.is_submit or c.type in ("reset", "button", "file"):
                continue
            if c.type in ("checkbox", "radio") and not c.checked and c.name not in fill:
                continue
            out.append((c.name, fill.pop(c.name) if c.name in fill else c.value))
        if submitter is not None and submitter.name:
            out.append((submitter.name, submitter.value))
        return out


class _PageParser(HTMLParser):
    """Collects every `<form>` with its controls, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: List[Form] = []
        self.text: List[str] = []
        self._form: Optional[Form] = None
        self._skip = 0  # inside <script>/<style>/<template>
        self._textarea: Optional[Control] = None
        self._select: Optional[Control] = None
        self._option: Optional[Tuple[str, bool]] = None
        self._option_text: List[str] = []
        self._select_first: Optional[str] = None
        self._select_chosen: Optional[str] = None

    def handle_starttag(self, tag: str, attrs_list: List[Tuple[str, Optional[str]]]) -> None:
        attrs = {k.lower(): v for k, v in attrs_list}
        if tag in ("script", "style", "template"):
            self._skip += 1
            return
        if tag == "form":
            self._form = Form(
                action=(attrs.get("action") or "").strip(),
                method=(attrs.get("method") or "get").strip().lower(),
                enctype=(attrs.get("enctype") or FORM_CONTENT_TYPE).strip().lower(),
                attrs=attrs,
            )
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        disabled = "disabled" in attrs
        if tag == "input":
            ctype = (attrs.get("type") or "text").strip().lower()
            default = "on" if ctype in ("checkbox", "radio") else ""
            value = attrs.get("value")
            self._form.controls.append(
                Control("input", ctype, attrs.get("name"), default if value is None else value, attrs, "checked" in attrs, disabled)
            )
        elif tag == "button":
            ctype = (attrs.get("type") or "submit").strip().lower()
            self._form.controls.append(Control("button", ctype, attrs.get("name"), attrs.get("value") or "", attrs, False, disabled))
        elif tag == "textarea":
            self._textarea = Control("textarea", "textarea", attrs.get("name"), "", attrs, False, disabled)
            self._form.controls.append(self._textarea)
        elif tag == "select":
            self._select = Control("select", "select", attrs.get("name"), "", attrs, False, disabled)
            self._form.controls.append(self._select)
            self._select_first = self._select_chosen = None
        elif tag == "option" and self._select is not None:
            self._option = (attrs["value"] if attrs.get("value") is not None else None, "selected" in attrs)  # type: ignore[assignment]
            self._option_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self._skip = max(0, self._skip - 1)
        elif tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "option":
            self._end_option()
        elif tag == "select" and self._select is not None:
            self._end_option()
            chosen = self._select_chosen if self._select_chosen is not None else self._select_first
            self._select.value = chosen or ""
            self._select = None

    def _end_option(self) -> None:
        if self._option is None:
            return
        value, selected = self._option
        if value is None:
            value = " ".join("".join(self._option_text).split())
        if self._select_first is None:
            self._select_first = value
        if selected:
            self._select_chosen = value
        self._option = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._textarea is not None:
            self._textarea.value += data
            return
        if self._option is not None:
            self._option_text.append(data)
        if data.strip():
            self.text.append(" ".join(data.split()))


def parse_page(html: str) -> Tuple[List[Form], str]:
    """(every form on the page, its visible text with whitespace collapsed)."""
    p = _PageParser()
    p.feed(html)
    p.close()
    return p.forms, " ".join(p.text)


def parse_forms(html: str) -> List[Form]:
    return parse_page(html)[0]


def visible_text(html: str) -> str:
    return parse_page(html)[1]


# --------------------------------------------------------------------------- the run


@dataclass
class Step:
    """One request the driver made and what came back."""

    method: str
    url: str
    status: int
    headers: httpx.Headers
    location: Optional[str] = None  # resolved against `url`
    html: Optional[str] = None  # the body of a text/html response
    forms: List[Form] = field(default_factory=list)
    text: str = ""  # the page's visible text
    sent: Optional[List[Tuple[str, str]]] = None  # the form fields posted to get here

    @property
    def form(self) -> Optional[Form]:
        return self.forms[0] if len(self.forms) == 1 else None

    @property
    def set_cookies(self) -> List[str]:
        return self.headers.get_list("set-cookie")

    @property
    def is_sign_in(self) -> bool:
        return self.form is not None and self.form.has_input("email") and self.form.has_input("password")

    @property
    def is_consent(self) -> bool:
        return self.form is not None and any(c.name == "decision" for c in self.form.submit_controls)

    def describe(self) -> str:
        extra = f" -> {self.location}" if self.location else ""
        return f"{self.method} {self.url} => {self.status}{extra}"


@dataclass
class LoginResult:
    redirect: str  # the full Location that started with the redirect URI
    query: Dict[str, str]  # its query, parsed (a repeated parameter keeps its last value; see `query_list`)
    query_list: List[Tuple[str, str]]
    steps: List[Step]

    @property
    def pages(self) -> List[Step]:
        """The HTML pages (with a body) the run went through."""
        return [s for s in self.steps if s.html is not None]

    @property
    def html(self) -> List[str]:
        return [s.html for s in self.pages if s.html is not None]

    @property
    def saw_sign_in(self) -> bool:
        return any(s.is_sign_in for s in self.pages)

    @property
    def saw_consent(self) -> bool:
        return any(s.is_consent for s in self.pages)

    def trace(self) -> str:
        return "\n".join("  " + s.describe() for s in self.steps)


class LoginStopped(AssertionError):
    """The run ended before reaching the redirect URI; `steps[-1]` is where (`last`), with its page."""

    def __init__(self, reason: str, steps: List[Step]) -> None:
        self.reason = reason
        self.steps = steps
        trace = "\n".join("  " + s.describe() for s in steps)
        last = steps[-1] if steps else None
        body = ""
        if last is not None and last.html is not None:
            body = f"\nlast page text: {last.text[:600]!r}"
        super().__init__(f"headless login stopped: {reason}\nsteps:\n{trace}{body}")

    @property
    def last(self) -> Step:
        return self.steps[-1]


# A form filler: given the form and the page it is on, the values to set (None: nothing to add).
Filler = Callable[[Form, Step], Optional[Dict[str, str]]]


def new_browser(**kwargs) -> httpx.Client:
    """An httpx client as the driver wants it: a cookie jar, no redirects followed, no proxies."""
    kwargs.setdefault("timeout", 30.0)
    return httpx.Client(follow_redirects=False, trust_env=False, headers=BROWSER_HEADERS, **kwargs)


def _origin(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


def _choose_submitter(form: Form, decision: str, steps: List[Step]) -> Optional[Control]:
    submits = form.submit_controls
    if form.has_password or decision == "allow":
        return submits[0] if submits else None
    for c in submits:
        if c.value == decision:
            return c
    raise LoginStopped(
        f"the page's form has no submit control with value {decision!r} (submit controls: "
        f"{[(c.name, c.value) for c in submits]})",
        steps,
    )


def login(
    http: httpx.Client,
    authorization_url: str,
    redirect_uri: str,
    *,
    email: Optional[str] = None,
    password: Optional[str] = None,
    decision: str = "allow",
    fill: Optional[Filler] = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> LoginResult:
    """Drive the sign-in from `authorization_url` until a redirect to `redirect_uri`; see the module docstring.

    `decision`: "allow" posts the first submit control of every form (on a consent page, the approval); any other value
    posts, on pages without a password input, the submit control whose value is `decision` (e.g. "deny").
    `fill(form, step)` may add values for other forms (an upstream provider's login, say); `email`/`password` are filled
    into inputs of those names.
    """
    assert not http.follow_redirects, "the login driver needs an httpx.Client with follow_redirects=False"
    steps: List[Step] = []
    # Origins whose sign-in form got credentials: the same form coming back from the same origin means they were
    # refused (an upstream provider's sign-in form is another origin's).
    credentials_posted: set = set()
    method, url = "GET", authorization_url
    content: Optional[bytes] = None
    headers: Dict[str, str] = {}
    sent: Optional[List[Tuple[str, str]]] = None

    while True:
        if len(steps) >= max_steps:
            raise LoginStopped(f"no redirect to {redirect_uri} after {max_steps} requests", steps)
        res = http.request(method, url, content=content, headers=headers)
        res.read()
        step = Step(method, url, res.status_code, res.headers, sent=sent)
        steps.append(step)

        if res.status_code in REDIRECT_STATUSES:
            loc = res.headers.get("location")
            if not loc:
                raise LoginStopped(f"a {res.status_code} without Location", steps)
            step.location = urljoin(url, loc)
            if step.location.startswith(redirect_uri):
                q = parse_qsl(urlsplit(step.location).query, keep_blank_values=True)
                return LoginResult(step.location, dict(q), q, steps)
            method, url, content, headers, sent = "GET", step.location.split("#", 1)[0], None, {}, None
            continue

        ctype = res.headers.get("content-type", "")
        if "html" in ctype.lower():
            step.html = res.text
            step.forms, step.text = parse_page(step.html)
        if res.status_code != 200:
            raise LoginStopped(f"HTTP {res.status_code} ({ctype or 'no content-type'})", steps)
        if step.html is None:
            raise LoginStopped(f"a 200 that is not an HTML page (content-type {ctype!r})", steps)
        if len(step.forms) != 1:
            raise LoginStopped(f"expected exactly one <form> on the page, found {len(step.forms)}", steps)
        form = step.forms[0]
        if form.has_password and _origin(url) in credentials_posted:
            raise LoginStopped("the sign-in form came back after the credentials were posted (refused?)", steps)

        values: Dict[str, str] = {}
        if form.has_input("email") and email is not None:
            values["email"] = email
        filled = (fill(form, step) or {}) if fill is not None else {}
        if form.has_input("password"):
            if password is None and "password" not in filled:
                raise LoginStopped("a sign-in form, but no password was given to the driver", steps)
            if password is not None:
                values["password"] = password
            credentials_posted.add(_origin(url))
        values.update(filled)

        submitter = _choose_submitter(form, decision, steps)
        data = form.fields(values, submitter)
        target = form.resolved_action(url)
        sent = data
        referrer_policy = (res.headers.get("referrer-policy") or "").strip().lower()
        if form.method == "post":
            method, content = "POST", urlencode(data).encode()
            headers = {
                "Content-Type": FORM_CONTENT_TYPE,
                "Origin": "null" if referrer_policy == "no-referrer" else _origin(url),
            }
            if referrer_policy != "no-referrer":
                headers["Referer"] = url
            url = target
        else:
            base = target.split("?", 1)[0]
            method, content, headers = "GET", None, {}
            url = f"{base}?{urlencode(data)}" if data else base


def login_pages(result_or_stop: object) -> Sequence[Step]:
    """The HTML pages of a `LoginResult` or a `LoginStopped`."""
    steps = getattr(result_or_stop, "steps", [])
    return [s for s in steps if s.html is not None]
