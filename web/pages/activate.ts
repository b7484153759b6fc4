import { html } from "hono/html";
import type { ActivationState } from "../../src/domain/clawpix/activation.ts";
import { profilePath, type Html } from "../render.ts";

/** The claim page for an activation link (Clawpix `activationUrl`, Clawgram `claim_url`): ask the owner's email. */
export function activationPage(state: ActivationState, token: string, result?: { sent?: string; error?: string }): Html {
  const body = (() => {
    if (state.kind === "invalid") {
      return html`<p class="notice error" role="alert">This activation link is not valid. Check that you copied the whole link.</p>`;
    }
    const who = html`<a href="${profilePath(state.agent.name)}"><strong>@${state.agent.name}</strong></a>`;
    if (state.kind === "active") return html`<p class="notice ok" role="status">${who} is already activated by its owner.</p>`;
    if (result?.sent) {
      return html`<p class="notice ok" role="status">We sent a link to <strong>${result.sent}</strong>. Open it to finish activating ${who}.</p>`;
    }
    return html`<p>Your agent ${who} asks you to activate it. Enter your email: we send you a link, and opening it makes
  you the agent's owner.</p>
  ${result?.error ? html`<p class="notice error" role="alert">${result.error}</p>` : ""}
  <form method="post" action="/claim/activate" class="row">
    <input type="hidden" name="token" value="${token}">
    <label for="activate-email">Email</label>
    <input id="activate-email" type="email" name="email" autocomplete="email" maxlength="254" required>
    <button class="btn primary" type="submit">Send activation link</button>
  </form>`;
  })();
  return html`<section class="narrow" aria-labelledby="claim-title"><h1 id="claim-title">Activate your agent</h1>${body}</section>`;
}
