/** Plain decoded PKI structures: everything above src/shared/pki/asn1 works on these. */

export interface AlgorithmId {
  oid: string;
  /** DER of the parameters, when present (NULL included). */
  params: Uint8Array | undefined;
}

/** One attribute of a distinguished name; `value` holds the raw content octets. */
export interface NameAttribute {
  oid: string;
  /** ASN.1 universal tag of the string type (12 UTF8String, 19 PrintableString, ...). */
  tag: number;
  value: Uint8Array;
}

export interface Name {
  der: Uint8Array;
  /** Relative distinguished names in certificate order; more than one entry is multi-valued. */
  rdns: NameAttribute[][];
}

export interface Extension {
  oid: string;
  critical: boolean;
  value: Uint8Array;
}

export type KeyUsage =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign'
  | 'encipherOnly'
  | 'decipherOnly';

export interface ProxyCertInfo {
  pathLen: number | undefined;
  policyLanguage: string;
}

export interface Certificate {
  der: Uint8Array;
  tbs: Uint8Array;
  version: number;
  /** Serial number as lowercase hex without leading zero octets. */
  serial: string;
  signatureAlgorithm: AlgorithmId;
  /** The algorithm named inside the TBS, which must equal the outer one. */
  tbsSignatureAlgorithm: AlgorithmId;
  signature: Uint8Array;
  issuer: Name;
  subject: Name;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  extensions: Extension[];
  basicConstraints: { ca: boolean; pathLen: number | undefined } | undefined;
  keyUsage: Set<KeyUsage> | undefined;
  extKeyUsage: string[] | undefined;
  subjectKeyId: Uint8Array | undefined;
  authorityKeyId: Uint8Array | undefined;
  proxyCertInfo: ProxyCertInfo | undefined;
}

export interface RevokedEntry {
  serial: string;
  date: Date;
}

export interface Crl {
  der: Uint8Array;
  tbs: Uint8Array;
  signatureAlgorithm: AlgorithmId;
  signature: Uint8Array;
  issuer: Name;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revoked: Map<string, RevokedEntry>;
  extensions: Extension[];
  /** OIDs of critical CRL entry extensions, which make an entry unusable when unknown. */
  criticalEntryExtensions: string[];
  /** What the issuingDistributionPoint extension restricts the CRL to, when present. */
  scope: CrlScope | undefined;
}

export interface CrlScope {
  onlyUserCerts: boolean;
  onlyCaCerts: boolean;
  onlyAttributeCerts: boolean;
  onlySomeReasons: boolean;
  indirect: boolean;
}

export interface SignedAttribute {
  oid: string;
  /** DER of each value in the attribute's SET. */
  values: Uint8Array[];
}

export interface SignerInfo {
  /** Issuer and serial of the signer certificate, or its subject key identifier. */
  sid: { issuer: Name; serial: string } | { subjectKeyId: Uint8Array };
  digestAlgorithm: AlgorithmId;
  /** The signed attributes re-tagged as a SET (what the signature covers), when present. */
  signedAttrsDer: Uint8Array | undefined;
  signedAttrs: SignedAttribute[];
  signatureAlgorithm: AlgorithmId;
  signature: Uint8Array;
}

export interface SignedData {
  eContentType: string;
  /** True when the SignedData encapsulates content (refused in multipart/signed). */
  hasEContent: boolean;
  certificates: Certificate[];
  signerInfos: SignerInfo[];
}

/** A VOMS attribute certificate (RFC 3281 profile used by VOMS). */
export interface AttributeCertificate {
  der: Uint8Array;
  /** DER of AttributeCertificateInfo: what the signature covers. */
  info: Uint8Array;
  signatureAlgorithm: AlgorithmId;
  signature: Uint8Array;
  /** Holder's certificate issuer and serial (baseCertificateID). */
  holder: { issuer: Name; serial: string } | undefined;
  /** The AC issuer name (v2Form directoryName). */
  issuer: Name | undefined;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** VO name taken from the policyAuthority URI (`<vo>://host:port`). */
  vo: string | undefined;
  /** The policy authority URI as written. */
  policyAuthority: string | undefined;
  fqans: string[];
  /** Certificates carried in the AC (the VOMS server certificate and maybe its chain). */
  certificates: Certificate[];
  extensions: Extension[];
}
