import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VmiError } from '../../src/shared/errors.js';
import {
  canonicalize,
  composeEnvelope,
  extractPayload,
  parseContentType,
  splitEnvelope,
} from '../../src/shared/smime.js';

/** The S/MIME multipart/signed envelope (SPEC.md section 3), byte for byte. */

const SIG = new Uint8Array(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));
const PAYLOAD = '{\r\n    "a": 1\r\n}\r\n';

interface Parts {
  eol?: string;
  protocol?: string;
  partType?: string;
  boundary?: string;
  body?: string;
  encoding?: string;
  preamble?: string;
  extraParts?: number;
  closing?: string;
}

/** An envelope laid out the way `openssl smime -sign` writes one, with knobs to change. */
function envelope(p: Parts = {}): Uint8Array {
  const eol = p.eol ?? '\n';
  const b = p.boundary ?? '----5F1A0A2B3C4D';
  const proto = p.protocol ?? 'application/x-pkcs7-signature';
  const b64 = Buffer.from(SIG)
    .toString('base64')
    .replace(/(.{64})/g, `$1${eol}`);
  const extra = Array.from({ length: p.extraParts ?? 0 }, () => `--${b}${eol}x${eol}`).join('');
  return Buffer.from(
    `MIME-Version: 1.0${eol}` +
      `Content-Type: multipart/signed; protocol="${proto}"; micalg="sha-256"; boundary="${b}"${eol}${eol}` +
      `${p.preamble ?? 'This is an S/MIME signed message'}${eol}${eol}` +
      `--${b}${eol}${p.body ?? PAYLOAD}\r\n` +
      extra +
      `--${b}${eol}` +
      `Content-Type: ${p.partType ?? proto}; name="smime.p7s"${eol}` +
      `Content-Transfer-Encoding: ${p.encoding ?? 'base64'}${eol}` +
      `Content-Disposition: attachment; filename="smime.p7s"${eol}${eol}` +
      `${b64}${eol}${eol}--${b}${p.closing ?? '--'}${eol}${eol}`,
    'latin1',
  );
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

function malformed(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) =>
      err instanceof VmiError &&
      err.code === 'LIST_MALFORMED' &&
      (pattern === undefined || pattern.test(err.message)),
  );
}

describe('splitEnvelope', () => {
  it('returns the exact signed bytes (without the line end before the delimiter) and the DER', () => {
    const env = splitEnvelope(envelope());
    assert.equal(text(env.signedBytes), PAYLOAD);
    assert.deepEqual(env.signature, SIG);
    assert.equal(env.micalg, 'sha-256');
  });

  it('accepts both protocol spellings', () => {
    for (const protocol of ['application/pkcs7-signature', 'application/x-pkcs7-signature']) {
      assert.deepEqual(splitEnvelope(envelope({ protocol })).signature, SIG);
    }
    // The part type may use the other spelling than the protocol parameter.
    assert.deepEqual(splitEnvelope(envelope({ partType: 'application/pkcs7-signature' })).signature, SIG);
  });

  it('accepts LF and CRLF outer headers and delimiters alike', () => {
    const lf = splitEnvelope(envelope({ eol: '\n' }));
    const crlf = splitEnvelope(envelope({ eol: '\r\n' }));
    assert.deepEqual(crlf.signedBytes, lf.signedBytes);
    assert.deepEqual(crlf.signature, lf.signature);
  });

  it('keeps the signed part byte-exact: LF-only, CRLF and odd bytes untouched', () => {
    const body = 'line1\nline2\r\nline3\r\r\n\u00e9\t \n';
    const env = splitEnvelope(envelope({ body }));
    assert.equal(text(env.signedBytes), body);
  });

  it('accepts folded header lines and a boundary without quotes', () => {
    const raw = text(envelope())
      .replace(
        'micalg="sha-256"; boundary="----5F1A0A2B3C4D"',
        'micalg=sha-256;\n\tboundary=----5F1A0A2B3C4D',
      )
      .replace(/^MIME-Version: 1.0\n/, 'MIME-Version: 1.0\nSubject: a list\n');
    assert.deepEqual(splitEnvelope(Buffer.from(raw, 'latin1')).signature, SIG);
  });

  it('refuses what is not multipart/signed with a signature protocol', () => {
    malformed(() => splitEnvelope(Buffer.from('{"hv:imagelist": {}}\n')), /header/);
    malformed(
      () =>
        splitEnvelope(Buffer.from(text(envelope()).replace('multipart/signed', 'multipart/mixed'), 'latin1')),
      /not multipart\/signed/,
    );
    malformed(() => splitEnvelope(envelope({ protocol: 'application/pgp-signature' })), /protocol/);
    malformed(() => splitEnvelope(envelope({ partType: 'text/plain' })), /signature part has type/);
    malformed(() => splitEnvelope(envelope({ encoding: '7bit' })), /not base64/);
    const opaque =
      'MIME-Version: 1.0\nContent-Type: application/x-pkcs7-mime; smime-type=signed-data; name="smime.p7m"\n' +
      'Content-Transfer-Encoding: base64\n\nMIIB\n';
    malformed(() => splitEnvelope(Buffer.from(opaque)), /not multipart\/signed/);
  });

  it('refuses broken structure: part counts, missing closing delimiter, bad base64, duplicate headers', () => {
    malformed(() => splitEnvelope(envelope({ extraParts: 1 })), /delimiters|two body parts/);
    malformed(() => splitEnvelope(envelope({ extraParts: 5 })), /more than two body parts/);
    malformed(() => splitEnvelope(envelope({ closing: '' })), /two body parts|order/);
    malformed(() => splitEnvelope(envelope({ closing: '--junk' })), /trailing characters/);
    const badB64 = text(envelope()).replace(/(Content-Disposition[^\n]*\n\n)(.)/, '$1*');
    malformed(() => splitEnvelope(Buffer.from(badB64, 'latin1')), /base64/);
    const twice = text(envelope()).replace('MIME-Version: 1.0\n', 'MIME-Version: 1.0\nMIME-Version: 1.0\n');
    malformed(() => splitEnvelope(Buffer.from(twice, 'latin1')), /appears twice/);
    const noBoundary = text(envelope()).replace(/; boundary="[^"]*"/, '');
    malformed(() => splitEnvelope(Buffer.from(noBoundary, 'latin1')), /boundary/);
    malformed(() => splitEnvelope(new Uint8Array(0)), /not terminated/);
  });

  it('refuses a list over the size limit with LIST_TOO_LARGE, and an endless header block', () => {
    const bytes = envelope();
    assert.throws(
      () => splitEnvelope(bytes, bytes.byteLength - 1),
      (err: unknown) => err instanceof VmiError && err.code === 'LIST_TOO_LARGE',
    );
    assert.deepEqual(splitEnvelope(bytes, bytes.byteLength).signature, SIG);
    const endless = Buffer.from(`X-Pad: ${'a'.repeat(70 * 1024)}\n\n`, 'latin1');
    malformed(() => splitEnvelope(endless), /not terminated/);
  });

  it('ignores a boundary-like string that does not start a line', () => {
    const body = 'text with ------5F1A0A2B3C4D inside';
    assert.equal(text(splitEnvelope(envelope({ body })).signedBytes), body);
  });
});

describe('extractPayload', () => {
  it('returns the signed part itself when it has no MIME header', () => {
    const bytes = Buffer.from(PAYLOAD);
    assert.equal(extractPayload(bytes), bytes);
  });

  it('strips the text/plain header that `openssl smime -sign -text` adds (CRLF or LF)', () => {
    for (const eol of ['\r\n', '\n']) {
      const part = Buffer.from(`Content-Type: text/plain${eol}${eol}${PAYLOAD}`);
      assert.equal(text(extractPayload(part)), PAYLOAD);
    }
    const withCharset = Buffer.from(`Content-Type: text/plain; charset=utf-8\r\n\r\n${PAYLOAD}`);
    assert.equal(text(extractPayload(withCharset)), PAYLOAD);
  });

  it('refuses an inner part of another type', () => {
    malformed(
      () => extractPayload(Buffer.from(`Content-Type: application/json\r\n\r\n${PAYLOAD}`)),
      /not text\/plain/,
    );
  });
});

describe('composeEnvelope', () => {
  it('writes what splitEnvelope reads back exactly, openssl-style (LF outside, x-pkcs7)', () => {
    const signed = Buffer.from(PAYLOAD.replace(/\r\n$/, ''));
    for (const digest of ['sha256', 'sha384', 'sha512'] as const) {
      const bytes = composeEnvelope(signed, SIG, digest);
      const env = splitEnvelope(bytes);
      assert.deepEqual(Buffer.from(env.signedBytes), signed);
      assert.deepEqual(env.signature, SIG);
      assert.equal(env.micalg, `sha-${digest.slice(3)}`);
      const head = text(bytes).split('\n\n')[0] ?? '';
      assert.match(
        head,
        /^MIME-Version: 1\.0\nContent-Type: multipart\/signed; protocol="application\/x-pkcs7-signature"/,
      );
      assert.ok(
        text(bytes)
          .split('\n')
          .every((l) => l.length <= 200),
      );
    }
  });

  it('uses a fresh boundary each time', () => {
    const a = text(composeEnvelope(Buffer.from('x'), SIG, 'sha256'));
    const b = text(composeEnvelope(Buffer.from('x'), SIG, 'sha256'));
    assert.notEqual(a, b);
  });
});

describe('canonicalize and parseContentType', () => {
  it('turns every CR* LF into CRLF and leaves lone CRs alone', () => {
    assert.equal(text(canonicalize(Buffer.from('a\nb\r\nc\r\r\nd\re'))), 'a\r\nb\r\nc\r\nd\re');
  });

  it('parses quoted and unquoted parameters, lower-casing names and types', () => {
    const ct = parseContentType(
      'Multipart/Signed; Protocol="application/x-pkcs7-signature"; micalg=SHA-256; x="a\\"b"',
    );
    assert.equal(ct.type, 'multipart/signed');
    assert.equal(ct.params.get('protocol'), 'application/x-pkcs7-signature');
    assert.equal(ct.params.get('micalg'), 'SHA-256');
    assert.equal(ct.params.get('x'), 'a"b');
    malformed(() => parseContentType('text/plain; a=1; a=2'), /twice/);
    malformed(() => parseContentType('not a type'), /bad Content-Type/);
  });
});
