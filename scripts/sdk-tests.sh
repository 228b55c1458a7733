#!/usr/bin/env bash
# Run the official-SDK conformance suite (tests/sdk) against a built keyzone binary.
#
#   scripts/sdk-tests.sh [sqlite|postgres|all] [extra pytest args...]     (default: all)
#
# Does not build anything: build first (cargo build --bin keyzone) or point
# KEYZONE_BIN at a binary. The Python venv lives in target/sdk-venv and is
# (re)installed from tests/sdk/requirements.txt whenever that file changes.
# The suite also starts a mock AWS KMS (moto, from that venv) on a free loopback port
# and points the server at it (KEYZONE_AWS_KMS_ENDPOINT); nothing reaches real AWS.
#
# The oauth4webapi tests (tests/js, run by tests/sdk/test_js_client.py) need Node and npm:
# their packages are installed into tests/js/node_modules with `npm ci` whenever
# tests/js/package-lock.json changes. Without node/npm those tests are skipped with a
# loud message, unless CI=true, in which case this script fails.
#
# PostgreSQL: uses KEYZONE_TEST_POSTGRES_URL (an admin URL; the suite creates and
# drops a kz_sdk_<hex> database through it) or, if unset, postgres@127.0.0.1:5432/test.
# If neither is reachable the postgres run is SKIPPED, unless CI=true or
# KEYZONE_REQUIRE_POSTGRES=1, in which case it fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

MODE=all
if [ $# -gt 0 ]; then
  case "$1" in
    sqlite|postgres|all) MODE="$1"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) ;;  # no backend given, only pytest args
    *) echo "sdk-tests: unknown backend '$1' (expected sqlite, postgres or all)" >&2; usage >&2; exit 2 ;;
  esac
fi

VENV="$ROOT/target/sdk-venv"
REQS="$ROOT/tests/sdk/requirements.txt"
STAMP="$VENV/.sdk-requirements.sha256"

BIN="${KEYZONE_BIN:-$ROOT/target/debug/keyzone}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
if [ ! -x "$BIN" ] || [ -d "$BIN" ]; then
  echo "sdk-tests: ERROR: keyzone binary not found or not executable at $BIN" >&2
  echo "sdk-tests: build it first (cargo build --bin keyzone) or set KEYZONE_BIN" >&2
  exit 1
fi
export KEYZONE_BIN="$BIN"

ensure_venv() {
  local want have=""
  want="$(sha256sum "$REQS" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "sdk-tests: creating venv $VENV"
    python3 -m venv "$VENV" || { echo "sdk-tests: ERROR: python3 -m venv failed (is python3-venv installed?)" >&2; exit 1; }
  fi
  [ -f "$STAMP" ] && have="$(cat "$STAMP")"
  if [ "$have" != "$want" ]; then
    echo "sdk-tests: installing $REQS into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS" \
      || { echo "sdk-tests: ERROR: pip install -r $REQS failed" >&2; exit 1; }
    echo "$want" > "$STAMP"
  fi
}

JS_DIR="$ROOT/tests/js"
JS_STAMP="$JS_DIR/node_modules/.keyzone-package-lock.sha256"

ensure_node_modules() {
  [ -f "$JS_DIR/package-lock.json" ] || return 0
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; then
      echo "sdk-tests: ERROR: node and npm are required for tests/js (CI=true) but are not installed" >&2
      exit 1
    fi
    echo "=====================================================================" >&2
    echo "  sdk-tests: node/npm not installed: the oauth4webapi tests" >&2
    echo "  (tests/sdk/test_js_client.py) will be SKIPPED." >&2
    echo "=====================================================================" >&2
    return 0
  fi
  local want have=""
  want="$(cat "$JS_DIR/package.json" "$JS_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)"
  [ -f "$JS_STAMP" ] && have="$(cat "$JS_STAMP")"
  if [ "$have" != "$want" ]; then
    echo "sdk-tests: npm ci in $JS_DIR"
    (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error) \
      || { echo "sdk-tests: ERROR: npm ci in $JS_DIR failed" >&2; exit 1; }
    echo "$want" > "$JS_STAMP"
  fi
}

postgres_reachable() {
  if ! command -v psql >/dev/null 2>&1; then
    PG_REASON="psql is not installed"
    return 1
  fi
  local target=(-h 127.0.0.1 -U postgres -d test)
  [ -n "${KEYZONE_TEST_POSTGRES_URL:-}" ] && target=(-d "$KEYZONE_TEST_POSTGRES_URL")
  if PGCONNECT_TIMEOUT=5 psql "${target[@]}" -X -q -tA -c 'SELECT 1' >/dev/null 2>&1; then
    return 0
  fi
  PG_REASON="cannot connect with psql ${target[*]}"
  if command -v pg_isready >/dev/null 2>&1; then
    PG_REASON="$PG_REASON ($(pg_isready -h 127.0.0.1 -p 5432 2>&1 || true))"
  fi
  return 1
}

BACKENDS=()
case "$MODE" in
  sqlite) BACKENDS=(sqlite) ;;
  postgres) BACKENDS=(postgres) ;;
  all) BACKENDS=(sqlite postgres) ;;
esac

ensure_venv
ensure_node_modules

declare -A RESULT=()
FAILED=0
for backend in "${BACKENDS[@]}"; do
  if [ "$backend" = postgres ]; then
    PG_REASON=""
    if [ -z "${KEYZONE_TEST_POSTGRES_URL:-}" ] && ! postgres_reachable; then
      if [ "${CI:-}" = "true" ] || [ "${KEYZONE_REQUIRE_POSTGRES:-}" = "1" ]; then
        echo "sdk-tests: ERROR: PostgreSQL is required (CI=true or KEYZONE_REQUIRE_POSTGRES=1) but unavailable: $PG_REASON" >&2
        RESULT[$backend]=FAILED
        FAILED=1
        continue
      fi
      echo "=====================================================================" >&2
      echo "  SKIPPED: postgres SDK tests -- PostgreSQL at 127.0.0.1:5432 is not" >&2
      echo "  usable ($PG_REASON) and KEYZONE_TEST_POSTGRES_URL is unset." >&2
      echo "=====================================================================" >&2
      RESULT[$backend]=SKIPPED
      continue
    fi
  fi
  echo "sdk-tests: running tests/sdk against $BIN (backend: $backend)"
  set +e
  KEYZONE_SDK_BACKEND="$backend" "$VENV/bin/python" -m pytest tests/sdk -q -p no:cacheprovider "$@"
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    RESULT[$backend]=ok
  else
    RESULT[$backend]="FAILED (pytest exit $rc)"
    FAILED=1
  fi
done

summary="sdk-tests summary:"
for backend in "${BACKENDS[@]}"; do summary="$summary $backend=${RESULT[$backend]}"; done
echo "$summary"
exit "$FAILED"
