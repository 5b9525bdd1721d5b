/**
 * `vmicaster registry push` against Debian's docker-registry with htpasswd auth: the artefact
 * is what EGI's build scripts push with oras 1.2 (skopeo, an independent client, reads it),
 * and `image add --from-registry` of the moving tag lists it with the digest it resolved to.
 * Passwords come from a file or the environment and never show in output or errors.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, it } from 'node:test';
import { casterJson, failureOf, runCaster } from '../helpers/caster-cli.js';
import { makeCasterSite, images, type CasterSite } from '../helpers/caster-site.js';
import { sha512 } from '../helpers/lists.js';
import { casterState } from '../helpers/registry-caster.js';
import { egiArtefact, fakeDisk, sha256 } from '../helpers/registry-artefact.js';
import { describeWithRegistry, skopeoRaw } from '../helpers/registry.js';
import type { PushResult } from '../../src/caster/registry/push.js';

const REPO = 'egi_vm_images/ubuntu';

/** What `registry push --json` prints. */
type Pushed = PushResult & { ok: true };

describeWithRegistry(
  'vmicaster registry push and image add --from-registry (htpasswd)',
  'basic',
  (registry) => {
    let site: CasterSite;
    let passwordFile: string;
    const disk = fakeDisk('vmicaster push v1', 300_000);
    const disk2 = fakeDisk('vmicaster push v2', 310_000);
    let diskPath: string;
    let disk2Path: string;

    before(async () => {
      site = await makeCasterSite();
      passwordFile = join(site.world.dir, 'registry-password');
      await writeFile(passwordFile, `${registry().user.password}\n`, { mode: 0o600 });
      diskPath = join(site.world.dir, 'ubuntu-22.04.qcow2');
      disk2Path = join(site.world.dir, 'ubuntu-22.04-new.qcow2');
      await writeFile(diskPath, disk);
      await writeFile(disk2Path, disk2);
    });

    const access = () => [
      '--user',
      registry().user.username,
      '--password-file',
      passwordFile,
      '--ca-file',
      registry().caFile,
    ];
    const push = (file: string, extra: string[] = []) =>
      casterJson<Pushed>(
        [
          'registry',
          'push',
          file,
          `${registry().host}/${REPO}:22.04`,
          '--os-distro',
          'ubuntu',
          '--os-version',
          '22.04',
          '--os-type',
          'linux',
          '--os-admin-user',
          'ubuntu',
          '--arch',
          'x86_64',
          '--description',
          'Ubuntu 22.04 for the EGI Federated Cloud',
          '--source',
          'https://example.org/egi/images',
          ...access(),
          ...extra,
        ],
        { env: site.env },
      );
    const creds = () => `${registry().user.username}:${registry().user.password}`;

    it('pushes an artefact as oras does for EGI, read back by skopeo under both tags', async () => {
      const pushed = await push(diskPath, ['--revision', '4d7122d6c0ffee00']);
      const today = new Date().toISOString().slice(0, 10);
      assert.equal(pushed.egiTag, `${today}-4d7122d6`);
      assert.deepEqual(pushed.tags, [`22.04-${today}-4d7122d6`, '22.04']);
      assert.equal(pushed.layerDigest, sha256(disk));
      assert.equal(pushed.size, disk.length);
      assert.equal(pushed.sha512, sha512(disk));
      assert.equal(pushed.diskFormat, 'qcow2');
      assert.equal(pushed.blobUrl, `https://${registry().host}/v2/${REPO}/blobs/${sha256(disk)}`);
      assert.equal(pushed.reference, `${registry().host}/${REPO}@${pushed.manifestDigest}`);

      for (const tag of pushed.tags) {
        const raw = await skopeoRaw(registry(), `${REPO}:${tag}`, creds());
        assert.equal(sha256(raw), pushed.manifestDigest, `manifest under ${tag}`);
      }
      const raw = await skopeoRaw(registry(), `${REPO}:22.04`, creds());
      const doc = JSON.parse(raw.toString()) as Record<string, unknown>;
      // The byte-by-byte fixture (registry-artefact.ts) is how oras 1.2 writes EGI's artefacts.
      const oras = JSON.parse(egiArtefact(REPO).manifest.toString()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(doc), Object.keys(oras));
      assert.equal(doc['mediaType'], oras['mediaType']);
      assert.equal(doc['artifactType'], oras['artifactType']);
      assert.deepEqual(doc['config'], oras['config']);
      const [layer] = doc['layers'] as {
        mediaType: string;
        digest: string;
        size: number;
        annotations: Record<string, string>;
      }[];
      const [orasLayer] = oras['layers'] as { annotations: Record<string, string> }[];
      assert.equal(layer?.mediaType, 'application/x-qemu-disk');
      assert.equal(layer.digest, sha256(disk));
      assert.equal(layer.size, disk.length);
      assert.deepEqual(
        Object.keys(layer.annotations).sort(),
        Object.keys(orasLayer?.annotations ?? {}).sort(),
      );
      assert.deepEqual(layer.annotations, {
        'eu.egi.cloud.description': 'Ubuntu 22.04 for the EGI Federated Cloud',
        'eu.egi.cloud.tag': `${today}-4d7122d6`,
        'org.opencontainers.image.title': 'ubuntu-22.04.qcow2',
        'org.openstack.glance.architecture': 'x86_64',
        'org.openstack.glance.container_format': 'bare',
        'org.openstack.glance.disk_format': 'qcow2',
        'org.openstack.glance.os_admin_user': 'ubuntu',
        'org.openstack.glance.os_distro': 'ubuntu',
        'org.openstack.glance.os_type': 'linux',
        'org.openstack.glance.os_version': '22.04',
      });
      const notes = doc['annotations'] as Record<string, string>;
      assert.deepEqual(Object.keys(notes).sort(), Object.keys(oras['annotations'] as object).sort());
      assert.equal(notes['org.opencontainers.image.revision'], '4d7122d6c0ffee00');
      assert.equal(notes['org.opencontainers.image.source'], 'https://example.org/egi/images');
      assert.match(notes['org.opencontainers.image.created'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    it('image add --from-registry of the moving tag pins the digest it resolved to', async () => {
      const first = await push(diskPath, ['--egi-tag', '2025-09-04-4d7122d6']);
      assert.equal(first.layerExisted, true, 'the layer was pushed by the test before');
      const list = await site.newList();
      const env = {
        ...site.env,
        VMICASTER_REGISTRY_USER: registry().user.username,
        VMICASTER_REGISTRY_PASSWORD: registry().user.password,
      };
      const addMoving = () =>
        casterJson<{ id: string; registry: { manifestDigest: string; layerDigest: string } }>(
          [
            'image',
            'add',
            list,
            '--from-registry',
            `${registry().host}/${REPO}:22.04`,
            '--registry-ca-file',
            registry().caFile,
          ],
          { env },
        );
      const added = await addMoving();
      assert.equal(added.registry.manifestDigest, first.manifestDigest);
      const [entry] = images(await site.show(list));
      assert.equal(entry?.['dc:identifier'], added.id);
      assert.equal(entry['hv:uri'], first.blobUrl);
      assert.equal(entry['hv:size'], disk.length);
      assert.equal(entry['sl:checksum:sha512'], sha512(disk));
      assert.equal(entry['hv:format'], 'qcow2');
      assert.equal(entry['dc:title'], 'Ubuntu 22.04 for the EGI Federated Cloud');
      assert.equal(entry['sl:osname'], 'ubuntu');
      assert.equal(entry['sl:osversion'], '22.04');
      assert.equal(entry['sl:os'], 'Linux');
      assert.equal(entry['vmi:oci:manifest'], `${registry().host}/${REPO}@${first.manifestDigest}`);
      assert.equal(entry['vmi:oci:tag'], `${registry().host}/${REPO}:22.04`);
      assert.equal(entry['eu.egi.cloud.tag'], '2025-09-04-4d7122d6');

      // The moving tag moves on: the entry keeps the digest it was made from; a new add pins the new one.
      const second = await push(disk2Path, ['--egi-tag', '2025-10-01-0badcafe']);
      assert.notEqual(second.manifestDigest, first.manifestDigest);
      const again = await addMoving();
      assert.equal(again.registry.manifestDigest, second.manifestDigest);
      const entries = images(await site.show(list));
      const old = entries.find((e) => e['dc:identifier'] === added.id);
      const now = entries.find((e) => e['dc:identifier'] === again.id);
      assert.equal(old?.['vmi:oci:manifest'], `${registry().host}/${REPO}@${first.manifestDigest}`);
      assert.equal(old['sl:checksum:sha512'], sha512(disk));
      assert.equal(now?.['vmi:oci:manifest'], `${registry().host}/${REPO}@${second.manifestDigest}`);
      assert.equal(now['hv:uri'], second.blobUrl);
      assert.equal(now['sl:checksum:sha512'], sha512(disk2));
    });

    it('never shows the password: not in output, not in refusals', async () => {
      const password = registry().user.password;
      const wrongFile = join(site.world.dir, 'wrong-password');
      const wrong = 'wrong-registry-secret-7f3a1c';
      await writeFile(wrongFile, wrong);
      const ok = await runCaster(
        ['registry', 'push', diskPath, `${registry().host}/${REPO}:22.04`, ...access(), '--json'],
        { env: site.env },
      );
      assert.equal(ok.status, 0, ok.stderr);
      const refused = await runCaster(
        [
          'registry',
          'push',
          diskPath,
          `${registry().host}/${REPO}:22.04`,
          '--user',
          registry().user.username,
          '--password-file',
          wrongFile,
          '--ca-file',
          registry().caFile,
          '--json',
        ],
        { env: site.env },
      );
      assert.equal(failureOf(refused).code, 'HTTP_STATUS');
      const list = await site.newList();
      const before = casterState(site.world.home);
      const addRefused = await runCaster(
        [
          'image',
          'add',
          list,
          '--from-registry',
          `${registry().host}/${REPO}:22.04`,
          '--registry-ca-file',
          registry().caFile,
          '--json',
        ],
        {
          env: {
            ...site.env,
            VMICASTER_REGISTRY_USER: registry().user.username,
            VMICASTER_REGISTRY_PASSWORD: wrong,
          },
        },
      );
      assert.equal(failureOf(addRefused).code, 'HTTP_STATUS');
      assert.equal(casterState(site.world.home), before, 'a refusal changes nothing');
      const basic = (pw: string) => Buffer.from(`${registry().user.username}:${pw}`).toString('base64');
      for (const result of [ok, refused, addRefused]) {
        const shown = result.stdout + result.stderr;
        for (const secret of [password, wrong, basic(password), basic(wrong)]) {
          assert.ok(!shown.includes(secret), `a secret in: ${shown}`);
        }
      }
    });

    it('takes no password on the command line, and no password without a user', async () => {
      const onArgv = await runCaster(
        ['registry', 'push', diskPath, `${registry().host}/${REPO}:22.04`, '--password', 'x', '--json'],
        { env: site.env },
      );
      assert.equal(failureOf(onArgv).code, 'USAGE');
      const noUser = await runCaster(
        [
          'registry',
          'push',
          diskPath,
          `${registry().host}/${REPO}:22.04`,
          '--password-file',
          passwordFile,
          '--json',
        ],
        { env: site.env },
      );
      assert.equal(failureOf(noUser).code, 'USAGE');
      const noPassword = await runCaster(
        ['registry', 'push', diskPath, `${registry().host}/${REPO}:22.04`, '--user', 'someone', '--json'],
        { env: site.env },
      );
      assert.equal(failureOf(noPassword).code, 'USAGE');
    });
  },
);
