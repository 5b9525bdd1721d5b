/**
 * `image add --from-registry` against an artefact built byte by byte from the OCI image spec
 * (registry-artefact.ts, not pushed by vmicaster), through a bearer-token registry, and
 * against a tampering registry that serves other bytes under the layer's digest.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MEDIA_TYPES } from '../../src/shared/oci/manifest.js';
import { casterJson, failureOf, runCaster } from '../helpers/caster-cli.js';
import { images, makeCasterSite, type CasterSite } from '../helpers/caster-site.js';
import { sha512 } from '../helpers/lists.js';
import { casterState } from '../helpers/registry-caster.js';
import { egiArtefact, fakeDisk, rawPushArtefact, sha256 } from '../helpers/registry-artefact.js';
import { startFakeRegistry, type FakeRegistry } from '../helpers/registry-fake.js';
import { describeWithRegistry } from '../helpers/registry.js';

let site: CasterSite;
before(async () => {
  site = await makeCasterSite();
});

describeWithRegistry(
  'image add --from-registry, artefact built byte by byte (open registry)',
  'open',
  (registry) => {
    const artefact = egiArtefact('egi_vm_images/almalinux', { version: '9' });
    before(async () => {
      await rawPushArtefact(registry(), artefact);
    });

    it('lists the layer by its blob URL, measured and described from the annotations', async () => {
      const list = await site.newList();
      const added = await casterJson<{ id: string; registry: Record<string, string> }>(
        [
          'image',
          'add',
          list,
          '--from-registry',
          `${registry().host}/${artefact.repo}:9`,
          '--registry-ca-file',
          registry().caFile,
        ],
        { env: site.env },
      );
      assert.deepEqual(added.registry, {
        reference: `${registry().host}/${artefact.repo}@${artefact.manifestDigest}`,
        manifestDigest: artefact.manifestDigest,
        layerDigest: artefact.diskDigest,
        tag: '9',
      });
      const [entry] = images(await site.show(list));
      assert.equal(
        entry?.['hv:uri'],
        `https://${registry().host}/v2/${artefact.repo}/blobs/${artefact.diskDigest}`,
      );
      assert.equal(entry['hv:size'], artefact.disk.length);
      assert.equal(entry['sl:checksum:sha512'], sha512(artefact.disk));
      assert.equal(entry['hv:format'], 'qcow2');
      assert.equal(entry['dc:title'], 'Ubuntu 9 for the EGI Federated Cloud');
      assert.equal(entry['dc:description'], 'Ubuntu 9 for the EGI Federated Cloud');
      assert.equal(entry['sl:osversion'], '9');
      assert.equal(entry['sl:arch'], 'x86_64');
      assert.equal(
        entry['vmi:oci:manifest'],
        `${registry().host}/${artefact.repo}@${artefact.manifestDigest}`,
      );
      assert.equal(entry['eu.egi.cloud.tag'], '2025-09-04-4d7122d6');
    });

    it('takes a digest reference, and the flags win over the annotations', async () => {
      const list = await site.newList();
      await casterJson(
        [
          'image',
          'add',
          list,
          '--from-registry',
          `${registry().host}/${artefact.repo}@${artefact.manifestDigest}`,
          '--registry-ca-file',
          registry().caFile,
          '--title',
          'AlmaLinux 9',
          '--osname',
          'AlmaLinux',
          '--sha512',
          sha512(artefact.disk),
        ],
        { env: site.env },
      );
      const [entry] = images(await site.show(list));
      assert.equal(entry?.['dc:title'], 'AlmaLinux 9');
      assert.equal(entry['sl:osname'], 'AlmaLinux');
      assert.equal(entry['vmi:oci:tag'], undefined);
    });

    it('refuses a reference without tag or digest, and --from-registry with --url', async () => {
      const list = await site.newList();
      for (const extra of [
        ['--from-registry', `${registry().host}/${artefact.repo}`],
        ['--from-registry', `${registry().host}/${artefact.repo}:9`, '--url', 'https://example.org/x.img'],
      ]) {
        const result = await runCaster(['image', 'add', list, ...extra, '--json'], { env: site.env });
        assert.equal(failureOf(result).code, 'USAGE');
      }
    });
  },
);

describeWithRegistry('registry push and image add through bearer tokens', 'token', (registry) => {
  it('pushes and lists with a token granted to the user; the password never shows', async () => {
    const disk = fakeDisk('token mode', 200_000);
    const file = join(site.world.dir, 'debian-12.qcow2');
    await writeFile(file, disk);
    const env = {
      ...site.env,
      VMICASTER_REGISTRY_USER: registry().user.username,
      VMICASTER_REGISTRY_PASSWORD: registry().user.password,
    };
    const ref = `${registry().host}/egi_vm_images/debian:12`;
    const push = await runCaster(
      ['registry', 'push', file, ref, '--os-version', '12', '--ca-file', registry().caFile, '--json'],
      { env },
    );
    assert.equal(push.status, 0, push.stderr);
    const pushed = JSON.parse(push.stdout) as { manifestDigest: string; blobUrl: string };
    assert.ok(
      registry().issuer?.requests.some((r) => r.scopes.includes('repository:egi_vm_images/debian:pull,push')),
    );
    const list = await site.newList();
    const add = await runCaster(
      ['image', 'add', list, '--from-registry', ref, '--registry-ca-file', registry().caFile, '--json'],
      { env },
    );
    assert.equal(add.status, 0, add.stderr);
    const [entry] = images(await site.show(list));
    assert.equal(entry?.['hv:uri'], pushed.blobUrl);
    assert.equal(entry['sl:checksum:sha512'], sha512(disk));
    for (const result of [push, add]) {
      assert.ok(!(result.stdout + result.stderr).includes(registry().user.password));
    }
    // Anonymous: the issuer grants nothing, the registry refuses; the list is unchanged.
    const before = casterState(site.world.home);
    const anonymous = await runCaster(
      ['image', 'add', list, '--from-registry', ref, '--registry-ca-file', registry().caFile, '--json'],
      { env: site.env },
    );
    assert.equal(failureOf(anonymous).code, 'HTTP_STATUS');
    assert.equal(casterState(site.world.home), before);
  });
});

describe('image add --from-registry against a tampering registry', () => {
  const artefact = egiArtefact('egi_vm_images/ubuntu');
  let fake: FakeRegistry;
  before(async () => {
    fake = await startFakeRegistry();
  });
  after(async () => {
    await fake.stop();
  });

  /** A registry that answers the manifest truly and the layer with `layer`. */
  const serve = (layer: Buffer) => {
    fake.handle = (_req, res, url) => {
      if (url.pathname === '/v2/')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (url.pathname === `/v2/${artefact.repo}/manifests/22.04`) {
        return void res
          .writeHead(200, {
            'content-type': MEDIA_TYPES.ociManifest,
            'docker-content-digest': artefact.manifestDigest,
          })
          .end(artefact.manifest);
      }
      if (url.pathname === `/v2/${artefact.repo}/blobs/${artefact.diskDigest}`) {
        return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(layer);
      }
      res.writeHead(404).end();
    };
  };
  const add = (list: string) =>
    runCaster(
      [
        'image',
        'add',
        list,
        '--from-registry',
        `${fake.host}/${artefact.repo}:22.04`,
        '--registry-ca-file',
        fake.caFile,
        '--json',
      ],
      { env: site.env },
    );

  it('lists the layer when the registry serves the bytes of the digest', async () => {
    serve(artefact.disk);
    const list = await site.newList();
    const result = await add(list);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(images(await site.show(list))[0]?.['sl:checksum:sha512'], sha512(artefact.disk));
  });

  it('refuses other bytes of the same size under the digest; the list is unchanged', async () => {
    const other = fakeDisk('other bytes', artefact.disk.length);
    assert.notEqual(sha256(other), artefact.diskDigest);
    serve(other);
    const list = await site.newList();
    const before = casterState(site.world.home);
    const result = await add(list);
    assert.equal(failureOf(result).code, 'IMAGE_DIGEST_MISMATCH');
    assert.equal(casterState(site.world.home), before);
  });

  it('refuses more bytes than the manifest gives; the list is unchanged', async () => {
    serve(Buffer.concat([artefact.disk, Buffer.alloc(4096)]));
    const list = await site.newList();
    const before = casterState(site.world.home);
    const result = await add(list);
    assert.equal(failureOf(result).code, 'IMAGE_SIZE_MISMATCH');
    assert.equal(casterState(site.world.home), before);
  });
});
