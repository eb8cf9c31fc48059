/**
 * Logging setup: logtape with one sink on stderr, as JSON lines or a readable pretty form.
 *
 * Modules log through `getLogger(["hubbub", ...])`; only `main.ts` calls {@linkcode setupLogging}, so tests
 * and embedders stay silent unless they configure logtape themselves. Message bodies are never logged at
 * info level.
 * @module
 */

import {
  configure,
  getAnsiColorFormatter,
  getTextFormatter,
  jsonLinesFormatter,
  reset,
} from "@logtape/logtape";
import type { FormattedValues, LogRecord, Sink } from "@logtape/logtape";

/** Log levels, lowest first. */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Options of {@linkcode setupLogging}. */
export interface LogOptions {
  /** `json` lines or `pretty`. */
  readonly format: "json" | "pretty";
  /** Lowest level written. */
  readonly level: LogLevel;
  /** Colour the pretty form (a terminal that allows it). */
  readonly color?: boolean;
  /** Fields added to every record (the cluster node id). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Configures logtape for the process; call once, at start. */
export async function setupLogging(options: LogOptions): Promise<void> {
  const formatter = options.format === "json"
    ? jsonLinesFormatter
    : (options.color ? getAnsiColorFormatter : getTextFormatter)({ timestamp: "time", format: withFields });
  await configure({
    reset: true,
    sinks: { stderr: stderrSink(formatter, options.fields ?? {}) },
    loggers: [
      { category: ["hubbub"], lowestLevel: options.level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Undoes {@linkcode setupLogging}. */
export async function stopLogging(): Promise<void> {
  await reset();
}

const encoder = new TextEncoder();

// The pretty form keeps the structured fields, as `key=value` after the message.
function withFields({ timestamp, level, category, message, record }: FormattedValues): string {
  const fields = Object.entries(record.properties)
    .filter(([key]) => !record.rawMessage.includes(`{${key}}`))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return `${timestamp} ${level} ${category}: ${message}${fields ? "  " + fields : ""}`;
}

// Synchronous on purpose: a line logged just before exit (the shutdown record) must not be lost in a buffer.
function stderrSink(format: (record: LogRecord) => string, fields: Readonly<Record<string, unknown>>): Sink {
  const extra = Object.keys(fields).length > 0;
  return (record) => {
    const full = extra ? { ...record, properties: { ...record.properties, ...fields } } : record;
    const bytes = encoder.encode(format(full));
    let offset = 0;
    while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
  };
}
