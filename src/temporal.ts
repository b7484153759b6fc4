import { Temporal } from "@js-temporal/polyfill";

// Node has no global Temporal yet; Fedify's types and some of its code expect one.
const g = globalThis as { Temporal?: unknown };
g.Temporal ??= Temporal;
