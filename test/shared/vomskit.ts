/**
 * Real VOMS proxies for tests, made by `voms-proxy-fake` (Debian voms-clients) from a
 * user certificate and a VOMS server certificate of the in-process test PKI.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { OID } from '../../src/shared/pki/oids.js';
import { pemBlocks } from '../../src/shared/pki/pem.js';
import { loadVomsDir } from '../../src/shared/pki/vomsdir.js';
import type { VomsDir } from '../../src/shared/pki/voms.js';
import { issue, type TestCert } from '../helpers/x509.js';
import { haveTool } from './openssl.js';

export const HAVE_VOMS = haveTool('voms-proxy-fake');

/** The VO, FQAN and VOMS server of the VOMS tables, and OpenSSL's documented difference. */
export const VO = 'vo.example.org';
export const OTHER_VO = 'other.example.net';
export const FQAN = `/${VO}/Role=NULL/Capability=NULL`;
export const VOMS_DN = '/DC=org/DC=example/CN=voms.example.org';
export const STRICTER = 'VOMS (OpenSSL ignores attribute certificates)' as const;

/** A VOMS server's host certificate. */
export function hostCert(subject: string, issuer: TestCert): TestCert {
  return issue({
    subject,
    issuer,
    ca: false,
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: ['serverAuth', 'clientAuth'],
  });
}
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
  /** voms-proxy-fake -target: the services the AC is meant for. */
  target?: string;
  /** voms-proxy-fake -acextension: extra AC extensions with a DER value of our own. */
  acExtensions?: { oid: string; critical: boolean; value: Uint8Array }[];
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
  // Relative names, run in `dir`: with long absolute paths this voms-proxy-fake (2.1.0~rc3)
  // crashes (SIGSEGV) when -target is given, so the command line is kept short.
  const rel = (name: string) => `${n}-${name}`;
  const args = ['-q', '-rfc', '-cert', rel('user.pem'), '-key', rel('user.key')];
  args.push('-hostcert', rel('host.pem'), '-hostkey', rel('host.key'), '-voms', o.vo);
  args.push('-uri', 'voms.example.org:15000', '-hours', String(o.hours ?? 12));
  args.push('-vomslife', String(o.vomsLife ?? 12), '-bits', '2048', '-out', rel('proxy.pem'));
  for (const fqan of o.fqans) args.push('-fqan', fqan);
  if (o.pastAc !== undefined) args.push('-pastac', o.pastAc);
  if (o.target !== undefined) args.push('-target', o.target);
  // voms-proxy-fake takes the value of -acextension as raw bytes after `oid/crit:`; node
  // would pass a string argument as UTF-8, so bash reads each one from a file instead.
  const files = await Promise.all(
    (o.acExtensions ?? []).map(async (e, i) => {
      if (e.value.includes(0) || e.value.at(-1) === 0x0a)
        throw new Error(`${e.oid}: bash drops NUL and final LF`);
      const file = rel(`acext-${i}`);
      await writeFile(join(dir, file), Buffer.concat([Buffer.from(`${e.oid}/${e.critical}:`), e.value]));
      return file;
    }),
  );
  const script =
    'n=$1; shift; ext=(); for ((i = 0; i < n; i++)); do ext+=(-acextension "$(cat "$1")"); shift; done; ' +
    'exec voms-proxy-fake "$@" "${ext[@]}"';
  execFileSync('bash', ['-c', script, 'vomskit', String(files.length), ...files, ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

/**
 * A targetInformation value (2.5.29.55) naming services by URI. `voms` is how VOMS's C
 * library writes it (each target wrapped in a SEQUENCE), `rfc` is RFC 5755's Targets as
 * BouncyCastle (VOMS-AA, INDIGO IAM) writes it.
 */
export function targetsValue(names: string[], style: 'voms' | 'rfc'): Uint8Array {
  const targets = names.map((name) => {
    const uri = new asn1js.Primitive({
      idBlock: { tagClass: 3, tagNumber: 6 },
      valueHex: new TextEncoder().encode(name),
    });
    const tagged = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [uri] });
    return style === 'voms' ? new asn1js.Sequence({ value: [tagged] }) : tagged;
  });
  return new Uint8Array(new asn1js.Sequence({ value: [new asn1js.Sequence({ value: targets })] }).toBER());
}
