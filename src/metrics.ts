/**
 * Process metrics, rendered in the Prometheus text format at `GET /metrics`.
 *
 * Counters are plain numbers bumped on the hot path (no labels looked up per message); gauges are read
 * when scraped. One instance per server, shared by the hub and the doors.
 * @module
 */

import type { HubCounters } from "./model.ts";

/** Upper bounds (seconds) of the store-latency histogram buckets. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] as const;

/** A latency histogram with fixed buckets. */
export class Histogram {
  readonly #counts = new Array<number>(BUCKETS.length).fill(0);
  #sum = 0;
  #count = 0;

  /** Records one observation, in seconds. */
  observe(seconds: number): void {
    this.#sum += seconds;
    this.#count++;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        this.#counts[i]!++;
        break;
      }
    }
  }

  /** Prometheus lines for this histogram under `name`. */
  render(name: string): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    for (let i = 0; i < BUCKETS.length; i++) {
      cumulative += this.#counts[i]!;
      lines.push(`${name}_bucket{le="${BUCKETS[i]}"} ${cumulative}`);
    }
    lines.push(
      `${name}_bucket{le="+Inf"} ${this.#count}`,
      `${name}_sum ${this.#sum}`,
      `${name}_count ${this.#count}`,
    );
    return lines;
  }
}

/** What the hub, the doors and the cluster count. */
export class Metrics implements HubCounters {
  /** Room messages accepted and stored. */
  messagesIn = 0;
  /** Direct messages accepted and stored. */
  directsIn = 0;
  /** Frames handed to sessions (every recipient counts). */
  framesOut = 0;
  /** Messages refused because the store failed. */
  storeFailures = 0;
  /** Sessions dropped by the slow-reader rule. */
  slowReadersDropped = 0;
  /** Messages refused because the node was overloaded (admission control). */
  overloadRefusals = 0;
  /** Time from append to durable, per message. */
  readonly storeLatency: Histogram = new Histogram();
  /** Bus events this node published (cluster). */
  busPublished = 0;
  /** Bus events this node received (cluster). */
  busReceived = 0;
  /** Redis round trips of the store (cluster). */
  readonly redisLatency: Histogram = new Histogram();
}

/** A gauge sample: a metric name, optional labels, value. */
export interface Sample {
  /** Metric name. */
  readonly name: string;
  /** Label set, if any. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Value. */
  readonly value: number;
}

/** One metric family for the text format. */
export interface Family {
  /** Metric name. */
  readonly name: string;
  /** `counter`, `gauge` or `histogram`. */
  readonly type: "counter" | "gauge" | "histogram";
  /** Help text. */
  readonly help: string;
  /** Pre-rendered lines (histograms) or samples. */
  readonly samples: readonly Sample[] | readonly string[];
}

/** Renders families in the Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(families: readonly Family[]): string {
  const out: string[] = [];
  for (const family of families) {
    out.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      if (typeof sample === "string") {
        out.push(sample);
        continue;
      }
      const labels = sample.labels
        ? `{${Object.entries(sample.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
        : "";
      out.push(`${sample.name}${labels} ${sample.value}`);
    }
  }
  return out.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
