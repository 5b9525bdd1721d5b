/**
 * Issue 15, items 1 and 4, on a real Glance and a real registry: images followed from a
 * registry project without a signed list appear in Glance as EGI's central sync names and
 * describes them today (name, APPLIANCE_ATTRIBUTES with eu.egi.cloud.image_ref and
 * eu.egi.cloud.tag, vmcatcher_event_ad_mpuri, the OS fields), and a moving tag that names a
 * new digest replaces the image make-before-break: the VO's project never lists zero.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { Catcher } from '../../src/catcher/catcher.js';
import type { GlanceImage } from '../../src/catcher/backends/glance/client.js';
import { registryIdentifier } from '../../src/catcher/registry/entry.js';
import { DEFAULT_TAG_PATTERN } from '../../src/catcher/registry/source.js';
import { insertSubscription } from '../../src/catcher/store/subscriptions.js';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import { makeCatcherHome, registrySubscription } from '../helpers/catcher.js';
import { describeWithGlance } from '../helpers/glance.js';
import { GlanceWatch, listAll } from '../helpers/glance-watch.js';
import { makeGrid } from '../helpers/grid.js';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { egiArtefact, rawPushArtefact } from '../helpers/registry-artefact.js';
import { tempDir } from '../helpers/tmp.js';

const VO = 'vo.example';
const VO_USER = { projectId: 'vo-project', userId: 'u', roles: ['member', 'reader'] };
const REPO = 'egi_vm_images/ubuntu';

/** A real qcow2 disk (the Glance backend checks what it uploads). */
async function qcow2(dir: string, size: string): Promise<Buffer> {
  const file = join(dir, `disk-${size}.qcow2`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, size]);
  return readFile(file);
}

describeWithGlance('registry images in a real Glance, named as EGI names them', (glance) => {
  let registry: TestRegistry;
  let catcher: Catcher;
  let work: string;
  let id: string;

  before(async () => {
    const missing = registryMissing();
    if (missing !== undefined) throw new Error(missing);
    registry = await startRegistry('open');
    work = await tempDir('vmicast-registry-glance-');
    const grid = await makeGrid();
    const home = await makeCatcherHome(grid, {
      backends: [{ type: 'glance', name: 'egi', ...glance().access, projects: { [VO]: VO_USER.projectId } }],
      downloads: { caFile: registry.caFile, attempts: 1, stallSeconds: 30 },
    });
    catcher = await home.open();
    const source = {
      registry: registry.host,
      scope: { kind: 'project', project: 'egi_vm_images' },
      tagPattern: DEFAULT_TAG_PATTERN,
      unsigned: true,
    } as const;
    insertSubscription(catcher.db, registrySubscription(source, { vo: VO }), new Date());
    id = registryIdentifier(registry.host, REPO, '22.04');
  });
  after(async () => {
    await catcher.close();
    await registry.stop();
  });

  /** The VO's active, listed images of the registry identifier. */
  async function voImages(): Promise<GlanceImage[]> {
    return (await listAll(glance().endpoint, VO_USER)).filter(
      (i) => i['vmcatcher_event_dc_identifier'] === id && i.status === 'active' && i.os_hidden !== true,
    );
  }

  it('names and describes the image as EGI sync does', async () => {
    const disk = await qcow2(work, '64M');
    const artefact = egiArtefact(REPO, { disk });
    await rawPushArtefact(registry, artefact);
    const report = await syncOnce(catcher);
    assert.equal(report.failures, 0, JSON.stringify(report));
    const [image, ...more] = await voImages();
    assert.equal(more.length, 0);
    assert.ok(image !== undefined, 'the VO lists the image');
    assert.equal(image.name, `${registry.host} ${REPO}:22.04`);
    assert.equal(image.disk_format, 'qcow2');
    assert.equal(image.container_format, 'bare');
    assert.equal(image.owner, VO_USER.projectId);
    assert.equal(image.os_hash_value, createHash('sha512').update(disk).digest('hex'));
    assert.equal(image['os_distro'], 'ubuntu');
    assert.equal(image['os_version'], '22.04');
    assert.equal(image['architecture'], 'x86_64');
    assert.equal(image['vmcatcher_event_hv_version'], '2025-09-04-4d7122d6');
    assert.equal(image['vmcatcher_event_dc_description'], 'Ubuntu 22.04 for the EGI Federated Cloud');
    assert.equal(
      image['vmcatcher_event_ad_mpuri'],
      `${registry.host}/${REPO}:22.04-${artefact.manifestDigest}`,
    );
    const attributes = JSON.parse(String(image['APPLIANCE_ATTRIBUTES'])) as Record<string, unknown>;
    assert.equal(attributes['eu.egi.cloud.image_ref'], `${REPO}:22.04`);
    assert.equal(attributes['eu.egi.cloud.tag'], '2025-09-04-4d7122d6');
    assert.equal(attributes['org.openstack.glance.os_admin_user'], 'ubuntu');
  });

  it('replaces the image make-before-break when the moving tag names a new digest', async (t) => {
    const [old] = await voImages();
    assert.ok(old !== undefined);
    const disk = await qcow2(work, '96M');
    await rawPushArtefact(registry, egiArtefact(REPO, { disk, tag: '2025-10-01-0badc0de' }));
    const watch = await GlanceWatch.start(glance().endpoint, VO_USER);
    let report;
    try {
      report = await syncOnce(catcher);
    } finally {
      await watch.stop();
    }
    t.diagnostic(watch.summary());
    assert.equal(report.failures, 0, JSON.stringify(report));
    // At every poll the VO could use one version: the old until the new was in place.
    for (const poll of watch.polls) {
      const usable = poll.vo.filter((i) => i.identifier === id && i.status === 'active' && !i.hidden);
      assert.ok(usable.length >= 1, `at ${poll.at} ms the VO saw no usable image: ${watch.summary()}`);
    }
    const now = await voImages();
    assert.equal(now.length, 1, JSON.stringify(now.map((i) => [i.id, i.status])));
    assert.notEqual(now[0]?.id, old.id);
    assert.equal(now[0]?.os_hash_value, createHash('sha512').update(disk).digest('hex'));
    assert.equal(now[0]['vmcatcher_event_hv_version'], '2025-10-01-0badc0de');
    const all = await listAll(glance().endpoint);
    assert.ok(!all.some((i) => i.id === old.id), 'the old image is deleted');
  });
});
