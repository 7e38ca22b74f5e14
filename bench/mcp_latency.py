#!/usr/bin/env python3
"""Sequential MCP tools/call latency over ONE keep-alive HTTP connection (bench/mcp_latency.sh).

Usage: mcp_latency.py HOST:PORT TOKEN [CALLS] [TOOL]
initialize, notifications/initialized, then CALLS `tools/call TOOL {}` with the session id, one
after the other on the same socket; prints p50/p90/p99/max in milliseconds.
With TOOL = `GET /api/v1/...`: CALLS sequential REST GETs of that path instead, for comparison.
"""
import http.client
import json
import statistics
import sys
import time

addr, token = sys.argv[1], sys.argv[2]
calls = int(sys.argv[3]) if len(sys.argv) > 3 else 200
tool = sys.argv[4] if len(sys.argv) > 4 else "kaizen_org_current"
host, port = addr.rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port))
headers = {
    "Authorization": f"Bearer {token}",
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}


def report(what, latencies):
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"{len(latencies)} sequential {what}, one connection: "
          f"p50 {q[49]:.2f} ms  p90 {q[89]:.2f} ms  p99 {q[98]:.2f} ms  max {max(latencies):.2f} ms")


if tool.startswith("GET /"):
    path = tool[4:]
    latencies = []
    sock = None
    for _ in range(calls):
        start = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        data = r.read()
        latencies.append((time.perf_counter() - start) * 1000)
        if r.status != 200:
            sys.exit(f"GET {path}: HTTP {r.status}: {data[:300]!r}")
        sock = sock or conn.sock
        if conn.sock is not sock:
            sys.exit("the connection was not kept alive")
    report(f"GET {path}", latencies)
    sys.exit(0)


def post(body, extra=None):
    conn.request("POST", "/mcp", json.dumps(body), {**headers, **(extra or {})})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"{body.get('method')}: HTTP {r.status}: {data[:300]!r}")
    return r, data


r, _ = post({"jsonrpc": "2.0", "id": 0, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "mcp_latency", "version": "1"}}})
session = r.getheader("mcp-session-id")
if not session:
    sys.exit("initialize: no mcp-session-id")
extra = {"mcp-session-id": session, "MCP-Protocol-Version": "2025-06-18"}
post({"jsonrpc": "2.0", "method": "notifications/initialized"}, extra)
sock = conn.sock
latencies = []
for i in range(1, calls + 1):
    body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": tool, "arguments": {}}}
    start = time.perf_counter()
    _, data = post(body, extra)
    latencies.append((time.perf_counter() - start) * 1000)
    if b'"isError":false' not in data:
        sys.exit(f"tools/call {tool}: not a success: {data[:300]!r}")
if conn.sock is not sock:
    sys.exit("the connection was not kept alive")
conn.request("DELETE", "/mcp", headers={**headers, **extra})
conn.getresponse().read()
report(f"tools/call {tool}", latencies)
