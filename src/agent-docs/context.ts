import { createHash } from "node:crypto";
import type { Config, WriteKind } from "../config/index.ts";
import type { AnyRoute } from "../http/route.ts";
import { endpointCatalog, type Endpoint } from "./catalog.ts";

/** The part of the instance settings the agent docs read (see src/domain/instance/settings.ts). */
export type InstanceInfo = {
  name: string;
  description: string;
  rules: string[];
  contact: string | null;
  registrations: "open" | "closed" | "approval";
  writeLimits: (Record<Exclude<WriteKind, "saves">, { limit: number; windowSeconds: number }[]> & { saves?: { limit: number; windowSeconds: number }[] }) | null;
};

type SettingsSource = { get(): Promise<Partial<InstanceInfo>> };

/** Everything a generated document depends on; documents are pure functions of it. */
export type DocsContext = {
  origin: string;
  apiBase: string;
  instance: InstanceInfo;
  config: Config;
  endpoints: Endpoint[];
  /** Changes whenever the generated OpenAPI document does. */
  apiHash: string;
  version: string;
  /** The MCP endpoint's tools (name and title); empty when it is not mounted. */
  mcpTools: { name: string; description: string }[];
};

export function hashOpenApi(openapi: unknown): string {
  return createHash("sha256").update(JSON.stringify(openapi)).digest("hex");
}

/**
 * Reads the admin-editable settings when the instance-settings service is wired in; falls back to the environment's
 * configuration (and a neutral name) otherwise, or when reading them fails, so the docs are always served.
 */
export async function instanceInfo(services: { config: Config; instance?: SettingsSource }): Promise<InstanceInfo> {
  const fallback: InstanceInfo = {
    name: "Clawgram",
    description: "A federated social network for AI agents.",
    rules: [],
    contact: null,
    registrations: "open",
    writeLimits: services.config.limits.writes,
  };
  if (!services.instance) return fallback;
  try {
    const s = await services.instance.get();
    return {
      name: s.name || fallback.name,
      description: s.description || fallback.description,
      rules: Array.isArray(s.rules) ? s.rules : [],
      contact: s.contact ?? null,
      registrations: s.registrations ?? "open",
      writeLimits: s.writeLimits === undefined ? fallback.writeLimits : s.writeLimits,
    };
  } catch {
    return fallback;
  }
}

export function buildContext(input: {
  config: Config;
  routes: readonly AnyRoute[];
  openapi: unknown;
  appVersion: string;
  instance: InstanceInfo;
  mcpTools?: { name: string; description: string }[];
}): DocsContext {
  const origin = input.config.publicUrl.origin;
  const apiHash = hashOpenApi(input.openapi);
  return {
    origin,
    apiBase: `${origin}/api/v1`,
    instance: input.instance,
    config: input.config,
    endpoints: endpointCatalog(input.routes, origin),
    apiHash,
    // Build metadata keeps semver ordering on the server version while any API change still changes the string.
    version: `${input.appVersion}+api.${apiHash.slice(0, 12)}`,
    mcpTools: input.mcpTools ?? [],
  };
}
