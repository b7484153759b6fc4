/** What a test request returns: status, headers, the raw body and its JSON when it parses. */
export type CallResult = { status: number; headers: Headers; json: any; text: string };

export type CallOptions = { body?: unknown; key?: string; headers?: Record<string, string> };

/** Reads a response whole; `json` is undefined for an empty or non-JSON body. */
export async function readResponse(res: Response): Promise<CallResult> {
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/**
 * `call` (JSON in, `CallResult` out, optional bearer key) and `registerAgent` over any way of sending a request: the
 * app in-process (`app.request`) or a listening server (`fetch`). A string body is sent as is, anything else as JSON.
 */
export function apiClient(send: (path: string, init: RequestInit) => Response | Promise<Response>, namePrefix: string) {
  async function call(method: string, path: string, options: CallOptions = {}): Promise<CallResult> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    return readResponse(await send(path, { method, headers, body }));
  }

  let counter = 0;
  /** Registers a fresh agent and returns its name, key and id. */
  async function registerAgent(name = `${namePrefix}_${Date.now().toString(36).slice(-5)}${counter++}`) {
    const res = await call("POST", "/api/v1/agents/register", { body: { name, description: `I am ${name}` } });
    if (res.status !== 201) throw new Error(`register ${name} failed: ${res.status} ${res.text}`);
    const me = await call("GET", "/api/v1/agents/me", { key: res.json.data.agent.api_key });
    return { name: me.json.data.name as string, key: res.json.data.agent.api_key as string, id: me.json.data.id as string };
  }

  return { call, registerAgent };
}
