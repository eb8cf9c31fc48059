/**
 * The IRC door with accounts (`--accounts`): SASL PLAIN and `PASS` sign a connection in to its account before
 * registration, a registered nick is refused to guests, `--accounts required` turns guests away; while accounts
 * are off, `sasl` is not offered and `PASS` is ignored. And IRC over TLS. Real sockets on port 0.
 */

import assert from "node:assert/strict";
import { LineClient, serve } from "../_helpers.ts";
import { testPki } from "../_tls.ts";

/** Cheap hashes: these tests sign in several times. */
const CHEAP = { ln: 4, r: 1, p: 1 };

const b64 = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

/** Registers `name` with `password` over TCP, then leaves, so the name is the account's while offline. */
async function registered(tcp: Deno.NetAddr, name: string, password: string): Promise<void> {
  await using owner = await LineClient.login(tcp, name);
  await owner.send(`REGISTER ${password}`);
  await owner.expect("OK");
}

Deno.test("IRC accounts: SASL PLAIN signs in before registration; the connection registers under its account's name", async () => {
  await using server = serve({ accounts: "on" }, { scrypt: CHEAP });
  await registered(server.tcp!, "alice", "correct-horse");
  await using irc = await LineClient.connect(server.irc!, { crlf: true });
  await irc.send("CAP LS 302");
  const ls = await irc.expect(/^:hubbub CAP \* LS :/);
  assert.ok(ls.split(/[ :]/).includes("sasl"), ls);
  await irc.send("CAP REQ :sasl\r\nNICK whatever\r\nUSER a 0 * :A");
  await irc.expect(":hubbub CAP * ACK :sasl");
  await irc.send("AUTHENTICATE SCRAM-SHA-256");
  await irc.expect(/^:hubbub 908 .* PLAIN /);
  await irc.expect(/^:hubbub 904 /);
  await irc.send("AUTHENTICATE PLAIN");
  await irc.expect("AUTHENTICATE +");
  await irc.send(`AUTHENTICATE ${b64("\0alice\0wrong-password")}`);
  await irc.expect(/^:hubbub 904 whatever :SASL authentication failed/);
  await irc.send("AUTHENTICATE PLAIN");
  await irc.expect("AUTHENTICATE +");
  await irc.send(`AUTHENTICATE ${b64("alice\0alice\0correct-horse")}`);
  await irc.expect(/^:hubbub 900 whatever alice!alice@hubbub alice :You are now logged in as alice/);
  await irc.expect(":hubbub 903 whatever :SASL authentication successful");
  await irc.send("CAP END");
  await irc.expect(":hubbub 001 alice :Welcome to hubbub, alice");
  await irc.send("AUTHENTICATE PLAIN");
  await irc.expect(/^:hubbub 907 alice /);
  assert.ok(server.hub.online("alice"));
});

Deno.test("IRC accounts: PASS signs in with the nick's account; a wrong one is 464 and the link closes; guests cannot take a registered nick", async () => {
  await using server = serve({ accounts: "on" }, { scrypt: CHEAP });
  await registered(server.tcp!, "bob", "open-sesame");
  await using wrong = await LineClient.connect(server.irc!, { crlf: true });
  await wrong.send("PASS not-it\r\nNICK bob\r\nUSER b 0 * :B");
  await wrong.expect(/^:hubbub 464 bob :Password incorrect/);
  await wrong.expect(/^ERROR :Closing Link: bob \(Bad password\)/);
  await wrong.closedByServer();
  await using guest = await LineClient.connect(server.irc!, { crlf: true });
  await guest.send("NICK bob\r\nUSER b 0 * :B");
  await guest.expect(":hubbub 433 * bob :Nickname is registered: sign in with SASL PLAIN or PASS");
  await guest.send("NICK guest");
  await guest.expect(":hubbub 001 guest :Welcome to hubbub, guest");
  await using right = await LineClient.connect(server.irc!, { crlf: true });
  await right.send("PASS open-sesame\r\nNICK bob\r\nUSER b 0 * :B");
  await right.expect(":hubbub 001 bob :Welcome to hubbub, bob");
  // Signed in, it may not take another name.
  await right.send("NICK other");
  await right.expect(/^:hubbub 400 bob NICK :Signed in as bob/);
});

Deno.test("IRC accounts: with --accounts required a guest is turned away at registration", async () => {
  await using server = serve({ accounts: "required" }, { scrypt: CHEAP });
  await using guest = await LineClient.connect(server.irc!, { crlf: true });
  await guest.send("NICK guesty\r\nUSER n 0 * :N");
  await guest.expect(/^:hubbub 464 guesty /);
  await guest.closedByServer();
  assert.ok(!server.hub.online("guesty"));
});

Deno.test("IRC accounts: off, sasl is not offered and PASS is ignored", async () => {
  await using server = serve();
  await using irc = await LineClient.connect(server.irc!, { crlf: true });
  await irc.send("CAP LS 302");
  const ls = await irc.expect(/^:hubbub CAP \* LS :/);
  assert.ok(!ls.split(/[ :]/).includes("sasl"), ls);
  await irc.send("CAP END\r\nPASS anything\r\nNICK carol\r\nUSER c 0 * :C");
  await irc.expect(":hubbub 001 carol :Welcome to hubbub, carol");
  await irc.send("AUTHENTICATE PLAIN");
  await irc.expect(/^:hubbub 907 carol /);
});

Deno.test("IRC over TLS: a client verifying the certificate registers and chats with a TLS command client", async () => {
  await using pki = await testPki();
  await using server = serve({ tlsCert: pki.certPath, tlsKey: pki.keyPath });
  await using irc = await LineClient.connectTls(server.irc!, pki.ca, { crlf: true });
  await irc.send("NICK dave\r\nUSER d 0 * :D\r\nJOIN #lobby");
  await irc.expect(":hubbub 001 dave :Welcome to hubbub, dave");
  await irc.expect(/^:dave!dave@hubbub JOIN #lobby/);
  await using tcp = await LineClient.connectTls(server.tcp!, pki.ca);
  await tcp.send("LOGIN erin");
  await tcp.expect("OK");
  await tcp.send("hello dave");
  await irc.expect(":erin!erin@hubbub PRIVMSG #lobby :hello dave");
  await irc.send("PRIVMSG #lobby :hello erin");
  await tcp.expect("MSG dave hello erin");
});
