import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { EXIT_STATUS } from '../../src/shared/errors.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { caster, casterJson, failureOf as failure, runCaster } from '../helpers/caster-cli.js';
import { issueUser, opensslVerify, writeImage, type CasterWorld } from '../helpers/caster-grid.js';
import { images, makeCasterSite, VO, type CasterSite, type Doc } from '../helpers/caster-site.js';
import { makeVomsProxy, makeVomsServer } from '../helpers/caster-voms.js';
import { signDocument } from '../helpers/grid.js';
import { makeImage, makeList } from '../helpers/lists.js';

describe('vmicaster command line: credentials, publication and import', () => {
  let world: CasterWorld;
  let env: NodeJS.ProcessEnv;
  let newList: CasterSite['newList'];
  let show: CasterSite['show'];

  before(async () => {
    ({ world, env, newList, show } = await makeCasterSite());
  });

  it('refuses credentials that cannot sign, have expired or do not chain to the trust store', async () => {
    const cases: [string, Parameters<typeof issueUser>[2], string][] = [
      ['No Signing', { keyUsage: ['keyEncipherment'] }, 'CERT_PURPOSE'],
      [
        'Expired',
        { notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) },
        'CERT_EXPIRED',
      ],
    ];
    for (const [name, spec, code] of cases) {
      const user = await issueUser(world, name, spec);
      const args = [
        'credential',
        'add',
        '--vo',
        'other.vo',
        '--cert',
        user.certPath,
        '--key',
        user.keyPath,
        '--json',
      ];
      assert.deepEqual(
        failure(await runCaster(args, { env })),
        { code, status: EXIT_STATUS.signature },
        name,
      );
    }
    const stranger = await issueUser(world, 'Stranger', { issuer: undefined });
    const untrusted = await runCaster(
      [
        'credential',
        'add',
        '--vo',
        'other.vo',
        '--cert',
        stranger.certPath,
        '--key',
        stranger.keyPath,
        '--json',
      ],
      { env },
    );
    assert.equal(failure(untrusted).code, 'SIGNER_UNTRUSTED');
    const wrongKey = await runCaster(
      [
        'credential',
        'add',
        '--vo',
        'other.vo',
        '--cert',
        world.certPath,
        '--key',
        stranger.keyPath,
        '--json',
      ],
      { env },
    );
    assert.deepEqual(failure(wrongKey), { code: 'USAGE', status: EXIT_STATUS.configuration });
    const listed = await casterJson<unknown[]>(['credential', 'list'], { env });
    assert.equal(listed.length, 1, 'nothing was registered');
  });

  it('signs with a VOMS proxy for its own VO only, naming the EEC as endorser', async () => {
    const server = await makeVomsServer(world, ['voms.vo.org']);
    const user = await issueUser(world, 'Jane Manager');
    const proxy = makeVomsProxy(world, server, user, 'voms.vo.org', join(world.dir, 'proxy.pem'));
    const other = await runCaster(
      ['credential', 'add', '--vo', 'another.vo.org', '--cert', proxy, '--vomsdir', world.vomsdir, '--json'],
      { env },
    );
    assert.deepEqual(failure(other), { code: 'VOMS_VO_MISMATCH', status: EXIT_STATUS.authorization });
    const added = await casterJson<{
      credential: { kind: string; vomsVo: string; eecDn: string; notAfter: string };
    }>(['credential', 'add', '--vo', 'voms.vo.org', '--cert', proxy, '--vomsdir', world.vomsdir], { env });
    assert.equal(added.credential.kind, 'proxy');
    assert.equal(added.credential.vomsVo, 'voms.vo.org');
    assert.equal(added.credential.eecDn, user.cert.subject);

    const list = await newList('voms.vo.org');
    const out = join(world.root, 'voms.smime');
    const published = await casterJson<{ expires: string }>(['publish', list, '--out', out], { env });
    assert.ok(
      Date.parse(published.expires) <= Date.parse(added.credential.notAfter),
      'never beyond the proxy',
    );
    assert.ok(Date.parse(published.expires) <= Date.now() + 12 * 3600_000 + 1000);
    const verified = await casterJson<{ signer: { dn: string; vo: string }; list: Doc }>(
      ['verify', out, '--vo', 'voms.vo.org', '--require-voms'],
      { env },
    );
    assert.equal(verified.signer.dn, user.cert.subject);
    assert.equal(verified.signer.vo, 'voms.vo.org');
    const x509 = (verified.list['hv:imagelist']['hv:endorser'] as JsonObject)['hv:x509'] as JsonObject;
    assert.equal(x509['hv:dn'], user.cert.subject);
    assert.equal(x509['hv:ca'], world.grid.intermediate.subject);
  });

  it('publishes with the VO credential only, and refuses when none fits', async () => {
    const noCredential = await newList('unknown.vo.org');
    const out = join(world.root, 'refused.smime');
    const refused = await runCaster(['publish', noCredential, '--out', out, '--json'], { env });
    assert.deepEqual(failure(refused), { code: 'VO_MISMATCH', status: EXIT_STATUS.authorization });
    const noVo = await newList(null);
    assert.equal(failure(await runCaster(['publish', noVo, '--out', out, '--json'], { env })).code, 'USAGE');
    assert.equal(existsSync(out), false);
  });

  it('bumps the version on every publication, keeps history and never outlives the certificate', async () => {
    const shortLived = await issueUser(world, 'Short Lived', {
      notAfter: new Date(Date.now() + 3 * 86400_000),
    });
    const list = await newList('short.vo.org');
    await caster(
      [
        'credential',
        'add',
        '--vo',
        'short.vo.org',
        '--cert',
        shortLived.certPath,
        '--key',
        shortLived.keyPath,
      ],
      { env },
    );
    const file = await writeImage(world, 'p1');
    await caster(
      ['image', 'add', list, '--file', file.path, '--uri', 'https://i.example.org/p1', '--title', 'P'],
      {
        env,
      },
    );
    const out = join(world.root, 'short', 'list.smime');
    const first = await casterJson<{ version: string; expires: string }>(
      ['publish', list, '--out', out, '--lifetime-days', '28'],
      { env },
    );
    assert.equal(first.version, '1');
    assert.ok(Date.parse(first.expires) <= Date.now() + 3 * 86400_000);
    const second = await casterJson<{ version: string }>(['publish', list], { env });
    const renewed = await casterJson<{ version: string; historyPath: string }>(['publish', list, '--renew'], {
      env,
    });
    assert.deepEqual([second.version, renewed.version], ['2', '3']);
    for (const v of ['1', '2', '3']) {
      opensslVerify(join(world.root, 'short', 'history', list, `${v}.smime`), world.grid.caDir);
    }
    const history = await casterJson<{ version: string; kind: string }[]>(['show', list, '--history'], {
      env,
    });
    assert.deepEqual(
      history.map((h) => [h.version, h.kind]),
      [
        ['1', 'publish'],
        ['2', 'publish'],
        ['3', 'renew'],
      ],
    );
    assert.deepEqual(await readFile(out), await readFile(renewed.historyPath));
  });

  it('imports a signed list and continues above its version', async () => {
    const listId = randomUUID();
    const old = randomUUID();
    const doc = makeList({
      identifier: listId,
      version: '20150618211400',
      vo: VO,
      dn: world.grid.publisher.subject,
      ca: world.grid.intermediate.subject,
      images: [
        makeImage({
          extra: { 'hv:size': '5', 'vmi:supersedes': [old], 'ad:mpuri': 'https://appdb.example.org/x' },
          bytes: new Uint8Array(5),
        }),
      ],
      extra: { 'ad:extra:key': 'kept' },
    });
    const file = join(world.dir, 'appdb.smime');
    await writeFile(file, signDocument(doc, world.grid.publisher));
    const tampered = join(world.dir, 'tampered.smime');
    const forged = (await readFile(file)).toString('latin1').replace('"Test list"', '"Evil list"');
    await writeFile(tampered, Buffer.from(forged, 'latin1'));
    assert.equal(failure(await runCaster(['import', tampered, '--json'], { env })).code, 'SIGNATURE_INVALID');

    const summary = await casterJson<{ listId: string; version: string; images: number }>(['import', file], {
      env,
    });
    assert.deepEqual(summary, {
      ok: true,
      listId,
      version: '20150618211400',
      images: 1,
      appliances: 0,
      warnings: [],
    });
    assert.equal(failure(await runCaster(['import', file, '--json'], { env })).code, 'CONFIG_INVALID');
    const next = await show(listId);
    assert.equal(next['hv:imagelist']['hv:version'], '20150618211401');
    assert.equal(next['hv:imagelist']['ad:extra:key'], 'kept');
    const [entry] = images(next);
    assert.ok(entry !== undefined);
    assert.equal(entry['hv:size'], 5);
    assert.deepEqual(entry['vmi:supersedes'], [old]);
    assert.equal(entry['ad:mpuri'], 'https://appdb.example.org/x');
    const out = join(world.root, 'imported.smime');
    // A renewal right after the import re-signs the imported content, written the vmicaster way.
    const published = await casterJson<{ version: string }>(['publish', listId, '--out', out, '--renew'], {
      env,
    });
    assert.equal(published.version, '20150618211401');
    const renewed = JSON.parse(opensslVerify(out, world.grid.caDir)) as Doc;
    // Image expiries are stamped at each signature (seconds apart here).
    const unstamped = (d: Doc): JsonObject[] => images(d).map((e) => ({ ...e, 'dc:date:expires': null }));
    assert.deepEqual(unstamped(renewed), unstamped(next));
  });

  it('imports a real AppDB-style list from the cloudkeeper fixtures', async () => {
    const fixtures = new URL('../fixtures/interop/cloudkeeper/', import.meta.url).pathname;
    const result = await casterJson<{ listId: string; version: string; images: number }>(
      [
        'import',
        join(fixtures, 'imagelist01.signed'),
        '--ca-dir',
        join(fixtures, 'ca'),
        '--crl',
        'off',
        '--purpose',
        'any',
        '--allow-endorser-mismatch',
        '--at',
        '2018-03-01T00:00:00Z',
      ],
      { env },
    );
    assert.ok(result.images > 0);
    const original = JSON.parse(await readFile(join(fixtures, 'imagelist01.unsigned'), 'utf8')) as Doc;
    assert.equal(result.listId, original['hv:imagelist']['dc:identifier']);
    assert.equal(result.version, original['hv:imagelist']['hv:version']);
    const next = await show(result.listId);
    assert.equal(images(next).length, result.images);
    assert.ok(
      images(next).every((e) => typeof e['hv:size'] === 'number'),
      'sizes are written as integers',
    );
  });
});
