// The official MCP TypeScript SDK client against a running `kaizen serve`, over streamable HTTP.
// Usage: node client.mjs <mcp-url> <human-token> [<agent-token>]
// Prints one JSON summary on stdout (crates/kaizen-cli/tests/mcp_ts.rs asserts it); exits 1 only
// when it cannot connect at all. Every call's outcome is recorded, including SDK exceptions (a
// strict client turning a tool result into a -32602 is what this test exists to catch).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, humanToken, agentToken] = process.argv.slice(2);
if (!url || !humanToken) {
  console.error("usage: node client.mjs <mcp-url> <human-token> [<agent-token>]");
  process.exit(2);
}

function transport(token, sessionId) {
  return new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    sessionId,
  });
}

async function connect(token) {
  const t = transport(token);
  const client = new Client({ name: "kaizen-mcp-ts-test", version: "1.0.0" });
  await client.connect(t);
  return { client, transport: t };
}

// One call's outcome: the result's flags, and for errors the envelope parsed from the text
// content; or the exception the SDK threw.
async function call(client, name, args) {
  try {
    const r = await client.callTool({ name, arguments: args });
    const out = { tool: name, threw: null, isError: r.isError === true };
    out.structured = r.structuredContent ?? null;
    const text = (r.content ?? []).find((c) => c.type === "text")?.text;
    if (out.isError) {
      try {
        const body = JSON.parse(text ?? "");
        out.code = body?.error?.code ?? null;
        out.message = body?.error?.message ?? null;
        out.fields = (body?.error?.details ?? []).map((d) => d.field);
      } catch (e) {
        out.code = null;
        out.text = text ?? null;
      }
    }
    return out;
  } catch (e) {
    return { tool: name, threw: `${e?.code ?? ""} ${e?.message ?? e}`.trim() };
  }
}

const summary = {};
let human;
try {
  human = await connect(humanToken);
} catch (e) {
  console.log(JSON.stringify({ connect_error: `${e?.message ?? e}` }));
  process.exit(1);
}
const { tools } = await human.client.listTools();
summary.tools = tools.length;
summary.with_output_schema = tools.filter((t) => t.outputSchema).length;
summary.session = human.transport.sessionId ?? null;

const read = await call(human.client, "kaizen_org_current", {});
summary.read = {
  threw: read.threw,
  isError: read.isError ?? null,
  keys: read.structured ? Object.keys(read.structured).sort() : null,
};
summary.failures = [
  await call(human.client, "kaizen_proposals_get", { id: "p-does-not-exist" }),
  await call(human.client, "kaizen_proposals_get", {}),
  await call(human.client, "kaizen_proposals_list", { limit: "ten" }),
];

if (agentToken) {
  const agent = await connect(agentToken);
  await agent.client.listTools();
  summary.failures.push(
    await call(agent.client, "kaizen_proposals_approve", { id: "p1", reason: "trust me" }),
    await call(agent.client, "kaizen_proposals_list", { status: "bogus" }),
  );
  // The human's session with the agent's token: refused (a session belongs to its opener).
  const hijack = new Client({ name: "kaizen-mcp-ts-test", version: "1.0.0" });
  const stolen = transport(agentToken, summary.session);
  try {
    await hijack.connect(stolen);
    await hijack.listTools();
    summary.hijack = "accepted";
  } catch (e) {
    summary.hijack = `${e?.code ?? ""} ${e?.message ?? e}`.trim();
  }
  await stolen.close().catch(() => {});
  await agent.transport.terminateSession().catch(() => {});
  await agent.client.close();
}

// Ending the session: the SDK throws unless the DELETE answers 2xx (or 405).
try {
  await human.transport.terminateSession();
  summary.terminated = true;
} catch (e) {
  summary.terminated = `${e?.message ?? e}`;
}
await human.client.close();
console.log(JSON.stringify(summary));
