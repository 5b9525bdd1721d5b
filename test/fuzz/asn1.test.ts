import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { ErrorCode } from '../../src/shared/errors.js';
import { decodeVomsExtension } from '../../src/shared/pki/asn1/ac.js';
import { decodeCertificate, decodeCrl } from '../../src/shared/pki/asn1/cert.js';
import { decodeSignedData } from '../../src/shared/pki/asn1/cms.js';
import { formatOneline } from '../../src/shared/pki/dn.js';
import { splitEnvelope } from '../../src/shared/smime.js';
import { listFor, makeGrid, signDocument } from '../helpers/grid.js';
import { tempDir } from '../helpers/tmp.js';
import { issue, makeCrl, makeProxy } from '../helpers/x509.js';
import { fakeProxy, HAVE_VOMS, vomsExtensionOf } from '../shared/vomskit.js';
import { coded, HeapWatch, mutated, params, timed } from './fuzz.js';

/**
 * The ASN.1 decoders (the only code that touches asn1js, STYLE.md rule 4) on random
 * bytes, random well-formed BER trees and byte-level mutations of real seeds made at run
 * time. Each returns plain data or throws one VmiError with its documented code; none
 * crashes, hangs or keeps memory.
 */

interface Target {
  name: string;
  code: ErrorCode;
  decode: (bytes: Uint8Array) => unknown;
  /** Sanity of a decoded value. */
  check: (value: unknown) => void;
  seeds: Uint8Array[];
}

const validDate = (d: Date | undefined) => d === undefined || !Number.isNaN(d.getTime());

/** A BER element: primitive or constructed, definite or indefinite length. */
type Tree = { tag: number; bytes: Uint8Array } | { tag: number; children: Tree[]; indefinite: boolean };

const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({
      tag: fc.constantFrom(
        0x01,
        0x02,
        0x03,
        0x04,
        0x05,
        0x06,
        0x0c,
        0x13,
        0x16,
        0x17,
        0x18,
        0x80,
        0x81,
        0x86,
      ),
      bytes: fc.uint8Array({ maxLength: 20 }),
    }),
    fc.record({
      tag: fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0xa3, 0xa4),
      children: fc.array(tie('node'), { maxLength: 4 }),
      indefinite: fc.boolean(),
    }),
  ),
})).node;

function lengthOctets(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function encode(t: Tree): Uint8Array {
  if ('bytes' in t) return new Uint8Array([t.tag, ...lengthOctets(t.bytes.length), ...t.bytes]);
  const content = Buffer.concat(t.children.map(encode));
  if (t.indefinite) return new Uint8Array([t.tag, 0x80, ...content, 0, 0]);
  return new Uint8Array([t.tag, ...lengthOctets(content.length), ...content]);
}

/** Nesting far deeper than any real structure: SEQUENCE { SEQUENCE { ... } }. */
function deep(levels: number, indefinite: boolean): Uint8Array {
  if (indefinite) {
    return new Uint8Array([
      ...Array<number[]>(levels).fill([0x30, 0x80]).flat(),
      ...new Array<number>(levels * 2).fill(0),
    ]);
  }
  const headers: number[][] = [];
  let length = 2; // NULL
  for (let i = 0; i < levels; i++) {
    const header = [0x30, ...lengthOctets(length)];
    headers.unshift(header);
    length += header.length;
  }
  return new Uint8Array([...headers.flat(), 0x05, 0x00]);
}

describe('ASN.1, X.509, CRL, CMS and VOMS decoders (fuzz, issue 8)', () => {
  const targets: Target[] = [];

  before(async () => {
    const grid = await makeGrid();
    const proxy = makeProxy(grid.publisher);
    const crl = makeCrl({ issuer: grid.intermediate, revoked: [grid.publisher, proxy] });
    const signed = signDocument(listFor({ eec: grid.publisher, issuer: grid.intermediate }), proxy, [
      grid.publisher,
      grid.intermediate,
    ]);
    const voms: Uint8Array[] = [];
    if (HAVE_VOMS) {
      const host = issue({
        subject: '/DC=org/DC=example/CN=voms.example.org',
        issuer: grid.intermediate,
        ca: false,
      });
      const p = await fakeProxy(await tempDir('vmicast-fuzz-voms-'), {
        user: grid.publisher,
        host,
        vo: 'vo.example.org',
        fqans: ['/vo.example.org', '/vo.example.org/Role=VO-Admin'],
      });
      voms.push(vomsExtensionOf(p.proxy));
    } else {
      assert.notEqual(process.env['VMICAST_CI'], '1', 'voms-proxy-fake is required in CI (voms-clients)');
    }
    targets.push(
      {
        name: 'decodeCertificate',
        code: 'LIST_MALFORMED',
        decode: (b) => decodeCertificate(b),
        check: (v) => {
          const c = v as ReturnType<typeof decodeCertificate>;
          assert.ok(validDate(c.notBefore) && validDate(c.notAfter));
          assert.match(c.serial, /^[0-9a-f]*$/);
          formatOneline(c.subject);
        },
        seeds: [grid.publisher.der, grid.intermediate.der, grid.root.der, proxy.der],
      },
      {
        name: 'decodeCrl',
        code: 'CRL_MISSING',
        decode: (b) => decodeCrl(b),
        check: (v) => {
          const c = v as ReturnType<typeof decodeCrl>;
          assert.ok(validDate(c.thisUpdate) && validDate(c.nextUpdate));
          formatOneline(c.issuer);
        },
        seeds: [crl.der, makeCrl({ issuer: grid.root }).der],
      },
      {
        name: 'decodeSignedData',
        code: 'LIST_MALFORMED',
        decode: (b) => decodeSignedData(b),
        check: (v) => {
          const sd = v as ReturnType<typeof decodeSignedData>;
          assert.ok(Array.isArray(sd.signerInfos) && Array.isArray(sd.certificates));
        },
        seeds: [splitEnvelope(signed).signature],
      },
      {
        name: 'decodeVomsExtension',
        code: 'VOMS_INVALID',
        decode: (b) => decodeVomsExtension(b),
        check: (v) => {
          const acs = v as ReturnType<typeof decodeVomsExtension>;
          assert.ok(acs.length <= 16);
          for (const ac of acs) assert.ok(validDate(ac.notBefore) && validDate(ac.notAfter));
        },
        seeds: voms,
      },
    );
  });

  /** One decode: a value that passes its checks, or exactly the target's code. */
  function decodeOne(target: Target, bytes: Uint8Array): boolean {
    const outcome = timed(1000, target.name, () => coded(() => target.decode(bytes), [target.code]));
    if ('error' in outcome) return false;
    target.check(outcome.value);
    return true;
  }

  for (const name of ['decodeCertificate', 'decodeCrl', 'decodeSignedData', 'decodeVomsExtension']) {
    it(`${name}: random bytes, random BER trees and mutated seeds`, () => {
      const target = targets.find((t) => t.name === name);
      assert.ok(target);
      const heap = new HeapWatch(48, 768);
      const inputs = fc.oneof(
        fc.uint8Array({ maxLength: 512 }),
        tree.map(encode),
        ...target.seeds.map((seed) => mutated(seed, 3)),
      );
      fc.assert(
        fc.property(inputs, (bytes) => {
          decodeOne(target, bytes);
          heap.sample();
        }),
        params(250),
      );
      heap.check(name);
      for (const seed of target.seeds)
        assert.equal(decodeOne(target, seed), true, `${name} decodes its seed`);
    });
  }

  it('nesting far beyond any real structure is refused quickly with the code, not a stack overflow', () => {
    for (const target of targets) {
      for (const bytes of [deep(5000, false), deep(100_000, true), deep(60, false)]) {
        decodeOne(target, bytes);
      }
    }
  });
});
