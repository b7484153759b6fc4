import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";

/** Undoes quoted-printable (soft line breaks and =XX escapes) over a raw message, enough to read its links. */
export function decodeQuotedPrintable(raw: string): string {
  const joined = raw.replace(/=\r?\n/g, "");
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === "=" && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(joined[i]!, "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The header block of a raw message, unfolded, as lowercase name → value. */
export function headersOf(raw: string): Record<string, string> {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, " ");
  const out: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i).toLowerCase()] ??= line.slice(i + 1).trim();
  }
  return out;
}

export const CLAIM_LINK_RE = /(https?:\/\/[^\s"<>]+\/claim\?token=(claw_owner_email_[A-Za-z0-9_-]{43}))/;

/** The claim link and token a message carries. */
export function linkIn(raw: string): { link: string; token: string } {
  const match = CLAIM_LINK_RE.exec(decodeQuotedPrintable(raw));
  if (!match) throw new Error(`no claim link in message:\n${raw}`);
  return { link: match[1]!, token: match[2]! };
}

/** Raw `.eml` files written under `<dataDir>/mail`, oldest first (file names are UUIDv7s). */
export async function mailFiles(dataDir: string): Promise<{ file: string; raw: string }[]> {
  const dir = path.join(dataDir, "mail");
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".eml")).sort();
  } catch {
    return [];
  }
  return Promise.all(names.map(async (n) => ({ file: path.join(dir, n), raw: await readFile(path.join(dir, n), "utf8") })));
}

/** The newest message written to `to` under `<dataDir>/mail`. */
export async function latestMailTo(dataDir: string, to: string): Promise<{ file: string; raw: string; link: string; token: string }> {
  const files = await mailFiles(dataDir);
  for (const f of files.reverse()) {
    if (headersOf(f.raw).to === to) return { ...f, ...linkIn(f.raw) };
  }
  throw new Error(`no mail to ${to} in ${dataDir}/mail`);
}

export type ReceivedMail = { from: string; to: string[]; raw: string; secure: boolean; user: string | undefined };

/** A free loopback TCP port (nothing listens on it once this resolves). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A real SMTP server on loopback that keeps what it receives. */
export async function startSmtpServer(options: Partial<SMTPServerOptions> & { port?: number } = {}) {
  const received: ReceivedMail[] = [];
  const { port: wanted = 0, ...rest } = options;
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    ...rest,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
          secure: session.secure,
          user: session.user as string | undefined,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(wanted, "127.0.0.1", () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
