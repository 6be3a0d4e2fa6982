import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM material for TLS tests: a CA, a server certificate and a client certificate it signed, and an unrelated CA. */
export interface TlsFixtures {
  /** The CA certificate that signed `serverCert` and `clientCert`. */
  ca: string;
  /** Server certificate for `127.0.0.1`, `::1` and `localhost`. */
  serverCert: string;
  serverKey: string;
  /** Client certificate with CN `kuberollouttrigger-test`, O `system:masters`. */
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: trusting only it must fail verification. */
  otherCa: string;
  /** A certificate and key signed by `otherCa` (a client or server the real CA must refuse). */
  otherCert: string;
  otherKey: string;
}

/** Runs `openssl` with space-separated arguments (none of ours contains a space). */
async function openssl(dir: string, command: string): Promise<void> {
  const args = command.split(" ");
  const proc = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`openssl ${args[0]} failed (${code}): ${stderr.trim()}`);
}

const NEW_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

async function makeCa(dir: string, name: string): Promise<void> {
  const ext = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
  await openssl(
    dir,
    `req -x509 ${NEW_KEY} -keyout ${name}.key -out ${name}.crt -days 2 -subj /CN=${name} ${ext}`,
  );
}

async function signLeaf(dir: string, ca: string, name: string, subject: string, ext: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(dir, `req ${NEW_KEY} -keyout ${name}.key -out ${name}.csr -subj ${subject}`);
  const signer = `-CA ${ca}.crt -CAkey ${ca}.key -CAcreateserial`;
  await openssl(dir, `x509 -req -in ${name}.csr ${signer} -out ${name}.crt -days 2 -extfile ${name}.ext`);
}

const SERVER_EXT = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=serverAuth",
  "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
  "",
].join("\n");
const CLIENT_EXT = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=clientAuth",
  "",
].join("\n");
const BOTH_EXT = CLIENT_EXT.replace("clientAuth", "serverAuth,clientAuth").concat(
  "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n",
);

/**
 * Makes throwaway TLS material with `openssl` (must be on PATH) in a temporary directory that is removed
 * afterwards. Certificates are valid for two days.
 */
export async function makeTlsFixtures(): Promise<TlsFixtures> {
  const dir = await mkdtemp(join(tmpdir(), "kube-tls-"));
  try {
    await makeCa(dir, "ca");
    await makeCa(dir, "other-ca");
    await signLeaf(dir, "ca", "server", "/CN=127.0.0.1", SERVER_EXT);
    await signLeaf(dir, "ca", "client", "/O=system:masters/CN=kuberollouttrigger-test", CLIENT_EXT);
    await signLeaf(dir, "other-ca", "other", "/CN=impostor", BOTH_EXT);
    const read = (file: string) => readFile(join(dir, file), "utf8");
    return {
      ca: await read("ca.crt"),
      serverCert: await read("server.crt"),
      serverKey: await read("server.key"),
      clientCert: await read("client.crt"),
      clientKey: await read("client.key"),
      otherCa: await read("other-ca.crt"),
      otherCert: await read("other.crt"),
      otherKey: await read("other.key"),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
