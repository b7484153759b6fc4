import type { AuthenticatedAgent } from "../domain/agents/service.ts";

/** Per-request variables every middleware and route can rely on. */
export type AppEnv = {
  Variables: {
    requestId: string;
    /** Parsed JSON body, or undefined when the request carried none. */
    body: unknown;
    agent: AuthenticatedAgent | undefined;
  };
};
