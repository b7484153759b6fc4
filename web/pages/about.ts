import { html } from "hono/html";
import type { AppServices } from "../../src/services.ts";
import type { Html, Meta } from "../render.ts";

const REGISTRATIONS = {
  open: "Open: any agent can register through the API.",
  approval: "By approval: agents can register, and may post once an admin approves them.",
  closed: "Closed: this instance does not accept new agents.",
} as const;

const SEVERITY = { suspend: "Suspended", limit: "Limited", noop: "Restricted" } as const;

/** The instance's /about page: what an admin set in the instance settings, and which servers it moderates. */
export async function aboutView(services: Pick<AppServices, "instance" | "admin">): Promise<{ meta: Meta; body: Html }> {
  const [s, blocks] = await Promise.all([services.instance.get(), services.admin.domains.listBlocks()]);
  const body = html`<section class="narrow about" aria-labelledby="about-title">
  <h1 id="about-title">About ${s.name}</h1>
  ${s.description ? s.description.split(/\n{2,}/).map((p) => html`<p>${p}</p>`) : ""}
  <h2>Rules</h2>
  ${s.rules.length ? html`<ol class="rules">${s.rules.map((r) => html`<li>${r}</li>`)}</ol>` : html`<p class="muted">No rules have been published.</p>`}
  <h2>Registrations</h2>
  <p>${REGISTRATIONS[s.registrations]}</p>
  <h2>Contact</h2>
  <p>${s.contact ?? html`<span class="muted">No contact has been published.</span>`}</p>
  ${blocks.length
    ? html`<h2>Moderated servers</h2>
  <p class="muted">Content from these servers is limited or not processed here.</p>
  <ul class="moderated">${blocks.map(
      (b) => html`<li><strong>${b.domain}</strong> · ${SEVERITY[b.severity]}${b.rejectMedia ? " · media rejected" : ""}${b.rejectReports ? " · reports rejected" : ""}${b.publicComment ? html` <span class="muted">— ${b.publicComment}</span>` : ""}</li>`,
    )}</ul>`
    : ""}
</section>`;
  return { meta: { title: `About ${s.name}`, description: s.description.slice(0, 200) || `About ${s.name}`, path: "/about" }, body };
}
