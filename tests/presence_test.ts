/** Big rooms: coalesced lists, summarised notices, paging and typing limits over real sockets. */

import assert from "node:assert/strict";
import { eventually, LineClient, serve, WsClient } from "./_helpers.ts";

const CROWD = 300;

function names(n: number, prefix: string): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, "0")}`);
}

Deno.test(`GoBanter /ws (legacy): ${CROWD} clients join within a second: each ends with the full list, in a handful of frames`, async () => {
  await using server = serve({ tcp: null });
  const everyone = names(CROWD, "legacy");
  const clients = await Promise.all(everyone.map(() => WsClient.open(server.http!, "/ws")));
  try {
    everyone.forEach((name, i) =>
      clients[i]!.send({ action: "username", username: name, message: "", to: "" })
    );
    const sorted = JSON.stringify([...everyone].sort());
    const lists = (c: WsClient) => c.frames.filter((f) => f.startsWith('{"action":"list_users"'));
    const final = (c: WsClient) => {
      const last = lists(c).at(-1);
      return last !== undefined && JSON.stringify(JSON.parse(last).connected_users) === sorted;
    };
    await eventually(() => clients.every(final), "every client has the list of all", 20_000);
    const counts = clients.map((c) => lists(c).length);
    // Bounded by the presence interval, not by the 300 joins.
    assert.ok(Math.max(...counts) <= 12, `list frames per client: max ${Math.max(...counts)}`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

Deno.test(`GoBanter /ws (documented): ${CROWD} clients: userlist coalesced, join notices summarised, paging exact`, async () => {
  await using server = serve({ tcp: null, listLimit: 100 });
  const everyone = names(CROWD, "doc");
  const clients = await Promise.all(everyone.map(() => WsClient.open(server.http!, "/ws")));
  try {
    everyone.forEach((name, i) => clients[i]!.send({ Action: "username", Payload: { Username: name } }));
    const sorted = [...everyone].sort();
    const lists = (c: WsClient) =>
      c.frames.filter((f) => f.startsWith('{"Action":"userlist"')).map((f) => JSON.parse(f).Payload);
    await eventually(
      () => clients.every((c) => lists(c).at(-1)?.Total === CROWD),
      "every client knows the room has 300",
      20_000,
    );
    for (const c of clients) {
      const last = lists(c).at(-1);
      // Past the list limit a full-list frame carries the first names in sort order and the total.
      assert.deepEqual(last.Users, sorted.slice(0, 100));
      assert.equal(last.Offset, 0);
      assert.ok(lists(c).length <= 12, `${lists(c).length} list frames`);
    }
    // The first member heard of every join, its own included, exactly once. The room is over the list limit
    // from the start (nameless connections read the lobby too), so all of them came as summaries that name at
    // most 100 and count the rest; a smaller room would have sent notices up to the rate first.
    const first = clients[0]!;
    const heard: string[] = [];
    let counted = 0;
    for (const f of first.frames) {
      const frame = JSON.parse(f);
      if (frame.Action !== "connected" || !frame.Payload.Room) continue;
      if (frame.Payload.Users) {
        assert.ok(frame.Payload.Users.length <= 100);
        counted += frame.Payload.Count;
      } else counted++;
      heard.push(...(frame.Payload.Users ?? [frame.Payload.Username]));
    }
    assert.equal(counted, CROWD);
    assert.equal(new Set(heard).size, heard.length, "no join named twice");
    assert.ok(heard.every((n) => sorted.includes(n)));
    const joinFrames = first.frames.filter((f) =>
      f.startsWith('{"Action":"connected","Payload":{"Room"')
    ).length +
      first.frames.filter((f) => f.startsWith('{"Action":"connected","Payload":{"Username"')).length;
    assert.ok(joinFrames < 40, `${joinFrames} join frames for ${CROWD - 1} joins`);

    // Paging: every name exactly once.
    const paged: string[] = [];
    for (let offset = 0; offset < CROWD; offset += 70) {
      first.send({ Action: "userlist", Payload: { Room: "lobby", Offset: offset, Limit: 70 } });
      const size = Math.min(70, CROWD - offset);
      // Coalesced lists (Offset 0, 100 names) may still be unread: wait for this page's answer.
      const page = JSON.parse(
        await first.expect((f) => {
          const frame = JSON.parse(f);
          return frame.Action === "userlist" && frame.Payload.Offset === offset &&
            frame.Payload.Users.length === size;
        }),
      );
      paged.push(...(page.Payload as { Users: string[] }).Users);
    }
    assert.deepEqual(paged, sorted);
    const api = `http://${server.http!.hostname}:${server.http!.port}/api/rooms/lobby/members`;
    const apiNames: string[] = [];
    for (let offset = 0; offset < CROWD;) {
      const page = await (await fetch(`${api}?offset=${offset}&limit=128`)).json();
      assert.equal(page.total, CROWD);
      assert.ok(page.members.length <= 100, "API pages follow --list-limit");
      apiNames.push(...page.members);
      offset += page.members.length;
    }
    assert.deepEqual(apiNames, sorted);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

Deno.test("TCP WHO pages big rooms and says how to get the rest", async () => {
  await using server = serve({ listLimit: 3 });
  const clients = await Promise.all(
    ["ann", "bea", "cal", "dot", "eve"].map((n) => LineClient.login(server.tcp!, n)),
  );
  try {
    const [ann] = clients;
    await ann!.send("WHO");
    for (const name of ["ann", "bea", "cal"]) await ann!.expect(`USER ${name}`);
    await ann!.expect("INFO 5 members; more with WHO 3");
    await ann!.expect("OK");
    await ann!.send("WHO 3");
    await ann!.expect("USER dot");
    await ann!.expect("USER eve");
    await ann!.expect("OK");
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

Deno.test("GoBanter /ws: a typing flood reaches the others at most once per interval", async () => {
  await using server = serve({ tcp: null });
  await using typer = await WsClient.open(server.http!, "/ws");
  await using reader = await WsClient.open(server.http!, "/ws");
  typer.send({ Action: "username", Payload: { Username: "typer" } });
  reader.send({ Action: "username", Payload: { Username: "reader" } });
  await reader.expectJson({ Action: "userlist", Payload: { Users: ["reader", "typer"] } });
  for (let i = 0; i < 200; i++) typer.send({ Action: "typing", Payload: {} });
  typer.send({ Action: "broadcast", Payload: { Message: "done typing" } });
  await reader.expectJson({ Action: "broadcast", Payload: { Message: "done typing" } });
  const typing = reader.frames.filter((f) => f.startsWith('{"Action":"typing"'));
  assert.equal(typing.length, 1, "200 keystrokes within 3 s are one typing notice");
});
