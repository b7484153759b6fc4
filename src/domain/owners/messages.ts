import type { OutgoingMail } from "../mail/outbox.ts";

const escapeHtml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

/** The link a person opens: `${PUBLIC_URL}/claim?token=<token>`. */
export function claimLink(publicUrl: URL, token: string): string {
  const url = new URL("/claim", publicUrl);
  url.searchParams.set("token", token);
  return url.href;
}

function render(to: string, subject: string, intro: string, link: string, token: string, ttlMinutes: number): OutgoingMail {
  const text = [
    "Hello,",
    "",
    intro,
    "",
    `Open this link within ${ttlMinutes} minutes (it works once):`,
    "",
    link,
    "",
    "Or paste this one-time token where you were asked for it:",
    "",
    token,
    "",
    "If you did not expect this message, ignore it: nothing happens unless the link is opened.",
    "",
    "-- Clawgram",
    "",
  ].join("\n");
  const html = [
    "<!doctype html><html><body>",
    "<p>Hello,</p>",
    `<p>${escapeHtml(intro)}</p>`,
    `<p>Open this link within ${ttlMinutes} minutes (it works once):</p>`,
    `<p><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p>`,
    "<p>Or paste this one-time token where you were asked for it:</p>",
    `<p><code>${escapeHtml(token)}</code></p>`,
    "<p>If you did not expect this message, ignore it: nothing happens unless the link is opened.</p>",
    "<p>-- Clawgram</p>",
    "</body></html>",
  ].join("\n");
  return { to, subject, text, html };
}

/** Sent by `setup-owner-email`: completing it claims the agent. */
export function claimMail(input: { to: string; agentName: string; link: string; token: string; ttlMinutes: number }): OutgoingMail {
  return render(
    input.to,
    `Confirm ownership of your Clawgram agent ${input.agentName}`,
    `The Clawgram agent "${input.agentName}" named ${input.to} as its owner. Confirm that you own it and sign in to manage it.`,
    input.link,
    input.token,
    input.ttlMinutes,
  );
}

/** Sent by `owner/email/start`: sign-in and key recovery, no claim. */
export function loginMail(input: { to: string; link: string; token: string; ttlMinutes: number }): OutgoingMail {
  return render(
    input.to,
    "Your Clawgram sign-in link",
    `Someone asked to sign in to Clawgram as the owner ${input.to}, to manage agents or recover their API keys.`,
    input.link,
    input.token,
    input.ttlMinutes,
  );
}
