/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text exposition format
 * (version 0.0.4). Each process keeps its own numbers; Prometheus scrapes every process and sums.
 */

export type Labels = Readonly<Record<string, string | number | boolean>>;

type Kind = "counter" | "gauge" | "histogram";

type Series = { labels: Labels; value: number; buckets?: number[]; sum?: number };

type Family = {
  name: string;
  help: string;
  kind: Kind;
  /** Upper bounds, ascending, without +Inf (histograms only). */
  bounds: number[];
  series: Map<string, Series>;
};

/** Request latencies, in seconds: 5 ms to 10 s. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** Series per family; past it, new label sets are not recorded (a label fed by clients must not exhaust memory). */
const MAX_SERIES = 2000;

/** A valid metric or label name from any string (OpenTelemetry names have dots). */
export function metricName(raw: string): string {
  const name = raw.replace(/[^a-zA-Z0-9_:]/g, "_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Label pairs sorted by name, so one label set always lands on one series. */
function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${String(labels[k])}`)
    .join("\u0000");
}

function renderLabels(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => `${metricName(k)}="${escapeLabel(String(labels[k]))}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

export function createMetrics() {
  const families = new Map<string, Family>();
  const collectors: (() => void | Promise<void>)[] = [];

  function family(name: string, help: string, kind: Kind, bounds: number[] = []): Family {
    if (!NAME_RE.test(name)) throw new Error(`Invalid metric name: ${name}`);
    const existing = families.get(name);
    if (existing) {
      if (existing.kind !== kind) throw new Error(`Metric ${name} is already a ${existing.kind}`);
      return existing;
    }
    const created: Family = { name, help, kind, bounds: [...bounds].sort((a, b) => a - b), series: new Map() };
    families.set(name, created);
    return created;
  }

  const overflow: Series = { labels: {}, value: 0, buckets: [], sum: 0 };

  function seriesOf(f: Family, labels: Labels): Series {
    const key = labelKey(labels);
    let s = f.series.get(key);
    if (!s) {
      if (f.series.size >= MAX_SERIES) {
        dropped.inc({ metric: f.name });
        return overflow; // written to, never rendered
      }
      s = { labels: { ...labels }, value: 0 };
      if (f.kind === "histogram") {
        s.buckets = f.bounds.map(() => 0);
        s.sum = 0;
      }
      f.series.set(key, s);
    }
    return s;
  }

  function counter(name: string, help: string) {
    const f = family(name, help, "counter");
    return {
      inc(labels: Labels = {}, by = 1) {
        if (by < 0) return; // counters only go up
        seriesOf(f, labels).value += by;
      },
      /** For totals kept elsewhere (the runtime's CPU time), read at scrape time. */
      set(labels: Labels, value: number) {
        seriesOf(f, labels).value = value;
      },
    };
  }

  function gauge(name: string, help: string) {
    const f = family(name, help, "gauge");
    return {
      set(labels: Labels, value: number) {
        seriesOf(f, labels).value = value;
      },
      inc(labels: Labels = {}, by = 1) {
        seriesOf(f, labels).value += by;
      },
      /** Forgets every series (a scrape-time gauge whose label sets come and go). */
      reset() {
        f.series.clear();
      },
    };
  }

  function histogram(name: string, help: string, bounds: number[] = LATENCY_BUCKETS) {
    const f = family(name, help, "histogram", bounds);
    return {
      observe(labels: Labels, value: number) {
        const s = seriesOf(f, labels);
        s.value += 1; // the count
        s.sum! += value;
        for (let i = 0; i < f.bounds.length; i++) if (value <= f.bounds[i]!) s.buckets![i]! += 1;
      },
    };
  }

  /** Text exposition of every family; collectors (scrape-time gauges) run first, and one failing skips only itself. */
  async function render(): Promise<string> {
    await Promise.all(collectors.map(async (collect) => {
      try {
        await collect();
      } catch {
        scrapeErrors.inc();
      }
    }));
    const lines: string[] = [];
    for (const f of families.values()) {
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.kind}`);
      for (const s of f.series.values()) {
        if (f.kind !== "histogram") {
          lines.push(`${f.name}${renderLabels(s.labels)} ${formatValue(s.value)}`);
          continue;
        }
        f.bounds.forEach((bound, i) => {
          lines.push(`${f.name}_bucket${renderLabels(s.labels, ["le", formatValue(bound)])} ${s.buckets![i]}`);
        });
        lines.push(`${f.name}_bucket${renderLabels(s.labels, ["le", "+Inf"])} ${s.value}`);
        lines.push(`${f.name}_sum${renderLabels(s.labels)} ${formatValue(s.sum!)}`);
        lines.push(`${f.name}_count${renderLabels(s.labels)} ${s.value}`);
      }
    }
    return `${lines.join("\n")}\n`;
  }

  const dropped = counter("clawgram_metrics_series_dropped_total", `Observations not recorded because their metric already had ${MAX_SERIES} series.`);
  const scrapeErrors = counter("clawgram_metrics_collector_errors_total", "Scrape-time collectors that failed (e.g. the database was unreachable).");

  return {
    counter,
    gauge,
    histogram,
    /** Runs `fn` at every scrape, before rendering (values read from the database or the runtime). */
    collect(fn: () => void | Promise<void>) {
      collectors.push(fn);
    },
    render,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The metrics every process reports about itself (Node's own, as prom-client would name them). */
export function registerProcessMetrics(metrics: Metrics, info: { version: string; role: string }) {
  metrics.gauge("clawgram_info", "Version and role of this process (always 1).").set(info, 1);
  const start = metrics.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.");
  start.set({}, Math.round((Date.now() - performance.now()) / 1000));
  const cpu = metrics.counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds.");
  const rss = metrics.gauge("process_resident_memory_bytes", "Resident memory size, in bytes.");
  const heap = metrics.gauge("nodejs_heap_used_bytes", "V8 heap in use, in bytes.");
  metrics.collect(() => {
    const usage = process.cpuUsage();
    cpu.set({}, (usage.user + usage.system) / 1e6);
    const memory = process.memoryUsage();
    rss.set({}, memory.rss);
    heap.set({}, memory.heapUsed);
  });
}
