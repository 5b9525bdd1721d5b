/**
 * The OpenSSL command line as a test oracle: signs lists the way publishers do with
 * `openssl smime -sign` and judges signed lists with `openssl cms -verify`, so that tests
 * can compare vmicast's verdicts with OpenSSL's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let scratch: string | undefined;
let counter = 0;

/** A fresh file name in one scratch directory per test process. */
export function scratchFile(name: string): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'vmicast-openssl-'));
  counter++;
  return join(scratch, `${counter}-${name}`);
}

export function writeScratch(name: string, data: string | Uint8Array): string {
  const path = scratchFile(name);
  writeFileSync(path, data);
  return path;
}

export interface RunResult {
  status: number;
  stdout: Buffer;
  stderr: string;
}

export function openssl(args: string[], input?: Uint8Array): RunResult {
  const r = spawnSync('openssl', args, { input, maxBuffer: 256 * 1024 * 1024 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

export interface SmimeSignOptions {
  content: Uint8Array;
  signerPem: string;
  keyPem: string;
  /** Extra certificates to embed (PEM). */
  certfile?: string;
  md?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  text?: boolean;
  binary?: boolean;
  nodetach?: boolean;
  /** Use `openssl cms -sign` instead of `openssl smime -sign`. */
  cms?: boolean;
  /** Write DER (the bare SignedData) instead of S/MIME. */
  der?: boolean;
  /** More arguments, e.g. `-noattr`, `-keyid`, a second `-signer`. */
  extra?: string[];
}

/** Signs `content` with the OpenSSL command line and returns the S/MIME output. */
export function opensslSign(options: SmimeSignOptions): Uint8Array {
  const input = writeScratch('content.json', options.content);
  const signer = writeScratch('signer.pem', options.signerPem);
  const key = writeScratch('signer.key', options.keyPem);
  const out = scratchFile('signed.smime');
  const args = [options.cms === true ? 'cms' : 'smime', '-sign', '-in', input, '-signer', signer];
  args.push('-inkey', key, '-out', out, '-md', options.md ?? 'sha256');
  if (options.certfile !== undefined) args.push('-certfile', writeScratch('chain.pem', options.certfile));
  if (options.text === true) args.push('-text');
  if (options.binary === true) args.push('-binary');
  if (options.nodetach === true) args.push('-nodetach');
  if (options.der === true) args.push('-outform', 'DER');
  args.push(...(options.extra ?? []));
  const r = openssl(args);
  if (r.status !== 0) throw new Error(`openssl sign failed: ${r.stderr}`);
  return new Uint8Array(readFileSync(out));
}

export interface OpensslVerifyOptions {
  caDir: string;
  /** A PEM bundle (certificates and CRLs) instead of a hashed directory. */
  caFile?: boolean;
  purpose?: 'smimesign' | 'any';
  /** -crl_check_all (CRLs of the leaf and of every CA; the default), -crl_check (leaf only) or none. */
  crlCheck?: boolean | 'leaf';
  proxies?: boolean;
  binary?: boolean;
  /** Validation time (seconds since the epoch). */
  attime?: Date;
  /** `smime` instead of `cms`. */
  smime?: boolean;
}

export interface Verdict {
  ok: boolean;
  stderr: string;
}

/** `openssl cms -verify -inform SMIME -CApath ...`: OpenSSL's verdict on a signed list. */
export function opensslVerify(signed: Uint8Array, options: OpensslVerifyOptions): Verdict {
  const file = writeScratch('verify.smime', signed);
  const args = [options.smime === true ? 'smime' : 'cms', '-verify', '-in', file];
  args.push(options.caFile === true ? '-CAfile' : '-CApath', options.caDir);
  if (options.smime !== true) args.push('-inform', 'SMIME');
  args.push('-out', '/dev/null', '-purpose', options.purpose ?? 'smimesign');
  if (options.crlCheck === 'leaf') args.push('-crl_check');
  else if (options.crlCheck !== false) args.push('-crl_check_all');
  if (options.proxies !== false) args.push('-allow_proxy_certs');
  if (options.binary === true) args.push('-binary');
  if (options.attime !== undefined) args.push('-attime', String(Math.floor(options.attime.getTime() / 1000)));
  const r = openssl(args);
  return { ok: r.status === 0, stderr: r.stderr };
}

/** `openssl x509 -noout -subject -nameopt compat`, without the `subject=` prefix. */
export function opensslSubject(pem: string): string {
  const r = openssl(['x509', '-noout', '-subject', '-nameopt', 'compat'], Buffer.from(pem));
  if (r.status !== 0) throw new Error(`openssl x509 failed: ${r.stderr}`);
  return r.stdout
    .toString('latin1')
    .replace(/^subject=/, '')
    .replace(/\n$/, '');
}

/** True when the tool is on PATH. */
export function haveTool(name: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${name}`]);
  return r.status === 0;
}
