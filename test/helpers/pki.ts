/**
 * Grid trust material on disk for tests: IGTF-style directories with hash-named anchors,
 * CRLs and namespace files, written from the in-process test PKI (x509.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCrl, type CrlSpec, type TestCert } from './x509.js';

/** OpenSSL's subject hash of a certificate (the `<hash>.0` file name). */
export function subjectHash(cert: TestCert, old = false): string {
  return execFileSync('openssl', ['x509', '-noout', old ? '-subject_hash_old' : '-subject_hash'], {
    input: cert.pem,
  })
    .toString()
    .trim();
}

export interface CaEntry {
  crl?: Omit<CrlSpec, 'issuer'> | 'none';
  namespaces?: string;
  signingPolicy?: string;
}

/** Writes an IGTF-style directory: `<hash>.0`, `<hash>.r0`, `.namespaces`, `.signing_policy`. */
export async function writeTrustDir(dir: string, cas: [TestCert, CaEntry?][]): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [ca, entry = {}] of cas) {
    const hash = subjectHash(ca);
    await writeFile(join(dir, `${hash}.0`), ca.pem);
    if (entry.crl !== 'none')
      await writeFile(join(dir, `${hash}.r0`), makeCrl({ issuer: ca, ...(entry.crl ?? {}) }).pem);
    if (entry.namespaces !== undefined) await writeFile(join(dir, `${hash}.namespaces`), entry.namespaces);
    if (entry.signingPolicy !== undefined)
      await writeFile(join(dir, `${hash}.signing_policy`), entry.signingPolicy);
  }
  return dir;
}

/** Writes a PEM file with the given blocks and returns its path. */
export async function writePem(path: string, ...blocks: string[]): Promise<string> {
  await writeFile(path, blocks.join(''), { mode: 0o600 });
  return path;
}
