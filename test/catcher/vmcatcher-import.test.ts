import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { databasePath } from '../../src/catcher/catcher.js';
import { resolveConfig } from '../../src/catcher/config.js';
import type { ImageView, SubscriptionView } from '../../src/catcher/views.js';
import { openSqlite } from '../../src/shared/db.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runCatcher, type CatcherRun } from '../helpers/catcher-cli.js';
import { makeGrid } from '../helpers/grid.js';
import { Repo, type RepoImage } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Migration from vmcatcher (issue 12), on a database created from vmcatcher's own schema
 * (shared/fixtures/interop/vmcatcher/schema.sql, made from its SQLAlchemy model): image
 * selections (`ImageDefinition.cache`), private-list credentials (`userName`/`password`,
 * stored and never printed), `updateMode` as the new-images policy, and only the endorsers
 * whose `subscriptionAuth` row is authorised. (The earlier test used a hand-made database
 * with a lower-case `imageDefinition` and a `uuid` column, a form vmcatcher never created;
 * on the real schema the selections were silently dropped and every image was cached.)
 */
const SCHEMA = '/work/shared/fixtures/interop/vmcatcher/schema.sql';
const TOKEN = 'appdb-token-5e1f0c0a9d7b4e2f';
const BASIC = 'x-oauth-basic';
const OTHER_DN = '/DC=org/DC=example/O=Elsewhere/CN=endorser no longer authorised';
const OTHER_CA = '/DC=org/DC=example/CN=Elsewhere CA';

interface VmcSubscription {
  uuid: string;
  url: string;
  authorised?: 0 | 1;
  updateMode: number;
  userName?: string;
  password?: string;
  /** [dn, ca, subscriptionAuth.authorised] */
  endorsers: [string, string, 0 | 1][];
  images?: [string, 0 | 1][];
}

/** vmcatcher's database: its schema, rows as vmcatcher writes them. */
function vmcatcherDatabase(path: string, subscriptions: VmcSubscription[]): void {
  const db = new Database(path);
  db.exec(readFileSync(SCHEMA, 'utf8'));
  const endorserIds = new Map<string, number>();
  subscriptions.forEach((s, i) => {
    const id = i + 1;
    db.prepare(
      `INSERT INTO subscription (id, identifier, description, uri, authorised, imagelist_latest, updated,
         trustAnchor, userName, password, updateMode) VALUES (?, ?, ?, ?, ?, NULL, ?, 0, ?, ?, ?)`,
    ).run(
      id,
      s.uuid,
      'subscribed with vmcatcher',
      s.url,
      s.authorised ?? 1,
      '2024-01-01 00:00:00',
      s.userName ?? null,
      s.password ?? null,
      s.updateMode,
    );
    for (const [dn, ca, authorised] of s.endorsers) {
      let endorser = endorserIds.get(dn);
      if (endorser === undefined) {
        endorser = endorserIds.size + 1;
        endorserIds.set(dn, endorser);
        db.prepare('INSERT INTO endorser (id, identifier) VALUES (?, ?)').run(
          endorser,
          `endorser ${endorser}`,
        );
        db.prepare('INSERT INTO endorserPrincible (hv_dn, hv_ca, endorser) VALUES (?, ?, ?)').run(
          dn,
          ca,
          endorser,
        );
      }
      db.prepare('INSERT INTO subscriptionAuth (subscription, endorser, authorised) VALUES (?, ?, ?)').run(
        id,
        endorser,
        authorised,
      );
    }
    for (const [identifier, cache] of s.images ?? [])
      db.prepare(
        'INSERT INTO ImageDefinition (identifier, latest, cache, subscription) VALUES (?, NULL, ?, ?)',
      ).run(identifier, cache, id);
  });
  db.close();
}

function secretFree(run: CatcherRun, what: string): void {
  for (const secret of [TOKEN, BASIC])
    assert.ok(!`${run.stdout}${run.stderr}`.includes(secret), `${what} printed a credential`);
}

interface Outcome {
  uuid: string;
  status: string;
  code?: string;
  message?: string;
  newImages?: string;
  private?: boolean;
}

describe('import-vmcatcher from a database with vmcatcher schema', () => {
  let publicRepo: Repo; // updateMode 0: new images ignored; one selected, one not
  let privateRepo: Repo; // updateMode 2, behind HTTP Basic auth
  let acceptRepo: Repo; // updateMode 1
  let home: TestCatcher;
  let dbPath: string;
  const img: Record<string, RepoImage> = {};

  before(async () => {
    const grid = await makeGrid();
    [publicRepo, privateRepo, acceptRepo] = (await Promise.all([0, 1, 2].map(() => Repo.create(grid)))) as [
      Repo,
      Repo,
      Repo,
    ];
    img['selected'] = publicRepo.add('selected in vmcatcher');
    img['deselected'] = publicRepo.add('known to vmcatcher, not selected');
    img['unknownIgnored'] = publicRepo.add('new since vmcatcher last looked (mode 0)');
    publicRepo.publish();
    img['privateKnown'] = privateRepo.add('private image vmcatcher cached');
    img['privateNew'] = privateRepo.add('private image new since (mode 2)');
    const signed = privateRepo.publish();
    privateRepo.server.set('/list.smime', signed, {
      contentType: 'application/pkcs7-mime',
      auth: { user: TOKEN, password: BASIC },
    });
    img['acceptNew'] = acceptRepo.add('new since (mode 1)');
    acceptRepo.publish();

    home = await makeCatcherHome(grid);
    dbPath = join(await tempDir('vmicast-vmcatcher-'), 'vmcatcher.db');
    const endorser: [string, string, 0 | 1] = [grid.publisher.subject, grid.intermediate.subject, 1];
    vmcatcherDatabase(dbPath, [
      {
        uuid: publicRepo.listId,
        url: publicRepo.listUrl,
        updateMode: 0,
        endorsers: [endorser, [OTHER_DN, OTHER_CA, 0]],
        images: [
          [img['selected'].identifier, 1],
          [img['deselected'].identifier, 0],
        ],
      },
      {
        uuid: privateRepo.listId,
        url: privateRepo.listUrl,
        updateMode: 2,
        userName: TOKEN,
        password: BASIC,
        endorsers: [endorser],
        images: [[img['privateKnown'].identifier, 1]],
      },
      { uuid: acceptRepo.listId, url: acceptRepo.listUrl, updateMode: 1, endorsers: [endorser] },
      {
        uuid: '00000000-0000-4000-8000-000000000001',
        url: publicRepo.server.url('/gone.smime'),
        updateMode: 0,
        endorsers: [endorser],
      },
      {
        uuid: '00000000-0000-4000-8000-000000000002',
        url: publicRepo.server.url('/disabled.smime'),
        authorised: 0,
        updateMode: 0,
        endorsers: [endorser],
      },
      {
        uuid: '00000000-0000-4000-8000-000000000003',
        url: publicRepo.server.url('/only-revoked-endorser.smime'),
        updateMode: 0,
        endorsers: [[OTHER_DN, OTHER_CA, 0]],
      },
      {
        uuid: '00000000-0000-4000-8000-000000000004',
        url: publicRepo.server.url('/odd-mode.smime'),
        updateMode: 7,
        endorsers: [endorser],
      },
    ]);
  });
  after(async () => {
    for (const r of [publicRepo, privateRepo, acceptRepo]) await r.stop();
  });

  it('plans without changing anything with --dry-run, and prints no credential', async () => {
    const run = await runCatcher(home, ['import-vmcatcher', dbPath, '--dry-run', '--json']);
    assert.equal(run.status, 0, run.stderr);
    const outcomes = run.json as Outcome[];
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['planned', 'planned', 'planned', 'planned', 'skipped', 'skipped', 'skipped'],
    );
    assert.deepEqual(
      outcomes.slice(0, 3).map((o) => [o.newImages, o.private]),
      [
        ['refuse', false],
        ['subscribe', true],
        ['accept', false],
      ],
    );
    assert.ok(!outcomes[0]?.message?.includes(OTHER_DN), 'an unauthorised endorser is not planned');
    secretFree(run, 'dry run (JSON)');
    secretFree(await runCatcher(home, ['import-vmcatcher', dbPath, '--dry-run']), 'dry run (text)');
    assert.deepEqual((await runCatcher(home, ['subscriptions', '--json'])).json, []);
  });

  it('imports selections, credentials, update modes and only authorised endorsers', async () => {
    const run = await runCatcher(home, ['import-vmcatcher', dbPath, '--json']);
    assert.equal(run.status, 1, 'one list cannot be fetched');
    secretFree(run, 'import');
    const outcomes = run.json as Outcome[];
    assert.deepEqual(
      outcomes.map((o) => `${o.status}${o.code === undefined ? '' : ` ${o.code}`}`),
      ['imported', 'imported', 'imported', 'failed HTTP_STATUS', 'skipped', 'skipped', 'skipped'],
    );
    assert.match(outcomes[4]?.message ?? '', /not authorised/);
    assert.match(outcomes[5]?.message ?? '', /no authorised endorser/);
    assert.match(outcomes[6]?.message ?? '', /updateMode 7/);

    const subs = new Map(
      ((await runCatcher(home, ['subscriptions', '--json'])).json as SubscriptionView[]).map((s) => [
        s.id,
        s,
      ]),
    );
    assert.deepEqual(
      [...subs.keys()].sort(),
      [publicRepo.listId, privateRepo.listId, acceptRepo.listId].sort(),
    );
    assert.equal(subs.get(publicRepo.listId)?.newImages, 'refuse');
    assert.equal(subs.get(acceptRepo.listId)?.newImages, 'accept');
    assert.equal(subs.get(privateRepo.listId)?.newImages, 'subscribe');
    assert.deepEqual(
      subs.get(publicRepo.listId)?.endorsers.map((e) => e.dn),
      [publicRepo.grid.publisher.subject],
      'the endorser whose authorisation vmcatcher withdrew is not pinned',
    );

    // The private list's credentials are stored (the database is the site's secret store) and were used.
    const db = openSqlite(databasePath(resolveConfig(home.raw, home.home, {})), { readonly: true });
    try {
      assert.deepEqual(
        db.prepare('SELECT username, password FROM subscriptions WHERE id = ?').get(privateRepo.listId),
        { username: TOKEN, password: BASIC },
      );
    } finally {
      db.close();
    }
    assert.ok(privateRepo.server.requests('/list.smime').some((r) => r.status === 200));

    const sync = await runCatcher(home, ['sync', '--json']);
    assert.equal(sync.status, 0, sync.stdout + sync.stderr);
    secretFree(sync, 'sync');
    const states = new Map(
      ((await runCatcher(home, ['images', '--json'])).json as ImageView[]).map((i) => [i.id, i.state]),
    );
    const state = (name: string) => states.get(img[name]?.identifier ?? '');
    assert.equal(state('selected'), 'cached');
    assert.equal(state('deselected'), 'known');
    assert.equal(state('unknownIgnored'), 'known', 'mode 0: not cached');
    assert.equal(state('privateKnown'), 'cached');
    assert.equal(state('privateNew'), 'cached', 'mode 2: new images are cached');
    assert.equal(state('acceptNew'), 'known', 'mode 1: new images are added, not cached');
    const downloaded = publicRepo.server.log.filter((r) => r.path.startsWith('/images/')).map((r) => r.path);
    assert.ok(
      downloaded.every((p) => p.includes(img['selected']?.identifier ?? '?')),
      `only the selected image was fetched: ${downloaded.join(' ')}`,
    );
  });

  it('refuses a file that is not a vmcatcher database', async () => {
    const run = await runCatcher(home, ['import-vmcatcher', join(home.home, 'vmicatcher.db'), '--json']);
    assert.equal((run.json as { code: string }).code, 'CONFIG_INVALID');
  });
});
