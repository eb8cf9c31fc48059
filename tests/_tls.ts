/**
 * A test PKI made with `openssl`: a CA of its own and a server certificate for `localhost` and `127.0.0.1`
 * signed by it, in a temporary folder. Clients trust the CA (`caCerts`, `ncat --ssl-trustfile`); Chromium
 * trusts the server key through `--ignore-certificate-errors-spki-list`, which takes the key's SPKI hash.
 * @module
 */

/** A CA and one server certificate it signed. */
export interface TestPki extends AsyncDisposable {
  /** The folder holding every file. */
  readonly dir: string;
  /** The CA certificate (PEM) and its path. */
  readonly ca: string;
  readonly caPath: string;
  /** The server certificate and key (PEM) and their paths. */
  readonly cert: string;
  readonly key: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** Base64 SHA-256 of the server key's SubjectPublicKeyInfo (Chromium's SPKI list). */
  readonly spki: string;
  /** SHA-256 of the server certificate, as `openssl x509 -fingerprint` prints it (`AB:CD:…`). */
  readonly fingerprint: string;
}

async function openssl(dir: string, script: string): Promise<string> {
  const output = await new Deno.Command("bash", {
    args: ["-euo", "pipefail", "-c", script],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) throw new Error(`openssl failed: ${decoder.decode(output.stderr)}`);
  return decoder.decode(output.stdout).trim();
}

/** Makes a CA and a server certificate in a new temporary folder (removed on dispose). */
export async function testPki(name = "hubbub-test"): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: `${name}-pki-` });
  const ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
  );
  await openssl(
    dir,
    `openssl req -x509 ${ec} -days 2 -subj /CN=${name}-ca -keyout ca.key -out ca.pem ` +
      `-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
     openssl req ${ec} -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null
     openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out server.pem ` +
      `-extfile server.ext 2>/dev/null`,
  );
  const spki = await openssl(
    dir,
    "openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der | " +
      "openssl dgst -sha256 -binary | base64",
  );
  const fingerprint = (await openssl(dir, "openssl x509 -in server.pem -noout -fingerprint -sha256"))
    .replace(/^.*=/, "");
  return {
    dir,
    ca: await Deno.readTextFile(`${dir}/ca.pem`),
    caPath: `${dir}/ca.pem`,
    cert: await Deno.readTextFile(`${dir}/server.pem`),
    key: await Deno.readTextFile(`${dir}/server.key`),
    certPath: `${dir}/server.pem`,
    keyPath: `${dir}/server.key`,
    spki,
    fingerprint,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** The SHA-256 fingerprint of the certificate a TLS server at `addr` presents, read with `openssl s_client`. */
export async function servedFingerprint(addr: Deno.NetAddr): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    return (await openssl(
      dir,
      `openssl s_client -connect ${addr.hostname}:${addr.port} </dev/null 2>/dev/null | ` +
        "openssl x509 -noout -fingerprint -sha256",
    )).replace(/^.*=/, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
