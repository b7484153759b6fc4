import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import aws4 from "aws4";

// s3rver ships no types; this is the part of its API the tests use.
type S3rverInstance = { configureBuckets(): Promise<void>; callback(): http.RequestListener; logger: { close(): void } };
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)("s3rver") as S3rverClass;

export const S3_KEY_ID = "S3RVER";
export const S3_SECRET = "S3RVER";

/**
 * s3rver accepts any Signature V4 as long as the access key exists, so the test server checks the signature itself
 * (recomputed with the known secret over the headers the client claims to have signed) before handing the request on.
 */
function signatureIsValid(req: http.IncomingMessage): boolean {
  const auth = req.headers.authorization ?? "";
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/s3\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/.exec(auth);
  if (!m) return false;
  const [, accessKeyId, region, signedHeaders] = m as unknown as [string, string, string, string];
  const names = signedHeaders.split(";");
  if (!["host", "x-amz-date", "x-amz-content-sha256"].every((n) => names.includes(n))) return false;
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (typeof value !== "string") return false;
    headers[name] = value;
  }
  const expected = aws4.sign(
    { method: req.method, host: req.headers.host, path: req.url, service: "s3", region, headers },
    { accessKeyId, secretAccessKey: S3_SECRET },
  );
  return expected.headers?.Authorization === auth;
}

export type S3Server = {
  endpoint: string;
  port: number;
  /** Every request that reached the server, signed correctly or not. */
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  /** Requests refused for a bad signature (must stay 0 for our client). */
  rejected: { method: string; url: string }[];
  /** Makes matching requests fail with 500 InternalError, as a flaky bucket would. */
  failWhen: ((method: string, url: string) => boolean) | undefined;
  close(): Promise<void>;
};

/** An S3-compatible server on loopback (s3rver behind a signature check), with one bucket. */
export async function startS3(options: { bucket: string; serviceEndpoint?: string }): Promise<S3Server> {
  const directory = await mkdtemp(path.join(os.tmpdir(), "clawgram-s3rver-"));
  const s3rver = new S3rver({
    silent: true,
    directory,
    // serviceEndpoint "localhost" lets s3rver route virtual-host requests to <bucket>.s3.localhost.
    ...(options.serviceEndpoint ? { serviceEndpoint: options.serviceEndpoint } : {}),
    configureBuckets: [{ name: options.bucket }],
  });
  await s3rver.configureBuckets();
  const handle = s3rver.callback();
  const refuse = (req: http.IncomingMessage, res: http.ServerResponse, status: number, code: string) => {
    // Read the body first, as a client streaming a PUT would otherwise see a reset instead of the answer.
    req.resume();
    req.on("end", () => {
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code}</Message></Error>`);
    });
  };
  let deletes = Promise.resolve();
  const server = http.createServer((req, res) => {
    state.requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    if (!signatureIsValid(req)) {
      state.rejected.push({ method: req.method ?? "", url: req.url ?? "" });
      return refuse(req, res, 403, "SignatureDoesNotMatch");
    }
    if (state.failWhen?.(req.method ?? "", req.url ?? "")) return refuse(req, res, 500, "InternalError");
    if (req.method !== "DELETE") return handle(req, res);
    // s3rver's file store removes emptied parent directories after a delete and answers 500 when a concurrent delete
    // of a sibling key got there first; real S3 has no such race, so deletes are passed on one at a time.
    deletes = deletes.then(
      () =>
        new Promise<void>((resolve) => {
          res.on("close", resolve);
          handle(req, res);
        }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const state: S3Server = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests: [],
    rejected: [],
    failWhen: undefined,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      s3rver.logger.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
  return state;
}
