/**
 * What `deno task start`, the server of `deno task dev` and the compiled binary fetch: `deno.json` and
 * `deno.lock` hold the server's packages only. Tests, the page build and the scripts take theirs from
 * `deno.dev.json` and `deno.dev.lock`, because `deno task` installs every package of the config's import map
 * and lockfile before it runs anything (see the README's Development section).
 * @module
 */

import assert from "node:assert/strict";
import { type DenoInfo, denoInfo, ROOT } from "./_helpers.ts";

/** Packages only tests, the page build or the scripts use; the server must never fetch them. */
const DEV_ONLY = [
  "puppeteer-core",
  "chromium-bidi",
  "devtools-protocol",
  "fast-check",
  "yaml",
  "unhomoglyph",
  "preact",
  "@preact/signals",
  "irc-framework",
];

interface Config {
  readonly imports: Record<string, string>;
  readonly lock?: string;
  readonly unstable?: string[];
  readonly compilerOptions: Record<string, unknown>;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(`${ROOT}${path}`));
}

/** `@preact/signals@2.11.4_preact@11.2.0` → `@preact/signals`. */
function packageName(key: string): string {
  return key.slice(0, key.indexOf("@", 1));
}

/** The npm packages `main.ts` loads, with everything they depend on. */
function reachedPackages(info: DenoInfo): Set<string> {
  const reached = new Set<string>();
  const next = info.modules.flatMap((m) => m.kind === "npm" && m.npmPackage ? [m.npmPackage] : []);
  while (next.length > 0) {
    const key = next.pop()!;
    if (reached.has(key)) continue;
    reached.add(key);
    next.push(...info.npmPackages[key]?.dependencies ?? []);
  }
  return reached;
}

/** The packages a lockfile pins (its npm section). */
async function locked(path: string): Promise<Set<string>> {
  return new Set(Object.keys((await readJson<{ npm?: Record<string, unknown> }>(path)).npm ?? {}));
}

Deno.test("deps: main.ts's module graph and its npm resolution hold no dev-only package", async () => {
  const info = await denoInfo("main.ts");
  const reached = [...reachedPackages(info)].map(packageName);
  assert.ok(reached.includes("commander") && reached.includes("redis"), `graph read: ${reached.join(", ")}`);
  const resolved = Object.keys(info.npmPackages).map(packageName);
  const devOnly = new Set(DEV_ONLY);
  // Packages the dev lockfile pins and the server's does not are dev-only too (puppeteer's dependencies).
  const serverLock = await locked("deno.lock");
  for (const key of await locked("deno.dev.lock")) if (!serverLock.has(key)) devOnly.add(packageName(key));
  assert.deepEqual(reached.filter((name) => devOnly.has(name)), [], "main.ts imports a dev-only package");
  assert.deepEqual(
    resolved.filter((name) => devOnly.has(name)),
    [],
    "deno info main.ts resolves dev packages",
  );
});

Deno.test("deps: deno.lock pins exactly the packages main.ts loads", async () => {
  const reached = reachedPackages(await denoInfo("main.ts"));
  // `deno task start` installs the whole lockfile first: a package here that main.ts does not load is fetched
  // for nothing (a dev command run under deno.json instead of deno.dev.json writes one here).
  assert.deepEqual([...await locked("deno.lock")].sort(), [...reached].sort());
});

Deno.test("deps: deno.dev.json is deno.json plus the dev dependencies, with its own lockfile", async () => {
  const server = await readJson<Config>("deno.json");
  const dev = await readJson<Config>("deno.dev.json");
  for (const [name, specifier] of Object.entries(server.imports)) {
    assert.equal(dev.imports[name], specifier, `deno.dev.json pins ${name} as deno.json does`);
  }
  for (const name of DEV_ONLY) assert.ok(!(name in server.imports), `${name} is not in deno.json's imports`);
  const wanted = [
    "puppeteer-core",
    "fast-check",
    "yaml",
    "unhomoglyph",
    "preact",
    "@preact/signals",
    "irc-framework",
  ];
  for (const name of wanted) {
    assert.ok(name in dev.imports, `deno.dev.json imports ${name}`);
  }
  assert.equal(dev.lock, "./deno.dev.lock", "the dev packages never reach deno.lock");
  // The same strictness for the server, the tests and the page; the page adds JSX.
  assert.deepEqual(dev.compilerOptions, {
    ...server.compilerOptions,
    jsx: "react-jsx",
    jsxImportSource: "preact",
  });
  for (const flag of server.unstable ?? []) {
    assert.ok(dev.unstable?.includes(flag), `deno.dev.json has ${flag}`);
  }
});
