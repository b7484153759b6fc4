import { inspect } from "node:util";
import type { LogRecord, Sink } from "@logtape/logtape";

/** An Error as plain fields (JSON.stringify would give `{}`), with its cause. */
function errorFields(error: Error, depth = 0): Record<string, unknown> {
  const fields: Record<string, unknown> = { name: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) fields.code = code;
  if (error.stack) fields.stack = error.stack;
  if (error.cause !== undefined && depth < 3) {
    fields.cause = error.cause instanceof Error ? errorFields(error.cause, depth + 1) : String(error.cause);
  }
  return fields;
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return errorFields(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof URL) return value.href;
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return inspect(value, { compact: true, breakLength: Infinity, depth: 3 });
}

const LEVELS: Record<LogRecord["level"], string> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
  fatal: "fatal",
};

/**
 * One JSON object per line: `time`, `level`, `logger`, `message` (rendered), `request_id` when the record was written
 * while serving a request, and the record's other properties under `properties`.
 */
export function formatJsonLine(record: LogRecord): string {
  const message = record.message.map((part, i) => (i % 2 === 0 ? String(part) : renderValue(part))).join("");
  const { requestId, ...properties } = record.properties as Record<string, unknown>;
  const line: Record<string, unknown> = {
    time: new Date(record.timestamp).toISOString(),
    level: LEVELS[record.level],
    logger: record.category.join("."),
    message,
  };
  if (typeof requestId === "string") line.request_id = requestId;
  if (Object.keys(properties).length) line.properties = properties;
  try {
    return `${JSON.stringify(line, replacer)}\n`;
  } catch {
    // A circular or otherwise unserializable property: keep the line, describe the properties instead.
    line.properties = inspect(properties, { compact: true, breakLength: Infinity, depth: 2 });
    return `${JSON.stringify(line, replacer)}\n`;
  }
}

/** A LogTape sink writing JSON lines to stdout (collectors such as Loki, Vector or `docker logs` read them as is). */
export function jsonLinesSink(write: (line: string) => void = (line) => process.stdout.write(line)): Sink {
  return (record) => write(formatJsonLine(record));
}
