import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { composeEnvelope, extractPayload, splitEnvelope } from '../../src/shared/smime.js';
import { listFor, makeGrid, signDocument } from '../helpers/grid.js';
import { coded, copyOf, HeapWatch, mutated, params, timed } from './fuzz.js';

/**
 * The S/MIME splitter (SPEC.md section 3) on hostile input: random bytes, envelopes built
 * from a small grammar with random choices, and byte-level mutations of a real signed list.
 * It returns parts or refuses with LIST_MALFORMED / LIST_TOO_LARGE; it never crashes,
 * never takes long, and what it returns is always a piece of what it was given.
 */

const ENVELOPE_CODES = ['LIST_MALFORMED', 'LIST_TOO_LARGE'] as const;

const eol = fc.constantFrom('\n', '\r\n', '\r', '');
const token = fc.stringMatching(/^[A-Za-z0-9!#$&^_.+-]{0,12}$/);
const boundary = fc.oneof(fc.stringMatching(/^[ -~]{0,72}$/), fc.constant('----ABC'));
const line = fc.oneof(
  fc.stringMatching(/^[ -~\t]{0,40}$/),
  token.map((t) => `Content-Type: ${t}/${t}; boundary="----ABC"; protocol="application/pkcs7-signature"`),
  fc.constant('Content-Transfer-Encoding: base64'),
  fc.constant('--'),
  fc.constant('------ABC'),
  fc.constant('------ABC--'),
  fc.constant(' folded continuation'),
  fc.base64String({ maxLength: 80 }),
);

const signatureHeaders = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constant([
      'Content-Type: application/x-pkcs7-signature; name="smime.p7s"',
      'Content-Transfer-Encoding: base64',
    ]),
  },
  { weight: 1, arbitrary: fc.array(line, { maxLength: 3 }) },
);

/** An envelope-shaped message: headers, delimiters and parts chosen at random, often well formed. */
const grammarEnvelope = fc
  .record({
    type: fc.constantFrom('multipart/signed', 'multipart/mixed', 'text/plain', 'MULTIPART/SIGNED'),
    protocol: fc.constantFrom('application/x-pkcs7-signature', 'application/pkcs7-signature', 'x', ''),
    boundary: fc.oneof({ weight: 3, arbitrary: fc.constant('----ABC') }, { weight: 1, arbitrary: boundary }),
    eol: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('\n', '\r\n') }, { weight: 1, arbitrary: eol }),
    headers: fc.array(line, { maxLength: 2 }),
    signed: fc.array(line, { maxLength: 6 }),
    signature: fc.record({
      headers: signatureHeaders,
      body: fc.array(fc.base64String({ minLength: 4, maxLength: 64 }), { maxLength: 4 }),
    }),
    extra: fc.array(fc.array(line, { maxLength: 4 }), { maxLength: 2 }),
    close: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.boolean() }),
  })
  .map((m) => {
    const d = `--${m.boundary}`;
    const head = [
      'MIME-Version: 1.0',
      `Content-Type: ${m.type}; protocol="${m.protocol}"; boundary="${m.boundary}"`,
      ...m.headers,
      '',
      'preamble',
    ];
    const parts = [
      d,
      ...m.signed,
      ...m.extra.flatMap((x) => [d, ...x]),
      d,
      ...m.signature.headers,
      '',
      ...m.signature.body,
    ];
    return Buffer.from([...head, ...parts, ...(m.close ? [`${d}--`, ''] : [])].join(m.eol), 'latin1');
  });

/** Checks one input; returns whether it was split (to show the generators reach both paths). */
function checkSplit(bytes: Uint8Array, maxBytes = 64 * 1024): boolean {
  const outcome = timed(2000, 'splitEnvelope', () => coded(() => splitEnvelope(bytes, maxBytes)));
  if ('error' in outcome) {
    assert.ok(ENVELOPE_CODES.includes(outcome.error.code as (typeof ENVELOPE_CODES)[number]));
    return false;
  }
  const { signedBytes, signature } = outcome.value;
  // The signed part is a contiguous piece of the input, and the signature is not empty.
  assert.ok(Buffer.from(bytes).includes(Buffer.from(signedBytes)) || signedBytes.length === 0);
  assert.ok(signature.length > 0);
  const payload = coded(() => extractPayload(signedBytes), ['LIST_MALFORMED']);
  if ('value' in payload) assert.ok(Buffer.from(signedBytes).includes(Buffer.from(payload.value)));
  return true;
}

describe('S/MIME envelope splitter (fuzz, issue 8)', () => {
  let signed: Uint8Array;

  before(async () => {
    const grid = await makeGrid();
    signed = copyOf(
      signDocument(listFor({ eec: grid.publisher, issuer: grid.intermediate }), grid.publisher),
    );
  });

  it('random bytes: parts or LIST_MALFORMED', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        checkSplit(bytes);
      }),
      params(400),
    );
  });

  it('envelopes from a grammar of headers, boundaries, delimiters and parts', () => {
    let split = 0;
    fc.assert(
      fc.property(grammarEnvelope, (bytes) => {
        if (checkSplit(bytes)) split++;
      }),
      params(400),
    );
    assert.ok(split > 0, 'the grammar reaches well-formed envelopes too');
  });

  it('mutations of a real signed list', () => {
    const heap = new HeapWatch(32, 512);
    let split = 0;
    fc.assert(
      fc.property(mutated(signed, 6), (bytes) => {
        if (checkSplit(bytes)) split++;
        heap.sample();
      }),
      params(400),
    );
    heap.check('splitEnvelope over mutated lists');
    assert.ok(split > 0, 'some mutations keep the envelope intact');
  });

  it('round trip: what composeEnvelope wraps, splitEnvelope returns byte for byte', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4096 }),
        fc.uint8Array({ minLength: 1, maxLength: 600 }),
        (x, sig) => {
          const split = splitEnvelope(composeEnvelope(x, sig, 'sha256'));
          assert.ok(Buffer.from(split.signedBytes).equals(Buffer.from(x)));
          assert.ok(Buffer.from(split.signature).equals(Buffer.from(sig)));
        },
      ),
      params(300),
    );
  });

  it('a signed part with a MIME header block: its payload is the text after it, or a refusal', () => {
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 5 }),
        eol,
        fc.uint8Array({ maxLength: 200 }),
        (lines, e, body) => {
          const bytes = Buffer.concat([Buffer.from([...lines, '', ''].join(e), 'latin1'), body]);
          const outcome = coded(() => extractPayload(bytes), ['LIST_MALFORMED']);
          if ('value' in outcome) assert.ok(bytes.includes(Buffer.from(outcome.value)));
        },
      ),
      params(300),
    );
  });

  it('large hostile shapes stay fast: many delimiters, long headers, a cap on size', () => {
    const many = Buffer.from(
      `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="b"\n\n${'--b\n'.repeat(200_000)}`,
    );
    checkSplit(many, 16 * 2 ** 20);
    const longHeader = Buffer.from(`X-Long: ${'a'.repeat(200_000)}\n\n--b\n`);
    checkSplit(longHeader, 16 * 2 ** 20);
    const folded = Buffer.from(`Content-Type: multipart/signed;${'\n '.repeat(100_000)}boundary="b"\n\n`);
    checkSplit(folded, 16 * 2 ** 20);
    const outcome = coded(() => splitEnvelope(new Uint8Array(2048), 1024));
    assert.ok('error' in outcome && outcome.error.code === 'LIST_TOO_LARGE');
  });
});
