#!/usr/bin/env bash
# Make sure Debian's Chromium and its WebDriver are installed, for the real-browser
# sign-in test (tests/sdk/test_browser_login.py, driven by Selenium).
#
#   scripts/ensure-browser.sh
#
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver both
# exist. Otherwise installs the `chromium` and `chromium-driver` packages with
# apt-get (needs root and Debian's package archive; no browser is downloaded from
# anywhere else). If that is not possible it prints why and exits 0: the browser
# test then skips itself with that reason, unless CI=true, in which case this
# script fails.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
  exit 0
fi

fail_or_warn() {
  if [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; then
    echo "ensure-browser: ERROR: $1 (CI=true)" >&2
    exit 1
  fi
  echo "=====================================================================" >&2
  echo "  ensure-browser: $1:" >&2
  echo "  the real-browser test (tests/sdk/test_browser_login.py) will be SKIPPED." >&2
  echo "=====================================================================" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || fail_or_warn "$CHROMIUM or $CHROMEDRIVER is missing and apt-get is not available"
[ "$(id -u)" -eq 0 ] || fail_or_warn "$CHROMIUM or $CHROMEDRIVER is missing and installing them needs root"

echo "ensure-browser: installing chromium and chromium-driver (Debian packages)"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }; then
  fail_or_warn "apt-get install chromium chromium-driver failed"
fi
[ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ] \
  || fail_or_warn "apt-get installed chromium chromium-driver but $CHROMIUM or $CHROMEDRIVER is still missing"
echo "ensure-browser: $("$CHROMIUM" --version 2>/dev/null || echo chromium), $("$CHROMEDRIVER" --version 2>/dev/null | head -1 || echo chromedriver)"
