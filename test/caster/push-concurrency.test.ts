import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { caster } from '../helpers/caster-cli.js';
import { startPushWorld, type PushWorld } from '../helpers/caster-push.js';
import { pushImage as image } from '../helpers/caster-state.js';
import { sha512 } from '../helpers/lists.js';

describe('the push API: client certificates, verified images and concurrency', () => {
  let w: PushWorld;

  before(async () => {
    w = await startPushWorld();
  });

  after(async () => {
    await w.close();
  });

  it('accepts a push from a client certificate authorized for the list VO', async () => {
    const reply = await w.put(
      'robot-app',
      { title: 'Robot', version: '1', images: [image('main', 'r1')] },
      { token: null, cert: w.clients.ofVo },
    );
    assert.equal(reply.status, 200, reply.text);
    const shown = JSON.parse(await caster(['verify', w.published, '--json'], { env: w.world.env })) as {
      list: { 'hv:imagelist': JsonObject };
    };
    assert.equal(shown.list['hv:imagelist']['hv:version'], reply.json()['version']);
  });

  it('downloads and checks pushed images when the token says so', async () => {
    const verifying = await caster(['token', 'create', '--list', w.list, '--name', 'verifying', '--verify'], {
      env: w.world.env,
    });
    const served = new TextEncoder().encode('served content');
    const right = image('main', 'v', {
      uri: `${w.images.url}/served.img`,
      size: served.length,
      sha512: sha512(served),
    });
    const wrong = { ...right, sha512: sha512(new TextEncoder().encode('something else')) };
    const before = await w.fingerprint();
    const refused = await w.put(
      'checked-app',
      { title: 'C', version: '1', images: [wrong] },
      { token: verifying },
    );
    assert.equal(refused.status, 422, refused.text);
    assert.equal(refused.json()['code'], 'IMAGE_DIGEST_MISMATCH');
    assert.equal(await w.fingerprint(), before);
    const trusted = w.images.requests.length;
    const accepted = await w.put(
      'checked-app',
      { title: 'C', version: '1', images: [right] },
      { token: verifying },
    );
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal(w.images.requests.length, trusted + 1, 'the image was downloaded once');
  });

  it('serialises concurrent pushes: distinct versions, one version for identical bodies, one winner on conflict', async () => {
    const distinct = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        w.put(`par-${i}`, { title: `P${i}`, version: '1', images: [image('main', `p${i}`)] }),
      ),
    );
    assert.deepEqual(
      distinct.map((r) => r.status),
      Array(6).fill(200),
    );
    const versions = distinct.map((r) => Number(r.json()['version']));
    assert.equal(new Set(versions).size, 6, 'every push published its own version');
    const final = JSON.parse(await caster(['verify', w.published, '--json'], { env: w.world.env })) as {
      list: { 'hv:imagelist': JsonObject };
    };
    assert.equal(Number(final.list['hv:imagelist']['hv:version']), Math.max(...versions));
    const ids = (final.list['hv:imagelist']['vmi:appliances'] as JsonObject[]).map(
      (w) => (w['vmi:appliance'] as JsonObject)['dc:identifier'],
    );
    for (let i = 0; i < 6; i++) assert.ok(ids.includes(`par-${i}`));

    const same = { title: 'Same', version: '1', images: [image('main', 'same')] };
    const identical = await Promise.all(Array.from({ length: 5 }, () => w.put('same-app', same)));
    assert.deepEqual(
      identical.map((r) => r.status),
      Array(5).fill(200),
    );
    assert.equal(identical.filter((r) => r.json()['changed'] === true).length, 1);
    assert.equal(new Set(identical.map((r) => r.json()['version'])).size, 1);

    const rivals = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        w.put('rival-app', { title: 'R', version: '1', images: [image('main', `rival${i}`)] }),
      ),
    );
    assert.equal(rivals.filter((r) => r.status === 200).length, 1);
    assert.deepEqual(
      rivals.filter((r) => r.status !== 200).map((r) => [r.status, r.json()['code']]),
      Array(3).fill([409, 'LIST_CONFLICT']),
    );
  });
});
