/**
 * The architecture's walls, checked on the real import graph (`deno info --json`) of the server (`main.ts`)
 * and of the page (`web/main.tsx`). The same table is in docs/architecture.md, in prose.
 * @module
 */

import assert from "node:assert/strict";
import { type DenoInfo, denoInfo, ROOT } from "./_helpers.ts";

/** One import: `from` and `to` are paths relative to the project root, or `npm:`/`node:` specifiers. */
interface Edge {
  readonly from: string;
  readonly to: string;
  /** `import type` only: erased before the code runs or is bundled. */
  readonly typeOnly: boolean;
}

/** A wall: no file matching `from` imports a file matching `to`, except types from `typesAllowed`. */
interface Rule {
  readonly wall: string;
  readonly from: RegExp;
  readonly to: RegExp;
  readonly typesAllowed?: RegExp;
}

const HUB = /^src\/hub\//;

/**
 * The walls. A door is a folder of `src/` that speaks a wire dialect: tcp, ws, http, irc. What two doors share
 * lives below them: `src/net/` (accepting, and the line doors' machinery in `src/net/lines/`), `src/wire/`.
 */
const RULES: readonly Rule[] = [
  { wall: "the hub imports no door", from: HUB, to: /^src\/(tcp|ws|http|irc)\// },
  { wall: "the hub imports no concrete store", from: HUB, to: /^src\/store\/(memory|sqlite|redis)\.ts$/ },
  { wall: "the hub imports no concrete bus", from: HUB, to: /^src\/bus\/(local|redis)\.ts$/ },
  { wall: "the hub imports no network code", from: HUB, to: /^src\/net\// },
  { wall: "the hub imports no metrics module", from: HUB, to: /^src\/metrics\.ts$/ },
  { wall: "the hub imports no wiring", from: HUB, to: /^(main\.ts|src\/cli\.ts|src\/server\.ts)$/ },
  { wall: "shared network code imports no door", from: /^src\/net\//, to: /^src\/(tcp|ws|http|irc)\// },
  { wall: "a door imports no other door", from: /^src\/tcp\//, to: /^src\/(ws|http|irc)\// },
  { wall: "a door imports no other door", from: /^src\/http\//, to: /^src\/(tcp|ws|irc)\// },
  { wall: "a door imports no other door", from: /^src\/irc\//, to: /^src\/(tcp|ws|http)\// },
  // The WebSocket door rides on the HTTP door (an upgrade is an HTTP request first): it may use the HTTP
  // server's types, the route type, HTTP errors and the Origin policy; nothing else of src/http/.
  {
    wall: "a door imports no other door (ws rides on http's server, route, errors and origin only)",
    from: /^src\/ws\//,
    to: /^src\/(tcp|irc)\/|^src\/http\/(?!(server|route|errors|origin)\.ts$)/,
  },
  {
    wall: "a store or bus imports no hub and no door",
    from: /^src\/(store|bus)\//,
    to: /^src\/(hub|tcp|ws|http|irc)\//,
  },
  {
    wall: "only main.ts and src/server.ts import the CLI",
    from: /^(?!main\.ts$|src\/server\.ts$)/,
    to: /^src\/cli\.ts$/,
  },
  { wall: "the CLI imports no door", from: /^src\/cli\.ts$/, to: /^src\/(tcp|ws|http|irc)\// },
  {
    wall: "the page imports no server code, only the wire types",
    from: /^web\//,
    to: /^(?!web\/|npm:|node:)/,
    typesAllowed: /^src\/wire\/gobanter\.ts$/,
  },
];

/** A broken wall: the edge and the rule it breaks. */
interface Violation {
  readonly edge: string;
  readonly wall: string;
}

/** The walls `edges` break. */
function violations(edges: readonly Edge[], rules: readonly Rule[] = RULES): Violation[] {
  const found: Violation[] = [];
  for (const edge of edges) {
    for (const rule of rules) {
      if (!rule.from.test(edge.from) || !rule.to.test(edge.to)) continue;
      if (edge.typeOnly && rule.typesAllowed?.test(edge.to)) continue;
      found.push({ edge: `${edge.from} -> ${edge.to}`, wall: rule.wall });
    }
  }
  return found;
}

const ROOT_URL = new URL(`file://${ROOT}`).href;

/** A specifier as a path relative to the project root (local files) or as it is (`npm:`, `node:`). */
function local(specifier: string): string {
  return specifier.startsWith(ROOT_URL) ? decodeURIComponent(specifier.slice(ROOT_URL.length)) : specifier;
}

/** The imports of the graph's local modules. */
function edgesOf(info: DenoInfo): Edge[] {
  return info.modules.filter((m) => m.specifier.startsWith(ROOT_URL)).flatMap((m) =>
    (m.dependencies ?? []).flatMap((d) => {
      const target = d.code ?? d.type;
      return target ? [{ from: local(m.specifier), to: local(target.specifier), typeOnly: !d.code }] : [];
    })
  );
}

Deno.test("layers: each wall catches an edge that breaks it", () => {
  const offending: readonly (readonly [string, string])[] = [
    ["src/hub/hub.ts", "src/tcp/listener.ts"],
    ["src/hub/names.ts", "src/ws/session.ts"],
    ["src/hub/hub.ts", "src/http/routes.ts"],
    ["src/hub/hub.ts", "src/irc/door.ts"],
    ["src/hub/hub.ts", "src/store/memory.ts"],
    ["src/hub/hub.ts", "src/store/sqlite.ts"],
    ["src/hub/hub.ts", "src/store/redis.ts"],
    ["src/hub/hub.ts", "src/bus/local.ts"],
    ["src/hub/hub.ts", "src/bus/redis.ts"],
    ["src/hub/limits.ts", "src/net/accept.ts"],
    ["src/hub/hub.ts", "src/metrics.ts"],
    ["src/hub/hub.ts", "src/server.ts"],
    ["src/hub/hub.ts", "main.ts"],
    ["src/tcp/listener.ts", "src/ws/frames.ts"],
    ["src/tcp/machat.ts", "src/http/errors.ts"],
    ["src/http/routes.ts", "src/ws/gobanter.ts"],
    ["src/http/routes.ts", "src/tcp/commands.ts"],
    ["src/irc/door.ts", "src/tcp/commands.ts"],
    ["src/irc/dialect.ts", "src/ws/session.ts"],
    ["src/ws/upgrade.ts", "src/tcp/commands.ts"],
    ["src/net/lines/door.ts", "src/tcp/commands.ts"],
    ["src/net/accept.ts", "src/irc/door.ts"],
    ["src/ws/routes.ts", "src/http/routes.ts"],
    ["src/ws/routes.ts", "src/http/assets.ts"],
    ["src/store/sqlite.ts", "src/hub/hub.ts"],
    ["src/bus/redis.ts", "src/hub/limits.ts"],
    ["src/store/redis.ts", "src/ws/session.ts"],
    ["src/log.ts", "src/cli.ts"],
    ["src/hub/hub.ts", "src/cli.ts"],
    ["src/cli.ts", "src/http/origin.ts"],
    ["web/chat.ts", "src/ws/gobanter.ts"],
    ["web/chat.ts", "src/model.ts"],
  ];
  for (const [from, to] of offending) {
    for (const typeOnly of [false, true]) {
      assert.ok(violations([{ from, to, typeOnly }]).length > 0, `${from} -> ${to} (type only: ${typeOnly})`);
    }
  }
  // The page may import the wire types, but not run server code from the same module.
  assert.ok(violations([{ from: "web/chat.ts", to: "src/wire/gobanter.ts", typeOnly: false }]).length > 0);
  // Every rule catches at least one of the edges above.
  for (const rule of RULES) {
    assert.ok(
      offending.some(([from, to]) => violations([{ from, to, typeOnly: false }], [rule]).length > 0),
      `no offending edge for: ${rule.wall} (${rule.from} -> ${rule.to})`,
    );
  }
});

Deno.test("layers: the edges the walls allow pass", () => {
  const allowed: readonly Edge[] = [
    { from: "src/hub/hub.ts", to: "src/store/store.ts", typeOnly: true },
    { from: "src/hub/hub.ts", to: "src/bus/bus.ts", typeOnly: true },
    { from: "src/hub/hub.ts", to: "src/hub/backpressure.ts", typeOnly: false },
    { from: "src/hub/hub.ts", to: "src/model.ts", typeOnly: false },
    { from: "src/net/lines/session.ts", to: "src/hub/backpressure.ts", typeOnly: false },
    { from: "src/net/lines/door.ts", to: "src/net/accept.ts", typeOnly: false },
    { from: "src/tcp/listener.ts", to: "src/net/lines/door.ts", typeOnly: false },
    { from: "src/tcp/commands.ts", to: "src/net/lines/dialect.ts", typeOnly: true },
    { from: "src/irc/door.ts", to: "src/net/lines/door.ts", typeOnly: false },
    { from: "src/irc/dialect.ts", to: "src/wire/lines.ts", typeOnly: false },
    { from: "src/irc/dialect.ts", to: "src/hub/hub.ts", typeOnly: true },
    { from: "src/ws/upgrade.ts", to: "src/http/server.ts", typeOnly: true },
    { from: "src/ws/routes.ts", to: "src/http/route.ts", typeOnly: false },
    { from: "src/ws/routes.ts", to: "src/http/errors.ts", typeOnly: false },
    { from: "src/ws/routes.ts", to: "src/http/origin.ts", typeOnly: false },
    { from: "src/http/routes.ts", to: "src/wire/gobanter.ts", typeOnly: false },
    { from: "src/store/sqlite.ts", to: "src/store/store.ts", typeOnly: false },
    { from: "src/store/redis.ts", to: "src/metrics.ts", typeOnly: true },
    { from: "main.ts", to: "src/cli.ts", typeOnly: false },
    { from: "src/server.ts", to: "src/cli.ts", typeOnly: true },
    { from: "src/server.ts", to: "src/tcp/listener.ts", typeOnly: false },
    { from: "src/server.ts", to: "src/irc/door.ts", typeOnly: false },
    { from: "web/chat.ts", to: "src/wire/gobanter.ts", typeOnly: true },
    { from: "web/app.tsx", to: "npm:/preact@11.2.0/hooks", typeOnly: false },
    { from: "web/components/avatar.tsx", to: "web/timeline.ts", typeOnly: false },
  ];
  assert.deepEqual(violations(allowed), []);
});

Deno.test("layers: the server's and the page's import graphs break no wall", async () => {
  const graphs = await Promise.all([denoInfo("main.ts"), denoInfo("web/main.tsx", "deno.dev.json")]);
  const edges = graphs.flatMap(edgesOf);
  // A sanity check that the graph was read: the ws door's routes reach the HTTP route type.
  assert.ok(edges.some((e) => e.from === "src/ws/routes.ts" && e.to === "src/http/route.ts"));
  assert.ok(edges.some((e) => e.from === "web/chat.ts" && e.to === "src/wire/gobanter.ts" && e.typeOnly));
  assert.deepEqual(violations(edges), [], "imports that break the walls of docs/architecture.md");
});
