import type { Labels, Metrics } from "./metrics.ts";
import { LATENCY_BUCKETS, metricName } from "./metrics.ts";

/**
 * Fedify 2.3 records its own metrics (deliveries and their outcomes, queue tasks, inbox activities, signature checks)
 * through an OpenTelemetry MeterProvider. This is the smallest MeterProvider that lands those numbers in our registry
 * instead, so no OpenTelemetry SDK is needed: `activitypub.delivery.sent` becomes
 * `fedify_activitypub_delivery_sent_total`, millisecond histograms become `…_seconds`.
 */

type Attributes = Record<string, unknown>;
type InstrumentOptions = { description?: string; unit?: string; advice?: { explicitBucketBoundaries?: number[] } };
type ObservableResult = { observe(value: number, attributes?: Attributes): void };
type ObservableCallback = (result: ObservableResult) => void | Promise<void>;

/**
 * Labels must come from small fixed sets. Per-remote-host labels would grow without bound on a busy instance (the
 * host is in the logs instead), and these others carry values remote clients choose.
 */
const DROPPED_ATTRIBUTES = new Set([
  "activitypub.remote.host",
  "fedify.route.template",
  "webfinger.resource.scheme",
  "http_signatures.algorithm",
  "ld_signatures.type",
  "object_integrity_proofs.cryptosuite",
]);
const COUNT_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

function labelsOf(attributes: Attributes | undefined): Labels {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (DROPPED_ATTRIBUTES.has(key) || value === undefined || value === null) continue;
    labels[metricName(key)] = String(value);
  }
  return labels;
}

function baseName(name: string): string {
  const n = metricName(name);
  return n.startsWith("fedify_") ? n : `fedify_${n}`;
}

/** A MeterProvider for `createFederation({ meterProvider })`. */
export function fedifyMeterProvider(metrics: Metrics) {
  const noop = { addCallback() {}, removeCallback() {} };
  const meter = {
    createCounter(name: string, options: InstrumentOptions = {}) {
      const c = metrics.counter(`${baseName(name)}_total`, options.description ?? name);
      return { add: (value: number, attributes?: Attributes) => c.inc(labelsOf(attributes), value) };
    },
    createUpDownCounter(name: string, options: InstrumentOptions = {}) {
      const g = metrics.gauge(baseName(name), options.description ?? name);
      return { add: (value: number, attributes?: Attributes) => g.inc(labelsOf(attributes), value) };
    },
    createGauge(name: string, options: InstrumentOptions = {}) {
      const g = metrics.gauge(baseName(name), options.description ?? name);
      return { record: (value: number, attributes?: Attributes) => g.set(labelsOf(attributes), value) };
    },
    createHistogram(name: string, options: InstrumentOptions = {}) {
      const ms = options.unit === "ms";
      const advised = options.advice?.explicitBucketBoundaries;
      const bounds = ms ? (advised?.map((b) => b / 1000) ?? LATENCY_BUCKETS) : (advised ?? COUNT_BUCKETS);
      const h = metrics.histogram(`${baseName(name)}${ms ? "_seconds" : ""}`, options.description ?? name, bounds);
      return { record: (value: number, attributes?: Attributes) => h.observe(labelsOf(attributes), ms ? value / 1000 : value) };
    },
    createObservableGauge(name: string, options: InstrumentOptions = {}) {
      const g = metrics.gauge(baseName(name), options.description ?? name);
      const callbacks = new Set<ObservableCallback>();
      metrics.collect(async () => {
        if (callbacks.size === 0) return;
        g.reset();
        for (const callback of callbacks) {
          await callback({ observe: (value, attributes) => g.set(labelsOf(attributes), value) });
        }
      });
      return { addCallback: (cb: ObservableCallback) => callbacks.add(cb), removeCallback: (cb: ObservableCallback) => callbacks.delete(cb) };
    },
    createObservableCounter: () => noop,
    createObservableUpDownCounter: () => noop,
    addBatchObservableCallback() {},
    removeBatchObservableCallback() {},
  };
  return { getMeter: () => meter };
}
