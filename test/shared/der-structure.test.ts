import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { VmiError } from '../../src/shared/errors.js';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { decodeSignedData } from '../../src/shared/pki/asn1/cms.js';
import { decodePssParams } from '../../src/shared/pki/asn1/pss.js';
import { formatOneline } from '../../src/shared/pki/dn.js';
import { OID } from '../../src/shared/pki/oids.js';
import { splitEnvelope } from '../../src/shared/smime.js';
import { derTree, type DerNode } from '../fuzz/dermap.js';
import { listFor, makeGrid, PUBLISHER_DN, signDocument, type Grid } from '../helpers/grid.js';

/**
 * The certificate, SignerInfo and RSASSA-PSS decoders walk the DER field by field. Each
 * case moves, adds or retags one element of a real encoding (lengths re-computed, so only
 * the structure is wrong) and must be refused with the decoder's code.
 */

interface Node {
  tag: number;
  content?: Uint8Array;
  children?: Node[];
}

function parse(der: Uint8Array): Node[] {
  const toNode = (n: DerNode): Node =>
    n.tag & 0x20
      ? { tag: n.tag, children: n.children.map(toNode) }
      : { tag: n.tag, content: der.subarray(n.content, n.end) };
  return derTree(der).map(toNode);
}

function encode(node: Node): Buffer {
  const content = node.children ? Buffer.concat(node.children.map(encode)) : Buffer.from(node.content ?? []);
  const n = content.length;
  const octets: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) octets.unshift(v % 256);
  const header = n < 0x80 ? [node.tag, n] : [node.tag, 0x80 | octets.length, ...octets];
  return Buffer.concat([Buffer.from(header), content]);
}

/** Edits a copy of the tree: `path` leads to the node whose children `edit` changes. */
function edited(der: Uint8Array, path: number[], edit: (children: Node[]) => void): Uint8Array {
  const [root] = parse(der);
  assert.ok(root);
  const copy = structuredClone(root);
  let node = copy;
  for (const index of path) {
    const next = node.children?.[index];
    assert.ok(next, `no node at ${path.join('.')}`);
    node = next;
  }
  assert.ok(node.children, 'a constructed node');
  edit(node.children);
  return new Uint8Array(encode(copy));
}

const INTEGER_0: Node = { tag: 0x02, content: Uint8Array.of(0) };

function refused(decode: () => unknown, code: string, why: RegExp): void {
  assert.throws(decode, (e: unknown) => e instanceof VmiError && e.code === code && why.test(e.message));
}

describe('DER structure of certificates, SignerInfos and PSS parameters', () => {
  let grid: Grid;
  let cert: Uint8Array;
  let signature: Uint8Array;

  before(async () => {
    grid = await makeGrid();
    cert = grid.publisher.der;
    const doc = listFor({ eec: grid.publisher, issuer: grid.intermediate });
    signature = splitEnvelope(signDocument(doc, grid.publisher, [grid.intermediate])).signature;
  });

  it('decodes the unchanged certificate and re-encodes it byte for byte (the editor is exact)', () => {
    const decoded = decodeCertificate(cert);
    assert.equal(decoded.version, 3);
    assert.equal(formatOneline(decoded.subject), PUBLISHER_DN);
    assert.ok(decoded.extensions.length > 0);
    assert.deepEqual(
      edited(cert, [], () => undefined),
      new Uint8Array(cert),
    );
  });

  const certCases: [string, number[], (c: Node[]) => void, RegExp][] = [
    ['a fourth field after the signature', [], (c) => c.push(INTEGER_0), /more than three fields/],
    ['a field after the extensions', [0], (c) => c.push(INTEGER_0), /out of place/],
    ['validity with three times', [0, 4], (c) => c.push(c[0] as Node), /more than two times/],
    ['an algorithm identifier with three fields', [1], (c) => c.push(INTEGER_0), /more than two fields/],
    ['the validity as a SET', [0], (c) => ((c[4] as Node).tag = 0x31), /validity is not a SEQUENCE/],
    ['a name attribute as a SET', [0, 5, 0], (c) => ((c[0] as Node).tag = 0x31), /name attribute/],
    ['a name attribute with three fields', [0, 5, 0, 0], (c) => c.push(INTEGER_0), /name attribute/],
    ['the serial number as ENUMERATED', [0], (c) => ((c[1] as Node).tag = 0x0a), /integer/],
    ['extensions [3] holding two lists', [0, 7], (c) => c.push(c[0] as Node), /followed by more/],
    ['an extension with four fields', [0, 7, 0, 0], (c) => c.push(INTEGER_0), /two or three fields/],
    [
      'an extension value as an implicit [4] instead of an OCTET STRING',
      [0, 7, 0, 0],
      (c) => ((c[c.length - 1] as Node).tag = 0x84),
      /octet string/,
    ],
    ['version [0] with two values', [0, 0], (c) => c.push(INTEGER_0), /version followed by more/],
    ['subject and issuer swapped with validity', [0], (c) => c.splice(3, 2, c[4] as Node, c[3] as Node), /./],
  ];
  for (const [name, path, edit, why] of certCases) {
    it(`certificate: refuses ${name}`, () => {
      refused(() => decodeCertificate(edited(cert, path, edit)), 'LIST_MALFORMED', why);
    });
  }

  // ContentInfo > [0] > SignedData > signerInfos (field 4) > SignerInfo.
  const SIGNER_INFO = [1, 0, 4, 0];
  const cmsCases: [string, (c: Node[]) => void, RegExp][] = [
    ['a field after the signature', (c) => c.push(INTEGER_0), /out of place/],
    ['the signature as an implicit [0]', (c) => ((c[5] as Node).tag = 0x80), /octet string/],
    ['the version as ENUMERATED', (c) => ((c[0] as Node).tag = 0x0a), /integer/],
    [
      'the signer identifier with a third field',
      (c) => (c[1] as Node).children?.push(INTEGER_0),
      /two fields/,
    ],
    ['a signed attribute whose values are a SEQUENCE', (c) => (valuesOf(c).tag = 0x30), /SET of values/],
    [
      'the signed attributes after the signature algorithm',
      (c) => c.splice(3, 2, c[4] as Node, c[3] as Node),
      /./,
    ],
  ];
  /** The SET of values of the first signed attribute ([0] signedAttrs is field 3). */
  const valuesOf = (c: Node[]) => ((c[3] as Node).children?.[0] as Node).children?.[1] as Node;
  for (const [name, edit, why] of cmsCases) {
    it(`SignerInfo: refuses ${name}`, () => {
      refused(() => decodeSignedData(edited(signature, SIGNER_INFO, edit)), 'LIST_MALFORMED', why);
    });
  }

  it('RSASSA-PSS parameters: defaults, explicit values, and what cannot be verified', () => {
    const oid = (value: string): Node => ({ tag: 0x06, content: encodeOidContent(value) });
    const alg = (value: string, params?: Node): Node => ({
      tag: 0x30,
      children: params === undefined ? [oid(value)] : [oid(value), params],
    });
    const explicit = (tag: number, inner: Node): Node => ({ tag: 0xa0 | tag, children: [inner] });
    const int = (v: number): Node => ({ tag: 0x02, content: Uint8Array.of(v) });
    const params = (...fields: Node[]) => new Uint8Array(encode({ tag: 0x30, children: fields }));
    const sha256 = alg(OID.sha256);
    const mgf = alg(OID.mgf1, sha256);
    assert.deepEqual(decodePssParams(undefined), {
      hashOid: '1.3.14.3.2.26',
      mgfHashOid: '1.3.14.3.2.26',
      saltLength: 20,
    });
    assert.deepEqual(decodePssParams(params(explicit(0, sha256), explicit(1, mgf), explicit(2, int(32)))), {
      hashOid: OID.sha256,
      mgfHashOid: OID.sha256,
      saltLength: 32,
    });
    const pss =
      (...fields: Node[]) =>
      () =>
        decodePssParams(params(...fields));
    refused(pss(explicit(1, alg(OID.sha256, sha256))), 'SIGNATURE_INVALID', /not MGF1/);
    refused(pss(explicit(3, int(2))), 'SIGNATURE_INVALID', /trailer field/);
    refused(pss(explicit(2, int(32)), explicit(0, sha256)), 'SIGNATURE_INVALID', /out of place/);
  });
});

function encodeOidContent(oid: string): Uint8Array {
  const arcs = oid.split('.').map(Number);
  const out = [40 * (arcs[0] ?? 0) + (arcs[1] ?? 0)];
  for (const arc of arcs.slice(2)) {
    const bytes = [arc & 0x7f];
    for (let v = arc >> 7; v > 0; v >>= 7) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return Uint8Array.from(out);
}
