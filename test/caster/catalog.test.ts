import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { createAppliance } from '../../src/caster/appliances.js';
import { assembleDocument } from '../../src/caster/build.js';
import { addImage, createList, removeImage, updateImage, type Edit } from '../../src/caster/catalog.js';
import { loadListState } from '../../src/caster/publish.js';
import { applyPush } from '../../src/caster/serve/pushapply.js';
import type { PushBody } from '../../src/caster/serve/pushschema.js';
import { findAppliance, markAppliancesPublished } from '../../src/caster/store/appliances.js';
import { openCasterDatabase, type Db } from '../../src/caster/store/db.js';
import { findImage, imageVersions } from '../../src/caster/store/images.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { tempDir } from '../helpers/tmp.js';

function sha(text: string): string {
  return createHash('sha512').update(text).digest('hex');
}

function content(name: string) {
  return { uri: `https://images.example.org/${name}`, size: name.length, sha512: sha(name) };
}

/** A snapshot of every table, to show that a refused change changed nothing. */
function snapshot(db: Db): string {
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as {
    name: string;
  }[];
  return JSON.stringify(tables.map((t) => db.prepare(`SELECT * FROM "${t.name}"`).all()));
}

function imagesOf(db: Db, listId: string): JsonObject[] {
  const doc = assembleDocument(loadListState(db, listId));
  return ((doc['hv:imagelist'] as JsonObject)['hv:images'] as JsonObject[]).map(
    (w) => w['hv:image'] as JsonObject,
  );
}

function push(images: PushBody['images'], over: Partial<PushBody> = {}): PushBody {
  return { title: 'Cluster', version: '1', images, ...over };
}

function newImage(role: string, name: string): PushBody['images'][number] {
  return {
    role,
    title: `${role} ${name}`,
    ...content(name),
    os: 'Linux',
    osversion: '9',
    arch: 'x86_64',
    hypervisor: 'KVM',
    format: 'qcow2',
  };
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

describe('applyPush', () => {
  let db: Db;
  let edit: Edit;
  let list: string;

  beforeEach(async () => {
    db = await openCasterDatabase(join(await tempDir('vmicaster-push-'), 'home'));
    edit = { db, now: new Date().toISOString(), code: 'LIST_MALFORMED' };
    list = createList(edit, {
      title: 'L',
      description: '',
      uri: 'https://example.org/l',
      vo: 'vo.example.org',
    });
  });

  it('creates an appliance, is idempotent, keeps unchanged images and supersedes changed ones', () => {
    const first = applyPush(
      edit,
      list,
      'app',
      push([newImage('head', 'h1'), newImage('worker', 'w1')]),
      'hash-1',
    );
    assert.ok(first.changed);
    const head1 = first.members.find((m) => m.role === 'head')?.image;
    const worker1 = first.members.find((m) => m.role === 'worker')?.image;
    const before = snapshot(db);
    assert.deepEqual(
      applyPush(edit, list, 'app', push([newImage('head', 'h1'), newImage('worker', 'w1')]), 'hash-1'),
      {
        changed: false,
      },
    );
    assert.equal(snapshot(db), before, 'the same body twice changes nothing');

    const second = applyPush(
      edit,
      list,
      'app',
      push([newImage('head', 'h2'), newImage('worker', 'w1')], { version: '2' }),
      'hash-2',
    );
    assert.ok(second.changed);
    const head2 = second.members.find((m) => m.role === 'head')?.image;
    assert.notEqual(head2, head1);
    assert.equal(second.members.find((m) => m.role === 'worker')?.image, worker1, 'same bytes: same image');
    const images = imagesOf(db, list);
    assert.deepEqual(images.find((i) => i['dc:identifier'] === head2)?.['vmi:supersedes'], [head1]);
    assert.equal(findAppliance(db, list, 'app')?.version, '2');

    // A role no longer pushed leaves the list.
    applyPush(
      edit,
      list,
      'app',
      push([{ role: 'head', identifier: head2 ?? '' }], { version: '3' }),
      'hash-3',
    );
    assert.deepEqual(
      imagesOf(db, list).map((i) => i['dc:identifier']),
      [head2],
    );
  });

  it('refuses conflicts, rollbacks and missing members without changing anything', () => {
    applyPush(edit, list, 'app', push([newImage('head', 'h1')], { version: '2' }), 'hash-1');
    const before = snapshot(db);
    const cases: [PushBody, string][] = [
      [push([newImage('head', 'other')], { version: '2' }), 'LIST_CONFLICT'],
      [push([newImage('head', 'h0')], { version: '1' }), 'LIST_ROLLBACK'],
      [push([{ role: 'head', identifier: randomUUID() }], { version: '3' }), 'LIST_MALFORMED'],
      [push([newImage('head', 'h3')], { version: '3', supersedes: 'nope' }), 'LIST_MALFORMED'],
    ];
    for (const [body, code] of cases) {
      assert.throws(
        () => db.transaction(() => applyPush(edit, list, 'app', body, `hash-${code}`))(),
        { code },
        code,
      );
      assert.equal(snapshot(db), before, code);
    }
    assert.throws(
      () => applyPush(edit, list, 'new-app', push([newImage('head', 'x')], { supersedes: 'unknown' }), 'h'),
      {
        code: 'LIST_MALFORMED',
      },
    );
  });

  it('supersedes another appliance and moves its unchanged images', () => {
    const old = applyPush(edit, list, 'old', push([newImage('head', 'h1'), newImage('worker', 'w1')]), 'a');
    assert.ok(old.changed);
    const next = applyPush(
      edit,
      list,
      'new',
      push([newImage('head', 'h1'), newImage('worker', 'w2')], { supersedes: 'old' }),
      'b',
    );
    assert.ok(next.changed);
    assert.equal(
      next.members.find((m) => m.role === 'head')?.image,
      old.members.find((m) => m.role === 'head')?.image,
    );
    assert.equal(findAppliance(db, list, 'old')?.state, 'superseded');
    const doc = assembleDocument(loadListState(db, list))['hv:imagelist'] as JsonObject;
    const appliances = (doc['vmi:appliances'] as JsonObject[]).map((w) => w['vmi:appliance'] as JsonObject);
    assert.deepEqual(
      appliances.map((a) => [a['dc:identifier'], a['vmi:supersedes']]),
      [['new', ['old']]],
    );
  });
});
