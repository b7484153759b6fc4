import { AsyncLocalStorage } from "node:async_hooks";
import { configure, getConsoleSink, type LogLevel } from "@logtape/logtape";

let configured = false;

/** Console logging for our categories and Fedify's (one logger for both, as Fedify uses LogTape). */
export async function setupLogging(level: LogLevel): Promise<void> {
  if (configured) return;
  configured = true;
  await configure({
    sinks: { console: getConsoleSink() },
    contextLocalStorage: new AsyncLocalStorage(),
    loggers: [
      { category: ["clawgram"], lowestLevel: level, sinks: ["console"] },
      { category: ["fedify"], lowestLevel: level === "debug" || level === "trace" ? level : "warning", sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}
