/**
 * Issue 12 (section 7): `vmicaster publish` refuses, and leaves the published file untouched,
 * when what it would sign does not verify: the credential expired or was revoked, or a CRL on
 * its path is stale. Each case starts from a good publication, changes one thing, and checks
 * the code, the exit status, the published bytes and every row of the state.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { EXIT_STATUS, type ErrorCode } from '../../src/shared/errors.js';
import { caster, failureOf, runCaster } from '../helpers/caster-cli.js';
import { writeImage } from '../helpers/caster-grid.js';
import { publisherSpec } from '../helpers/grid.js';
import { makeCasterSite, type CasterSite } from '../helpers/caster-site.js';
import { stateFingerprint } from '../helpers/caster-state.js';
import { subjectHash } from '../helpers/pki.js';
import { issue, makeCrl } from '../helpers/x509.js';

const DAY = 86_400_000;

describe('publish refuses what would not verify and leaves the published file', () => {
  let site: CasterSite;
  let list: string;
  let out: string;
  let crlPath: string;

  before(async () => {
    site = await makeCasterSite();
    list = await site.newList();
    const file = await writeImage(site.world, 'r.img');
    await caster(
      ['image', 'add', list, '--file', file.path, '--uri', 'https://i.example.org/r', '--title', 'R'],
      { env: site.env },
    );
    out = join(site.world.root, 'refusals.smime');
    await caster(['publish', list, '--out', out], { env: site.env });
    crlPath = join(site.world.grid.caDir, `${subjectHash(site.world.grid.intermediate)}.r0`);
  });

  /** Changes one thing, publishes, expects `code`, and puts the thing back. */
  async function refusedWith(code: ErrorCode, change: () => Promise<() => Promise<void>>): Promise<void> {
    const state = await stateFingerprint(site.world.home, out);
    const bytes = readFileSync(out);
    const restore = await change();
    try {
      const result = await runCaster(['publish', list, '--json'], { env: site.env });
      assert.deepEqual(failureOf(result), { code, status: EXIT_STATUS.signature });
      assert.deepEqual(readFileSync(out), bytes, 'the published file is untouched');
      assert.equal(await stateFingerprint(site.world.home, out), state, 'the state is untouched');
    } finally {
      await restore();
    }
    // Back to the valid state, publishing works again.
    await caster(['publish', list], { env: site.env });
  }

  async function replaceFile(path: string, text: string): Promise<() => Promise<void>> {
    const original = readFileSync(path);
    await writeFile(path, text);
    return () => writeFile(path, original);
  }

  it('when the credential was revoked', async () => {
    const { grid } = site.world;
    await refusedWith('CERT_REVOKED', () =>
      replaceFile(crlPath, makeCrl({ issuer: grid.intermediate, revoked: [grid.publisher] }).pem),
    );
  });

  it('when a CRL on the path is stale', async () => {
    const { grid } = site.world;
    const stale = makeCrl({
      issuer: grid.intermediate,
      thisUpdate: new Date(Date.now() - 20 * DAY),
      nextUpdate: new Date(Date.now() - DAY),
    });
    await refusedWith('CRL_STALE', () => replaceFile(crlPath, stale.pem));
  });

  it('when the credential has expired', async () => {
    const { grid } = site.world;
    // The same subject and key, as a renewed-then-lapsed certificate would be.
    const expired = issue(
      publisherSpec(grid.intermediate, {
        key: grid.publisher.key,
        notBefore: new Date(Date.now() - 30 * DAY),
        notAfter: new Date(Date.now() - DAY),
      }),
    );
    await refusedWith('CERT_EXPIRED', () => replaceFile(site.world.certPath, expired.pem));
  });
});
