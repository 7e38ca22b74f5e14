#!/usr/bin/env bash
# MCP over streamable HTTP: latency of sequential `tools/call` requests on one keep-alive
# connection (the cost an agent pays per tool call), against a release `kaizen serve`; and the
# same operation over REST (`GET /api/v1/org`) the same way, side by side.
# Needs python3 (bench/mcp_latency.py, standard library only).
# Usage: bench/mcp_latency.sh [CALLS] [ROUNDS]   (default 200 calls, 3 rounds)
# KAIZEN=path/to/kaizen runs another binary (to compare builds); NO_BUILD=1 skips the build.
set -euo pipefail
CALLS=${1:-200}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KAIZEN:-}" ]; then
  [ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p kaizen-cli
  KAIZEN="$ROOT/target/release/kaizen"
fi
KAIZEN=$(cd "$(dirname "$KAIZEN")" && pwd)/$(basename "$KAIZEN")
DIR=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
cd "$DIR"
export HOME="$DIR"

"$KAIZEN" org init >/dev/null
TOKEN=$("$KAIZEN" token create --principal bench --kind agent --cap 'org:read' --as bench --json 2>/dev/null \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
: > serve.log
"$KAIZEN" serve --bind 127.0.0.1:0 2> serve.log &
SERVER=$!
ADDR=""
for _ in $(seq 100); do
  ADDR=$(sed -n 's|^kaizen serve: http://\([^/]*\).*|\1|p' serve.log | head -1)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "kaizen serve did not start:" >&2; cat serve.log >&2; exit 1; }
for r in $(seq "$ROUNDS"); do
  printf 'round %s: ' "$r"
  python3 "$ROOT/bench/mcp_latency.py" "$ADDR" "$TOKEN" "$CALLS" kaizen_org_current
  printf 'round %s: ' "$r"
  python3 "$ROOT/bench/mcp_latency.py" "$ADDR" "$TOKEN" "$CALLS" "GET /api/v1/org"
done
