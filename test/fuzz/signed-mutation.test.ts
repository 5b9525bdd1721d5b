import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { ErrorCode } from '../../src/shared/errors.js';
import { composeEnvelope, splitEnvelope } from '../../src/shared/smime.js';
import { verifySignedList, type VerifiedList, type VerifyOptions } from '../../src/shared/verify.js';
import { listFor, makeGrid, signDocument, STRICT, type Grid } from '../helpers/grid.js';
import { makeImage } from '../helpers/lists.js';
import { classifySignature, derTree, nodeAt, type SignatureMap } from './dermap.js';
import { coded, copyOf, params } from './fuzz.js';

/**
 * "Never accept a mutated signed artifact", made precise. A signed list is changed in one
 * byte (any position, any new value) and given to verifySignedList.
 *
 * M1, for every byte of the file: the change is refused with a documented code, or the
 *   verifier accepts exactly what it accepted before (the same signed bytes, the same
 *   signer). No change of one byte can make it accept other content or another signer.
 * M2, the bytes whose change must be refused:
 *   - in the MIME envelope: the signed part, its two delimiter lines, the closing delimiter
 *     line and the boundary parameter (they are the content, or decide where it is cut);
 *   - in the CMS signature (changed as DER and re-encoded): every byte except the
 *     informational fields listed in dermap.ts classifySignature.
 *   What may change without refusal, and why: header names and values the verifier does not
 *   interpret (MIME-Version, micalg, Content-Disposition, letter case of Content-Type and
 *   Content-Transfer-Encoding values, which are case-insensitive), the preamble and the
 *   epilogue, line breaks inside the base64 text and the unused bits of its last quantum
 *   (they decode to the same DER), the informational CMS fields, and rsaEncryption renamed as
 *   the digest's <hash>WithRSAEncryption (dermap.ts rsaSpellings). M1 still holds there.
 */

const REGRESSIONS = JSON.parse(
  readFileSync(new URL('regressions/signed-mutations.json', import.meta.url), 'utf8'),
) as {
  cases: {
    name: string;
    path: number[];
    part: 'tag' | 'length' | 'content';
    index: number;
    xor?: number;
    set?: number;
    code: ErrorCode;
  }[];
};

interface Envelope {
  signed: Uint8Array;
  der: Uint8Array;
  signedPart: Uint8Array;
  /** Offsets of the envelope whose change must be refused (M2). */
  mustRefuse: number[];
}

/** The envelope's must-refuse offsets: signed part, delimiter lines, boundary value. */
function envelopeRegions(signed: Uint8Array): number[] {
  const text = Buffer.from(signed).toString('latin1');
  const boundary = /boundary="([^"]+)"/.exec(text);
  if (boundary?.[1] === undefined) throw new Error('no boundary');
  const value = boundary.index + 'boundary="'.length;
  const offsets: number[] = [];
  const add = (from: number, to: number) => {
    for (let i = from; i < to; i++) offsets.push(i);
  };
  add(value, value + boundary[1].length);
  const delimiter = `\n--${boundary[1]}`;
  const first = text.indexOf(delimiter) + 1;
  const second = text.indexOf(delimiter, first) + 1;
  const close = text.indexOf(delimiter, second) + 1;
  add(first, text.indexOf('\n', second) + 1);
  add(close, text.indexOf('\n', close) + 1);
  return offsets;
}

describe('single-byte mutations of a signed list (fuzz, issue 8)', () => {
  let grid: Grid;
  let options: VerifyOptions;
  let env: Envelope;
  let map: SignatureMap;
  let accepted: VerifiedList;

  before(async () => {
    grid = await makeGrid();
    const images = [makeImage(), makeImage(), makeImage({ extra: { 'vmi:supersedes': ['a', 'b'] } })];
    const doc = listFor({ eec: grid.publisher, issuer: grid.intermediate }, { images, vo: 'vo.example.org' });
    const signed = copyOf(signDocument(doc, grid.publisher, [grid.intermediate]));
    const split = splitEnvelope(signed);
    env = {
      signed,
      der: split.signature,
      signedPart: split.signedBytes,
      mustRefuse: envelopeRegions(signed),
    };
    map = classifySignature(env.der, grid.publisher.der);
    options = {
      now: new Date(),
      policy: STRICT,
      vomsDir: new Map(),
      authorization: {
        vo: 'vo.example.org',
        endorsers: [{ dn: grid.publisher.subject, ca: grid.intermediate.subject }],
      },
    };
    accepted = verifySignedList(signed, grid.store, options);
  });

  const verify = (bytes: Uint8Array) => coded(() => verifySignedList(bytes, grid.store, options));
  const withDer = (der: Uint8Array) => composeEnvelope(env.signedPart, der, 'sha256');

  /** M1: refused, or the same content and signer as the original. */
  function noForgery(bytes: Uint8Array, what: string): boolean {
    const outcome = verify(bytes);
    if ('error' in outcome) return false;
    const v = outcome.value;
    assert.ok(Buffer.from(v.signedBytes).equals(Buffer.from(accepted.signedBytes)), `${what}: other content`);
    assert.deepEqual(v.signer, accepted.signer, `${what}: other signer`);
    assert.deepEqual(v.list.document, accepted.list.document, `${what}: other document`);
    return true;
  }

  const change = (bytes: Uint8Array, at: number, to: number): Uint8Array => {
    const out = copyOf(bytes);
    out[at] = to;
    return out;
  };
  const otherByte = (bytes: Uint8Array, at: number, seed: number) =>
    ((bytes[at] ?? 0) + 1 + (seed % 255)) % 256;

  it('the unchanged list verifies', () => {
    assert.equal(accepted.signer.dn, grid.publisher.subject);
    assert.ok(map.mustRefuse.length > map.mayIgnore.size, 'most of the signature is covered');
  });

  it('M1: no change of one byte anywhere in the file changes what is accepted', () => {
    fc.assert(
      fc.property(fc.nat({ max: env.signed.length - 1 }), fc.nat(), (at, seed) => {
        noForgery(change(env.signed, at, otherByte(env.signed, at, seed)), `file offset ${at}`);
      }),
      params(200),
    );
  });

  it('M1 on the DER: no change of one byte of the signature changes what is accepted', () => {
    fc.assert(
      fc.property(fc.nat({ max: env.der.length - 1 }), fc.nat(), (at, seed) => {
        noForgery(withDer(change(env.der, at, otherByte(env.der, at, seed))), `DER offset ${at}`);
      }),
      params(150),
    );
  });

  it('M2: a change of the signed part, its delimiters or the boundary is always refused', () => {
    fc.assert(
      fc.property(fc.constantFrom(...env.mustRefuse), fc.nat(), (at, seed) => {
        const bytes = change(env.signed, at, otherByte(env.signed, at, seed));
        assert.equal(noForgery(bytes, `file offset ${at}`), false, `accepted a change at file offset ${at}`);
      }),
      params(200),
    );
  });

  it('M2: a change of the signature outside its informational fields is always refused', () => {
    fc.assert(
      fc.property(fc.constantFrom(...map.mustRefuse), fc.nat(), (at, seed) => {
        const to = otherByte(env.der, at, seed);
        const bytes = withDer(change(env.der, at, to));
        if (map.equivalent.get(at) === to) noForgery(bytes, `DER offset ${at} (the same signature)`);
        else
          assert.equal(noForgery(bytes, `DER offset ${at}`), false, `accepted a change at DER offset ${at}`);
      }),
      params(250),
    );
  });

  it('the one same-meaning change of the signature is accepted as the same list (rsaEncryption, RFC 5754)', () => {
    // A long fuzz run found this change accepted; it is another name for the same algorithm.
    assert.equal(map.equivalent.size, 1);
    for (const [at, to] of map.equivalent) {
      assert.equal(noForgery(withDer(change(env.der, at, to)), `DER offset ${at}`), true);
    }
  });

  describe('regressions (test/fuzz/regressions/signed-mutations.json)', () => {
    for (const c of REGRESSIONS.cases) {
      it(`${c.name}: ${c.code}`, () => {
        const node = nodeAt(derTree(env.der), c.path);
        const headerLength = node.content - node.start;
        const offset = c.part === 'tag' ? node.start : c.part === 'length' ? node.start + 1 : node.content;
        assert.ok(c.part !== 'length' || c.index < headerLength - 1, 'index inside the length octets');
        const at = offset + c.index;
        const byte = env.der[at] ?? 0;
        const der = change(env.der, at, c.set ?? byte ^ (c.xor ?? 0));
        assert.notEqual(der[at], byte, 'the recipe changes the byte');
        const outcome = verify(withDer(der));
        assert.ok('error' in outcome, `${c.name} was accepted`);
        assert.equal(outcome.error.code, c.code, outcome.error.message);
      });
    }
  });
});
