import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { pino } from 'pino';
import { openCatcher, type Catcher } from '../../src/catcher/catcher.js';
import { resolveConfig } from '../../src/catcher/config.js';
import { registryIdentifier } from '../../src/catcher/registry/entry.js';
import { DEFAULT_TAG_PATTERN, type RegistrySource } from '../../src/catcher/registry/source.js';
import { insertSubscription } from '../../src/catcher/store/subscriptions.js';
import { syncOnce, type SyncReport } from '../../src/catcher/sync/sync.js';
import { imageViews, subscriptionViews } from '../../src/catcher/views.js';
import { makeCatcherHome, registrySubscription } from '../helpers/catcher.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { describeWithRegistry } from '../helpers/registry.js';
import { egiArtefact, fakeDisk, rawPushArtefact, sha256 } from '../helpers/registry-artefact.js';
import { TestServer } from '../helpers/server.js';
import { localhostServerCert } from '../helpers/tls.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Issue 15, item 1: a registry project followed without a signed list (`--unsigned`), as
 * EGI's central sync follows registry.egi.eu: moving tags only, artefacts without
 * `eu.egi.cloud.tag` skipped, the layer's sha256 checked while the SHA-512 is measured in
 * the same pass, a moving tag that changes digest replacing the image (make before break),
 * credentials used for the token flow and never shown.
 */

const PROJECT = 'egi_vm_images';
const VO = 'vo.example';
const sha512 = (bytes: Buffer) => createHash('sha512').update(bytes).digest('hex');

function source(host: string, scope: RegistrySource['scope']): RegistrySource {
  return { registry: host, scope, tagPattern: DEFAULT_TAG_PATTERN, unsigned: true };
}

interface Site {
  catcher: Catcher;
  dir: string;
  logs: string[];
  subscription: string;
}

async function site(
  grid: Grid,
  caFile: string,
  src: RegistrySource,
  credentials?: { username: string; password: string },
): Promise<Site> {
  const dir = join(await tempDir('vmicast-registry-site-'), 'site');
  const home = await makeCatcherHome(grid, {
    backends: [{ type: 'directory', name: 'site', path: dir }],
    downloads: { caFile },
  });
  const logs: string[] = [];
  const catcher = await openCatcher(resolveConfig(home.raw, home.home, {}), {
    log: pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) }),
  });
  const sub = registrySubscription(src, { vo: VO, ...(credentials === undefined ? {} : { credentials }) });
  insertSubscription(catcher.db, sub, new Date());
  return { catcher, dir, logs, subscription: sub.id };
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** The list entry the directory backend's sidecar holds for `id`. */
async function sidecar(dir: string, id: string): Promise<Record<string, unknown>> {
  const doc = JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as {
    entry: Record<string, unknown>;
  };
  return doc.entry;
}

describeWithRegistry('a registry project followed without a signed list', 'token', (registry) => {
  let grid: Grid;
  let s: Site;
  let ubuntu: string;
  const disk1 = fakeDisk('ubuntu 22.04 first build', 320 * 1024);
  const disk2 = fakeDisk('ubuntu 22.04 second build', 300 * 1024);

  before(async () => {
    grid = await makeGrid();
    const reg = registry();
    await rawPushArtefact(reg, egiArtefact(`${PROJECT}/ubuntu`, { disk: disk1 }));
    // EGI's sync skips an artefact without eu.egi.cloud.tag: so does vmicast.
    await rawPushArtefact(reg, egiArtefact(`${PROJECT}/untagged`, { version: '9', withEgiTag: false }));
    // Another project is not followed.
    await rawPushArtefact(reg, egiArtefact('other_project/ubuntu'));
    s = await site(grid, reg.caFile, source(reg.host, { kind: 'project', project: PROJECT }), reg.user);
    ubuntu = registryIdentifier(reg.host, `${PROJECT}/ubuntu`, '22.04');
  });
  after(async () => {
    await s.catcher.close();
  });

  const secretFree = (what: string, text: string) => {
    assert.ok(!text.includes(registry().user.password), `${what} shows the registry password`);
  };

  it('syncs the moving tag of each tagged artefact, checking the sha256 and measuring the SHA-512', async () => {
    const report = await syncOnce(s.catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    assert.deepEqual(
      report.downloads.map((d) => [d.identifier, d.ok]),
      [[ubuntu, true]],
    );
    assert.deepEqual(await files(s.dir), [ubuntu, `${ubuntu}.json`]);
    assert.deepEqual(await readFile(join(s.dir, ubuntu)), disk1);
    const entry = await sidecar(s.dir, ubuntu);
    const host = registry().host;
    assert.equal(entry['dc:title'], `${host} ${PROJECT}/ubuntu:22.04`);
    assert.equal(entry['eu.egi.cloud.image_ref'], `${PROJECT}/ubuntu:22.04`);
    assert.equal(entry['eu.egi.cloud.tag'], '2025-09-04-4d7122d6');
    assert.equal(entry['hv:uri'], `https://${host}/v2/${PROJECT}/ubuntu/blobs/${sha256(disk1)}`);
    // The SHA-512 was unknown before the download: measured, stored, shown like a list's.
    assert.equal(entry['sl:checksum:sha512'], sha512(disk1));
    const [view] = imageViews(s.catcher.db, []);
    assert.equal(view?.id, ubuntu);
    assert.equal(view.state, 'cached');
    // The token was asked for with the subscription's credentials; nothing shows them.
    const asked = registry().issuer?.requests.filter((r) => r.authorization !== undefined) ?? [];
    assert.ok(asked.length > 0, 'tokens were asked for with credentials');
    secretFree('the log', s.logs.join('\n'));
    secretFree('the report', JSON.stringify(report));
    secretFree('the subscription views', JSON.stringify(subscriptionViews(s.catcher.db)));
  });

  it('changes nothing when the registry says the same again', async () => {
    const report = await syncOnce(s.catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    assert.deepEqual(
      report.subscriptions.map((x) => x.status),
      ['unchanged'],
    );
    assert.deepEqual(report.downloads, []);
    assert.deepEqual(report.deliveries, []);
  });

  it('replaces the image when the moving tag names a new digest, the new bytes first', async () => {
    const next = egiArtefact(`${PROJECT}/ubuntu`, { disk: disk2, tag: '2025-10-01-0badc0de' });
    await rawPushArtefact(registry(), next);
    const report: SyncReport = await syncOnce(s.catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    assert.deepEqual(
      report.downloads.map((d) => [d.identifier, d.ok]),
      [[ubuntu, true]],
    );
    // Make before break: the new bytes are delivered, then the old ones retired.
    const actions = report.deliveries.map((d) => d.action);
    assert.ok(
      actions.indexOf('deliver') >= 0 && actions.indexOf('deliver') < actions.indexOf('retire'),
      String(actions),
    );
    assert.deepEqual(await readFile(join(s.dir, ubuntu)), disk2);
    const entry = await sidecar(s.dir, ubuntu);
    assert.equal(entry['eu.egi.cloud.tag'], '2025-10-01-0badc0de');
    assert.equal(entry['sl:checksum:sha512'], sha512(disk2));
    assert.equal(entry['ad:mpuri'], `${registry().host}/${PROJECT}/ubuntu:22.04-${next.manifestDigest}`);
  });
});

describeWithRegistry(
  'a registry serving a layer whose sha256 is not the manifest digest',
  'open',
  (registry) => {
    let grid: Grid;
    let fake: TestServer;
    let s: Site;
    const REPO = `${PROJECT}/ubuntu`;
    const good = fakeDisk('the good build', 200 * 1024);

    /** The fake registry names `artefact` under the moving tag and serves `bytes` for its layer. */
    function serve(artefact: ReturnType<typeof egiArtefact>, bytes: Buffer): void {
      fake.set(`/v2/${REPO}/tags/list`, JSON.stringify({ name: REPO, tags: artefact.tags }), {
        contentType: 'application/json',
      });
      for (const tag of artefact.tags)
        fake.set(`/v2/${REPO}/manifests/${tag}`, artefact.manifest, {
          contentType: 'application/vnd.oci.image.manifest.v1+json',
        });
      fake.set(`/v2/${REPO}/blobs/${artefact.diskDigest}`, bytes, {
        contentType: 'application/octet-stream',
      });
    }

    before(async () => {
      grid = await makeGrid();
      const cert = localhostServerCert(registry().ca);
      fake = await TestServer.start({ cert: cert.pem, key: cert.keyPem });
      fake.set('/v2/', '{}', { contentType: 'application/json' });
      const host = new URL(fake.origin).host;
      s = await site(grid, registry().caFile, source(host, { kind: 'repository', repository: REPO }));
      const first = egiArtefact(REPO, { disk: good });
      serve(first, good);
      const report = await syncOnce(s.catcher);
      assert.equal(report.failures, 0, JSON.stringify(report));
    });
    after(async () => {
      await s.catcher.close();
      await fake.stop();
    });

    it('refuses the bytes, leaving the image it replaces untouched', async () => {
      const host = new URL(fake.origin).host;
      const id = registryIdentifier(host, REPO, '22.04');
      const before = {
        files: await files(s.dir),
        bytes: await readFile(join(s.dir, id)),
        entry: await sidecar(s.dir, id),
      };
      const claimed = fakeDisk('the build the manifest names', 200 * 1024);
      const next = egiArtefact(REPO, { disk: claimed, tag: '2025-11-11-deadbeef' });
      const served = randomBytes(claimed.length); // not the bytes the manifest digest names
      serve(next, served);
      const report = await syncOnce(s.catcher);
      assert.deepEqual(
        report.downloads.map((d) => [d.identifier, d.code]),
        [[id, 'IMAGE_DIGEST_MISMATCH']],
      );
      assert.match(report.downloads[0]?.message ?? '', /SHA-256/);
      assert.deepEqual(await files(s.dir), before.files);
      assert.deepEqual(await readFile(join(s.dir, id)), before.bytes);
      assert.deepEqual(await sidecar(s.dir, id), before.entry);
      assert.deepEqual(await readFile(s.catcher.cache.cached(id)), good);
      // Nothing of the refused bytes stays for a resume.
      const partial = await readdir(s.catcher.cache.partialDir);
      assert.deepEqual(
        partial.filter((n) => n.endsWith('.part') || n.endsWith('.ok')),
        [],
      );
    });
  },
);
