import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bumpVersion, compareVersions } from '../../src/shared/imagelist/version.js';

/** vmcatcher's version order (SPEC.md section 2.1), property-tested. */

const SPEC_EXAMPLES: [string, string][] = [
  ['0.0.9', '0.0.10'],
  ['1.9', '1.10'],
  ['3.3.0-1', '3.3.0-2'],
  ['1.0', '1.0.1'],
  ['1.0a', '1.0b'],
  ['1.0a', '1.0'],
  ['20150618211400', '20150619000000'],
];

/** Versions built from the characters that matter: digits, letters, separators. */
const version = fc
  .array(fc.constantFrom('0', '1', '2', '9', '10', '007', 'a', 'b', 'rc', '-', '.', ',', '/', 'Z'), {
    maxLength: 8,
  })
  .map((parts) => parts.join(''));
const anyVersion = fc.oneof(version, fc.string({ maxLength: 12 }));

describe('compareVersions', () => {
  it('orders every example of SPEC.md section 2.1, both ways', () => {
    for (const [older, newer] of SPEC_EXAMPLES) {
      assert.equal(compareVersions(older, newer), -1, `${older} < ${newer}`);
      assert.equal(compareVersions(newer, older), 1, `${newer} > ${older}`);
      assert.equal(compareVersions(older, older), 0);
    }
  });

  it('compares numeric tokens as integers beyond 2^53 (AppDB timestamps with more digits)', () => {
    assert.equal(compareVersions('99999999999999999999', '100000000000000000000'), -1);
    assert.equal(compareVersions('9007199254740993', '9007199254740992'), 1);
    assert.equal(compareVersions('1.010', '1.10'), 0);
    assert.equal(compareVersions('2.a10', '2.a9'), 1);
  });

  it('is reflexive', () => {
    fc.assert(fc.property(anyVersion, (a) => compareVersions(a, a) === 0));
  });

  it('is antisymmetric', () => {
    fc.assert(
      fc.property(anyVersion, anyVersion, (a, b) => compareVersions(a, b) === -compareVersions(b, a)),
      { numRuns: 2000 },
    );
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        const sorted = [a, b, c].sort(compareVersions);
        const [x = '', y = '', z = ''] = sorted;
        return compareVersions(x, y) <= 0 && compareVersions(y, z) <= 0 && compareVersions(x, z) <= 0;
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        if (compareVersions(a, b) === 0 && compareVersions(b, c) === 0) return compareVersions(a, c) === 0;
        if (compareVersions(a, b) < 0 && compareVersions(b, c) < 0) return compareVersions(a, c) < 0;
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it('treats a longer version with an equal prefix as newer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 999 }), { minLength: 1, maxLength: 5 }),
        fc.nat(),
        (parts, extra) => {
          const base = parts.join('.');
          return compareVersions(base, `${base}.${extra}`) === -1;
        },
      ),
    );
  });
});

describe('bumpVersion', () => {
  it('increments the last numeric token', () => {
    assert.equal(bumpVersion('0.0.9'), '0.0.10');
    assert.equal(bumpVersion('1.9'), '1.10');
    assert.equal(bumpVersion('3.3.0-1'), '3.3.0-2');
    assert.equal(bumpVersion('1.0-rc1'), '1.0-rc2');
    assert.equal(bumpVersion('20150618211400'), '20150618211401');
    assert.equal(bumpVersion('009'), '010');
  });

  it('appends .1 when there is no numeric token, and starts at 1 from nothing', () => {
    assert.equal(bumpVersion('beta'), 'beta.1');
    assert.equal(bumpVersion(''), '1');
  });

  it('always gives a newer version', () => {
    fc.assert(
      fc.property(anyVersion, (v) => compareVersions(bumpVersion(v), v) === 1),
      { numRuns: 2000 },
    );
  });
});
