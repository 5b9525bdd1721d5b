import { createHash } from 'node:crypto';
import { decodeCertificate, decodeCrl } from './asn1/cert.js';
import { DnMap, dnKey, formatOneline, nameKey } from './dn.js';
import { parseNamespaces, parseSigningPolicy, type NamespacePolicy } from './namespaces.js';
import { isPem, pemBlocks } from './pem.js';
import type { Certificate, Crl } from './types.js';

/**
 * Trust material: CA certificates, CRLs and IGTF namespace policies, indexed for path
 * building. Built from file contents by a pure function; src/shared/pki/trustdir.ts
 * reads them from disk.
 */

export interface TrustFile {
  name: string;
  bytes: Uint8Array;
}

export interface TrustStore {
  location: string;
  certificates: Certificate[];
  crls: Crl[];
  /** Namespace policies of the CAs they constrain, found by any spelling of the CA's DN. */
  namespaces: DnMap<NamespacePolicy>;
  /** Files that could not be used, with the reason (shown in status, never fatal). */
  warnings: string[];
  bySubject: Map<string, Certificate[]>;
  crlsByIssuer: Map<string, Crl[]>;
  fingerprints: Set<string>;
}

export function fingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

function derBlocks(bytes: Uint8Array, labels: readonly string[]): Uint8Array[] {
  return isPem(bytes) ? pemBlocks(Buffer.from(bytes).toString('latin1'), labels).map((b) => b.der) : [bytes];
}

function pushTo<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

const CERT_FILE = /\.(\d+|pem|crt|cer)$/i;
const CRL_FILE = /\.r\d+$/i;

/** Builds a trust store from files of an IGTF directory, or from one PEM bundle. */
export function buildTrustStore(location: string, files: TrustFile[]): TrustStore {
  const store: TrustStore = {
    location,
    certificates: [],
    crls: [],
    namespaces: new DnMap(),
    warnings: [],
    bySubject: new Map(),
    crlsByIssuer: new Map(),
    fingerprints: new Set(),
  };
  const crlPrints = new Set<string>();
  const decoded = new Map<string, Certificate>();
  const selfByHash = new Map<string, string>();
  const policyFiles: TrustFile[] = [];

  for (const file of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    try {
      if (CRL_FILE.test(file.name)) {
        for (const der of derBlocks(file.bytes, ['X509 CRL'])) {
          const print = fingerprint(der);
          if (crlPrints.has(print)) continue;
          crlPrints.add(print);
          const crl = decodeCrl(der);
          store.crls.push(crl);
          pushTo(store.crlsByIssuer, nameKey(crl.issuer), crl);
        }
      } else if (CERT_FILE.test(file.name)) {
        for (const der of derBlocks(file.bytes, ['CERTIFICATE', 'TRUSTED CERTIFICATE'])) {
          const print = fingerprint(der);
          const hash = /^([0-9a-f]{8})\.\d+$/i.exec(file.name)?.[1];
          // An IGTF directory holds each CA twice or three times (<alias>.pem, <hash>.0 and
          // the old hash): the same bytes decode to the same certificate, once.
          const seen = decoded.get(print);
          const cert = seen ?? decodeCertificate(der, 'CONFIG_INVALID');
          if (hash !== undefined) selfByHash.set(hash.toLowerCase(), formatOneline(cert.subject));
          if (seen !== undefined) continue;
          decoded.set(print, cert);
          store.fingerprints.add(print);
          store.certificates.push(cert);
          pushTo(store.bySubject, nameKey(cert.subject), cert);
        }
      } else if (/\.(namespaces|signing_policy)$/.test(file.name)) {
        policyFiles.push(file);
      }
    } catch (err) {
      store.warnings.push(`${file.name}: ${(err as Error).message}`);
    }
  }
  loadPolicies(store, policyFiles, selfByHash);
  return store;
}

function loadPolicies(store: TrustStore, files: TrustFile[], selfByHash: Map<string, string>): void {
  // .namespaces first: it takes precedence over .signing_policy for the same CA.
  const ordered = [...files].sort(
    (a, b) => Number(b.name.endsWith('.namespaces')) - Number(a.name.endsWith('.namespaces')),
  );
  for (const file of ordered) {
    const text = Buffer.from(file.bytes).toString('utf8');
    const hash = /^([0-9a-f]{8})\./i.exec(file.name)?.[1]?.toLowerCase();
    let policy: NamespacePolicy;
    try {
      policy = file.name.endsWith('.namespaces')
        ? parseNamespaces(text, file.name, hash === undefined ? undefined : selfByHash.get(hash))
        : parseSigningPolicy(text, file.name);
    } catch (err) {
      // Fail closed: a CA whose policy cannot be read certifies nothing.
      store.warnings.push(`${file.name}: ${(err as Error).message}`);
      const self = hash === undefined ? undefined : selfByHash.get(hash);
      if (self !== undefined && !store.namespaces.has(self)) {
        store.namespaces.set(self, { source: 'namespaces', file: file.name, rules: [] });
      }
      continue;
    }
    // The rules by issuer, each issuer's DN read once (the IGTF files have hundreds).
    const byIssuer = new Map<string, { issuer: string; rules: NamespacePolicy['rules'] }>();
    for (const r of policy.rules) {
      const key = dnKey(r.issuer);
      const group = byIssuer.get(key);
      if (group === undefined) byIssuer.set(key, { issuer: r.issuer, rules: [r] });
      else group.rules.push(r);
    }
    for (const { issuer, rules } of byIssuer.values()) {
      const existing = store.namespaces.get(issuer);
      if (existing === undefined) {
        store.namespaces.set(issuer, policy);
      } else if (existing.source === policy.source && existing.file !== policy.file) {
        existing.rules.push(...rules);
      }
    }
  }
  // A CA with a policy file of its own that names no rule for it (an empty file, or rules
  // for another DN spelling) certifies nothing rather than everything (found by issue 8).
  for (const file of ordered) {
    const hash = /^([0-9a-f]{8})\./i.exec(file.name)?.[1]?.toLowerCase();
    const self = hash === undefined ? undefined : selfByHash.get(hash);
    if (self === undefined || store.namespaces.has(self)) continue;
    store.warnings.push(`${file.name}: no rule for its own CA ${self}, which therefore certifies nothing`);
    const source = file.name.endsWith('.namespaces') ? 'namespaces' : 'signing_policy';
    store.namespaces.set(self, { source, file: file.name, rules: [] });
  }
}

export interface TrustSummary {
  location: string;
  anchors: number;
  expiredAnchors: { subject: string; notAfter: string }[];
  crls: { issuer: string; thisUpdate: string; nextUpdate: string | null; stale: boolean }[];
  staleCrls: number;
  namespacePolicies: number;
  warnings: string[];
}

/** What status output shows about the trust store at `now`. */
export function summarizeTrustStore(store: TrustStore, now: Date): TrustSummary {
  const crls = store.crls.map((c) => ({
    issuer: formatOneline(c.issuer),
    thisUpdate: c.thisUpdate.toISOString(),
    nextUpdate: c.nextUpdate?.toISOString() ?? null,
    stale: c.nextUpdate !== undefined && c.nextUpdate.getTime() < now.getTime(),
  }));
  return {
    location: store.location,
    anchors: store.certificates.length,
    expiredAnchors: store.certificates
      .filter((c) => c.notAfter.getTime() < now.getTime())
      .map((c) => ({ subject: formatOneline(c.subject), notAfter: c.notAfter.toISOString() })),
    crls,
    staleCrls: crls.filter((c) => c.stale).length,
    namespacePolicies: store.namespaces.size,
    warnings: store.warnings,
  };
}
