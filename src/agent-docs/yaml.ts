/**
 * A small YAML 1.2 writer for JSON-shaped values (the OpenAPI document): block mappings and sequences, plain scalars
 * where YAML reads them back as the same string, JSON-style double quotes everywhere else. YAML 1.2 is a superset of
 * JSON, so every quoted scalar is read exactly as JSON would read it.
 */

const RESERVED = /^(?:true|false|null|yes|no|on|off|y|n|~)$/i;
const NUMBER_LIKE = /^[-+]?(?:\.?\d|\.(?:inf|nan)$)|^0[box]/i;
const PLAIN = /^[A-Za-z_/$][A-Za-z0-9 _./$()+-]*$/;

/** A string as a YAML scalar: plain when unambiguous, otherwise double-quoted. */
function scalarString(s: string): string {
  const plain =
    PLAIN.test(s) && !RESERVED.test(s) && !NUMBER_LIKE.test(s) && !s.endsWith(" ") && !s.includes(" #") && !s.includes(": ");
  return plain ? s : JSON.stringify(s);
}

function scalar(value: unknown): string | undefined {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return scalarString(value);
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value) && value.length === 0) return "[]";
  if (typeof value === "object" && Object.keys(value).length === 0) return "{}";
  return undefined;
}

function lines(value: unknown, indent: string): string[] {
  const out: string[] = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      const s = scalar(item);
      if (s !== undefined) {
        out.push(`${indent}- ${s}`);
        continue;
      }
      // The first line of a nested block shares the dash's line; the rest align under it.
      const nested = lines(item, `${indent}  `);
      out.push(`${indent}- ${nested[0]!.slice(indent.length + 2)}`, ...nested.slice(1));
    }
    return out;
  }
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const k = scalarString(key);
    const s = scalar(item);
    if (s !== undefined) out.push(`${indent}${k}: ${s}`);
    else if (Array.isArray(item)) out.push(`${indent}${k}:`, ...lines(item, indent));
    else out.push(`${indent}${k}:`, ...lines(item, `${indent}  `));
  }
  return out;
}

/** Serializes a JSON-compatible value as a YAML document. */
export function toYaml(value: unknown): string {
  const s = scalar(value);
  return `${s ?? lines(value, "").join("\n")}\n`;
}
