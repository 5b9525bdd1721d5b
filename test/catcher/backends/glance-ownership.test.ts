/**
 * Which Glance images the backend takes as its own, against an in-memory Image API:
 * only images of a project it controls whose SHA-512 is the delivered disk's. Cases the
 * real Glance cannot easily show (another hash algorithm, images without an owner).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { GlanceClient, GlanceImage, PatchOp } from '../../../src/catcher/backends/glance/client.js';
import { resolveGlanceConfig } from '../../../src/catcher/backends/glance/config.js';
import { entryProperties } from '../../../src/catcher/backends/glance/properties.js';
import { GlanceBackend } from '../../../src/catcher/backends/glance/backend.js';
import type { BackendContext, ImageRecord, PreparedDisk } from '../../../src/catcher/backends/types.js';
import { digestFile } from '../../../src/shared/digest.js';
import { silentLogger } from '../../../src/shared/log.js';
import { tempDir } from '../../helpers/tmp.js';

/** Just the Image API calls the backend makes, over a map of images. */
class FakeGlance {
  images = new Map<string, GlanceImage>();
  deleted: string[] = [];
  private next = 0;

  constructor(readonly project: string | undefined) {}

  ownProject(): Promise<string | undefined> {
    return Promise.resolve(this.project);
  }

  listImages(filters: Record<string, string>): Promise<GlanceImage[]> {
    const match = (i: GlanceImage): boolean => Object.entries(filters).every(([k, v]) => i[k] === v);
    return Promise.resolve([...this.images.values()].filter(match).map((i) => ({ ...i })));
  }

  getImage(id: string): Promise<GlanceImage | undefined> {
    const found = this.images.get(id);
    return Promise.resolve(found === undefined ? undefined : { ...found });
  }

  add(fields: Partial<GlanceImage>): GlanceImage {
    this.next += 1;
    const image: GlanceImage = {
      id: `img-${this.next}`,
      name: null,
      status: 'queued',
      size: null,
      visibility: 'shared',
      protected: false,
      owner: this.project ?? null,
      disk_format: 'raw',
      container_format: 'bare',
      created_at: `2025-01-01T00:00:${String(this.next).padStart(2, '0')}Z`,
      ...fields,
    };
    this.images.set(image.id, image);
    return image;
  }

  createImage(body: Record<string, unknown>): Promise<GlanceImage> {
    return Promise.resolve(this.add(body as Partial<GlanceImage>));
  }

  async uploadFile(id: string, file: string): Promise<{ bytes: number; sha512: string }> {
    const { size, sha512 } = await digestFile(file);
    const image = this.images.get(id);
    if (image === undefined) throw new Error(`no image ${id}`);
    Object.assign(image, { status: 'active', size, os_hash_algo: 'sha512', os_hash_value: sha512 });
    return { bytes: size, sha512 };
  }

  patchImage(id: string, ops: PatchOp[]): Promise<GlanceImage> {
    const image = this.images.get(id);
    if (image === undefined) throw new Error(`no image ${id}`);
    for (const op of ops) {
      const key = op.path.slice(1);
      if (op.op === 'remove') Reflect.deleteProperty(image, key);
      else image[key] = op.value;
    }
    return Promise.resolve({ ...image });
  }

  deleteImage(id: string): Promise<'deleted' | 'absent'> {
    this.deleted.push(id);
    return Promise.resolve(this.images.delete(id) ? 'deleted' : 'absent');
  }
}

const OWN = 'own-project';

describe('Glance backend: which images are its own', () => {
  let dir: string;
  let disk: PreparedDisk;
  let sha512: string;
  let md5: string;
  const ctx = (): BackendContext => ({
    log: silentLogger(),
    signal: new AbortController().signal,
    now: new Date('2025-06-01T12:00:00Z'),
    workDir: dir,
  });

  before(async () => {
    dir = await tempDir('vmicast-glance-own-');
    const path = join(dir, 'disk.raw');
    const data = Buffer.alloc(64 * 1024, 7);
    await writeFile(path, data);
    sha512 = createHash('sha512').update(data).digest('hex');
    md5 = createHash('md5').update(data).digest('hex');
    disk = { path, format: 'raw', size: data.length, index: 0, name: 'disk.raw' };
  });

  function record(vo?: string): ImageRecord {
    return {
      identifier: 'img-0001',
      listIdentifier: 'list-1',
      vo,
      title: 'Test image',
      description: '',
      version: '1',
      sha512,
      size: disk.size,
      declaredFormat: 'raw',
      appliance: undefined,
      supersedes: [],
      entry: { 'dc:identifier': 'img-0001' },
    };
  }

  function setup(project: string | undefined, projects?: Record<string, string>) {
    const fake = new FakeGlance(project);
    const config = resolveGlanceConfig({
      type: 'glance',
      name: 'site',
      endpoint: 'http://127.0.0.1:9',
      ...(projects === undefined ? {} : { projects }),
    });
    return { fake, backend: new GlanceBackend(config, fake as unknown as GlanceClient) };
  }

  /** A complete image with every property the backend writes, stored data as given. */
  function plant(fake: FakeGlance, image: ImageRecord, fields: Partial<GlanceImage>): GlanceImage {
    return fake.add({
      status: 'active',
      size: disk.size,
      ...entryProperties(image, 'site'),
      vmicast_disk_index: '0',
      vmicast_disk_count: '1',
      vmicast_deprecated: 'false',
      ...fields,
    });
  }

  it('adopts an image of its own project holding the disk SHA-512 (control)', async () => {
    const { fake, backend } = setup(OWN);
    const image = record();
    const ours = plant(fake, image, { os_hash_algo: 'sha512', os_hash_value: sha512 });
    const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, ctx());
    assert.deepEqual(refs, [ours.id]);
    assert.equal(fake.images.get(ours.id)?.['vmicast_disk_sha512'], sha512);
  });

  it('does not adopt an image whose hash algorithm is not sha512, even with a mark, and leaves it', async () => {
    const { fake, backend } = setup(OWN);
    const image = record();
    const other = plant(fake, image, {
      os_hash_algo: 'md5',
      os_hash_value: md5,
      vmicast_disk_sha512: sha512,
    });
    const before = structuredClone(other);
    const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, ctx());
    assert.notDeepEqual(refs, [other.id]);
    assert.deepEqual(fake.images.get(other.id), before);
    assert.deepEqual(fake.deleted, []);
    assert.equal(fake.images.get(refs[0] ?? '')?.os_hash_value, sha512);
  });

  it('without a project of its own (no-auth mode) adopts no owner-less image: fail-closed', async () => {
    const { fake, backend } = setup(undefined);
    const image = record();
    const orphan = plant(fake, image, { owner: null, os_hash_algo: 'sha512', os_hash_value: sha512 });
    const before = structuredClone(orphan);
    const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, ctx());
    assert.notDeepEqual(refs, [orphan.id]);
    assert.deepEqual(fake.images.get(orphan.id), before);
    assert.deepEqual(fake.deleted, []);
  });

  it("does not adopt another VO's project image for this VO, nor delete it", async () => {
    const { fake, backend } = setup(OWN, {
      'vo-a.example.org': 'project-a',
      'vo-b.example.org': 'project-b',
    });
    const image = record('vo-a.example.org');
    const foreign = plant(fake, image, {
      owner: 'project-b',
      os_hash_algo: 'sha512',
      os_hash_value: sha512,
      vmicast_disk_sha512: sha512,
    });
    const before = structuredClone(foreign);
    const { refs } = await backend.deliver(image, { file: disk.path, disks: [disk] }, ctx());
    assert.notDeepEqual(refs, [foreign.id]);
    assert.deepEqual(fake.images.get(foreign.id), before);
    assert.deepEqual(fake.deleted, []);
    // Retiring the image deletes ours only.
    await backend.retire(image, refs, ctx());
    assert.deepEqual(fake.deleted, refs);
    assert.deepEqual(fake.images.get(foreign.id), before);
    assert.deepEqual(await backend.list(ctx()), []);
  });
});
