import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SiteIndex } from '../../src/catcher/ops/export.js';
import type { SiteStatus } from '../../src/catcher/ops/status.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runVmicatcher, subscribeTo } from '../helpers/ops.js';
import { Repo } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/** `vmicatcher status` and `vmicatcher export` through the real program, after real syncs. */

/** Parses LDIF (RFC 2849) records: unfolds lines, decodes `attr:: base64`. */
function parseLdif(text: string): Record<string, string[]>[] {
  const unfolded = text.replace(/\n /g, '');
  return unfolded
    .split(/\n\n+/)
    .map((block) => block.split('\n').filter((l) => l !== '' && !l.startsWith('#')))
    .filter((lines) => lines.length > 0 && !lines[0]?.startsWith('version:'))
    .map((lines) => {
      const record: Record<string, string[]> = {};
      for (const line of lines) {
        const m = /^([A-Za-z0-9]+)(::?) ?(.*)$/.exec(line);
        assert.ok(m, `bad LDIF line ${line}`);
        const [, attr = '', sep, raw = ''] = m;
        const value = sep === '::' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
        (record[attr] ??= []).push(value);
      }
      return record;
    });
}

describe('vmicatcher status and export', () => {
  let repo: Repo;
  let home: TestCatcher;
  let target: string;
  const ids: Record<string, string> = {};
  const UNICODE_TITLE = 'Debian 12 — ünïcode : édition';

  before(async () => {
    repo = await Repo.create();
    const old = repo.add(randomBytes(1500), {
      extra: { 'dc:title': 'Worker 1.0', 'vmi:appliance': 'app-1' },
    });
    const head = repo.add(randomBytes(2500), {
      extra: {
        'dc:title': UNICODE_TITLE,
        'vmi:appliance': 'app-1',
        'ad:mpuri': 'https://appdb.example.org/store/vm/image/42:1/',
      },
    });
    repo.appliances = [
      {
        'vmi:appliance': {
          'dc:identifier': 'app-1',
          'dc:title': 'Cluster',
          'hv:version': '1',
          'vmi:images': [
            { 'vmi:role': 'head', 'dc:identifier': head.identifier },
            { 'vmi:role': 'worker', 'dc:identifier': old.identifier },
          ],
        },
      },
    ];
    repo.publish({ vo: 'vo.example.org' });
    target = await tempDir('vmicast-site-');
    home = await makeCatcherHome(repo.grid, {
      backends: [{ type: 'directory', name: 'local', path: target }],
    });
    await subscribeTo(home, repo, { vo: 'vo.example.org' });
    const catcher = await home.open();
    try {
      assert.equal((await syncOnce(catcher)).failures, 0);
      // A new worker version supersedes the old one (a partial appliance update).
      const worker = repo.image(randomBytes(1700), {
        extra: { 'dc:title': 'Worker 1.1', 'vmi:appliance': 'app-2', 'vmi:supersedes': [old.identifier] },
      });
      repo.remove(old.identifier);
      repo.images.push(worker);
      repo.replace(head.identifier, { ...head, entry: { ...head.entry, 'vmi:appliance': 'app-2' } });
      repo.appliances = [
        {
          'vmi:appliance': {
            'dc:identifier': 'app-2',
            'dc:title': 'Cluster',
            'hv:version': '2',
            'vmi:supersedes': ['app-1'],
            'vmi:images': [
              { 'vmi:role': 'head', 'dc:identifier': head.identifier },
              { 'vmi:role': 'worker', 'dc:identifier': worker.identifier },
            ],
          },
        },
      ];
      repo.publish({ vo: 'vo.example.org' });
      assert.equal((await syncOnce(catcher)).failures, 0);
      Object.assign(ids, { old: old.identifier, head: head.identifier, worker: worker.identifier });
    } finally {
      await catcher.close();
    }
  });
  after(() => repo.stop());

  it('status --json prints the status document without a daemon', async () => {
    const result = await runVmicatcher(home, ['status', '--json']);
    assert.equal(result.status, 0, result.stderr);
    const status = JSON.parse(result.stdout) as SiteStatus;
    assert.equal(status.daemon, null);
    assert.equal(status.lastCycle, null);
    assert.equal(status.health.status, 'OK');
    assert.equal(status.subscriptions[0]?.vo, 'vo.example.org');
    assert.equal(status.subscriptions[0].version, '2');
    const byId = new Map(status.images.map((i) => [i.id, i]));
    assert.equal(byId.get(ids['worker'] ?? '')?.state, 'delivered');
    assert.deepEqual(byId.get(ids['worker'] ?? '')?.supersedes, [ids['old']]);
    assert.equal(byId.get(ids['old'] ?? '')?.supersededBy, ids['worker']);
    const app = status.subscriptions[0].appliances.find((a) => a.id === 'app-2');
    assert.ok(app);
    assert.deepEqual(app.members.map((m) => m.role).sort(), ['head', 'worker']);
    assert.deepEqual(
      app.availableOn.map((a) => a.backend),
      ['local'],
    );
  });

  it('status prints readable lines', async () => {
    const result = await runVmicatcher(home, ['status']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^OK: 1 subscription\(s\) up to date, 2 image\(s\) available/);
    assert.match(result.stdout, /daemon: never started here/);
    assert.match(result.stdout, /images: 2 delivered, 1 retired|images: 2 delivered, 1 deprecated/);
    assert.match(result.stdout, /local \(directory\): 2 delivered/);
  });

  it('export lists the delivered images with their directory paths, VO, appliance and successors', async () => {
    const result = await runVmicatcher(home, ['export', '--site', 'TEST-SITE']);
    assert.equal(result.status, 0, result.stderr);
    const index = JSON.parse(result.stdout) as SiteIndex;
    assert.equal(index.format, 'vmicast-site-index');
    assert.equal(index.site, 'TEST-SITE');
    assert.deepEqual(index.images.map((i) => i.id).sort(), [ids['head'], ids['worker']].sort());
    const worker = index.images.find((i) => i.id === ids['worker']);
    assert.ok(worker);
    assert.equal(worker.vo, 'vo.example.org');
    assert.deepEqual(worker.appliance, { id: 'app-2', title: 'Cluster', version: '2', role: 'worker' });
    assert.deepEqual(worker.supersedes, [ids['old']]);
    assert.deepEqual(
      worker.locations.map((l) => [l.backend, l.type, l.refs]),
      [['local', 'directory', [join(target, worker.id)]]],
    );
    const head = index.images.find((i) => i.id === ids['head']);
    assert.ok(head);
    assert.equal(head.title, UNICODE_TITLE);
    assert.equal(head.marketplaceUri, 'https://appdb.example.org/store/vm/image/42:1/');
  });

  it('export --format glue2 writes GLUE 2.0 ApplicationEnvironment records in LDIF', async () => {
    const result = await runVmicatcher(home, ['export', '--format', 'glue2', '--site', 'TEST-SITE']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^version: 1\n/);
    for (const line of result.stdout.split('\n')) assert.ok(line.length <= 76, `long line ${line}`);
    const records = parseLdif(result.stdout);
    assert.equal(records.length, 2);
    const head = records.find((r) => r['GLUE2EntityOtherInfo']?.includes(`IMAGE_ID=${ids['head'] ?? ''}`));
    assert.ok(head, result.stdout);
    assert.deepEqual(head['objectClass'], ['GLUE2Entity', 'GLUE2ApplicationEnvironment']);
    assert.deepEqual(head['GLUE2ApplicationEnvironmentAppName'], [UNICODE_TITLE]);
    assert.match(result.stdout, /GLUE2EntityName:: /, 'a non-ASCII title is base64');
    assert.deepEqual(head['GLUE2ApplicationEnvironmentID'], [`urn:vmicast:image:local:${ids['head'] ?? ''}`]);
    assert.deepEqual(head['dn'], [
      `GLUE2ApplicationEnvironmentID=urn:vmicast:image:local:${ids['head'] ?? ''},GLUE2GroupID=resource,o=glue`,
    ]);
    assert.deepEqual(head['GLUE2ApplicationEnvironmentRepository'], [
      'https://appdb.example.org/store/vm/image/42:1/',
    ]);
    assert.deepEqual(head['GLUE2ApplicationEnvironmentComputingManagerForeignKey'], [
      'urn:vmicast:site:TEST-SITE',
    ]);
    const info = head['GLUE2EntityOtherInfo'] ?? [];
    for (const expected of [
      `IMAGE_REF=${join(target, ids['head'] ?? '')}`,
      'BACKEND=local',
      'VO=vo.example.org',
      'APPLIANCE_ID=app-2',
      'APPLIANCE_ROLE=head',
      'HYPERVISOR=KVM',
    ])
      assert.ok(info.includes(expected), `${expected} in ${info.join(', ')}`);
  });

  it('export fails with CONFIG_INVALID where there is no database', async () => {
    const empty = await makeCatcherHome(repo.grid, { home: await tempDir('vmicast-nodb-') });
    const result = await runVmicatcher(empty, ['export']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /CONFIG_INVALID: no vmicatcher database/);
  });
});
