import assert from 'node:assert/strict';
import { rejectsWith } from '../helpers/rejects.js';
import { after, before, describe, it } from 'node:test';
import { discover, type Discovery } from '../../src/catcher/registry/discover.js';
import { artefactEntry } from '../../src/catcher/registry/entry.js';
import { DEFAULT_TAG_PATTERN, type RegistrySource } from '../../src/catcher/registry/source.js';
import { RegistryClient } from '../../src/shared/oci/client.js';
import {
  CYCLONEDX,
  EMPTY_CONFIG_DIGEST,
  egiArtefact,
  rawAttachSbom,
  rawIndex,
  rawPushArtefact,
  rawPushBlob,
  rawPutManifest,
  type AttachedReferrer,
  type EgiArtefact,
} from '../helpers/registry-artefact.js';
import {
  serveContent,
  startFakeRegistry,
  type FakeContent,
  type FakeRegistry,
} from '../helpers/registry-fake.js';
import { describeWithRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * Issue 15, items 1 and 5: what a registry subscription follows, read as EGI's central sync
 * reads it: the repositories of a project (Harbor's API, else the catalog), the tags matching
 * the pattern (moving tags by default), the first layer of each manifest, artefacts without
 * `eu.egi.cloud.tag` skipped, and the SBOM an artefact carries as a referrer. Any listing or
 * manifest failure throws, so that the caller changes nothing.
 */

const PROJECT = 'egi_vm_images';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const project = (pattern = DEFAULT_TAG_PATTERN): RegistrySource => ({
  registry: 'unused',
  scope: { kind: 'project', project: PROJECT },
  tagPattern: pattern,
  unsigned: true,
});

const repository = (name: string, pattern = DEFAULT_TAG_PATTERN): RegistrySource => ({
  registry: 'unused',
  scope: { kind: 'repository', repository: name },
  tagPattern: pattern,
  unsigned: true,
});

function clientOf(registry: TestRegistry | FakeRegistry, withCredentials = true): RegistryClient {
  const user = 'user' in registry && registry.mode !== 'open' && withCredentials ? registry.user : undefined;
  return new RegistryClient({
    registry: registry.host,
    caFile: registry.caFile,
    ...(user === undefined ? {} : { credentials: user }),
  });
}

const refs = (d: Discovery) => d.artefacts.map((a) => `${a.repository}:${a.tag}`);

interface Fixture {
  ubuntu: EgiArtefact;
  alma: EgiArtefact;
  sbom: AttachedReferrer;
}

/** Two EGI repositories, an artefact without eu.egi.cloud.tag, an index, neighbours outside. */
async function populate(registry: TestRegistry): Promise<Fixture> {
  const ubuntu = egiArtefact(`${PROJECT}/ubuntu`, { version: '22.04' });
  const alma = egiArtefact(`${PROJECT}/almalinux`, { version: '9', tag: '2025-09-05-0a1b2c3d' });
  await rawPushArtefact(registry, ubuntu);
  await rawPushArtefact(registry, alma);
  await rawPushArtefact(registry, egiArtefact(`${PROJECT}/notag`, { version: '1.0', withEgiTag: false }));
  // Same project name as a prefix, other project: not followed.
  await rawPushArtefact(registry, egiArtefact(`${PROJECT}2/debian`, { version: '12' }));
  await rawPushArtefact(registry, egiArtefact('other/debian', { version: '12' }));
  // An index of two platforms under a moving tag.
  const amd = egiArtefact(`${PROJECT}/multi`, { version: 'amd64' });
  const arm = egiArtefact(`${PROJECT}/multi`, { version: 'arm64' });
  for (const one of [amd, arm]) {
    await rawPushBlob(registry, one.repo, one.config);
    await rawPushBlob(registry, one.repo, one.disk);
    await rawPutManifest(registry, one.repo, one.manifestDigest, one.manifest, OCI_MANIFEST);
  }
  const index = rawIndex([
    { digest: amd.manifestDigest, size: amd.manifest.length, arch: 'amd64' },
    { digest: arm.manifestDigest, size: arm.manifest.length, arch: 'arm64' },
  ]);
  await rawPutManifest(registry, `${PROJECT}/multi`, 'latest', index, OCI_INDEX);
  const sbom = await rawAttachSbom(registry, ubuntu.repo, {
    digest: ubuntu.manifestDigest,
    size: ubuntu.manifest.length,
  });
  return { ubuntu, alma, sbom };
}

describeWithRegistry('discovering an open registry project (catalog)', 'open', (registry) => {
  let fixture: Fixture;
  before(async () => {
    fixture = await populate(registry());
  });

  it('finds the moving tags of the project, first layer and referrers included', async () => {
    const found = await discover(clientOf(registry()), project());
    assert.deepEqual(refs(found), [`${PROJECT}/almalinux:9`, `${PROJECT}/ubuntu:22.04`]);
    const [alma, ubuntu] = found.artefacts;
    assert.ok(alma !== undefined && ubuntu !== undefined);
    assert.equal(ubuntu.registry, registry().host);
    assert.equal(ubuntu.manifestDigest, fixture.ubuntu.manifestDigest);
    assert.deepEqual(
      { ...ubuntu.layer, annotations: undefined },
      {
        digest: fixture.ubuntu.diskDigest,
        size: fixture.ubuntu.disk.length,
        mediaType: 'application/x-qemu-disk',
        annotations: undefined,
      },
    );
    assert.equal(ubuntu.layer.annotations['eu.egi.cloud.tag'], '2025-09-04-4d7122d6');
    assert.equal(ubuntu.manifestAnnotations['org.opencontainers.image.revision'], '4d7122d6c0ffee00');
    assert.deepEqual(ubuntu.referrers, [
      {
        digest: fixture.sbom.manifestDigest,
        artifactType: CYCLONEDX,
        mediaType: OCI_MANIFEST,
        size: fixture.sbom.manifest.length,
      },
    ]);
    assert.deepEqual(alma.referrers, []);
    assert.equal(alma.manifestDigest, fixture.alma.manifestDigest);
    assert.deepEqual(found.skipped, [
      {
        reference: `${registry().host}/${PROJECT}/multi:latest`,
        reason: 'an index of several manifests, not one image',
      },
      {
        reference: `${registry().host}/${PROJECT}/notag:1.0`,
        reason: 'the first layer has no eu.egi.cloud.tag annotation',
      },
    ]);
    // The entry names the layer by the URL the client itself would fetch.
    const entry = artefactEntry(ubuntu);
    assert.equal(entry.uri, clientOf(registry()).blobUrl(ubuntu.repository, fixture.ubuntu.diskDigest));
    assert.deepEqual(entry.entry['vmi:oci:referrers'], ubuntu.referrers);
  });

  it('follows the tags a pattern names, and never the referrers tag', async () => {
    const all = await discover(clientOf(registry()), repository(`${PROJECT}/ubuntu`, '.*'));
    const dated = `${PROJECT}/ubuntu:22.04-2025-09-04-4d7122d6`;
    assert.deepEqual(refs(all), [`${PROJECT}/ubuntu:22.04`, dated]);
    assert.equal(new Set(all.artefacts.map((a) => a.manifestDigest)).size, 1);
    assert.deepEqual(all.skipped, [
      {
        reference: `${registry().host}/${PROJECT}/ubuntu:${fixture.ubuntu.manifestDigest.replace(':', '-')}`,
        reason: 'a referrers tag',
      },
    ]);
    const one = await discover(clientOf(registry()), repository(`${PROJECT}/ubuntu`, '^22\\.04$'));
    assert.deepEqual(refs(one), [`${PROJECT}/ubuntu:22.04`]);
  });

  it('refuses more repositories or tags than the caps', async () => {
    await rejectsWith(discover(clientOf(registry()), project(), { maxRepositories: 3 }), 'LIST_TOO_LARGE');
    await rejectsWith(
      discover(clientOf(registry()), repository(`${PROJECT}/ubuntu`, '^22'), { maxTags: 1 }),
      'LIST_TOO_LARGE',
    );
  });

  it('refuses a tag pattern that is not a regular expression', async () => {
    await rejectsWith(discover(clientOf(registry()), project('(')), 'CONFIG_INVALID');
  });
});

describeWithRegistry('discovering a token registry project', 'token', (registry) => {
  before(async () => {
    await populate(registry());
  });

  it('lists the catalog and reads manifests with the credentials', async () => {
    const found = await discover(clientOf(registry()), project());
    assert.deepEqual(refs(found), [`${PROJECT}/almalinux:9`, `${PROJECT}/ubuntu:22.04`]);
    assert.equal(found.artefacts[1]?.referrers.length, 1);
  });

  it('fails closed when the registry refuses anonymous access', async () => {
    await rejectsWith(discover(clientOf(registry(), false), project()), 'HTTP_STATUS');
  });
});

/** What a fake registry serves: `count` empty repositories of the project and two EGI ones. */
function harborContent(count: number): { content: FakeContent; ubuntu: EgiArtefact; alma: EgiArtefact } {
  const ubuntu = egiArtefact(`${PROJECT}/zz-ubuntu`, { version: '22.04' });
  const alma = egiArtefact(`${PROJECT}/almalinux`, { version: '9' });
  const repositories: FakeContent['repositories'] = {};
  for (let i = 0; i < count; i++) repositories[`${PROJECT}/empty${String(i).padStart(3, '0')}`] = {};
  for (const a of [ubuntu, alma]) {
    repositories[a.repo] = Object.fromEntries(
      a.tags.map((tag) => [tag, { bytes: a.manifest, mediaType: OCI_MANIFEST }]),
    );
  }
  repositories['other/debian'] = { '12': { bytes: ubuntu.manifest, mediaType: OCI_MANIFEST } };
  return { content: { repositories, harborProject: PROJECT }, ubuntu, alma };
}

describe('discovering through a fake registry', () => {
  let fake: FakeRegistry;
  before(async () => {
    fake = await startFakeRegistry();
  });
  after(async () => {
    await fake.stop();
  });

  it("lists a Harbor project's repositories through Harbor's paginated API", async () => {
    const { content, ubuntu } = harborContent(120);
    serveContent(fake, content);
    fake.requests.length = 0;
    const found = await discover(clientOf(fake), project());
    assert.deepEqual(refs(found), [`${PROJECT}/almalinux:9`, `${PROJECT}/zz-ubuntu:22.04`]);
    assert.equal(found.artefacts[1]?.manifestDigest, ubuntu.manifestDigest);
    const paths = fake.requests.map((r) => r.path);
    assert.ok(
      paths.some((p) => p.includes('/repositories?page=2&')),
      paths.join('\n'),
    );
    assert.ok(!paths.some((p) => p.startsWith('/v2/_catalog')), 'Harbor is asked, not the catalog');
    assert.ok(!paths.some((p) => p.startsWith('/v2/other/')), 'nothing outside the project is read');
  });

  it('throws, returning nothing, when one tag list fails', async () => {
    const { content } = harborContent(20);
    serveContent(fake, {
      ...content,
      fail: (url) => (url.pathname === `/v2/${PROJECT}/empty007/tags/list` ? 500 : undefined),
    });
    await rejectsWith(discover(clientOf(fake), project()), 'HTTP_STATUS');
  });

  it('throws when one manifest fails or lies about its digest', async () => {
    const { content } = harborContent(0);
    serveContent(fake, {
      ...content,
      fail: (url) => (url.pathname === `/v2/${PROJECT}/zz-ubuntu/manifests/22.04` ? 503 : undefined),
    });
    await rejectsWith(discover(clientOf(fake), project()), 'HTTP_STATUS');
    serveContent(fake, content);
    const serve = fake.handle;
    fake.handle = (req, res, url) => {
      if (url.pathname !== `/v2/${PROJECT}/almalinux/manifests/9`) return serve(req, res, url);
      const bytes = content.repositories[`${PROJECT}/almalinux`]?.['9']?.bytes ?? Buffer.alloc(0);
      res
        .writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': `sha256:${'0'.repeat(64)}` })
        .end(bytes);
    };
    await rejectsWith(discover(clientOf(fake), project()), 'IMAGE_DIGEST_MISMATCH');
    fake.handle = (req, res, url) => {
      if (url.pathname !== `/v2/${PROJECT}/almalinux/manifests/9`) return serve(req, res, url);
      res.writeHead(200, { 'content-type': OCI_MANIFEST }).end('{"schemaVersion":2,"layers":"no"}');
    };
    await rejectsWith(discover(clientOf(fake), project()), 'LIST_MALFORMED');
  });

  it('skips a manifest without layers', async () => {
    const { content } = harborContent(0);
    const bare = Buffer.from(
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"application/vnd.oci.empty.v1+json",` +
        `"digest":"${EMPTY_CONFIG_DIGEST}","size":2},"layers":[]}`,
    );
    content.repositories[`${PROJECT}/nolayers`] = { '1': { bytes: bare, mediaType: OCI_MANIFEST } };
    serveContent(fake, content);
    const found = await discover(clientOf(fake), project());
    assert.deepEqual(refs(found), [`${PROJECT}/almalinux:9`, `${PROJECT}/zz-ubuntu:22.04`]);
    assert.deepEqual(found.skipped, [
      { reference: `${fake.host}/${PROJECT}/nolayers:1`, reason: 'a manifest without layers' },
    ]);
  });

  it('keeps the artefact when its referrers cannot be read, but not when aborted', async () => {
    const { content } = harborContent(0);
    serveContent(fake, {
      ...content,
      fail: (url) => (url.pathname.includes('/referrers/') ? 500 : undefined),
    });
    const found = await discover(clientOf(fake), project());
    assert.deepEqual(refs(found), [`${PROJECT}/almalinux:9`, `${PROJECT}/zz-ubuntu:22.04`]);
    assert.deepEqual(
      found.artefacts.map((a) => a.referrers),
      [[], []],
    );
    const controller = new AbortController();
    serveContent(fake, {
      ...content,
      fail: (url) => {
        if (!url.pathname.includes('/referrers/')) return undefined;
        controller.abort();
        return 500;
      },
    });
    await assert.rejects(discover(clientOf(fake), project(), { signal: controller.signal }), {
      name: 'AbortError',
    });
  });
});
