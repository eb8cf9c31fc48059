/**
 * TLS for every listener: the key pair (from `--tls-cert`/`--tls-key`, or made at start for localhost with
 * `--tls-self-signed`), its reload on `SIGHUP`, and opening a listener with or without it.
 *
 * Deno cannot change the certificate of a TLS listener, so a reload opens a new listener on the same port
 * (`SO_REUSEPORT` on Linux, so there is no moment without one) and closes the old one: connections made before
 * keep their session, new handshakes get the new pair. A pair that does not load is refused before anything
 * changes, naming the file and why.
 * @module
 */

import { createHash } from "node:crypto";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["hubbub", "tls"]);

/** A certificate or key that cannot be used, with the one line that says which and why. */
export class TlsError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TlsError";
  }
}

/** A certificate chain and its private key, in PEM. */
export interface KeyPair {
  /** The certificate chain, leaf first. */
  readonly cert: string;
  /** The private key. */
  readonly key: string;
}

/** Where the pair comes from. */
export type TlsSource =
  | { readonly kind: "files"; readonly cert: string; readonly key: string }
  | { readonly kind: "self-signed" };

/**
 * The key pair in use, shared by every TLS listener. `reload()` re-reads the files and, when the new pair
 * works, tells the listeners (a `change` event) to take it for new handshakes.
 */
export class TlsKeys extends EventTarget {
  readonly #source: TlsSource;
  #pair: KeyPair;
  #fingerprint: string;

  private constructor(source: TlsSource, pair: KeyPair, fingerprint: string) {
    super();
    this.#source = source;
    this.#pair = pair;
    this.#fingerprint = fingerprint;
  }

  /** Loads (or, self-signed, makes) the pair and checks that it works. Throws {@linkcode TlsError}. */
  static load(source: TlsSource): TlsKeys {
    const pair = source.kind === "files" ? readPair(source) : selfSigned();
    check(pair, source);
    return new TlsKeys(source, pair, fingerprint(pair.cert));
  }

  /** The pair new handshakes use. */
  get pair(): KeyPair {
    return this.#pair;
  }

  /** SHA-256 of the leaf certificate (`AB:CD:...`), as browsers and `openssl x509 -fingerprint` show it. */
  get fingerprint(): string {
    return this.#fingerprint;
  }

  /** Whether the pair was made at start (`--tls-self-signed`). */
  get selfSigned(): boolean {
    return this.#source.kind === "self-signed";
  }

  /**
   * Re-reads the files (`SIGHUP`). A pair that loads and works replaces the old one and the listeners reopen
   * with it; one that does not is logged and the old one stays. A self-signed pair is kept as it is.
   */
  reload(): boolean {
    if (this.#source.kind !== "files") return false;
    let pair: KeyPair;
    try {
      pair = readPair(this.#source);
      check(pair, this.#source);
    } catch (error) {
      log.error("TLS reload refused, the old certificate stays: {error}", {
        error: (error as Error).message,
      });
      return false;
    }
    this.#pair = pair;
    this.#fingerprint = fingerprint(pair.cert);
    log.info("TLS certificate reloaded", { fingerprint: this.#fingerprint });
    this.dispatchEvent(new Event("change"));
    return true;
  }
}

/** Where and how a door listens. */
export interface ListenSpec {
  /** Interface to bind. */
  readonly hostname: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** Share the port with other processes (`--workers`). */
  readonly reusePort?: boolean;
  /** Serve TLS with these keys; plain TCP when absent. */
  readonly tls?: TlsKeys | null;
}

/** Opens a plain or TLS listener; a TLS one on Linux shares its port, so that a reload can open the next. */
export function listen(spec: ListenSpec): Deno.Listener {
  const reusePort = spec.reusePort === true || (Boolean(spec.tls) && Deno.build.os === "linux");
  const common = { hostname: spec.hostname, port: spec.port, ...(reusePort ? { reusePort: true } : {}) };
  if (!spec.tls) return Deno.listen({ ...common, transport: "tcp" });
  return Deno.listenTls({ ...common, cert: spec.tls.pair.cert, key: spec.tls.pair.key });
}

function readPair(source: { readonly cert: string; readonly key: string }): KeyPair {
  return { cert: readPem(source.cert, "--tls-cert"), key: readPem(source.key, "--tls-key") };
}

function readPem(path: string, flag: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new TlsError(`${flag} ${path}: cannot read it (${(error as Error).message})`, { cause: error });
  }
  if (!/-----BEGIN [A-Z ]+-----/.test(text)) throw new TlsError(`${flag} ${path}: not a PEM file`);
  return text;
}

/** Whether the pair works: a throwaway TLS listener on loopback takes it or says why not. */
function check(pair: KeyPair, source: TlsSource): void {
  try {
    Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: pair.cert, key: pair.key }).close();
  } catch (error) {
    const what = source.kind === "files"
      ? `--tls-cert ${source.cert} with --tls-key ${source.key}`
      : "the pair";
    throw new TlsError(`${what}: cannot be used (${(error as Error).message})`, { cause: error });
  }
}

/**
 * A fresh key pair and certificate for localhost (`127.0.0.1`, `::1`), valid 30 days, made with `openssl`:
 * nothing to install beyond what every server has, and no key generation in JavaScript.
 */
function selfSigned(): KeyPair {
  const dir = Deno.makeTempDirSync({ prefix: "hubbub-tls-" });
  try {
    let output: Deno.CommandOutput;
    try {
      output = new Deno.Command("openssl", {
        args: [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-days",
          "30",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
          "-keyout",
          `${dir}/key.pem`,
          "-out",
          `${dir}/cert.pem`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).outputSync();
    } catch (error) {
      throw new TlsError(`--tls-self-signed: cannot run openssl (${(error as Error).message})`, {
        cause: error,
      });
    }
    if (!output.success) {
      const why = new TextDecoder().decode(output.stderr).trim().split("\n")[0];
      throw new TlsError(`--tls-self-signed: openssl failed (${why})`);
    }
    return { cert: Deno.readTextFileSync(`${dir}/cert.pem`), key: Deno.readTextFileSync(`${dir}/key.pem`) };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** SHA-256 of the first certificate of a PEM chain, as colon-separated hex. */
export function fingerprint(certPem: string): string {
  const match = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(certPem);
  if (!match) return "";
  const der = Uint8Array.from(atob(match[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  return [...sha256(der)].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** SHA-256, synchronously (a fingerprint is needed at start, before anything is async). */
function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}
