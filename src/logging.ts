import { AsyncLocalStorage } from "node:async_hooks";
import { configure, getConsoleSink, type LogLevel } from "@logtape/logtape";
import { jsonLinesSink } from "./ops/json-log.ts";

let configured = false;

/**
 * Console logging for our categories and Fedify's (one logger for both, as Fedify uses LogTape): readable lines, or
 * one JSON object per line (`LOG_FORMAT=json`) for log collectors.
 */
export async function setupLogging(level: LogLevel, format: "pretty" | "json" = "pretty"): Promise<void> {
  if (configured) return;
  configured = true;
  await configure({
    sinks: { console: format === "json" ? jsonLinesSink() : getConsoleSink() },
    contextLocalStorage: new AsyncLocalStorage(),
    loggers: [
      { category: ["clawgram"], lowestLevel: level, sinks: ["console"] },
      { category: ["fedify"], lowestLevel: level === "debug" || level === "trace" ? level : "warning", sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}
