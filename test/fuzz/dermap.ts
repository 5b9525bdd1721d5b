/**
 * A map of a DER CMS SignedData (as vmicaster writes it: definite lengths) for the mutation
 * properties: which bytes a verifier must refuse to see changed, and which it may ignore.
 */

export interface DerNode {
  /** Child indexes from the root ([] is the ContentInfo). */
  path: number[];
  tag: number;
  start: number;
  content: number;
  end: number;
  children: DerNode[];
}

export function derTree(der: Uint8Array, start = 0, end = der.length, path: number[] = []): DerNode[] {
  const nodes: DerNode[] = [];
  for (let pos = start, index = 0; pos < end; index++) {
    const tag = der[pos] ?? 0;
    let length = der[pos + 1] ?? 0;
    let content = pos + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + (der[content + i] ?? 0);
      content += octets;
    }
    const node: DerNode = {
      path: [...path, index],
      tag,
      start: pos,
      content,
      end: content + length,
      children: [],
    };
    if (tag & 0x20) node.children = derTree(der, content, node.end, node.path);
    nodes.push(node);
    pos = node.end;
  }
  return nodes;
}

export function nodeAt(roots: DerNode[], path: readonly number[]): DerNode {
  let nodes = roots;
  let found: DerNode | undefined;
  for (const index of path) {
    found = nodes[index];
    if (found === undefined) throw new Error(`no DER node at ${path.join('.')}`);
    nodes = found.children;
  }
  if (found === undefined) throw new Error('empty DER path');
  return found;
}

export interface SignatureMap {
  /** Offsets whose change a verifier must refuse. */
  mustRefuse: number[];
  /** Offsets it may ignore, with the reason (the informational fields of RFC 5652). */
  mayIgnore: Map<number, string>;
  /** One byte value at a must-refuse offset that spells the same signature another way. */
  equivalent: Map<number, number>;
}

const RSA_ENCRYPTION = '2a864886f70d010101';
/** The last arc of <hash>WithRSAEncryption by the last arc of the hash's OID (2.16.840.1.101.3.4.2.x). */
const WITH_RSA: Record<number, number> = { 1: 11, 2: 12, 3: 13, 4: 14 };

/**
 * Classifies every byte of the DER of a detached SignedData with one SignerInfo. What a
 * verifier may ignore, as OpenSSL's `cms -verify` does too:
 * - SignedData.version and SignerInfo.version (informational; the structure decides);
 * - SignedData.digestAlgorithms (a hint for one-pass processing; the SignerInfo's own
 *   digestAlgorithm is the one used);
 * - certificates other than the signer's: the trust store's copy of an intermediate is
 *   used, so a damaged embedded copy is simply not on the validated path;
 * - the issuer name in the SignerInfo's sid, which is compared the way names are (case and
 *   spacing folded, RFC 5280 section 7.1) — the serial number must match exactly;
 * - the parameters of the SignerInfo's digest and signature algorithms, which SHA-2 and
 *   rsaEncryption do not use.
 * Every other byte (structure, content type, the signer's certificate, the digest and
 * signature algorithm identifiers, the signed attributes, the signature value) must be refused.
 */
export function classifySignature(der: Uint8Array, signerDer: Uint8Array): SignatureMap {
  const roots = derTree(der);
  const signedData = nodeAt(roots, [0, 1, 0]);
  const fields = signedData.children;
  const mayIgnore = new Map<number, string>();
  const ignore = (from: number, to: number, why: string) => {
    for (let i = from; i < to; i++) mayIgnore.set(i, why);
  };
  const [version, digestAlgorithms] = fields;
  if (version === undefined || digestAlgorithms === undefined) throw new Error('not a SignedData');
  ignore(version.content, version.end, 'SignedData.version');
  ignore(digestAlgorithms.content, digestAlgorithms.end, 'SignedData.digestAlgorithms');
  const certificates = fields.find((f) => f.tag === 0xa0);
  const signerAt = Buffer.from(der).indexOf(Buffer.from(signerDer));
  for (const cert of certificates?.children ?? []) {
    if (cert.start !== signerAt) ignore(cert.start, cert.end, 'a certificate off the validated path');
  }
  const signerInfo = fields[fields.length - 1]?.children[0];
  const [siVersion, sid, digestAlgorithm, , signatureAlgorithm] = signerInfo?.children ?? [];
  if (siVersion === undefined || sid === undefined || digestAlgorithm === undefined) {
    throw new Error('not a SignerInfo');
  }
  ignore(siVersion.content, siVersion.end, 'SignerInfo.version');
  const issuer = sid.children[0];
  if (issuer !== undefined) ignore(issuer.content, issuer.end, 'sid issuer (compared as a name)');
  for (const alg of [digestAlgorithm, signatureAlgorithm]) {
    const params = alg?.children[1];
    if (params !== undefined) ignore(params.start, params.end, 'unused algorithm parameters');
  }
  const mustRefuse: number[] = [];
  for (let i = 0; i < der.length; i++) if (!mayIgnore.has(i)) mustRefuse.push(i);
  return { mustRefuse, mayIgnore, equivalent: rsaSpellings(der, digestAlgorithm, signatureAlgorithm) };
}

/**
 * RFC 5754 section 3.2: a SignerInfo names RSA as rsaEncryption or as the
 * <hash>WithRSAEncryption of its digest algorithm. The last byte of the OID turns one into
 * the other; the verifier must read both as the same signature.
 */
function rsaSpellings(der: Uint8Array, digest: DerNode, signature: DerNode | undefined): Map<number, number> {
  const oid = signature?.children[0];
  const digestOid = digest.children[0];
  if (oid === undefined || digestOid === undefined) return new Map<number, number>();
  if (Buffer.from(der.subarray(oid.content, oid.end)).toString('hex') !== RSA_ENCRYPTION)
    return new Map<number, number>();
  const withRsa = WITH_RSA[der[digestOid.end - 1] ?? 0];
  return new Map(withRsa === undefined ? [] : [[oid.end - 1, withRsa]]);
}
