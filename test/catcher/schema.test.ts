import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MIGRATIONS } from '../../src/catcher/store/schema.js';
import { imageRefusals, recordClaimRefusals } from '../../src/catcher/store/refusals.js';
import { openDatabase } from '../../src/shared/db.js';
import { tempDir } from '../helpers/tmp.js';

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
      assert.equal(db.pragma('user_version', { simple: true }), 2);
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
});
