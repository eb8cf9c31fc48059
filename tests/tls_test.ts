/**
 * TLS on every door, with real clients: `ncat --ssl` verifying against a test CA, Deno's `connectTls` and
 * `fetch` trusting it, WebSocket frames over TLS; certificate reload on SIGHUP without dropping connections;
 * a certificate that cannot be used stops the start with exit code 2; `--tls-self-signed`.
 */

import assert from "node:assert/strict";
import { Child, eventually, LineClient, serve } from "./_helpers.ts";
import { clientFrame, rawUpgradeTls, writeAll } from "./abuse/_abuse.ts";
import { servedFingerprint, testPki } from "./_tls.ts";
import { Ncat } from "./_ncat.ts";

const decoder = new TextDecoder();

/** Reads server frames from an upgraded connection until one whose text matches; returns that text. */
async function frameMatching(conn: Deno.Conn, want: RegExp, ms = 5000): Promise<string> {
  const buffer = new Uint8Array(64 * 1024);
  let pending = new Uint8Array(0);
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    while (pending.length >= 2) {
      let length = pending[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (pending.length < 4) break;
        length = (pending[2]! << 8) | pending[3]!;
        at = 4;
      }
      if (pending.length < at + length) break;
      const text = decoder.decode(pending.subarray(at, at + length));
      pending = pending.subarray(at + length);
      if (want.test(text)) return text;
    }
    const n = await conn.read(buffer);
    if (n === null) break;
    pending = new Uint8Array([...pending, ...buffer.subarray(0, n)]);
  }
  throw new Error(`No frame matching ${want}`);
}

Deno.test("TLS: ncat --ssl (verifying the certificate) and a WebSocket over TLS chat in one room; HTTPS serves the page and API; plain clients get nowhere", async () => {
  await using pki = await testPki();
  await using server = serve({ tlsCert: pki.certPath, tlsKey: pki.keyPath, presenceIntervalMs: 20 });
  const tcp = server.tcp!;
  const http = server.http!;

  // A real `ncat --ssl` that verifies the server against the test CA, by name: ncat checks a certificate's DNS
  // names, not its IP addresses.
  await using ncat = Ncat.start({ ...tcp, hostname: "localhost" }, [
    "-4",
    "--ssl",
    "--ssl-verify",
    "--ssl-trustfile",
    pki.caPath,
  ]);
  await ncat.type("LOGIN nc");
  await ncat.expect("OK");

  const ws = await rawUpgradeTls(http, "/ws", pki.ca);
  await writeAll(ws, clientFrame(JSON.stringify({ Action: "username", Payload: { Username: "wss" } })));
  await frameMatching(ws, /"Action":"username"/);
  await ncat.type("hello over tls");
  await frameMatching(ws, /"Message":"hello over tls","Username":"nc"/);
  await writeAll(ws, clientFrame(JSON.stringify({ Action: "broadcast", Payload: { Message: "and back" } })));
  await ncat.expect("MSG wss and back");
  ws.close();

  // Deno's own TLS client, trusting the test CA: the line door and HTTPS.
  await using line = await LineClient.connectTls(tcp, pki.ca);
  await line.send("LOGIN deno");
  await line.expect("OK");
  const client = Deno.createHttpClient({ caCerts: [pki.ca] });
  try {
    const base = `https://${http.hostname}:${http.port}`;
    const page = await fetch(`${base}/`, { client });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    await page.body?.cancel();
    const rooms = await (await fetch(`${base}/api/rooms`, { client })).json();
    assert.ok(rooms.rooms.some((r: { name: string }) => r.name === "lobby"));
  } finally {
    client.close();
  }

  // Plain text to a TLS port is a failed handshake, never a chat.
  await assert.rejects(fetch(`http://${http.hostname}:${http.port}/healthz`));
  await using plain = await LineClient.connect(tcp);
  await plain.send("LOGIN plain").catch(() => {});
  await plain.closedByServer();
  assert.ok(!plain.lines.includes("OK"));
  assert.ok(!server.hub.online("plain"));
});

Deno.test("TLS: SIGHUP reloads the certificate: new handshakes get the new one, connections made before keep chatting", async () => {
  await using first = await testPki("first");
  await using second = await testPki("second");
  const dir = await Deno.makeTempDir({ prefix: "hubbub-tls-reload-" });
  try {
    await Deno.copyFile(first.certPath, `${dir}/cert.pem`);
    await Deno.copyFile(first.keyPath, `${dir}/key.pem`);
    await using child = new Child([
      "run",
      "-P=server",
      "main.ts",
      "--tcp",
      "127.0.0.1:0",
      "--http",
      "127.0.0.1:0",
      "--log-format",
      "json",
      "--tls-cert",
      `${dir}/cert.pem`,
      "--tls-key",
      `${dir}/key.pem`,
    ]);
    const tcp = await child.tcpAddr();
    const http = await child.httpAddr();
    assert.equal(await servedFingerprint(tcp), first.fingerprint);
    await using before = await LineClient.connectTls(tcp, first.ca);
    await before.send("LOGIN before");
    await before.expect("OK");

    // A broken pair is refused and the old one stays.
    await Deno.writeTextFile(`${dir}/key.pem`, "not a key");
    child.process.kill("SIGHUP");
    await child.recordWith((r) => String(r.message).startsWith("TLS reload refused"));
    assert.equal(await servedFingerprint(tcp), first.fingerprint);

    await Deno.copyFile(second.certPath, `${dir}/cert.pem`);
    await Deno.copyFile(second.keyPath, `${dir}/key.pem`);
    child.process.kill("SIGHUP");
    await child.recordWith((r) => r.message === "TLS certificate reloaded");
    await eventually(
      async () => await servedFingerprint(tcp) === second.fingerprint,
      "TCP serves the new cert",
    );
    assert.equal(await servedFingerprint(http), second.fingerprint);
    await assert.rejects(LineClient.connectTls(tcp, first.ca).then((c) => c.send("PING").then(() => c)));

    // The connection made before the reload is untouched, and talks to one made after it.
    await using after = await LineClient.connectTls(tcp, second.ca);
    await after.send("LOGIN after");
    await after.expect("OK");
    await before.send("still here");
    await after.expect("MSG before still here");
    child.process.kill("SIGTERM");
    assert.equal((await child.status()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TLS: a certificate that cannot be used stops the start with exit code 2 and one line naming the file", async () => {
  await using pki = await testPki();
  const cases: [string[], RegExp][] = [
    [
      ["--tls-cert", "/nonexistent/cert.pem", "--tls-key", pki.keyPath],
      /--tls-cert \/nonexistent\/cert\.pem: cannot read it/,
    ],
    [
      ["--tls-cert", pki.certPath, "--tls-key", "/nonexistent/key.pem"],
      /--tls-key \/nonexistent\/key\.pem: cannot read it/,
    ],
    [
      ["--tls-cert", pki.caPath, "--tls-key", pki.keyPath],
      /--tls-cert .*ca\.pem with --tls-key .*: cannot be used/,
    ],
    [["--tls-cert", pki.certPath], /--tls-cert and --tls-key go together/],
  ];
  for (const [args, want] of cases) {
    const child = new Child([
      "run",
      "-P=server",
      "main.ts",
      "--tcp",
      "127.0.0.1:0",
      "--http",
      "127.0.0.1:0",
      ...args,
    ]);
    const status = await child.status();
    assert.equal(status.code, 2, args.join(" "));
    const errors = child.stderr.split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(errors.length, 1, child.stderr);
    assert.match(errors[0]!, want);
  }
});

Deno.test("TLS: --tls-self-signed serves a certificate for localhost made at start, and logs its fingerprint", async () => {
  await using child = new Child([
    "run",
    "-P=server",
    "main.ts",
    "--tcp",
    "127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
    "--log-format",
    "json",
    "--tls-self-signed",
  ]);
  const tcp = await child.tcpAddr();
  const logged = await child.record("TLS on every listener");
  const fingerprint = String((logged.properties as { fingerprint: string }).fingerprint);
  assert.match(fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(await servedFingerprint(tcp), fingerprint);
  const up = await child.record("hubbub is up");
  assert.match(String((up.properties as { open: string }).open), /^https:\/\//);
  assert.match(String((up.properties as { ncat: string }).ncat), /^ncat --ssl /);
});
