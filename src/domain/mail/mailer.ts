import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { getLogger } from "@logtape/logtape";
import nodemailer from "nodemailer";

const log = getLogger(["clawgram", "mail"]);

export type MailMessage = {
  /** Outbox id; also names the message (Message-ID, .eml file). */
  id: string;
  to: string;
  subject: string;
  text: string;
  html?: string | undefined;
};

/** Where outgoing mail goes: an SMTP server, or files for a person running the server locally. */
export type Mailer = {
  readonly kind: "smtp" | "file";
  /** Resolves once the message is accepted (by the SMTP server, or written); rejects otherwise. */
  send(message: MailMessage): Promise<void>;
  close(): void;
};

/** Errors nodemailer marks as permanent for the recipient (a 5xx reply to RCPT): retrying cannot help. */
export function isPermanentFailure(error: unknown): boolean {
  const e = error as { permanent?: unknown; code?: unknown } | null;
  return !!e && e.permanent === true && e.code === "EENVELOPE";
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function domainOf(address: string): string {
  const match = /@([^>\s]+)>?\s*$/.exec(address);
  return match?.[1] ?? "localhost";
}

function compose(message: MailMessage, from: string) {
  return {
    from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    html: message.html,
    messageId: `<${message.id}@${domainOf(from)}>`,
    // Explicit so the message reads the same wherever it lands (tests decode it too).
    textEncoding: "quoted-printable" as const,
  };
}

/**
 * Delivers through the SMTP server of `url`: `smtps://` speaks TLS from the first byte; `smtp://` upgrades with
 * STARTTLS and, unless the server is on loopback (a local relay), refuses to go on without it, since messages carry
 * one-time login tokens. A URL may still say `?requireTLS=false` (or `?tls.rejectUnauthorized=false`) explicitly.
 */
export function createSmtpMailer(options: { url: string; from: string }): Mailer {
  const url = new URL(options.url);
  const transport = nodemailer.createTransport(
    {
      url: options.url,
      requireTLS: url.protocol === "smtp:" && !LOOPBACK.has(url.hostname),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    },
    { from: options.from },
  );
  return {
    kind: "smtp",
    async send(message) {
      await transport.sendMail(compose(message, options.from));
    },
    close: () => transport.close(),
  };
}

/**
 * Writes each message as an RFC 5322 `.eml` file under `dir` (the default without SMTP_URL), so whoever runs the server
 * can open the claim link. The log names the file, never the link: the link carries a one-time token.
 */
export function createFileMailer(options: { dir: string; from: string }): Mailer {
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" }, { from: options.from });
  return {
    kind: "file",
    async send(message) {
      const info = await composer.sendMail(compose(message, options.from));
      await mkdir(options.dir, { recursive: true, mode: 0o700 });
      const file = path.join(options.dir, `${message.id}.eml`);
      await writeFile(file, info.message as Buffer, { mode: 0o600 });
      log.info("Mail to {to} ({subject}) written to {file}; open it for the link (no SMTP_URL configured)", {
        to: message.to,
        subject: message.subject,
        file,
      });
    },
    close: () => composer.close(),
  };
}

export function createMailer(options: { smtpUrl: string | undefined; from: string; dataDir: string }): Mailer {
  return options.smtpUrl
    ? createSmtpMailer({ url: options.smtpUrl, from: options.from })
    : createFileMailer({ dir: path.join(options.dataDir, "mail"), from: options.from });
}
