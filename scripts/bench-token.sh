#!/usr/bin/env bash
# Token endpoint benchmark (not a test): the release server pinned to one
# core, wrk on the other, keep-alive, 64 connections.
#
#   cargo build --release -p keyzone && scripts/bench-token.sh [seconds]
#
# Runs client_credentials with an RS256 zone key, the same with ES256, and
# token exchange (RS256). Results go to stdout; record them in
# docs/benchmarks.md with the machine they ran on.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/keyzone"
SECS="${1:-15}"
PORT=18555
KEY="kz_benchmark_key_0123456789abcdef"
DATA="$(mktemp -d)"
B="http://127.0.0.1:$PORT"
command -v wrk >/dev/null || { echo "bench: install wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bench: build first: cargo build --release -p keyzone" >&2; exit 1; }

start() {
  KEYZONE_BOOTSTRAP_API_KEY=$KEY KEYZONE_DATA_DIR="$DATA" KEYZONE_LISTEN=127.0.0.1:$PORT \
    KEYZONE_LOG_FORMAT=json RUST_LOG=warn taskset -c 1 "$BIN" serve 2>"$DATA/server.log" &
  SERVER=$!
  for _ in $(seq 100); do curl -fs "$B/readyz" >/dev/null && return; sleep 0.1; done
  echo "bench: server did not start" >&2; cat "$DATA/server.log" >&2; exit 1
}
stop() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
trap 'stop; rm -rf "$DATA"' EXIT

api() { curl -fsS "$B$2" -X "$1" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' ${3:+-d "$3"}; }
field() { python3 -c "import sys,json;print(json.load(sys.stdin)$1)"; }

start
ZONE=$(api POST /zones '{"name":"Bench"}' | field '["id"]')
MCP=$(api POST /zones/$ZONE/applications '{"identifier":"mcp","name":"MCP"}' | field '["id"]')
APP=$(api POST /zones/$ZONE/applications '{"identifier":"svc","name":"Svc"}' | field '["id"]')
R1=$(api POST /zones/$ZONE/resources "{\"identifier\":\"https://mcp.example.com/mcp\",\"name\":\"MCP\",\"application_id\":\"$MCP\"}" | field '["id"]')
R2=$(api POST /zones/$ZONE/resources '{"identifier":"https://api.example.com","name":"API","prefix":true,"scopes":["read"]}' | field '["id"]')
api PUT "/zones/$ZONE/applications/$MCP/dependencies/$R2?when_accessing=$R1" >/dev/null
CRED=$(api POST /zones/$ZONE/application-credentials "{\"type\":\"password\",\"application_id\":\"$APP\"}")
CID=$(echo "$CRED" | field '["identifier"]')
SECRET=$(echo "$CRED" | field '["password"]')
BASIC="Basic $(printf '%s:%s' "$CID" "$SECRET" | base64 -w0)"
TOKEN="$B/z/$ZONE/oauth/token"

run() {
  echo "== $1"
  AUTH="$2" BODY="$3" taskset -c 0 wrk -t1 -c64 -d"${SECS}s" --latency -s "$ROOT/scripts/bench/token.lua" "$TOKEN" \
    | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|requests in"
}

CC="grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com%2Fv1&scope=read"
curl -fsS -H "Authorization: $BASIC" -d "$CC" "$TOKEN" >/dev/null
run "client_credentials, RS256" "$BASIC" "$CC"

SUBJECT=$(curl -fsS -H "Authorization: $BASIC" -d "grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp" "$TOKEN" | field '["access_token"]')
TE="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&resource=https%3A%2F%2Fapi.example.com&subject_token=$SUBJECT&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
curl -fsS -d "$TE" "$TOKEN" >/dev/null
run "token exchange (unauthenticated, as the MCP servers send it), RS256" "" "$TE"

# ES256: publish an ES256 next key, then make it current. The server
# re-reads key rings every 10 s.
stop
KEYZONE_DATA_DIR="$DATA" "$BIN" keys rotate --zone "$ZONE" --algorithm ES256 --force >/dev/null
KEYZONE_DATA_DIR="$DATA" "$BIN" keys rotate --zone "$ZONE" --force >/dev/null
start
curl -fsS -H "Authorization: $BASIC" -d "$CC" "$TOKEN" | python3 -c "import sys,json,base64;t=json.load(sys.stdin)['access_token'].split('.')[0];t+='='*(-len(t)%4);print('header:',base64.urlsafe_b64decode(t).decode())"
run "client_credentials, ES256" "$BASIC" "$CC"
