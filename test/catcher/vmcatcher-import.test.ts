import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runCatcher } from '../helpers/catcher-cli.js';
import { Repo, type RepoImage } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Migration from vmcatcher: a database with vmcatcher's tables (SQLAlchemy model of
 * vmcatcher/databaseDefinition.py) is read; subscriptions come over with their pinned list
 * identifier, every authorised endorser and the image selections.
 */
function vmcatcherDatabase(
  path: string,
  rows: { uuid: string; url: string; dn: string; ca: string; cached: string[]; ignored: string[] }[],
): void {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE endorser (id INTEGER PRIMARY KEY, identifier VARCHAR(50) NOT NULL UNIQUE);
    CREATE TABLE endorserPrincible (id INTEGER PRIMARY KEY, identifier VARCHAR(100) NOT NULL, endorser INTEGER, hv_dn VARCHAR(100) NOT NULL, hv_ca VARCHAR(100) NOT NULL);
    CREATE TABLE subscription (id INTEGER PRIMARY KEY, uuid VARCHAR(50) NOT NULL UNIQUE, description VARCHAR(100), uri VARCHAR(500) NOT NULL UNIQUE, authorised BOOLEAN NOT NULL, imagelist_latest INTEGER, updated DATETIME);
    CREATE TABLE subscriptionAuth (id INTEGER PRIMARY KEY, subscription INTEGER, endorser INTEGER, authorised BOOLEAN NOT NULL);
    CREATE TABLE imageDefinition (id INTEGER PRIMARY KEY, identifier VARCHAR(50) NOT NULL UNIQUE, subscription INTEGER, cache INTEGER NOT NULL, latest INTEGER);
  `);
  rows.forEach((r, i) => {
    const n = i + 1;
    db.prepare('INSERT INTO endorser (id, identifier) VALUES (?, ?)').run(n, `endorser-${n}`);
    db.prepare(
      'INSERT INTO endorserPrincible (id, identifier, endorser, hv_dn, hv_ca) VALUES (?, ?, ?, ?, ?)',
    ).run(n, r.dn, n, r.dn, r.ca);
    db.prepare(
      'INSERT INTO subscription (id, uuid, description, uri, authorised) VALUES (?, ?, ?, ?, 1)',
    ).run(n, r.uuid, 'from vmcatcher', r.url);
    db.prepare('INSERT INTO subscriptionAuth (subscription, endorser, authorised) VALUES (?, ?, 1)').run(
      n,
      n,
    );
    for (const id of r.cached)
      db.prepare('INSERT INTO imageDefinition (identifier, subscription, cache) VALUES (?, ?, 1)').run(id, n);
    for (const id of r.ignored)
      db.prepare('INSERT INTO imageDefinition (identifier, subscription, cache) VALUES (?, ?, 0)').run(id, n);
  });
  db.close();
}

describe('import-vmcatcher', () => {
  let repo: Repo;
  let home: TestCatcher;
  let cached: RepoImage;
  let ignored: RepoImage;
  let dbPath: string;

  before(async () => {
    repo = await Repo.create();
    cached = repo.add('image vmcatcher cached');
    ignored = repo.add('image vmcatcher ignored');
    repo.publish();
    home = await makeCatcherHome(repo.grid);
    dbPath = join(await tempDir('vmicast-vmcatcher-'), 'vmcatcher.db');
    vmcatcherDatabase(dbPath, [
      {
        uuid: repo.listId,
        url: repo.listUrl,
        dn: repo.grid.publisher.subject,
        ca: repo.grid.intermediate.subject,
        cached: [cached.identifier],
        ignored: [ignored.identifier],
      },
      {
        uuid: '00000000-0000-4000-8000-000000000000',
        url: repo.server.url('/other.smime'),
        dn: repo.grid.publisher.subject,
        ca: repo.grid.intermediate.subject,
        cached: [],
        ignored: [],
      },
    ]);
  });
  after(async () => {
    await repo.stop();
  });

  it('plans without changing anything with --dry-run', async () => {
    const run = await runCatcher(home, ['import-vmcatcher', dbPath, '--dry-run', '--json']);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(
      (run.json as { status: string }[]).map((o) => o.status),
      ['planned', 'planned'],
    );
    assert.deepEqual((await runCatcher(home, ['subscriptions', '--json'])).json, []);
  });

  it('imports subscriptions with their endorsers and selections; a list that cannot be fetched is reported', async () => {
    const run = await runCatcher(home, ['import-vmcatcher', dbPath, '--json']);
    assert.equal(run.status, 1, 'one subscription failed');
    const outcomes = run.json as { uuid: string; status: string; code?: string }[];
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['imported', 'failed'],
    );
    assert.equal(outcomes[1]?.code, 'HTTP_STATUS');
    const subs = (await runCatcher(home, ['subscriptions', '--json'])).json as {
      id: string;
      endorsers: { dn: string }[];
    }[];
    assert.deepEqual(
      subs.map((s) => s.id),
      [repo.listId],
    );
    assert.equal(subs[0]?.endorsers[0]?.dn, repo.grid.publisher.subject);
    assert.equal((await runCatcher(home, ['sync'])).status, 0);
    const images = new Map(
      ((await runCatcher(home, ['images', '--json'])).json as { id: string; state: string }[]).map((i) => [
        i.id,
        i.state,
      ]),
    );
    assert.equal(images.get(cached.identifier), 'cached');
    assert.equal(images.get(ignored.identifier), 'known');
  });

  it('refuses a file that is not a vmcatcher database', async () => {
    const run = await runCatcher(home, ['import-vmcatcher', join(home.home, 'vmicatcher.db'), '--json']);
    assert.equal((run.json as { code: string }).code, 'CONFIG_INVALID');
  });
});
