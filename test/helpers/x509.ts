/**
 * Test PKI made at run time: certificates, proxies and CRLs built in-process with
 * asn1js and signed with Node's crypto, so that every field (dates, critical flags,
 * odd names, weak algorithms) can be set exactly. Nothing here is committed.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { OID } from '../../src/shared/pki/oids.js';
import { toPem } from '../../src/shared/pki/pem.js';

export type KeyType = 'rsa' | 'rsa1024' | 'ec' | 'ed25519';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function newKey(type: KeyType = 'rsa'): KeyPair {
  switch (type) {
    case 'rsa':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'rsa1024':
      return generateKeyPairSync('rsa', { modulusLength: 1024 });
    case 'ec':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ed25519':
      return generateKeyPairSync('ed25519');
  }
}

export interface TestCert {
  der: Uint8Array;
  pem: string;
  key: KeyPair;
  keyPem: string;
  /** Oneline subject as given. */
  subject: string;
  serial: string;
  spec: CertSpec;
}

/** A raw attribute for names OpenSSL's -subj cannot express. */
export interface RawAttribute {
  oid: string;
  tag: number;
  value: Uint8Array;
}

export type NameInput = string | RawAttribute[][];

export interface CertSpec {
  subject: NameInput;
  /** Undefined: self-signed. */
  issuer?: TestCert;
  key?: KeyPair;
  keyType?: KeyType;
  serial?: string;
  notBefore?: Date;
  notAfter?: Date;
  ca?: boolean;
  pathLen?: number;
  /** null: no keyUsage extension. */
  keyUsage?: string[] | null;
  /** null or undefined: no extKeyUsage extension. */
  extKeyUsage?: string[] | null;
  extensions?: { oid: string; critical: boolean; value: Uint8Array }[];
  /** Make an RFC 3820 proxy: subject must be issuer + CN. */
  proxy?: { pathLen?: number; policyLanguage?: string };
  hash?: 'sha256' | 'sha1' | 'md5' | 'sha384' | 'sha512';
  /** Leave out subject/authority key identifiers. */
  noKeyIds?: boolean;
}

const ATTR_OIDS: Record<string, string> = {
  CN: '2.5.4.3',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  emailAddress: '1.2.840.113549.1.9.1',
  serialNumber: '2.5.4.5',
};

function stringBlock(oid: string, value: string): asn1js.AsnType {
  if (oid === ATTR_OIDS['C']) return new asn1js.PrintableString({ value });
  if (oid === ATTR_OIDS['DC'] || oid === ATTR_OIDS['emailAddress']) return new asn1js.IA5String({ value });
  return new asn1js.Utf8String({ value });
}

/** Parses `/A=v/B=w+C=x` (with `\/` and `\+` escapes) into RDNs. */
export function parseOneline(dn: string): { type: string; value: string }[][] {
  const rdns: { type: string; value: string }[][] = [];
  const parts = dn.replace(/^\//, '').split(/(?<!\\)\//);
  for (const part of parts) {
    rdns.push(
      part.split(/(?<!\\)\+/).map((atv) => {
        const eq = atv.indexOf('=');
        return { type: atv.slice(0, eq), value: atv.slice(eq + 1).replace(/\\([/+])/g, '$1') };
      }),
    );
  }
  return rdns;
}

export function encodeName(name: NameInput): asn1js.Sequence {
  const rdns: asn1js.AsnType[][] =
    typeof name === 'string'
      ? parseOneline(name).map((rdn) =>
          rdn.map((a) => {
            const oid = ATTR_OIDS[a.type] ?? a.type;
            return new asn1js.Sequence({
              value: [new asn1js.ObjectIdentifier({ value: oid }), stringBlock(oid, a.value)],
            });
          }),
        )
      : name.map((rdn) =>
          rdn.map((a) => {
            const raw = new Uint8Array([a.tag, ...derLength(a.value.length), ...a.value]);
            return new asn1js.Sequence({
              value: [new asn1js.ObjectIdentifier({ value: a.oid }), asn1js.fromBER(raw).result],
            });
          }),
        );
  return new asn1js.Sequence({ value: rdns.map((rdn) => new asn1js.Set({ value: rdn })) });
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function time(date: Date): asn1js.AsnType {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? new asn1js.UTCTime({ valueDate: date })
    : new asn1js.GeneralizedTime({ valueDate: date });
}

const SIG_OIDS: Record<string, Record<string, string>> = {
  rsa: {
    sha256: OID.sha256WithRSA,
    sha1: OID.sha1WithRSA,
    md5: OID.md5WithRSA,
    sha384: OID.sha384WithRSA,
    sha512: OID.sha512WithRSA,
  },
  ec: {
    sha256: OID.ecdsaWithSha256,
    sha1: OID.ecdsaWithSha1,
    sha384: OID.ecdsaWithSha384,
    sha512: OID.ecdsaWithSha512,
  },
};

function algorithm(key: KeyObject, hash: string): asn1js.Sequence {
  if (key.asymmetricKeyType === 'ed25519') {
    return new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.ed25519 })] });
  }
  const family = key.asymmetricKeyType === 'ec' ? 'ec' : 'rsa';
  const oid = SIG_OIDS[family]?.[hash];
  if (oid === undefined) throw new Error(`no ${family} signature with ${hash}`);
  return new asn1js.Sequence({
    value:
      family === 'rsa'
        ? [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.Null()]
        : [new asn1js.ObjectIdentifier({ value: oid })],
  });
}

function signBytes(key: KeyObject, hash: string, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(key.asymmetricKeyType === 'ed25519' ? null : hash, data, key));
}

function extension(oid: string, critical: boolean, value: asn1js.AsnType | Uint8Array): asn1js.Sequence {
  const der = value instanceof Uint8Array ? value : new Uint8Array(value.toBER());
  return new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: oid }),
      ...(critical ? [new asn1js.Boolean({ value: true })] : []),
      new asn1js.OctetString({ valueHex: der.slice() }),
    ],
  });
}

const KU_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

function keyUsageValue(usages: string[]): asn1js.BitString {
  let bits = 0;
  let last = 0;
  for (const u of usages) {
    const i = KU_BITS.indexOf(u);
    if (i < 0) throw new Error(`unknown key usage ${u}`);
    bits |= 0x8000 >> i;
    last = Math.max(last, i);
  }
  const bytes = last >= 8 ? [bits >> 8, bits & 0xff] : [bits >> 8];
  const unused = (last >= 8 ? 16 : 8) - (last + 1);
  return new asn1js.BitString({ valueHex: new Uint8Array(bytes), unusedBits: unused });
}

const EKU_OIDS: Record<string, string> = {
  emailProtection: OID.emailProtection,
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  anyExtendedKeyUsage: OID.anyExtendedKeyUsage,
};

function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

function keyId(key: KeyObject): Uint8Array {
  return new Uint8Array(createHash('sha1').update(spkiOf(key)).digest());
}

/** Issues a certificate from `spec` (self-signed when no issuer is given). */
export function issue(spec: CertSpec): TestCert {
  const key = spec.key ?? newKey(spec.keyType ?? 'rsa');
  const issuerKey = spec.issuer?.key ?? key;
  const hash = spec.hash ?? 'sha256';
  const serial = spec.serial ?? `01${randomBytes(8).toString('hex')}`;
  const now = Date.now();
  const notBefore = spec.notBefore ?? new Date(now - 3600_000);
  const notAfter = spec.notAfter ?? new Date(now + 30 * 86400_000);
  const exts: asn1js.Sequence[] = [];
  if (spec.ca === true || spec.ca === false) {
    const bc: asn1js.AsnType[] = spec.ca ? [new asn1js.Boolean({ value: true })] : [];
    if (spec.pathLen !== undefined) bc.push(new asn1js.Integer({ value: spec.pathLen }));
    exts.push(extension(OID.basicConstraints, true, new asn1js.Sequence({ value: bc })));
  }
  const ku =
    spec.keyUsage === undefined
      ? spec.ca === true
        ? ['keyCertSign', 'cRLSign']
        : ['digitalSignature', 'nonRepudiation']
      : spec.keyUsage;
  if (ku !== null) exts.push(extension(OID.keyUsage, true, keyUsageValue(ku)));
  if (spec.extKeyUsage !== undefined && spec.extKeyUsage !== null) {
    exts.push(
      extension(
        OID.extKeyUsage,
        false,
        new asn1js.Sequence({
          value: spec.extKeyUsage.map((e) => new asn1js.ObjectIdentifier({ value: EKU_OIDS[e] ?? e })),
        }),
      ),
    );
  }
  if (spec.noKeyIds !== true) {
    exts.push(
      extension(
        OID.subjectKeyIdentifier,
        false,
        new asn1js.OctetString({ valueHex: keyId(key.publicKey).slice() }),
      ),
    );
    const akid = keyId(spec.issuer?.key.publicKey ?? key.publicKey);
    exts.push(
      extension(
        OID.authorityKeyIdentifier,
        false,
        new asn1js.Sequence({
          value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: akid.slice() })],
        }),
      ),
    );
  }
  if (spec.proxy !== undefined) {
    const policy = new asn1js.Sequence({
      value: [new asn1js.ObjectIdentifier({ value: spec.proxy.policyLanguage ?? OID.proxyInheritAll })],
    });
    const value =
      spec.proxy.pathLen === undefined
        ? [policy]
        : [new asn1js.Integer({ value: spec.proxy.pathLen }), policy];
    exts.push(extension(OID.proxyCertInfo, true, new asn1js.Sequence({ value })));
  }
  for (const e of spec.extensions ?? []) exts.push(extension(e.oid, e.critical, e.value));

  const sigAlg = algorithm(issuerKey.privateKey, hash);
  const issuerName = spec.issuer === undefined ? spec.subject : spec.issuer.spec.subject;
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [new asn1js.Integer({ value: 2 })],
      }),
      new asn1js.Integer({ valueHex: Buffer.from(serial, 'hex') }),
      sigAlg,
      encodeName(issuerName),
      new asn1js.Sequence({ value: [time(notBefore), time(notAfter)] }),
      encodeName(spec.subject),
      asn1js.fromBER(spkiOf(key.publicKey)).result,
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 3 },
        value: [new asn1js.Sequence({ value: exts })],
      }),
    ],
  });
  const tbsDer = new Uint8Array(tbs.toBER());
  const signature = signBytes(issuerKey.privateKey, hash, tbsDer);
  const cert = new asn1js.Sequence({
    value: [
      asn1js.fromBER(tbsDer).result,
      algorithm(issuerKey.privateKey, hash),
      new asn1js.BitString({ valueHex: signature.slice() }),
    ],
  });
  const der = new Uint8Array(cert.toBER());
  return {
    der,
    pem: toPem('CERTIFICATE', der),
    key,
    keyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    subject: typeof spec.subject === 'string' ? spec.subject : '',
    serial: serial.replace(/^(00)+(?=..)/, ''),
    spec: { ...spec, serial },
  };
}

export interface CrlSpec {
  issuer: TestCert;
  revoked?: TestCert[];
  thisUpdate?: Date;
  nextUpdate?: Date | null;
  hash?: 'sha256' | 'sha1' | 'md5';
  extensions?: { oid: string; critical: boolean; value: Uint8Array }[];
}

export function makeCrl(spec: CrlSpec): { der: Uint8Array; pem: string } {
  const now = Date.now();
  const hash = spec.hash ?? 'sha256';
  const thisUpdate = spec.thisUpdate ?? new Date(now - 3600_000);
  const nextUpdate = spec.nextUpdate === undefined ? new Date(now + 7 * 86400_000) : spec.nextUpdate;
  const revoked = (spec.revoked ?? []).map(
    (c) =>
      new asn1js.Sequence({
        value: [new asn1js.Integer({ valueHex: Buffer.from(c.spec.serial ?? '', 'hex') }), time(thisUpdate)],
      }),
  );
  const exts = [
    extension(OID.crlNumber, false, new asn1js.Integer({ value: 1 })),
    ...(spec.extensions ?? []).map((e) => extension(e.oid, e.critical, e.value)),
  ];
  const alg = algorithm(spec.issuer.key.privateKey, hash);
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 1 }),
      alg,
      encodeName(spec.issuer.spec.subject),
      time(thisUpdate),
      ...(nextUpdate === null ? [] : [time(nextUpdate)]),
      ...(revoked.length > 0 ? [new asn1js.Sequence({ value: revoked })] : []),
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [new asn1js.Sequence({ value: exts })],
      }),
    ],
  });
  const tbsDer = new Uint8Array(tbs.toBER());
  const signature = signBytes(spec.issuer.key.privateKey, hash, tbsDer);
  const der = new Uint8Array(
    new asn1js.Sequence({
      value: [
        asn1js.fromBER(tbsDer, { maxNodes: tbsDer.length }).result,
        algorithm(spec.issuer.key.privateKey, hash),
        new asn1js.BitString({ valueHex: signature.slice() }),
      ],
    }).toBER(),
  );
  return { der, pem: toPem('X509 CRL', der) };
}

/** An RFC 3820 proxy of `issuer` (an EEC or another proxy). */
export function makeProxy(issuer: TestCert, options: Partial<CertSpec> & { cn?: string } = {}): TestCert {
  const cn = options.cn ?? String(Math.floor(Math.random() * 1e9));
  return issue({
    subject: `${issuer.subject}/CN=${cn}`,
    issuer,
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    proxy: {},
    noKeyIds: true,
    ...options,
  });
}

/** DER of an arbitrary extension value, for unknown-extension tests. */
export function utf8Value(text: string): Uint8Array {
  return new Uint8Array(new asn1js.Utf8String({ value: text }).toBER());
}
