/**
 * The tamper table: each row is one change from a valid signed list, the exact code
 * vmicast must give, and OpenSSL's verdict on the same bytes (the differential oracle).
 * Where vmicast is stricter than OpenSSL by design, the row names the documented reason.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorCode } from '../../src/shared/errors.js';
import { VmiError } from '../../src/shared/errors.js';
import { DEFAULT_CHAIN_POLICY, type ChainPolicy } from '../../src/shared/pki/chain.js';
import { loadTrustStore } from '../../src/shared/pki/trustdir.js';
import type { TrustStore } from '../../src/shared/pki/truststore.js';
import type { VomsDir } from '../../src/shared/pki/voms.js';
import { composeEnvelope, splitEnvelope } from '../../src/shared/smime.js';
import { verifySignedList, type Authorization, type VerifiedList } from '../../src/shared/verify.js';
import { writeTrustDir, type CaEntry } from '../helpers/pki.js';
import { tempDir } from '../helpers/tmp.js';
import type { TestCert } from '../helpers/x509.js';
import { opensslVerify } from './openssl.js';

/** Why vmicast refuses what OpenSSL accepts (SPEC.md section 4 rules OpenSSL lacks). */
export type Stricter =
  | 'VOMS (OpenSSL ignores attribute certificates)'
  | 'IGTF namespaces (OpenSSL reads no .namespaces/.signing_policy)'
  | 'SHA-1 refused by default'
  | 'MD5 refused (OpenSSL 3.0 accepts MD5-signed certificates)'
  | 'RSA keys under 2048 bits'
  | 'endorser and VO rules (OpenSSL does not read the list)'
  | 'multipart/signed only (SPEC.md section 3)'
  | 'exactly one SignerInfo (SPEC.md section 3)'
  | 'one hash per signature (RFC 5754 section 3.2)';

export interface Trust {
  /** An IGTF directory, or a PEM bundle when `caFile` is set. */
  caDir: string;
  store: TrustStore;
  caFile?: boolean;
}

export interface Row {
  name: string;
  signed: Uint8Array;
  trust: Trust;
  /** The code vmicast must give; null means accepted. */
  code: ErrorCode | null;
  /** Set when OpenSSL accepts what vmicast refuses, with the documented reason. */
  stricter?: Stricter;
  /** Set when SPEC.md admits what OpenSSL refuses, with the section that says so. */
  laxer?: string;
  /** OpenSSL judges the same bytes without CRL checks (`--crl off`). */
  policy?: Partial<ChainPolicy>;
  authorization?: Authorization;
  vomsDir?: VomsDir;
  now?: Date;
  allowEndorserMismatch?: boolean;
  /** Skip the OpenSSL side (rows OpenSSL cannot judge at all). */
  noOracle?: string;
}

export function ourVerdict(row: Row): { code: ErrorCode | null; result?: VerifiedList; error?: VmiError } {
  try {
    const result = verifySignedList(row.signed, row.trust.store, {
      now: row.now ?? new Date(),
      policy: { ...DEFAULT_CHAIN_POLICY, ...row.policy },
      vomsDir: row.vomsDir ?? new Map(),
      authorization: row.authorization,
      allowEndorserMismatch: row.allowEndorserMismatch,
    });
    return { code: null, result };
  } catch (err) {
    if (!(err instanceof VmiError)) throw err;
    return { code: err.code, error: err };
  }
}

/** Asserts vmicast's exact code and OpenSSL's verdict for one row. */
export function checkRow(row: Row): void {
  const ours = ourVerdict(row);
  assert.equal(ours.code, row.code, `${row.name}: ${ours.error?.message ?? 'accepted'}`);
  if (row.noOracle !== undefined) return;
  const policy = { ...DEFAULT_CHAIN_POLICY, ...row.policy };
  const caFile = row.trust.caFile === true;
  assert.ok(
    caFile ? statSync(row.trust.caDir).isFile() : statSync(row.trust.caDir).isDirectory(),
    `${row.trust.caDir} is gone`,
  );
  const theirs = opensslVerify(row.signed, {
    caDir: row.trust.caDir,
    caFile,
    purpose: policy.purpose === 'any' ? 'any' : 'smimesign',
    // OpenSSL has no "if-present": without CRLs, not checking gives the same verdict.
    crlCheck: policy.crl === 'require',
    ...(row.now === undefined ? {} : { attime: row.now }),
  });
  if (process.env['VMICAST_ORACLE_LOG'] === '1') {
    const why = theirs.stderr.trim().replace(/\s+/g, ' ').slice(0, 200);
    process.stderr.write(
      `oracle: ${row.name}: vmicast ${row.code ?? 'ok'}; openssl ${theirs.ok ? 'ok' : why}\n`,
    );
  }
  const expectOpenssl = (row.code === null && row.laxer === undefined) || row.stricter !== undefined;
  assert.equal(
    theirs.ok,
    expectOpenssl,
    `${row.name}: OpenSSL ${theirs.ok ? 'accepted' : 'refused'} (${theirs.stderr.trim().replace(/\s+/g, ' ')})` +
      (row.stricter === undefined ? '' : `; documented difference: ${row.stricter}`),
  );
}

/** Writes an IGTF directory for these CAs and loads it. */
export async function trustFor(cas: [TestCert, CaEntry?][]): Promise<Trust> {
  const caDir = await writeTrustDir(join(await tempDir('vmicast-trust-'), 'certificates'), cas);
  return { caDir, store: await loadTrustStore(caDir) };
}

/** Replaces the DER signature of an envelope, keeping the signed part byte for byte. */
export function withSignature(signed: Uint8Array, signature: Uint8Array): Uint8Array {
  return composeEnvelope(splitEnvelope(signed).signedBytes, signature, 'sha256');
}

/** Replaces the signed part of an envelope, keeping its signature. */
export function withContent(signed: Uint8Array, content: Uint8Array): Uint8Array {
  return composeEnvelope(content, splitEnvelope(signed).signature, 'sha256');
}

/** Flips one bit of byte `offset` (negative: from the end). */
export function flipByte(bytes: Uint8Array, offset: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  const at = offset < 0 ? copy.length + offset : offset;
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}
