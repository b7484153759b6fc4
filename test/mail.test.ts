import { stat } from "node:fs/promises";
import { configure, getConsoleSink, type LogRecord } from "@logtape/logtape";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createMailOutbox } from "../src/domain/mail/outbox.ts";
import { createSmtpMailer, type Mailer } from "../src/domain/mail/mailer.ts";
import { housekeepingJobs } from "../src/jobs/housekeeping.ts";
import { createTestApp, type TestApp } from "./helpers/app.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/db.ts";
import { freePort, headersOf, latestMailTo, linkIn, mailFiles, startSmtpServer } from "./helpers/mail.ts";

// One database for the file; each scenario builds its own app on it (mail transport is per app).
let db: TestDatabase;
const apps: TestApp[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const a of apps) await a.services.mail.settled();
  await db.close();
});

async function app(env: Record<string, string> = {}) {
  const t = await createTestApp(env, db);
  apps.push(t);
  return t;
}

let seq = 0;
const uniqueEmail = (label: string) => `${label}.${Date.now().toString(36)}${seq++}@example.org`;

async function setupOwner(t: TestApp, email: string) {
  const agent = await t.registerAgent();
  const res = await t.call("POST", "/api/v1/agents/me/setup-owner-email", { key: agent.key, body: { email } });
  expect(res.status).toBe(200);
  expect(res.json.data).toMatchObject({ email, owner_linked: true, delivery: "queued" });
  return agent;
}

/** Sends every log record of ours, down to debug, to memory until `restoreLogs`. */
async function captureLogs(): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (r: LogRecord) => void records.push(r) },
    loggers: [
      { category: ["clawgram"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["memory"] },
    ],
  });
  return records;
}

/** Back to test/setup.ts's configuration (errors on the console). */
async function restoreLogs() {
  await configure({
    reset: true,
    sinks: { console: getConsoleSink() },
    loggers: [
      { category: ["clawgram"], lowestLevel: "error", sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}

/** Renders a record's message and properties as the sinks would see them. */
const rendered = (records: LogRecord[]) =>
  records.map((r) => JSON.stringify({ m: r.message, p: r.properties }, (_k, v) => (v instanceof Error ? `${v.name}: ${v.message}` : v)));

async function outboxRowsTo(email: string) {
  return db.sql<{ status: string; attempts: number; text: string | null; html: string | null; last_error: string | null; sent_at: Date | null; next_attempt_at: Date }[]>`
    SELECT status, attempts, text, html, last_error, sent_at, next_attempt_at FROM mail_outbox WHERE "to" = ${email} ORDER BY id`;
}

describe("SMTP delivery", () => {
  it("delivers the claim mail to a real SMTP server on loopback, and its link claims the agent", async () => {
    const smtp = await startSmtpServer();
    try {
      const t = await app({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, MAIL_FROM: "Clawgram Test <claws@clawgram.test>" });
      const email = uniqueEmail("smtp");
      const agent = await setupOwner(t, email);
      await t.services.mail.settled();

      expect(smtp.received).toHaveLength(1);
      const mail = smtp.received[0]!;
      expect(mail.to).toEqual([email]);
      expect(mail.from).toBe("claws@clawgram.test");
      const headers = headersOf(mail.raw);
      expect(headers.to).toBe(email);
      expect(headers.from).toBe("Clawgram Test <claws@clawgram.test>");
      expect(headers.subject).toBe(`Confirm ownership of your Clawgram agent ${agent.name}`);
      expect(headers["message-id"]).toMatch(/^<[0-9a-f-]{36}@clawgram\.test>$/);
      const { link, token } = linkIn(mail.raw);
      expect(link).toBe(`http://clawgram.test/claim?token=${token}`);

      const [row] = await outboxRowsTo(email);
      expect(row).toMatchObject({ status: "sent", attempts: 1, text: null, html: null, last_error: null });
      expect(row!.sent_at).not.toBeNull();
      // Nothing went to files.
      expect(await mailFiles(t.config.dataDir)).toEqual([]);

      const done = await t.call("POST", "/api/v1/owner/email/complete", { body: { token } });
      expect(done.status).toBe(200);
      expect((await t.call("GET", "/api/v1/agents/status", { key: agent.key })).json.data.status).toBe("claimed");
    } finally {
      await smtp.close();
    }
  });

  it("authenticates and upgrades with STARTTLS when the server offers it", async () => {
    const smtp = await startSmtpServer({
      disabledCommands: [],
      authOptional: false,
      onAuth(auth, _session, callback) {
        if (auth.username === "mailer" && auth.password === "s3cret pass") callback(null, { user: "mailer" });
        else callback(Object.assign(new Error("Invalid credentials"), { responseCode: 535 }));
      },
    });
    try {
      // The test server's certificate is self-signed, hence the explicit opt-out of verification.
      const t = await app({ SMTP_URL: `smtp://mailer:s3cret%20pass@127.0.0.1:${smtp.port}/?requireTLS=true&tls.rejectUnauthorized=false` });
      const email = uniqueEmail("tls");
      await setupOwner(t, email);
      await t.services.mail.settled();
      expect(smtp.received).toHaveLength(1);
      expect(smtp.received[0]).toMatchObject({ to: [email], secure: true, user: "mailer" });
    } finally {
      await smtp.close();
    }
  });

  it("speaks TLS from the first byte with smtps://", async () => {
    const smtp = await startSmtpServer({ secure: true, disabledCommands: [] });
    try {
      const t = await app({ SMTP_URL: `smtps://127.0.0.1:${smtp.port}/?tls.rejectUnauthorized=false` });
      const email = uniqueEmail("smtps");
      await setupOwner(t, email);
      await t.services.mail.settled();
      expect(smtp.received).toHaveLength(1);
      expect(smtp.received[0]!.secure).toBe(true);
      expect(linkIn(smtp.received[0]!.raw).link).toMatch(/^http:\/\/clawgram\.test\/claim\?token=/);
    } finally {
      await smtp.close();
    }
  });

  it("refuses to send a token to a server whose certificate does not verify", async () => {
    const smtp = await startSmtpServer({ disabledCommands: [] });
    try {
      const t = await app({ SMTP_URL: `smtp://127.0.0.1:${smtp.port}` });
      const email = uniqueEmail("badcert");
      await setupOwner(t, email);
      await t.services.mail.settled();
      expect(smtp.received).toHaveLength(0);
      const [row] = await outboxRowsTo(email);
      expect(row).toMatchObject({ status: "pending", attempts: 1 });
      expect(row!.text).toContain("/claim?token=");
    } finally {
      await smtp.close();
    }
  });
});

describe("file delivery (no SMTP_URL)", () => {
  it("writes each message as an .eml file under DATA_DIR/mail and logs the file, never the token", async () => {
    const records = await captureLogs();
    try {
      const t = await app();
      expect(t.services.mail.mailer.kind).toBe("file");
      const email = uniqueEmail("file");
      const agent = await setupOwner(t, email);
      await t.services.mail.settled();

      const mail = await latestMailTo(t.config.dataDir, email);
      expect(mail.file.startsWith(`${t.config.dataDir}/mail/`)).toBe(true);
      expect(mail.file).toMatch(/\/[0-9a-f-]{36}\.eml$/);
      expect((await stat(mail.file)).mode & 0o777).toBe(0o600);
      const headers = headersOf(mail.raw);
      expect(headers.from).toBe("Clawgram <no-reply@clawgram.test>");
      expect(headers.subject).toBe(`Confirm ownership of your Clawgram agent ${agent.name}`);
      expect(mail.link).toBe(`http://clawgram.test/claim?token=${mail.token}`);
      const [row] = await outboxRowsTo(email);
      expect(row).toMatchObject({ status: "sent", text: null, html: null });

      // A failing delivery and a completion log too; none of it may carry the token.
      const done = await t.call("POST", "/api/v1/owner/email/complete", { body: { token: mail.token } });
      expect(done.status).toBe(200);
      const session: string = done.json.data.owner_auth_token;
      await t.call("GET", "/api/v1/owner/me", { key: session });
      await t.call("POST", "/api/v1/owner/email/complete", { body: { token: mail.token } });

      const logged = rendered(records);
      expect(logged.some((l) => l.includes(mail.file))).toBe(true);
      for (const line of logged) {
        expect(line).not.toContain(mail.token);
        expect(line).not.toContain(mail.token.slice("claw_owner_email_".length));
        expect(line).not.toContain(session.slice("claw_owner_sess_".length));
      }
    } finally {
      await restoreLogs();
    }
  });

  it("keeps failure logs free of tokens as well", async () => {
    const records = await captureLogs();
    const port = await freePort();
    try {
      const t = await app({ SMTP_URL: `smtp://127.0.0.1:${port}` });
      const email = uniqueEmail("faillog");
      await setupOwner(t, email);
      await t.services.mail.settled();
      const [row] = await db.sql<{ text: string }[]>`SELECT text FROM mail_outbox WHERE "to" = ${email}`;
      const token = linkIn(row!.text).token;
      const logged = rendered(records);
      expect(logged.some((l) => l.includes("not delivered"))).toBe(true);
      for (const line of logged) expect(line).not.toContain(token.slice("claw_owner_email_".length));
    } finally {
      await restoreLogs();
    }
  });
});

describe("outage", () => {
  // Messages left pending by earlier scenarios would fall due here and blur the delivery counts.
  beforeEach(async () => {
    await db.sql`UPDATE mail_outbox SET status = 'failed' WHERE status = 'pending'`;
  });

  it("keeps the message pending while the SMTP server is down; the job delivers it once it is back", async () => {
    const port = await freePort();
    const t = await app({ SMTP_URL: `smtp://127.0.0.1:${port}` });
    const deliverJob = housekeepingJobs(t.services).find((j) => j.name === "deliver-mail")!;
    expect(deliverJob).toBeDefined();

    const email = uniqueEmail("outage");
    const agent = await t.registerAgent();
    const res = await t.call("POST", "/api/v1/agents/me/setup-owner-email", { key: agent.key, body: { email } });
    // The API call succeeds: the outage is the outbox's problem, not the caller's.
    expect(res.status).toBe(200);
    expect(res.json.data.delivery).toBe("queued");
    await t.services.mail.settled();

    let [row] = await outboxRowsTo(email);
    expect(row).toMatchObject({ status: "pending", attempts: 1 });
    expect(row!.last_error).toMatch(/ECONNECTION|ECONNREFUSED/);
    expect(row!.text).toContain("/claim?token=");
    const firstRetry = new Date(row!.next_attempt_at).getTime();
    expect(firstRetry).toBeGreaterThan(Date.now() + 20_000);

    // Not due yet: the job leaves it alone.
    expect(await deliverJob.run()).toEqual({ sent: 0, retrying: 0, failed: 0 });

    // Still down when due: backoff grows.
    await db.sql`UPDATE mail_outbox SET next_attempt_at = now() WHERE "to" = ${email}`;
    expect(await deliverJob.run()).toMatchObject({ retrying: 1 });
    [row] = await outboxRowsTo(email);
    expect(row).toMatchObject({ status: "pending", attempts: 2 });
    expect(new Date(row!.next_attempt_at).getTime()).toBeGreaterThan(Date.now() + 50_000);

    // The server comes back; once due, the job delivers.
    const smtp = await startSmtpServer({ port });
    try {
      await db.sql`UPDATE mail_outbox SET next_attempt_at = now() WHERE "to" = ${email}`;
      expect(await deliverJob.run()).toMatchObject({ sent: 1 });
      expect(smtp.received).toHaveLength(1);
      [row] = await outboxRowsTo(email);
      expect(row).toMatchObject({ status: "sent", attempts: 3, text: null, html: null, last_error: null });

      const { token } = linkIn(smtp.received[0]!.raw);
      const done = await t.call("POST", "/api/v1/owner/email/complete", { body: { token } });
      expect(done.status).toBe(200);
      expect((await t.call("GET", "/api/v1/agents/status", { key: agent.key })).json.data.status).toBe("claimed");
      // Sent once: a further run finds nothing.
      expect(await deliverJob.run()).toEqual({ sent: 0, retrying: 0, failed: 0 });
      expect(smtp.received).toHaveLength(1);
    } finally {
      await smtp.close();
    }
  });

  it("gives a message up after the last attempt and clears its body", async () => {
    const failing: Mailer = { kind: "smtp", send: () => Promise.reject(Object.assign(new Error("down"), { code: "ECONNECTION" })), close() {} };
    const outbox = createMailOutbox({ database: db, mailer: failing, maxAttempts: 2, baseBackoffMs: 0 });
    const email = uniqueEmail("giveup");
    const records = await captureLogs();
    try {
      const id = await outbox.enqueue(db.db, { to: email, subject: "s", text: "token inside", html: "<p>token</p>" });
      outbox.dispatch(id);
      await outbox.settled();
      expect((await outboxRowsTo(email))[0]).toMatchObject({ status: "pending", attempts: 1, text: "token inside" });
      expect(await outbox.deliverDue()).toEqual({ sent: 0, retrying: 0, failed: 1 });
      expect((await outboxRowsTo(email))[0]).toMatchObject({ status: "failed", attempts: 2, text: null, html: null, last_error: "ECONNECTION: down" });
      expect(records.some((r) => r.level === "error" && rendered([r])[0]!.includes("given up after"))).toBe(true);
    } finally {
      await restoreLogs();
    }
  });

  it("fails a message at once when the server rejects the recipient permanently", async () => {
    const smtp = await startSmtpServer({
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error("No such user"), { responseCode: 550 }));
      },
    });
    try {
      const outbox = createMailOutbox({ database: db, mailer: createSmtpMailer({ url: `smtp://127.0.0.1:${smtp.port}`, from: "a@clawgram.test" }) });
      const email = uniqueEmail("rejected");
      await captureLogs();
      try {
        outbox.dispatch(await outbox.enqueue(db.db, { to: email, subject: "s", text: "t" }));
        await outbox.settled();
      } finally {
        await restoreLogs();
      }
      const [row] = await outboxRowsTo(email);
      expect(row).toMatchObject({ status: "failed", attempts: 1, text: null });
      expect(row!.last_error).toContain("EENVELOPE");
    } finally {
      await smtp.close();
    }
  });

  it("never sends a message twice when deliveries overlap", async () => {
    const smtp = await startSmtpServer();
    try {
      const mailer = createSmtpMailer({ url: `smtp://127.0.0.1:${smtp.port}`, from: "a@clawgram.test" });
      const a = createMailOutbox({ database: db, mailer });
      const b = createMailOutbox({ database: db, mailer });
      const emails = [uniqueEmail("overlap"), uniqueEmail("overlap"), uniqueEmail("overlap")];
      const ids: string[] = [];
      for (const to of emails) ids.push(await a.enqueue(db.db, { to, subject: "s", text: "t" }));
      for (const id of ids) {
        a.dispatch(id);
        b.dispatch(id);
      }
      const [ra, rb] = await Promise.all([a.deliverDue(), b.deliverDue()]);
      await Promise.all([a.settled(), b.settled()]);
      expect(ra.failed + rb.failed + ra.retrying + rb.retrying).toBe(0);
      const got = smtp.received.flatMap((m) => m.to).filter((to) => emails.includes(to)).sort();
      expect(got).toEqual([...emails].sort());
    } finally {
      await smtp.close();
    }
  });
});
