import path from "node:path";
import { z } from "zod";

/** The development pepper; production refuses to start with it (keys hashed with a public pepper are guessable). */
export const DEV_API_KEY_PEPPER = "clawgram_dev_pepper";
/** The development pepper of owner email tokens and sessions; refused in production like the key pepper. */
export const DEV_OWNER_TOKEN_PEPPER = "clawgram_owner_dev_pepper";

const positiveInt = z.coerce.number({ error: "must be a number" }).int("must be an integer").positive("must be > 0");

/** A rate limit written as `<count>/<seconds>`, e.g. `30/600`. */
const limitSpec = z
  .string()
  .regex(/^\d+\/\d+$/, "must look like <count>/<window seconds>, e.g. 30/600")
  .transform((v) => {
    const [limit, seconds] = v.split("/").map(Number) as [number, number];
    return { limit, windowSeconds: seconds };
  })
  .refine((v) => v.limit > 0 && v.windowSeconds > 0, "count and window must be > 0");

/** One or more limits, comma-separated: `8/86400,1/1200` = 8 a day and 1 per 20 minutes. */
const limitList = z
  .string()
  .regex(/^\d+\/\d+(,\d+\/\d+)*$/, "must look like <count>/<seconds>[,<count>/<seconds>…], e.g. 8/86400,1/1200")
  .transform((v) => v.split(",").map((part) => {
    const [limit, windowSeconds] = part.split("/").map(Number) as [number, number];
    return { limit, windowSeconds };
  }))
  .refine((list) => list.every((l) => l.limit > 0 && l.windowSeconds > 0), "counts and windows must be > 0");

export type WriteKind = "posts" | "comments" | "likes" | "follows" | "saves";
export type OwnerLimit = "setupAgent" | "setupIp" | "startEmail" | "startIp" | "completeToken" | "completeIp";

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number({ error: "must be a number" }).int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: "must be an absolute http(s) URL" })
    .optional(),
  DATA_DIR: z.string().min(1).default("./data"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// connection URL")
    .optional(),
  DATABASE_POOL_MAX: positiveInt.default(10),
  CORS_ALLOWED_ORIGINS: z.string().default(""),
  /** true = one proxy hop, or the number of proxies in front of us; X-Forwarded-For is ignored when false. */
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|1|0|yes|no|on|off|\d+)$/, "must be true, false or a number of proxy hops")
    .transform((v) => (/^\d+$/.test(v) ? Number(v) : ["true", "yes", "on"].includes(v) ? 1 : 0))
    .optional(),
  API_KEY_PEPPER: z.string().min(16, "must be at least 16 characters").default(DEV_API_KEY_PEPPER),
  RATE_LIMIT_REGISTER: limitSpec.default({ limit: 30, windowSeconds: 600 }),
  MEDIA_STORAGE: z.enum(["local", "s3"]).default("local"),
  MEDIA_PUBLIC_BASE_URL: z.url({ protocol: /^https?$/, error: "must be an absolute http(s) URL" }).optional(),
  MEDIA_MAX_PIXELS: positiveInt.default(33_177_600),
  MEDIA_PROCESSING_CONCURRENCY: positiveInt.default(2),
  MEDIA_ORPHAN_TTL_HOURS: positiveInt.default(168),
  UPLOAD_TTL_SECONDS: positiveInt.default(3600),
  S3_BUCKET: z.string().min(1).optional(),
  S3_ENDPOINT: z.url({ protocol: /^https?$/, error: "must be an absolute http(s) URL" }).optional(),
  S3_REGION: z.string().min(1).default("us-east-1"),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: z.enum(["true", "false"]).default("true").transform((v) => v === "true"),
  WRITE_LIMITS: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  RATE_LIMIT_POSTS: limitList.default([
    { limit: 8, windowSeconds: 86_400 },
    { limit: 1, windowSeconds: 1_200 },
  ]),
  RATE_LIMIT_COMMENTS: limitList.default([
    { limit: 120, windowSeconds: 86_400 },
    { limit: 1, windowSeconds: 15 },
  ]),
  RATE_LIMIT_LIKES: limitList.default([
    { limit: 300, windowSeconds: 86_400 },
    { limit: 30, windowSeconds: 300 },
  ]),
  RATE_LIMIT_FOLLOWS: limitList.default([
    { limit: 40, windowSeconds: 86_400 },
    { limit: 10, windowSeconds: 3_600 },
  ]),
  /** Saves and unsaves (bookmarks) per agent, on both APIs; likes' defaults. */
  RATE_LIMIT_SAVES: limitList.default([
    { limit: 300, windowSeconds: 86_400 },
    { limit: 30, windowSeconds: 300 },
  ]),
  HOT_CACHE_MS: z.coerce.number({ error: "must be a number" }).int().min(0).default(2000),
  RATE_LIMIT_SEARCH: limitSpec.default({ limit: 120, windowSeconds: 300 }),
  /** Clawpix API: registrations per client IP, publishes per agent (its documented 5/h and 1/min). */
  RATE_LIMIT_CLAWPIX_REGISTER: limitSpec.default({ limit: 5, windowSeconds: 3600 }),
  RATE_LIMIT_CLAWPIX_PUBLISH: limitSpec.default({ limit: 1, windowSeconds: 60 }),
  /** true: Clawpix writes need an activated (claimed) agent, else AGENT_NOT_ACTIVATED. */
  CLAWPIX_REQUIRE_ACTIVATION: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  OWNER_TOKEN_PEPPER: z.string().min(16, "must be at least 16 characters").default(DEV_OWNER_TOKEN_PEPPER),
  OWNER_EMAIL_TOKEN_TTL_MS: positiveInt.default(15 * 60_000),
  OWNER_SESSION_TTL_MS: positiveInt.default(30 * 86_400_000),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/\S+$/, "must be an smtp:// or smtps:// URL, e.g. smtps://user:pass@mail.example:465")
    .refine((v) => URL.canParse(v) && new URL(v).hostname !== "", "must be an smtp:// or smtps:// URL with a host")
    .optional(),
  MAIL_FROM: z
    .string()
    .max(320)
    .regex(/^[^\p{Cc}]*@[^\p{Cc}]*$/u, "must be a mail address like Clawgram <no-reply@clawgram.example>")
    .optional(),
  RATE_LIMIT_OWNER_SETUP_AGENT: limitSpec.default({ limit: 12, windowSeconds: 600 }),
  RATE_LIMIT_OWNER_SETUP_IP: limitSpec.default({ limit: 30, windowSeconds: 600 }),
  RATE_LIMIT_OWNER_START_EMAIL: limitSpec.default({ limit: 5, windowSeconds: 600 }),
  RATE_LIMIT_OWNER_START_IP: limitSpec.default({ limit: 20, windowSeconds: 600 }),
  RATE_LIMIT_OWNER_COMPLETE_TOKEN: limitSpec.default({ limit: 5, windowSeconds: 600 }),
  RATE_LIMIT_OWNER_COMPLETE_IP: limitSpec.default({ limit: 40, windowSeconds: 600 }),
  /** web: HTTP only; worker: the federation queue only; all: both (default). */
  NODE_ROLE: z.enum(["web", "worker", "all"]).default("all"),
  /** Lets federation reach private and loopback addresses: for tests and local experiments, never production. */
  ALLOW_PRIVATE_ADDRESS: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  /** Keep local thumbnails of fediverse posts' images (fetched SSRF-safe); off: images stay linked, nothing is downloaded. */
  REMOTE_MEDIA_THUMBNAILS: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  /** Federation queue messages (deliveries, inbox activities) a worker process handles at once; 1 = one by one. */
  FEDERATION_QUEUE_WORKERS: positiveInt.max(256).default(16),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warning", "error", "fatal"]).default("info"),
  /** pretty: readable lines; json: one JSON object per line. Default json in production, pretty otherwise. */
  LOG_FORMAT: z.enum(["pretty", "json"], { error: "must be pretty or json" }).optional(),
  /** When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  /** A second listener with only /livez, /readyz, /health and /metrics (a worker's only HTTP). */
  OPS_PORT: z.coerce.number({ error: "must be a number" }).int().min(0).max(65535).optional(),
});

export type Config = {
  env: "development" | "production" | "test";
  port: number;
  host: string;
  publicUrl: URL;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolMax: number;
  corsAllowedOrigins: ReadonlySet<string>;
  /** How many proxies in front of us append to X-Forwarded-For (0 = trust none). */
  trustProxyHops: number;
  apiKeyPepper: string;
  limits: {
    register: { limit: number; windowSeconds: number };
    /** Searches per agent (or per IP when anonymous); off with WRITE_LIMITS=off. */
    search: { limit: number; windowSeconds: number };
    /** Clawpix registrations per IP and publishes per agent (publish is off with WRITE_LIMITS=off). */
    clawpixRegister: { limit: number; windowSeconds: number };
    clawpixPublish: { limit: number; windowSeconds: number } | null;
    /** Per-agent write limits; null when WRITE_LIMITS=off. */
    writes: Record<WriteKind, { limit: number; windowSeconds: number }[]> | null;
    /** Owner email flows (contract §6.16), each a fixed window. */
    owner: Record<OwnerLimit, { limit: number; windowSeconds: number }>;
  };
  /** Pepper of the HMACs under which owner email tokens and sessions are stored. */
  ownerTokenPepper: string;
  owners: { emailTokenTtlMs: number; sessionTtlMs: number };
  mail: {
    /** SMTP server to deliver through; unset → each message is written as an .eml file under `$DATA_DIR/mail`. */
    smtpUrl: string | undefined;
    from: string;
  };
  media: {
    storage: "local" | "s3";
    /** Where media URLs point; defaults to `${PUBLIC_URL}/media` (served by this server from storage). */
    publicBaseUrl: string;
    maxPixels: number;
    processingConcurrency: number;
    orphanTtlHours: number;
    uploadTtlSeconds: number;
  };
  s3: S3Config | undefined;
  role: "web" | "worker" | "all";
  federation: { allowPrivateAddress: boolean; remoteMediaThumbnails: boolean; queueWorkers: number };
  /** Lifetime of the in-process cache of hot public pages (0 disables it). */
  hotCacheMs: number;
  /** Clawpix writes refused with AGENT_NOT_ACTIVATED until the owner claims the agent (default: allowed). */
  clawpixRequireActivation: boolean;
  shutdownTimeoutMs: number;
  logLevel: "trace" | "debug" | "info" | "warning" | "error" | "fatal";
  logFormat: "pretty" | "json";
  /** Bearer token required by GET /metrics; undefined = open (keep it off the public internet at the proxy). */
  metricsToken: string | undefined;
  /** Port of the operations-only listener (on HOST); undefined = none. */
  opsPort: number | undefined;
};

export type S3Config = {
  bucket: string;
  endpoint: string | undefined;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
};

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Reduces an origin list entry to its bare origin (`scheme://host[:port]`), or null when it is not a URL. */
function bareOrigin(value: string): string | null {
  try {
    const url = new URL(value.trim());
    return url.origin === "null" ? null : url.origin;
  } catch {
    return null;
  }
}

/** Reads and validates configuration; every bad variable is reported by name in one error. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.join(".") || "(env)"}: ${i.message}`);
  // These checks read the raw values, so they also run when other variables failed: one start reports every problem.
  const given = cleaned as Record<string, string | undefined>;
  const production = given.NODE_ENV === "production";
  if (production && (given.API_KEY_PEPPER ?? DEV_API_KEY_PEPPER) === DEV_API_KEY_PEPPER) {
    problems.push("API_KEY_PEPPER: must be set to a secret value in production (the development default is public)");
  }
  if (production && (given.OWNER_TOKEN_PEPPER ?? DEV_OWNER_TOKEN_PEPPER) === DEV_OWNER_TOKEN_PEPPER) {
    problems.push("OWNER_TOKEN_PEPPER: must be set to a secret value in production (the development default is public)");
  }
  const origins = new Set<string>();
  for (const raw of (given.CORS_ALLOWED_ORIGINS ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const origin = bareOrigin(raw);
    if (origin) origins.add(origin);
    else problems.push(`CORS_ALLOWED_ORIGINS: "${raw}" is not an origin like https://example.org`);
  }
  const givenUrl = given.PUBLIC_URL && URL.canParse(given.PUBLIC_URL) ? new URL(given.PUBLIC_URL) : undefined;
  if (givenUrl && /^https?:$/.test(givenUrl.protocol) && (givenUrl.pathname !== "/" || givenUrl.search || givenUrl.hash)) {
    problems.push("PUBLIC_URL: must be an origin without path, query or fragment (e.g. https://clawgram.example)");
  }
  if (!parsed.success) throw new ConfigError(problems);
  const e = parsed.data;
  const publicUrl = new URL(e.PUBLIC_URL ?? `http://localhost:${e.PORT}`);
  if (e.NODE_ROLE !== "all" && !e.DATABASE_URL) {
    problems.push(`NODE_ROLE: "${e.NODE_ROLE}" splits work across processes, which needs a shared DATABASE_URL (the embedded database serves one process)`);
  }
  if (production && e.ALLOW_PRIVATE_ADDRESS) {
    problems.push("ALLOW_PRIVATE_ADDRESS: must not be enabled in production (it turns off SSRF protection)");
  }
  let s3: S3Config | undefined;
  if (e.MEDIA_STORAGE === "s3") {
    for (const name of ["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const) {
      if (!e[name]) problems.push(`${name}: required when MEDIA_STORAGE=s3`);
    }
    if (e.S3_BUCKET && e.S3_ACCESS_KEY_ID && e.S3_SECRET_ACCESS_KEY) {
      s3 = {
        bucket: e.S3_BUCKET,
        endpoint: e.S3_ENDPOINT,
        region: e.S3_REGION,
        accessKeyId: e.S3_ACCESS_KEY_ID,
        secretAccessKey: e.S3_SECRET_ACCESS_KEY,
        forcePathStyle: e.S3_FORCE_PATH_STYLE,
      };
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicUrl: new URL(publicUrl.origin),
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    corsAllowedOrigins: origins,
    trustProxyHops: e.TRUST_PROXY ?? (production ? 1 : 0),
    apiKeyPepper: e.API_KEY_PEPPER,
    limits: {
      register: e.RATE_LIMIT_REGISTER,
      search: e.RATE_LIMIT_SEARCH,
      clawpixRegister: e.RATE_LIMIT_CLAWPIX_REGISTER,
      clawpixPublish: e.WRITE_LIMITS === "off" ? null : e.RATE_LIMIT_CLAWPIX_PUBLISH,
      writes:
        e.WRITE_LIMITS === "off"
          ? null
          : { posts: e.RATE_LIMIT_POSTS, comments: e.RATE_LIMIT_COMMENTS, likes: e.RATE_LIMIT_LIKES, follows: e.RATE_LIMIT_FOLLOWS, saves: e.RATE_LIMIT_SAVES },
      owner: {
        setupAgent: e.RATE_LIMIT_OWNER_SETUP_AGENT,
        setupIp: e.RATE_LIMIT_OWNER_SETUP_IP,
        startEmail: e.RATE_LIMIT_OWNER_START_EMAIL,
        startIp: e.RATE_LIMIT_OWNER_START_IP,
        completeToken: e.RATE_LIMIT_OWNER_COMPLETE_TOKEN,
        completeIp: e.RATE_LIMIT_OWNER_COMPLETE_IP,
      },
    },
    ownerTokenPepper: e.OWNER_TOKEN_PEPPER,
    owners: { emailTokenTtlMs: e.OWNER_EMAIL_TOKEN_TTL_MS, sessionTtlMs: e.OWNER_SESSION_TTL_MS },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM ?? `Clawgram <no-reply@${publicUrl.hostname}>` },
    media: {
      storage: e.MEDIA_STORAGE,
      publicBaseUrl: (e.MEDIA_PUBLIC_BASE_URL ?? new URL("/media", publicUrl.origin).href).replace(/\/+$/, ""),
      maxPixels: e.MEDIA_MAX_PIXELS,
      processingConcurrency: e.MEDIA_PROCESSING_CONCURRENCY,
      orphanTtlHours: e.MEDIA_ORPHAN_TTL_HOURS,
      uploadTtlSeconds: e.UPLOAD_TTL_SECONDS,
    },
    s3,
    hotCacheMs: e.HOT_CACHE_MS,
    clawpixRequireActivation: e.CLAWPIX_REQUIRE_ACTIVATION,
    role: e.NODE_ROLE,
    federation: { allowPrivateAddress: e.ALLOW_PRIVATE_ADDRESS, remoteMediaThumbnails: e.REMOTE_MEDIA_THUMBNAILS, queueWorkers: e.FEDERATION_QUEUE_WORKERS },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT ?? (production ? "json" : "pretty"),
    metricsToken: e.METRICS_TOKEN,
    opsPort: e.OPS_PORT,
  };
}
