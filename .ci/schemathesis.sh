#!/usr/bin/env bash
# Runs schemathesis (every check: no 5xx, no schema-valid request refused, invalid ones refused,
# responses, status codes, content types and headers as documented, auth honoured) against a
# real `kaizen serve` on a free loopback port, reading the live /api/v1/openapi.json, once
# with an admin token (human, `*`) and once with an agent token. Builds nothing: it runs
# target/debug/kaizen (`cargo build --locked -p kaizen-cli`), or $KAIZEN_BIN. Needs `st`
# (`pip install schemathesis`) and python3. Exits non-zero on any failure.
#
# ST_MAX_EXAMPLES (default 20) bounds the examples per operation and phase; ST_SEED fixes the
# random seed (default: a fixed one, so CI runs are repeatable; set ST_SEED=random to vary it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BIN=${KAIZEN_BIN:-$ROOT/target/debug/kaizen}
if [ ! -x "$BIN" ]; then
    echo "schemathesis.sh: $BIN is missing; run cargo build --locked -p kaizen-cli first" >&2
    exit 2
fi
command -v st >/dev/null 2>&1 || { echo "schemathesis.sh: st (schemathesis) is not installed" >&2; exit 2; }

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A fresh store with the standard org. The loop is enabled so that cycles.run and
# proposals.submit do their work instead of refusing (409) every time; the write rate limit is
# raised because the fuzzer writes far faster than any client (429 is documented and allowed,
# but a run that only sees 429 tests nothing).
export KAIZEN_STORE="$WORK/kaizen.db"
export KAIZEN__SELF_IMPROVEMENT__ENABLED=true
export KAIZEN__SERVER__WRITES_PER_MINUTE=1000000
cd "$WORK"
"$BIN" init -q --path "$WORK/kaizen.yaml"
"$BIN" org init -q

secret() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])'
}
ADMIN=$("$BIN" token create -q --json --as ci --principal st-admin --kind human --cap '*' | secret)
AGENT=$("$BIN" token create -q --json --as ci --principal st-agent --kind agent \
    --cap 'events:write' --cap 'proposals:write' --cap '*:read' | secret)

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
"$BIN" serve -q --bind "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 1 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen('$BASE/readyz', timeout=1)" 2>/dev/null; then
        ready=1
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.2
done
if [ -z "$ready" ]; then
    echo "schemathesis.sh: kaizen serve did not become ready" >&2
    cat "$WORK/serve.log" >&2
    exit 1
fi

SEED=${ST_SEED:-20261207}
SEED_ARGS=(--seed "$SEED")
[ "$SEED" = "random" ] && SEED_ARGS=()

status=0
for who in admin agent; do
    if [ "$who" = admin ]; then token=$ADMIN; else token=$AGENT; fi
    echo "== schemathesis as the $who token"
    st --config-file "$ROOT/.ci/schemathesis.toml" run "$BASE/api/v1/openapi.json" \
        --checks all \
        --max-examples "${ST_MAX_EXAMPLES:-20}" \
        "${SEED_ARGS[@]}" \
        --workers 2 \
        --request-timeout 30 \
        --header "Authorization: Bearer $token" \
        || status=1
done

if [ "$status" -ne 0 ]; then
    echo "== kaizen serve log (last 50 lines)"
    tail -n 50 "$WORK/serve.log"
fi
exit "$status"
