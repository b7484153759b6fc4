import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { serve } from "@hono/node-server";

export type TestCertificate = { key: string; cert: string };

let trusted: TestCertificate | undefined;

/**
 * A self-signed certificate for `localhost` and `127.0.0.1`, made with openssl once per test process, and trusted by
 * this process's TLS stack (and so by Node's fetch, which Fedify uses) through `tls.setDefaultCACertificates`
 * (Node ≥ 22.19/24.5). Unlike NODE_EXTRA_CA_CERTS this works after start-up, inside the vitest worker, and touches
 * nothing but the worker. `acct:` lookups need it: WebFinger is always fetched over https.
 */
export function trustedTestCertificate(): TestCertificate {
  if (trusted) return trusted;
  const dir = mkdtempSync(path.join(tmpdir(), "clawgram-tls-"));
  try {
    execFileSync(
      "openssl",
      [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    trusted = { key: readFileSync(path.join(dir, "key.pem"), "utf8"), cert: readFileSync(path.join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), trusted.cert]);
  return trusted;
}

export type HttpsServer = { port: number; origin: string; close(): Promise<void> };

/**
 * Serves `fetch` over HTTPS on a free loopback port. The handler is looked up on every request, so callers can
 * listen first (to learn the port, which is part of the origin) and build their app afterwards.
 */
export async function serveHttps(fetch: () => (request: Request) => Response | Promise<Response>): Promise<HttpsServer> {
  const { key, cert } = trustedTestCertificate();
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve(
      {
        fetch: (request: Request) => fetch()(request),
        port: 0,
        hostname: "127.0.0.1",
        createServer: https.createServer,
        serverOptions: { key, cert },
      },
      () => resolve(s),
    );
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `https://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if ("closeAllConnections" in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
