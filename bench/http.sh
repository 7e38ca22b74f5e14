#!/usr/bin/env bash
# HTTP benchmarks of `kaizen serve` (issue 5): effective-config reads against a trivial endpoint
# of the same server, side by side, and NDJSON event ingest. Needs `oha` on PATH
# (`cargo install oha --locked`). Usage: bench/http.sh [ROUNDS]   (default 2); KAIZEN=path runs
# that binary instead of building one (NO_BUILD=1 skips the build)
set -euo pipefail
ROUNDS=${1:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
KAIZEN=${KAIZEN:-$ROOT/target/release/kaizen}
command -v oha >/dev/null || { echo "oha not found (cargo install oha --locked)" >&2; exit 2; }
DIR=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
cd "$DIR"
export HOME="$DIR"

# A 60-agent org.
"$KAIZEN" org init >/dev/null
AGENTS=$(for i in $(seq 0 59); do printf -- '- id: agent-%03d\n  role: sre\n  department: engineering\n' "$i"; done)
"$KAIZEN" org export | awk -v agents="$AGENTS" '/^agents: \[\]$/ {print "agents:"; print agents; next} {print}' > org.yaml
"$KAIZEN" org import org.yaml >/dev/null
TOKEN=$("$KAIZEN" token create --principal runtime --kind agent --cap 'agents:read' --cap 'events:write' --as bench --json 2>/dev/null \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')

"$KAIZEN" serve --bind 127.0.0.1:7979 2> serve.log &
SERVER=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:7979/healthz >/dev/null && break; sleep 0.1; done
echo "idle RSS: $(ps -o rss= -p $SERVER) kB"

summary() {
  python3 -c '
import json, sys
d = json.load(sys.stdin)
s, p = d["summary"], d["latencyPercentiles"]
print("%s req/s  p50 %.2f ms  p99 %.2f ms  success %.1f %%" % (format(round(s["requestsPerSec"]), ","), p["p50"] * 1000, p["p99"] * 1000, s["successRate"] * 100))
'
}
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  printf '  config : '; oha -z 10s -c 64 --no-tui --output-format json -H "Authorization: Bearer $TOKEN" http://127.0.0.1:7979/api/v1/agents/agent-007/config | summary
  printf '  healthz: '; oha -z 10s -c 64 --no-tui --output-format json http://127.0.0.1:7979/healthz | summary
done

# Ingest: 1,000-event NDJSON batches, every batch new (a repeated batch would be all duplicates).
"$KAIZEN" sim generate --agents 200 --days 30 --seed 1 --output events.ndjson >/dev/null
mkdir batches && split -l 1000 -d -a 4 events.ndjson batches/b
N=$(ls batches | wc -l)
START=$(date +%s.%N)
ls batches | xargs -P 2 -I{} curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/x-ndjson' --data-binary @batches/{} http://127.0.0.1:7979/api/v1/events
END=$(date +%s.%N)
EVENTS=$(wc -l < events.ndjson)
python3 -c "import sys; e, s = int(sys.argv[1]), float(sys.argv[2]); print(f'ingest: {e:,} events in {sys.argv[3]} batches of 1,000, 2 connections: {e / s:,.0f} events/s')" "$EVENTS" "$(python3 -c "print($END - $START)")" "$N"
echo "stored: $(curl -sf -H "Authorization: Bearer $TOKEN" http://127.0.0.1:7979/readyz >/dev/null && echo ok)"
