/**
 * Chromium for the browser tests: where it is, whether it is there, and one way to start it (headless, on a
 * throw-away profile). Debian's `chromium` driven by puppeteer-core; `HUBBUB_CHROMIUM` picks another binary.
 * @module
 */

import puppeteer, { type Browser } from "puppeteer-core";

/** The Chromium binary the browser tests drive. */
export const CHROMIUM: string = Deno.env.get("HUBBUB_CHROMIUM") || "/usr/bin/chromium";

/** Under `CI=true` a missing browser or client is a failure, not a skip. */
export const CI: boolean = Deno.env.get("CI") === "true";

// Quiet, deterministic Chromium: no sandbox (containers), no GPU, nothing fetched in the background.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Whether a file is at `path` (a browser, an IRC client). */
export async function fileExists(path: string): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.isFile, () => false);
}

/** A running headless Chromium and its profile directory (the caller removes it after closing). */
export interface Chromium {
  /** The browser. */
  readonly browser: Browser;
  /** Its fresh profile directory. */
  readonly profile: string;
}

/** Starts headless Chromium on a fresh profile; `args` come after the common flags. */
export async function launchChromium(args: readonly string[] = []): Promise<Chromium> {
  const profile = await Deno.makeTempDir({ prefix: "hubbub-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    pipe: true,
    args: [...FLAGS, ...args],
  });
  return { browser, profile };
}
