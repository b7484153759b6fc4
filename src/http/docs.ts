import { html, raw } from "hono/html";
import type { OpenApiDocument } from "./openapi.ts";

type Operation = {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security?: unknown[];
  parameters: { name: string; in: string; required: boolean; schema: unknown }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
};

const json = (v: unknown) => JSON.stringify(v, null, 2);

/** A readable, script-free rendering of the OpenAPI document. */
export function renderDocs(doc: OpenApiDocument) {
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op: op as Operation })),
  );
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${doc.info.title} — reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1f}
h2{margin-top:2.5rem;border-top:1px solid #ddd;padding-top:1rem;font-size:1.05rem}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f5f5f7;padding:.75rem;overflow:auto;border-radius:6px}
.m{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}
table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
details{margin:.4rem 0}
</style>
</head>
<body>
<h1>${doc.info.title} <small>${doc.info.version}</small></h1>
<p>${doc.info.description}</p>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>. Authenticated routes take
<code>Authorization: Bearer &lt;api_key&gt;</code>.</p>
<ul>${ops.map((o) => html`<li><a href="#${o.op.operationId}"><span class="m">${o.method}</span> <code>${o.path}</code></a> — ${o.op.summary}</li>`)}</ul>
${ops.map(
  ({ path, method, op }) => html`<h2 id="${op.operationId}"><span class="m">${method}</span> <code>${path}</code></h2>
<p><strong>${op.summary}</strong>${op.description ? html` — ${op.description}` : ""}</p>
<p>Auth: ${op.security ? (op.security.length > 1 ? "optional agent key" : "agent key") : "none"}</p>
${op.parameters.length
  ? html`<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>${op.parameters.map(
      (p) => html`<tr><td><code>${p.name}</code></td><td>${p.in}</td><td>${p.required ? "yes" : "no"}</td><td><code>${json(p.schema)}</code></td></tr>`,
    )}</table>`
  : ""}
${op.requestBody ? html`<details open><summary>Request body</summary><pre>${json(op.requestBody.content["application/json"]?.schema)}</pre></details>` : ""}
${Object.entries(op.responses).map(
  ([status, r]) =>
    html`<details${status.startsWith("2") ? raw(" open") : ""}><summary>${status} — ${r.description}</summary>${
      status.startsWith("2") ? html`<pre>${json(r.content?.["application/json"]?.schema)}</pre>` : ""
    }</details>`,
)}`,
)}
<h2 id="schemas">Schemas (<code>#/components/schemas/…</code>)</h2>
${Object.entries(doc.components.schemas).map(
  ([name, schema]) => html`<details id="schema-${name}"><summary><code>${name}</code></summary><pre>${json(schema)}</pre></details>`,
)}
</body>
</html>`;
}
