import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, DEV_API_KEY_PEPPER, loadConfig } from "../src/config/index.ts";

// Configuration is read from the environment and validated at boot: defaults, normalisation, and one clear line per
// bad variable (all of them at once).

const PEPPER = "a-production-secret-pepper-0123456789";
/** Every secret production insists on; tests about one of them unset just that one. */
const PROD = { NODE_ENV: "production", API_KEY_PEPPER: PEPPER, OWNER_TOKEN_PEPPER: "another-production-secret-0123456789" };

/** The ConfigError `loadConfig(env)` throws (fails the test when it does not throw one). */
function configError(env: Record<string, string | undefined>): ConfigError {
  let thrown: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected a ConfigError for ${JSON.stringify(env)}`).toBeInstanceOf(ConfigError);
  return thrown as ConfigError;
}

/** The variable names a ConfigError reports, one per problem line. */
const named = (err: ConfigError) => err.problems.map((p) => p.slice(0, p.indexOf(":")));

describe("defaults", () => {
  it("starts with nothing set", () => {
    const c = loadConfig({});
    expect(c.env).toBe("development");
    expect(c.port).toBe(3000);
    expect(c.host).toBe("0.0.0.0");
    expect(c.publicUrl.href).toBe("http://localhost:3000/");
    expect(c.publicUrl.origin).toBe("http://localhost:3000");
    expect(path.isAbsolute(c.dataDir)).toBe(true);
    expect(c.dataDir).toBe(path.resolve(process.cwd(), "data"));
    expect(c.databaseUrl).toBeUndefined(); // → embedded PGlite in $DATA_DIR/pg
    expect(c.databasePoolMax).toBe(10);
    expect([...c.corsAllowedOrigins]).toEqual([]);
    expect(c.trustProxyHops).toBe(0);
    expect(c.apiKeyPepper).toBe(DEV_API_KEY_PEPPER);
    expect(c.limits.register).toEqual({ limit: 30, windowSeconds: 600 });
    expect(c.shutdownTimeoutMs).toBeGreaterThan(0);
    expect(c.logLevel).toBe("info");
  });

  it("derives PUBLIC_URL from PORT", () => {
    expect(loadConfig({ PORT: "8080" }).publicUrl.href).toBe("http://localhost:8080/");
    expect(loadConfig({ PORT: "8080", PUBLIC_URL: "https://claw.example" }).publicUrl.href).toBe("https://claw.example/");
  });

  it("trusts no proxy in development and one hop in production", () => {
    expect(loadConfig({ NODE_ENV: "development" }).trustProxyHops).toBe(0);
    expect(loadConfig({ NODE_ENV: "test" }).trustProxyHops).toBe(0);
    const prod = loadConfig(PROD);
    expect(prod.env).toBe("production");
    expect(prod.trustProxyHops).toBe(1);
    expect(prod.apiKeyPepper).toBe(PEPPER);
  });

  it("reads only the object it is given", () => {
    const saved = process.env.PORT;
    process.env.PORT = "not-a-port";
    try {
      expect(loadConfig({}).port).toBe(3000);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });

  it("ignores unrelated variables and does not modify its input", () => {
    const env = { PATH: "/usr/bin", HOME: "/root", SOMETHING_ELSE: "x", PORT: "4000" };
    const copy = { ...env };
    expect(loadConfig(env).port).toBe(4000);
    expect(env).toEqual(copy);
  });
});

describe("values", () => {
  it("takes PORT and HOST", () => {
    const c = loadConfig({ PORT: "65535", HOST: "127.0.0.1" });
    expect(c.port).toBe(65535);
    expect(c.host).toBe("127.0.0.1");
    expect(loadConfig({ PORT: "0" }).port).toBe(0);
    expect(loadConfig({ HOST: "::" }).host).toBe("::");
  });

  it("normalises PUBLIC_URL to its origin", () => {
    expect(loadConfig({ PUBLIC_URL: "https://Clawgram.Example:443/" }).publicUrl.href).toBe("https://clawgram.example/");
    expect(loadConfig({ PUBLIC_URL: "http://claw.example:8080" }).publicUrl.origin).toBe("http://claw.example:8080");
  });

  it("resolves DATA_DIR to an absolute path", () => {
    expect(loadConfig({ DATA_DIR: "var/claw" }).dataDir).toBe(path.resolve(process.cwd(), "var/claw"));
    expect(loadConfig({ DATA_DIR: "/srv/claw/" }).dataDir).toBe("/srv/claw");
    expect(loadConfig({ DATA_DIR: "./a/../b" }).dataDir).toBe(path.resolve(process.cwd(), "b"));
  });

  it("keeps a PostgreSQL DATABASE_URL verbatim", () => {
    for (const url of ["postgres://u:p@db:5432/claw", "postgresql://db/claw?sslmode=require"]) {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    }
  });

  it("normalises CORS_ALLOWED_ORIGINS to bare origins", () => {
    const c = loadConfig({
      CORS_ALLOWED_ORIGINS: " https://A.example/ , http://b.example:8080/some/path,https://c.example:443,,https://a.example ",
    });
    expect([...c.corsAllowedOrigins].sort()).toEqual(["http://b.example:8080", "https://a.example", "https://c.example"]);
  });

  it.each([
    ["true", 1],
    ["yes", 1],
    ["on", 1],
    ["1", 1],
    ["false", 0],
    ["no", 0],
    ["off", 0],
    ["0", 0],
    ["3", 3],
  ])("reads TRUST_PROXY=%s as %i hops, in development and production", (value, hops) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxyHops).toBe(hops);
    expect(loadConfig({ ...PROD, TRUST_PROXY: value }).trustProxyHops).toBe(hops);
  });

  it("reads RATE_LIMIT_REGISTER as <count>/<seconds>", () => {
    expect(loadConfig({ RATE_LIMIT_REGISTER: "5/60" }).limits.register).toEqual({ limit: 5, windowSeconds: 60 });
  });

  it("counts empty strings as unset", () => {
    const blank = {
      NODE_ENV: "",
      PORT: "",
      HOST: "",
      PUBLIC_URL: "",
      DATA_DIR: "",
      DATABASE_URL: "",
      DATABASE_POOL_MAX: "",
      CORS_ALLOWED_ORIGINS: "",
      TRUST_PROXY: "",
      API_KEY_PEPPER: "",
      RATE_LIMIT_REGISTER: "",
      SHUTDOWN_TIMEOUT_MS: "",
      LOG_LEVEL: "",
    };
    const c = loadConfig(blank);
    const d = loadConfig({});
    expect(c.publicUrl.href).toBe(d.publicUrl.href);
    expect({ ...c, publicUrl: null }).toEqual({ ...d, publicUrl: null });
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.apiKeyPepper).toBe(DEV_API_KEY_PEPPER);
    // An empty pepper is the dev pepper, so production still refuses it.
    expect(named(configError({ ...PROD, API_KEY_PEPPER: "" }))).toEqual(["API_KEY_PEPPER"]);
    // An empty NODE_ENV is development, not production.
    expect(loadConfig({ NODE_ENV: "", API_KEY_PEPPER: "" }).env).toBe("development");
  });
});

describe("bad variables", () => {
  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "3.5"],
    ["PUBLIC_URL", "not-a-url"],
    ["PUBLIC_URL", "ftp://claw.example"],
    ["PUBLIC_URL", "https://claw.example/app"],
    ["PUBLIC_URL", "https://claw.example/?x=1"],
    ["PUBLIC_URL", "https://claw.example/#top"],
    ["PUBLIC_URL", "ftp://claw.example/some/path"],
    ["DATABASE_URL", "mysql://x"],
    ["DATABASE_URL", "not a url"],
    ["CORS_ALLOWED_ORIGINS", "garbage"],
    ["CORS_ALLOWED_ORIGINS", "https://ok.example,garbage"],
    ["CORS_ALLOWED_ORIGINS", "*"],
    ["CORS_ALLOWED_ORIGINS", "javascript:alert(1)"],
    ["CORS_ALLOWED_ORIGINS", "claw.example"],
    ["TRUST_PROXY", "maybe"],
    ["TRUST_PROXY", "-1"],
    ["NODE_ENV", "staging"],
    ["NODE_ENV", "prod"],
    ["RATE_LIMIT_REGISTER", "abc"],
    ["RATE_LIMIT_REGISTER", "30"],
    ["RATE_LIMIT_REGISTER", "0/600"],
    ["RATE_LIMIT_REGISTER", "30/0"],
    ["API_KEY_PEPPER", "too-short"],
    ["DATABASE_POOL_MAX", "0"],
    ["SHUTDOWN_TIMEOUT_MS", "soon"],
    ["LOG_LEVEL", "loud"],
  ])("%s=%s is refused with a message naming it", (name, value) => {
    const err = configError({ [name]: value });
    expect(err.name).toBe("ConfigError");
    expect(err).toBeInstanceOf(Error);
    expect(named(err)).toEqual([name]);
    expect(err.problems[0]!.length).toBeGreaterThan(name.length + 5);
    expect(err.message).toContain(name);
  });

  it("quotes the offending CORS entry", () => {
    const err = configError({ CORS_ALLOWED_ORIGINS: "https://ok.example, garbage " });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toContain('"garbage"');
  });

  it("reports every bad variable at once", () => {
    const env = {
      PORT: "abc",
      NODE_ENV: "staging",
      DATABASE_URL: "mysql://x",
      TRUST_PROXY: "maybe",
      RATE_LIMIT_REGISTER: "abc",
      CORS_ALLOWED_ORIGINS: "garbage",
      PUBLIC_URL: "https://claw.example/path",
    };
    const err = configError(env);
    expect(named(err).sort()).toEqual(Object.keys(env).sort());
    for (const name of Object.keys(env)) expect(err.message).toContain(`  - ${name}: `);
  });

  it("reports the production pepper together with other problems", () => {
    const err = configError({ ...PROD, API_KEY_PEPPER: undefined, PORT: "abc", CORS_ALLOWED_ORIGINS: "garbage" });
    expect(named(err).sort()).toEqual(["API_KEY_PEPPER", "CORS_ALLOWED_ORIGINS", "PORT"]);
  });

  it("formats the error as one line per problem", () => {
    const err = configError({ PORT: "abc", TRUST_PROXY: "maybe" });
    const lines = err.message.split("\n");
    expect(lines[0]).toBe("Invalid configuration:");
    expect(lines.slice(1)).toEqual(err.problems.map((p) => `  - ${p}`));
    expect(lines).toHaveLength(3);
  });
});

describe("production", () => {
  it("refuses the development API_KEY_PEPPER, whether implicit or explicit", () => {
    for (const env of [{ ...PROD, API_KEY_PEPPER: undefined }, { ...PROD, API_KEY_PEPPER: DEV_API_KEY_PEPPER }]) {
      const err = configError(env);
      expect(named(err)).toEqual(["API_KEY_PEPPER"]);
      expect(err.problems[0]).toMatch(/production/);
      expect(err.problems[0]).toMatch(/secret|default/);
    }
  });

  it("accepts the development pepper outside production", () => {
    for (const NODE_ENV of ["development", "test"]) {
      expect(loadConfig({ NODE_ENV, API_KEY_PEPPER: DEV_API_KEY_PEPPER }).apiKeyPepper).toBe(DEV_API_KEY_PEPPER);
    }
  });

  it("starts with a real pepper", () => {
    const c = loadConfig({ ...PROD, PUBLIC_URL: "https://clawgram.example" });
    expect(c.env).toBe("production");
    expect(c.publicUrl.origin).toBe("https://clawgram.example");
  });
});
