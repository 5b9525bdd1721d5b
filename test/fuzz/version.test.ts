import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bumpVersion, compareVersions } from '../../src/shared/imagelist/version.js';
import { params, timed } from './fuzz.js';

/**
 * vmcatcher's version order (SPEC.md section 2.1) must be a total preorder: a subscriber
 * refuses any list whose version goes backwards, so an order that is not transitive or not
 * antisymmetric would let an attacker pick the version that wins. bumpVersion must always
 * produce a newer version, or a publisher's next list would be refused as a rollback.
 */

/** Versions the way they appear: digits, letters and the separators `- , . /`, plus leading zeros. */
const versionLike = fc.stringMatching(/^[0-9a-zA-Z.,/-]{0,16}$/);
const numeric = fc
  .array(fc.stringMatching(/^0?[0-9]{1,12}$/), { minLength: 1, maxLength: 5 })
  .map((t) => t.join('.'));
const anyText = fc.string({ maxLength: 24 });
const version = fc.oneof(
  versionLike,
  numeric,
  anyText,
  fc.constantFrom('', '.', '-', '0', '00', '1.0', '1.0a'),
);

describe('version order (fuzz, issue 8)', () => {
  it('is reflexive and antisymmetric', () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        assert.equal(compareVersions(a, a), 0);
        assert.equal(compareVersions(a, b), -compareVersions(b, a) || 0);
      }),
      params(2000),
    );
  });

  it('is transitive, equality included', () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        for (const [x, y, z] of [
          [a, b, c],
          [a, c, b],
          [b, a, c],
          [b, c, a],
          [c, a, b],
          [c, b, a],
        ] as const) {
          const xy = compareVersions(x, y);
          const yz = compareVersions(y, z);
          if (xy <= 0 && yz <= 0)
            assert.ok(compareVersions(x, z) <= 0, `${x} <= ${y} <= ${z} but ${x} > ${z}`);
          if (xy === 0 && yz === 0) assert.equal(compareVersions(x, z), 0);
        }
      }),
      params(2000),
    );
  });

  it('sorts consistently: a sorted list is ordered pairwise', () => {
    fc.assert(
      fc.property(fc.array(version, { maxLength: 30 }), (list) => {
        const sorted = [...list].sort(compareVersions);
        for (let i = 0; i < sorted.length; i++) {
          for (let j = i + 1; j < sorted.length; j++) {
            assert.ok(compareVersions(sorted[i] ?? '', sorted[j] ?? '') <= 0, `${sorted[i]} vs ${sorted[j]}`);
          }
        }
      }),
      params(300),
    );
  });

  it('bumpVersion is always newer, and bumping twice is newer again', () => {
    fc.assert(
      fc.property(version, (v) => {
        const next = bumpVersion(v);
        assert.equal(compareVersions(next, v), 1, `${next} is not newer than ${JSON.stringify(v)}`);
        assert.equal(compareVersions(bumpVersion(next), next), 1);
      }),
      params(2000),
    );
  });

  it('numeric tokens compare as integers of any length (AppDB timestamps, long tokens)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 40n }),
        fc.bigInt({ min: 0n, max: 10n ** 40n }),
        (a, b) => {
          const expected = a < b ? -1 : a > b ? 1 : 0;
          assert.equal(compareVersions(`1.${a}`, `1.${b}`), expected);
          assert.equal(compareVersions(`x${a}y`, `x${b}y`), expected);
        },
      ),
      params(1000),
    );
  });

  it('stays fast on long inputs', () => {
    const long = `${'9'.repeat(50_000)}.${'a1'.repeat(50_000)}`;
    timed(1000, 'a 150 kB version', () => compareVersions(long, `${long}0`));
    timed(1000, 'bump of a long version', () => bumpVersion('1.'.repeat(50_000)));
  });
});
