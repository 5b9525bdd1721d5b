import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EXIT_STATUS } from '../../src/shared/errors.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { caster, failureOf as failure, runCaster } from '../helpers/caster-cli.js';
import { writeImage, type CasterWorld } from '../helpers/caster-grid.js';
import { images, makeCasterSite, VO, type CasterSite } from '../helpers/caster-site.js';
import { makeServerCertificate, serveFiles, type FileServer } from '../helpers/caster-http.js';
import { sha512 } from '../helpers/lists.js';

describe('vmicaster command line: lists, images and appliances', () => {
  let world: CasterWorld;
  let env: NodeJS.ProcessEnv;
  let newList: CasterSite['newList'];
  let show: CasterSite['show'];

  before(async () => {
    ({ world, env, newList, show } = await makeCasterSite());
  });

  it('creates a list and adds an image measured from a file, with its format detected', async () => {
    const list = await newList();
    assert.match(list, /^[0-9a-f-]{36}$/);
    const qcow2 = new Uint8Array(70_000);
    qcow2.set([0x51, 0x46, 0x49, 0xfb]);
    qcow2.set(randomBytes(1000), 5000);
    const file = await writeImage(world, 'disk.qcow2', qcow2);
    const id = await caster(
      [
        'image',
        'add',
        list,
        '--file',
        file.path,
        '--uri',
        'https://images.example.org/disk.qcow2',
        '--title',
        'Disk',
      ],
      { env },
    );
    const [entry] = images(await show(list));
    assert.equal(entry?.['dc:identifier'], id);
    assert.equal(entry['hv:size'], file.size);
    assert.equal(entry['sl:checksum:sha512'], file.sha512);
    assert.equal(entry['hv:format'], 'qcow2');
    assert.equal(entry['sl:arch'], 'x86_64');
    assert.equal(entry['hv:uri'], 'https://images.example.org/disk.qcow2');
    assert.equal((await show(list))['hv:imagelist']['ad:vo'], VO);
  });

  describe('image add --url', () => {
    let http: FileServer;
    let https: FileServer;
    let caFile: string;
    const bytes = randomBytes(300_000);

    before(async () => {
      const tls = makeServerCertificate(world.dir);
      caFile = tls.certPath;
      http = await serveFiles(new Map([['/img.raw', bytes]]));
      https = await serveFiles(new Map([['/img.raw', bytes]]), tls);
    });
    after(async () => {
      await http.close();
      await https.close();
    });

    it('streams the image over HTTP and over HTTPS with a trusted CA', async () => {
      const list = await newList();
      await caster(['image', 'add', list, '--url', `${http.url}/img.raw`, '--title', 'Plain'], { env });
      await caster(['image', 'add', list, '--url', `${https.url}/img.raw`, '--title', 'TLS'], {
        env: { ...env, NODE_EXTRA_CA_CERTS: caFile },
      });
      const entries = images(await show(list));
      assert.deepEqual(
        entries.map((e) => [e['hv:uri'], e['hv:size'], e['sl:checksum:sha512']]),
        [
          [`${http.url}/img.raw`, bytes.length, sha512(bytes)],
          [`${https.url}/img.raw`, bytes.length, sha512(bytes)],
        ],
      );
    });

    it('never skips TLS verification and reports HTTP errors', async () => {
      const list = await newList();
      const untrusted = await runCaster(
        ['image', 'add', list, '--url', `${https.url}/img.raw`, '--title', 'x', '--json'],
        { env },
      );
      assert.deepEqual(failure(untrusted), { code: 'FETCH_FAILED', status: EXIT_STATUS.transfer });
      const missing = await runCaster(
        ['image', 'add', list, '--url', `${http.url}/nope`, '--title', 'x', '--json'],
        { env },
      );
      assert.deepEqual(failure(missing), { code: 'HTTP_STATUS', status: EXIT_STATUS.transfer });
      assert.deepEqual(images(await show(list)), []);
    });
  });

  it('refuses an image whose content differs from the expected size or digest', async () => {
    const list = await newList();
    const file = await writeImage(world, 'expected.img');
    const base = [
      'image',
      'add',
      list,
      '--file',
      file.path,
      '--uri',
      'https://images.example.org/e',
      '--title',
      'E',
      '--json',
    ];
    assert.deepEqual(failure(await runCaster([...base, '--sha512', 'ab'.repeat(64)], { env })), {
      code: 'IMAGE_DIGEST_MISMATCH',
      status: EXIT_STATUS.images,
    });
    assert.deepEqual(failure(await runCaster([...base, '--size', String(file.size + 1)], { env })), {
      code: 'IMAGE_SIZE_MISMATCH',
      status: EXIT_STATUS.images,
    });
    await caster([...base, '--sha512', file.sha512, '--size', String(file.size)], { env });
    assert.equal(images(await show(list)).length, 1);
  });

  it('chains successors, removes superseded images and still updates in place', async () => {
    const list = await newList();
    const add = async (name: string, extra: string[] = []) =>
      caster(
        [
          'image',
          'add',
          list,
          '--file',
          (await writeImage(world, name)).path,
          '--uri',
          `https://i.example.org/${name}`,
          '--title',
          name,
          ...extra,
        ],
        { env },
      );
    const a = await add('a', ['--version', '1.0']);
    const b = await add('b', ['--supersedes', a]);
    const c = await add('c', ['--supersedes', b]);
    let entries = images(await show(list));
    assert.deepEqual(
      entries.map((e) => [e['dc:identifier'], e['hv:version'], e['vmi:supersedes']]),
      [[c, '1.2', [b, a]]],
    );
    const updated = await writeImage(world, 'c2');
    const version = await caster(
      ['image', 'update', list, c, '--file', updated.path, '--uri', 'https://i.example.org/c2'],
      { env },
    );
    assert.equal(version, '1.3');
    entries = images(await show(list));
    assert.equal(entries[0]?.['dc:identifier'], c);
    assert.equal(entries[0]['sl:checksum:sha512'], updated.sha512);
    assert.deepEqual(entries[0]['vmi:supersedes'], [b, a]);
    await caster(['image', 'remove', list, c], { env });
    assert.deepEqual(images(await show(list)), []);
  });

  it('builds appliances and a partial update through the command line', async () => {
    const list = await newList();
    const app = await caster(['appliance', 'create', list, '--title', 'Cluster'], { env });
    const add = async (name: string, role: string, appliance: string) =>
      caster(
        [
          'image',
          'add',
          list,
          '--file',
          (await writeImage(world, name)).path,
          '--uri',
          `https://i.example.org/${name}`,
          '--title',
          name,
          '--appliance',
          appliance,
          '--role',
          role,
        ],
        { env },
      );
    const head = await add('head', 'head', app);
    const worker = await add('worker', 'worker', app);
    const app2 = await caster(['appliance', 'create', list, '--title', 'Cluster', '--supersedes', app], {
      env,
    });
    const head2 = await add('head2', 'head', app2);
    const doc = await show(list);
    const appliances = (doc['hv:imagelist']['vmi:appliances'] as JsonObject[]).map(
      (w) => w['vmi:appliance'] as JsonObject,
    );
    assert.deepEqual(appliances, [
      {
        'dc:identifier': app2,
        'dc:title': 'Cluster',
        'hv:version': '2',
        'vmi:supersedes': [app],
        'vmi:images': [
          { 'vmi:role': 'head', 'dc:identifier': head2 },
          { 'vmi:role': 'worker', 'dc:identifier': worker },
        ],
      },
    ]);
    const byId = new Map(images(doc).map((e) => [e['dc:identifier'], e]));
    assert.deepEqual([...byId.keys()].sort(), [head2, worker].sort());
    assert.deepEqual(byId.get(head2)?.['vmi:supersedes'], [head]);
    assert.equal(byId.get(worker)?.['vmi:appliance'], app2);
  });
});
