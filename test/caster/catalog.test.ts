import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { createAppliance } from '../../src/caster/appliances.js';
import { assembleDocument } from '../../src/caster/build.js';
import { addImage, createList, removeImage, updateImage, type Edit } from '../../src/caster/catalog.js';
import { loadListState } from '../../src/caster/publish.js';
import { findAppliance, markAppliancesPublished } from '../../src/caster/store/appliances.js';
import { openCasterDatabase, type Db } from '../../src/caster/store/db.js';
import { findImage, imageVersions } from '../../src/caster/store/images.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { snapshot } from '../helpers/caster-state.js';
import { tempDir } from '../helpers/tmp.js';

function sha(text: string): string {
  return createHash('sha512').update(text).digest('hex');
}

function content(name: string) {
  return { uri: `https://images.example.org/${name}`, size: name.length, sha512: sha(name) };
}

function imagesOf(db: Db, listId: string): JsonObject[] {
  const doc = assembleDocument(loadListState(db, listId));
  return ((doc['hv:imagelist'] as JsonObject)['hv:images'] as JsonObject[]).map(
    (w) => w['hv:image'] as JsonObject,
  );
}

describe('catalog: images, successors and appliances in the store', () => {
  let db: Db;
  let edit: Edit;
  let list: string;

  beforeEach(async () => {
    db = await openCasterDatabase(join(await tempDir('vmicaster-catalog-'), 'home'));
    edit = { db, now: new Date().toISOString(), code: 'USAGE' };
    list = createList(edit, {
      title: 'L',
      description: '',
      uri: 'https://example.org/l',
      vo: 'vo.example.org',
    });
  });

  it('carries the whole chain, nearest first, capped at 64, and drops superseded images from the list', () => {
    let previous = addImage(edit, { listId: list, meta: { title: 'v0' }, content: content('v0') });
    const ids = [previous];
    for (let i = 1; i <= 70; i++) {
      previous = addImage(edit, {
        listId: list,
        meta: { title: `v${i}` },
        content: content(`v${i}`),
        supersedes: [previous],
      });
      ids.push(previous);
    }
    const listed = imagesOf(db, list);
    assert.equal(listed.length, 1);
    const chain = listed[0]?.['vmi:supersedes'] as string[];
    assert.equal(chain.length, 64);
    assert.deepEqual(chain.slice(0, 3), [ids[69], ids[68], ids[67]]);
    assert.equal(listed[0]?.['hv:version'], '71', 'each successor bumps the version of the one it replaces');
  });

  it('refuses to supersede an unknown or already superseded image and changes nothing', () => {
    const a = addImage(edit, { listId: list, meta: { title: 'a' }, content: content('a') });
    addImage(edit, { listId: list, meta: { title: 'b' }, content: content('b'), supersedes: [a] });
    const before = snapshot(db);
    assert.throws(
      () =>
        addImage(edit, {
          listId: list,
          meta: { title: 'c' },
          content: content('c'),
          supersedes: [randomUUID()],
        }),
      { code: 'USAGE' },
    );
    assert.throws(
      () => addImage(edit, { listId: list, meta: { title: 'c' }, content: content('c'), supersedes: [a] }),
      {
        code: 'USAGE',
        message: /already superseded/,
      },
    );
    assert.equal(snapshot(db), before);
  });

  it('updates in place with a newer version and keeps every version', () => {
    const id = addImage(edit, { listId: list, meta: { title: 'a', version: '1.0' }, content: content('a') });
    assert.equal(updateImage(edit, list, id, {}, content('a2')), '1.1');
    assert.throws(() => updateImage(edit, list, id, { version: '1.0' }, content('a3')), { code: 'USAGE' });
    assert.deepEqual(
      imageVersions(db, list, id).map((v) => v.version),
      ['1.0', '1.1'],
    );
    assert.equal(findImage(db, list, id)?.sha512, sha('a2'));
  });

  it('makes partial and full appliance updates that supersede the old version', () => {
    const v1 = createAppliance(edit, { listId: list, title: 'Cluster' });
    const head1 = addImage(edit, {
      listId: list,
      meta: { title: 'head' },
      content: content('h1'),
      appliance: { id: v1, role: 'head' },
    });
    const worker1 = addImage(edit, {
      listId: list,
      meta: { title: 'worker' },
      content: content('w1'),
      appliance: { id: v1, role: 'worker' },
    });
    markAppliancesPublished(db, list);

    // Partial update: a new appliance version with a new head; the worker is kept.
    const v2 = createAppliance(edit, { listId: list, title: 'Cluster', supersedes: v1 });
    const head2 = addImage(edit, {
      listId: list,
      meta: { title: 'head' },
      content: content('h2'),
      appliance: { id: v2, role: 'head' },
    });
    let doc = assembleDocument(loadListState(db, list))['hv:imagelist'] as JsonObject;
    let appliances = (doc['vmi:appliances'] as JsonObject[]).map((w) => w['vmi:appliance'] as JsonObject);
    assert.deepEqual(
      appliances.map((a) => a['dc:identifier']),
      [v2],
    );
    assert.equal(appliances[0]?.['hv:version'], '2');
    assert.deepEqual(appliances[0]['vmi:supersedes'], [v1]);
    assert.deepEqual(appliances[0]['vmi:images'], [
      { 'vmi:role': 'head', 'dc:identifier': head2 },
      { 'vmi:role': 'worker', 'dc:identifier': worker1 },
    ]);
    const images = imagesOf(db, list);
    assert.deepEqual(images.map((i) => i['dc:identifier']).sort(), [head2, worker1].sort());
    assert.deepEqual(images.find((i) => i['dc:identifier'] === head2)?.['vmi:supersedes'], [head1]);
    assert.ok(images.every((i) => i['vmi:appliance'] === v2));

    // Full update: every role replaced.
    const v3 = createAppliance(edit, { listId: list, title: 'Cluster', supersedes: v2 });
    const head3 = addImage(edit, {
      listId: list,
      meta: { title: 'head' },
      content: content('h3'),
      appliance: { id: v3, role: 'head' },
    });
    const worker3 = addImage(edit, {
      listId: list,
      meta: { title: 'worker' },
      content: content('w3'),
      appliance: { id: v3, role: 'worker' },
    });
    doc = assembleDocument(loadListState(db, list))['hv:imagelist'] as JsonObject;
    appliances = (doc['vmi:appliances'] as JsonObject[]).map((w) => w['vmi:appliance'] as JsonObject);
    assert.deepEqual(appliances[0]?.['vmi:supersedes'], [v2, v1]);
    const after = imagesOf(db, list);
    assert.deepEqual(after.map((i) => i['dc:identifier']).sort(), [head3, worker3].sort());
    assert.deepEqual(after.find((i) => i['dc:identifier'] === head3)?.['vmi:supersedes'], [head2, head1]);
    assert.deepEqual(after.find((i) => i['dc:identifier'] === worker3)?.['vmi:supersedes'], [worker1]);
  });

  it('gives a published appliance a new version when its members change', () => {
    const app = createAppliance(edit, { listId: list, title: 'A', version: '1.0' });
    const img = addImage(edit, {
      listId: list,
      meta: { title: 'x' },
      content: content('x'),
      appliance: { id: app, role: 'main' },
    });
    assert.equal(findAppliance(db, list, app)?.version, '1.0', 'unpublished changes keep the version');
    markAppliancesPublished(db, list);
    removeImage(edit, list, img);
    assert.equal(findAppliance(db, list, app)?.version, '1.1');
    assert.deepEqual(findAppliance(db, list, app)?.members, []);
  });
});
