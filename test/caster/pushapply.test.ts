import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { assembleDocument } from '../../src/caster/build.js';
import { createList, removeImage, type Edit } from '../../src/caster/catalog.js';
import { loadListState } from '../../src/caster/publish.js';
import { applyPush } from '../../src/caster/serve/pushapply.js';
import type { PushBody } from '../../src/caster/serve/pushschema.js';
import { findAppliance } from '../../src/caster/store/appliances.js';
import { openCasterDatabase, type Db } from '../../src/caster/store/db.js';
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

  it('does not take a repeated push for a no-op once the appliance was changed by hand', () => {
    const body = push([newImage('head', 'h1'), newImage('worker', 'w1')]);
    const first = applyPush(edit, list, 'app', body, 'same-hash');
    assert.ok(first.changed);
    const worker = first.members.find((m) => m.role === 'worker')?.image ?? '';
    removeImage({ ...edit, code: 'USAGE' }, list, worker);
    const before = snapshot(db);
    // The pushed version no longer describes the appliance: say so instead of answering "unchanged".
    assert.throws(() => db.transaction(() => applyPush(edit, list, 'app', body, 'same-hash'))(), {
      code: 'LIST_CONFLICT',
    });
    assert.equal(snapshot(db), before);
    const next = applyPush(edit, list, 'app', { ...body, version: '2' }, 'next-hash');
    assert.ok(next.changed);
    assert.equal(findAppliance(db, list, 'app')?.members.length, 2);
  });
});
