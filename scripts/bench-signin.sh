#!/usr/bin/env bash
# Sign-in benchmark (not a test): the release server pinned to core 1, wrk
# on core 0, keep-alive, 64 connections. In one run, against one zone:
#
#   1. client_credentials, RS256 (the baseline the targets are relative to)
#   2. refresh_token with rotation (one signature + one durable write)
#   3. authorization_code redemption with an ID token (two signatures)
#   4. the sign-in page: GET /oauth/authorize without a session
#
#   cargo build --release -p keyzone && scripts/bench-signin.sh [seconds]
#
# KEYZONE_BIN picks another binary; KEYZONE_BENCH_DATABASE_URL (e.g. a
# PostgreSQL URL) another database than a fresh SQLite file. Needs wrk and
# the SDK venv (target/sdk-venv, made by scripts/sdk-tests.sh) for httpx.
# Record results in docs/benchmarks.md, paired with the signing
# micro-benchmark (cargo bench -p keyzone-crypto), which also prints the
# cost of one password check.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${KEYZONE_BIN:-$ROOT/target/release/keyzone}"
PY="${KEYZONE_BENCH_PYTHON:-$ROOT/target/sdk-venv/bin/python}"
SECS="${1:-10}"
CONNS="${KEYZONE_BENCH_CONNECTIONS:-64}"
PORT=18556
KEY="kz_benchmark_key_0123456789abcdef"
DATA="$(mktemp -d)"
B="http://127.0.0.1:$PORT"
command -v wrk >/dev/null || { echo "bench: install wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bench: build first: cargo build --release -p keyzone" >&2; exit 1; }
[ -x "$PY" ] || { echo "bench: no venv at $PY: run scripts/sdk-tests.sh once" >&2; exit 1; }

env KEYZONE_BOOTSTRAP_API_KEY=$KEY KEYZONE_DATA_DIR="$DATA" KEYZONE_LISTEN=127.0.0.1:$PORT \
  ${KEYZONE_BENCH_DATABASE_URL:+KEYZONE_DATABASE_URL=$KEYZONE_BENCH_DATABASE_URL} \
  KEYZONE_LOG_FORMAT=json RUST_LOG=warn taskset -c 1 "$BIN" serve 2>"$DATA/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do curl -fs "$B/readyz" >/dev/null && break; sleep 0.1; done
curl -fs "$B/readyz" >/dev/null || { echo "bench: server did not start" >&2; cat "$DATA/server.log" >&2; exit 1; }

"$PY" "$ROOT/scripts/bench/signin_setup.py" prepare "$B" "$KEY" "$DATA" 256
# shellcheck disable=SC1091
. "$DATA/env.sh"
enc() { "$PY" -c "import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=''))" "$1"; }
export CLIENT_ID_ENC="$(enc "$CLIENT_ID")" RESOURCE_ENC="$(enc "$RESOURCE")" REDIRECT_ENC="$(enc "$REDIRECT")"
export REFRESH_FILE="$DATA/refresh.txt" CODES_FILE="$DATA/codes.txt"
summary() { grep -E "Requests/sec|Latency|50%|99%|Non-2xx|requests in|redeemed"; }

# The baseline: an application with a password credential in the same zone.
api() { curl -fsS "$B$2" -X "$1" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' ${3:+-d "$3"}; }
field() { "$PY" -c "import sys,json;print(json.load(sys.stdin)$1)"; }
ZONE="${TOKEN#"$B"/z/}"; ZONE="${ZONE%%/*}"
APP=$(api POST "/zones/$ZONE/applications" '{"identifier":"svc","name":"Svc"}' | field '["id"]')
api POST "/zones/$ZONE/resources" '{"identifier":"https://api.example.com","name":"API","prefix":true,"scopes":["read"]}' >/dev/null
CRED=$(api POST "/zones/$ZONE/application-credentials" "{\"type\":\"password\",\"application_id\":\"$APP\"}")
BASIC="Basic $(printf '%s:%s' "$(echo "$CRED" | field '["identifier"]')" "$(echo "$CRED" | field '["password"]')" | base64 -w0)"
export AUTH="$BASIC" BODY="grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com%2Fv1&scope=read"
curl -fsS -H "Authorization: $BASIC" -d "$BODY" "$TOKEN" >/dev/null
echo "== client_credentials, RS256"
taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$ROOT/scripts/bench/token.lua" "$TOKEN" | summary

echo "== refresh_token (rotation), RS256"
taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$ROOT/scripts/bench/refresh.lua" "$TOKEN" | summary

# Codes live 60 s: make them just before the run, more than it can redeem.
"$PY" "$ROOT/scripts/bench/signin_setup.py" codes "$DATA" "${KEYZONE_BENCH_CODES:-4000}"
echo "== authorization_code + ID token, RS256 (5 s: codes are single-use)"
taskset -c 0 wrk -t1 -c"$CONNS" -d5s --latency -s "$ROOT/scripts/bench/code.lua" "$TOKEN" | summary

echo "== sign-in page (GET /oauth/authorize, no session)"
curl -fsS -o /dev/null -w '%{http_code} %{size_download} bytes\n' -H "Cookie: $BROWSER_COOKIE" "$AUTHORIZE_URL"
taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -H "Cookie: $BROWSER_COOKIE" "$AUTHORIZE_URL" | summary
