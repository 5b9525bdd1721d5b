import { registrySubscription } from '../helpers/catcher.js';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MIGRATIONS } from '../../src/catcher/store/schema.js';
import { imageRefusals, recordClaimRefusals } from '../../src/catcher/store/refusals.js';
import {
  getSubscription,
  insertSubscription,
  listSubscriptions,
} from '../../src/catcher/store/subscriptions.js';
import { openDatabase } from '../../src/shared/db.js';
import { VmiError } from '../../src/shared/errors.js';
import { tempDir } from '../helpers/tmp.js';

const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));

/** Schema upgrades: a database made by an older vmicatcher opens, keeps its rows, gains the new tables. */
describe('catcher schema migrations', () => {
  it('upgrades a version 1 database to version 2 (image_refusals), keeping its rows and a backup', async () => {
    const path = join(await tempDir('vmicast-schema-'), 'vmicatcher.db');
    const old = await openDatabase(
      path,
      MIGRATIONS.filter((m) => m.version === 1),
    );
    old
      .prepare(
        `INSERT INTO subscriptions (id, url, new_images, created_at) VALUES ('list-a', 'https://a.example/list', 'subscribe', '2026-01-01T00:00:00.000Z')`,
      )
      .run();
    old
      .prepare(
        `INSERT INTO images (subscription_id, identifier, selected, listed) VALUES ('list-a', 'img-1', 1, 1)`,
      )
      .run();
    assert.equal(old.pragma('user_version', { simple: true }), 1);
    old.close();

    const db = await openDatabase(path, MIGRATIONS);
    try {
      assert.equal(db.pragma('user_version', { simple: true }), LATEST);
      assert.ok(existsSync(`${path}.backup-v1`), 'a backup of the version 1 database');
      assert.deepEqual(db.prepare('SELECT subscription_id, identifier FROM images').all(), [
        { subscription_id: 'list-a', identifier: 'img-1' },
      ]);
      db.prepare(
        `INSERT INTO subscriptions (id, url, new_images, created_at) VALUES ('list-b', 'https://b.example/list', 'subscribe', '2026-01-02T00:00:00.000Z')`,
      ).run();
      const at = new Date('2026-01-03T00:00:00.000Z');
      recordClaimRefusals(db, 'list-b', [{ identifier: 'img-1', owner: 'list-a' }], at);
      assert.deepEqual(
        imageRefusals(db, 'list-b').map((r) => [r.id, r.code, r.owner, r.since]),
        [['img-1', 'IMAGE_IDENTIFIER_CLAIMED', 'list-a', at.toISOString()]],
      );
      // Refusals go with their subscription.
      db.prepare(`DELETE FROM subscriptions WHERE id = 'list-b'`).run();
      assert.deepEqual(db.prepare('SELECT COUNT(*) AS n FROM image_refusals').get(), { n: 0 });
    } finally {
      db.close();
    }
  });

  it('upgrades a version 2 database to version 3 (registry subscriptions): rows kept, registry null', async () => {
    const path = join(await tempDir('vmicast-schema-'), 'vmicatcher.db');
    const old = await openDatabase(
      path,
      MIGRATIONS.filter((m) => m.version <= 2),
    );
    old
      .prepare(
        `INSERT INTO subscriptions (id, url, new_images, username, password, created_at)
         VALUES ('list-a', 'https://a.example/list', 'subscribe', 'token', 'x-oauth-basic', '2026-01-01T00:00:00.000Z')`,
      )
      .run();
    old
      .prepare(
        `INSERT INTO images (subscription_id, identifier, selected, listed) VALUES ('list-a', 'img-1', 1, 1)`,
      )
      .run();
    old
      .prepare(
        `INSERT INTO instances (subscription_id, identifier, sha512, size, version, uri, entry_json, current, state)
         VALUES ('list-a', 'img-1', ?, 3, '1', 'https://a.example/img', '{"dc:identifier":"img-1"}', 1, 'cached')`,
      )
      .run('ab'.repeat(64));
    assert.equal(old.pragma('user_version', { simple: true }), 2);
    old.close();

    const db = await openDatabase(path, MIGRATIONS);
    try {
      assert.equal(db.pragma('user_version', { simple: true }), 3);
      assert.ok(existsSync(`${path}.backup-v2`), 'a backup of the version 2 database');
      const sub = getSubscription(db, 'list-a');
      assert.ok(sub !== undefined);
      assert.equal(sub.url, 'https://a.example/list');
      assert.equal(sub.registry, null);
      assert.deepEqual([sub.username, sub.password], ['token', 'x-oauth-basic']);
      assert.deepEqual(db.prepare('SELECT identifier, state, size FROM instances').all(), [
        { identifier: 'img-1', state: 'cached', size: 3 },
      ]);
      assert.deepEqual(db.prepare('SELECT subscription_id, identifier FROM images').all(), [
        { subscription_id: 'list-a', identifier: 'img-1' },
      ]);

      // A registry subscription round-trips through registry_json.
      const source = {
        registry: 'registry.example:5000',
        scope: { kind: 'project', project: 'egi_vm_images' },
        tagPattern: '^[^-]*$',
        unsigned: true,
      } as const;
      const registered = registrySubscription(source);
      insertSubscription(db, registered, new Date('2026-01-02T00:00:00.000Z'));
      assert.deepEqual(getSubscription(db, registered.id)?.registry, source);
    } finally {
      db.close();
    }
  });

  it('refuses a stored registry source that does not parse instead of reading a list subscription', async () => {
    const db = await openDatabase(join(await tempDir('vmicast-schema-'), 'vmicatcher.db'), MIGRATIONS);
    try {
      const bad = [
        'not json',
        '{"registry":"r.example","scope":{"kind":"project","project":"p"},"tagPattern":"x"}',
        '{"registry":"r.example","scope":{"kind":"project","project":"a/b"},"tagPattern":"x","unsigned":true}',
        '{"registry":"R.example","scope":{"kind":"project","project":"p"},"tagPattern":"x","unsigned":true}',
        '{"registry":"r.example","scope":{"kind":"repository","repository":"../x"},"tagPattern":"x","unsigned":true}',
        '{"registry":"r.example","scope":{"kind":"project","project":"p"},"tagPattern":"(","unsigned":true}',
      ];
      for (const [n, json] of bad.entries()) {
        db.prepare(
          `INSERT INTO subscriptions (id, url, new_images, created_at, registry_json) VALUES (?, ?, 'subscribe', '2026-01-01T00:00:00.000Z', ?)`,
        ).run(`bad-${n}`, `oci://r.example/p${n}`, json);
        assert.throws(
          () => getSubscription(db, `bad-${n}`),
          (err: unknown) => err instanceof VmiError && err.code === 'CONFIG_INVALID',
          json,
        );
        assert.throws(() => listSubscriptions(db), VmiError);
        db.prepare('DELETE FROM subscriptions WHERE id = ?').run(`bad-${n}`);
      }
    } finally {
      db.close();
    }
  });
});
