/**
 * Real VOMS proxies for tests, made by `voms-proxy-fake` (Debian voms-clients) from a
 * user certificate and a VOMS server certificate of the in-process test PKI.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { OID } from '../../src/shared/pki/oids.js';
import { pemBlocks } from '../../src/shared/pki/pem.js';
import { loadVomsDir } from '../../src/shared/pki/vomsdir.js';
import type { VomsDir } from '../../src/shared/pki/voms.js';
import type { TestCert } from '../helpers/x509.js';
import { haveTool } from './openssl.js';

export const HAVE_VOMS = haveTool('voms-proxy-fake');
const IN_CI = process.env['VMICAST_CI'] === '1';

/** Skip reason outside CI when voms-proxy-fake is missing; in CI the tests run and fail. */
export const VOMS_SKIP: string | false =
  !HAVE_VOMS && !IN_CI ? 'voms-proxy-fake is not installed (apt-get install voms-clients)' : false;

export interface FakeProxyOptions {
  user: TestCert;
  host: TestCert;
  vo: string;
  fqans: string[];
  /** Start the AC this long ago (voms-proxy-fake -pastac, e.g. "3:00"). */
  pastAc?: string;
  /** AC lifetime in hours (-vomslife). */
  vomsLife?: number;
  hours?: number;
}

/** A proxy file split into what signing needs: the proxy as a TestCert and its chain. */
export interface FakeProxy {
  proxy: TestCert;
  chain: TestCert[];
  /** The proxy file as voms-proxy-fake wrote it (cert, key, user cert). */
  file: string;
}

function asTestCert(der: Uint8Array, pem: string, keyPem: string): TestCert {
  const privateKey = createPrivateKey(keyPem);
  return {
    der,
    pem,
    key: { privateKey, publicKey: createPublicKey(privateKey) },
    keyPem,
    subject: '',
    serial: decodeCertificate(der).serial,
    spec: { subject: '' },
  };
}

let counter = 0;

/** Runs voms-proxy-fake -rfc for `user` with an AC signed by `host`. */
export async function fakeProxy(dir: string, o: FakeProxyOptions): Promise<FakeProxy> {
  const n = ++counter;
  const path = (name: string) => join(dir, `${n}-${name}`);
  await writeFile(path('user.pem'), o.user.pem);
  await writeFile(path('user.key'), o.user.keyPem, { mode: 0o600 });
  await writeFile(path('host.pem'), o.host.pem);
  await writeFile(path('host.key'), o.host.keyPem, { mode: 0o600 });
  const args = ['-q', '-rfc', '-cert', path('user.pem'), '-key', path('user.key')];
  args.push('-hostcert', path('host.pem'), '-hostkey', path('host.key'), '-voms', o.vo);
  args.push('-uri', 'voms.example.org:15000', '-hours', String(o.hours ?? 12));
  args.push('-vomslife', String(o.vomsLife ?? 12), '-bits', '2048', '-out', path('proxy.pem'));
  for (const fqan of o.fqans) args.push('-fqan', fqan);
  if (o.pastAc !== undefined) args.push('-pastac', o.pastAc);
  execFileSync('voms-proxy-fake', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const text = await readFile(path('proxy.pem'), 'latin1');
  const certs = pemBlocks(text, ['CERTIFICATE']);
  const keyPem = /-----BEGIN (RSA )?PRIVATE KEY-----[\s\S]*?-----END (RSA )?PRIVATE KEY-----\n?/.exec(
    text,
  )?.[0];
  const [first, ...rest] = certs;
  if (first === undefined || keyPem === undefined) throw new Error('voms-proxy-fake wrote no proxy');
  const pemOf = (der: Uint8Array) =>
    `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`;
  return {
    proxy: asTestCert(first.der, pemOf(first.der), keyPem),
    chain: rest.map((c) => asTestCert(c.der, pemOf(c.der), keyPem)),
    file: path('proxy.pem'),
  };
}

/** The DER value of the VOMS extension of a proxy (to move it into another proxy). */
export function vomsExtensionOf(proxy: TestCert): Uint8Array {
  const ext = decodeCertificate(proxy.der).extensions.find((e) => e.oid === OID.vomsAcSeq);
  if (ext === undefined) throw new Error('the proxy has no VOMS extension');
  return ext.value;
}

/** Writes `<dir>/<vo>/<host>.lsc` files (server DN, CA DN) and loads them. */
export async function writeVomsDir(
  dir: string,
  entries: { vo: string; host: string; dn: string; ca: string }[],
): Promise<VomsDir> {
  for (const e of entries) {
    await mkdir(join(dir, e.vo), { recursive: true });
    await writeFile(join(dir, e.vo, `${e.host}.lsc`), `${e.dn}\n${e.ca}\n`);
  }
  return loadVomsDir(dir);
}
