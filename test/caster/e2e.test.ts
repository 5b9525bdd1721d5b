import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareVersions } from '../../src/shared/imagelist/version.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { caster, casterJson, ensureBuilt, startCaster, stopCaster } from '../helpers/caster-cli.js';
import { makeCasterWorld, opensslVerify, writeImage, type CasterWorld } from '../helpers/caster-grid.js';
import { sha512 } from '../helpers/lists.js';

const VO = 'vo.example.org';
const TITLE = `Images <b>"quoted"</b> & 'more'`;

type Doc = { 'hv:imagelist': JsonObject };

function entries(doc: Doc): JsonObject[] {
  return (doc['hv:imagelist']['hv:images'] as JsonObject[]).map((w) => w['hv:image'] as JsonObject);
}

function appliances(doc: Doc): JsonObject[] {
  return ((doc['hv:imagelist']['vmi:appliances'] as JsonObject[] | undefined) ?? []).map(
    (w) => w['vmi:appliance'] as JsonObject,
  );
}

function pushImage(role: string, name: string): JsonObject {
  const bytes = new TextEncoder().encode(name);
  return {
    role,
    title: `${role} <script>alert(1)</script>`,
    uri: `https://images.example.org/${name}.qcow2`,
    size: bytes.length,
    sha512: sha512(bytes),
    os: 'Linux',
    osversion: '9',
    arch: 'x86_64',
    hypervisor: 'KVM',
    format: 'qcow2',
  };
}

describe('publish, serve and push, checked with openssl', () => {
  let world: CasterWorld;
  let server: ChildProcess;
  let base: string;
  let list: string;
  let token: string;
  const versions: string[] = [];

  before(async () => {
    ensureBuilt();
    world = await makeCasterWorld();
    const env = world.env;
    await caster(['credential', 'add', '--vo', VO, '--cert', world.certPath, '--key', world.keyPath], {
      env,
    });
    list = await caster(
      ['list', 'create', '--title', TITLE, '--uri', 'https://example.org/list.smime', '--vo', VO],
      { env },
    );
    token = await caster(['token', 'create', '--list', list, '--name', 'appdb'], { env });
    const started = await startCaster(['serve', '--listen', '127.0.0.1:0', '--root', world.root, '--json'], {
      env,
    });
    server = started.child;
    base = started.first['url'] as string;
  });

  after(async () => {
    await stopCaster(server);
  });

  /** Downloads the published list from the server, verifies it with openssl and returns the payload. */
  async function fetchVerified(): Promise<Doc> {
    const response = await fetch(`${base}/list.smime`);
    assert.equal(response.status, 200);
    const file = join(world.dir, `fetched-${versions.length}.smime`);
    await writeFile(file, new Uint8Array(await response.arrayBuffer()));
    const doc = JSON.parse(opensslVerify(file, world.grid.caDir)) as Doc;
    const version = doc['hv:imagelist']['hv:version'] as string;
    const last = versions[versions.length - 1];
    if (last !== undefined) assert.equal(compareVersions(version, last), 1, `${version} after ${last}`);
    versions.push(version);
    return doc;
  }

  async function push(appliance: string, body: JsonObject): Promise<{ status: number; body: JsonObject }> {
    const response = await fetch(`${base}/api/v1/lists/${list}/appliances/${appliance}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as JsonObject };
  }

  it('publishes lists and pushes whose versions strictly increase and which openssl verifies', async () => {
    const env = world.env;
    const add = async (name: string, extra: string[] = []) =>
      caster(
        [
          'image',
          'add',
          list,
          '--file',
          (await writeImage(world, name)).path,
          '--uri',
          `https://images.example.org/${name}`,
          '--title',
          name,
          ...extra,
        ],
        { env },
      );
    const a = await add('a');
    await caster(['publish', list, '--out', join(world.root, 'list.smime')], { env });
    assert.deepEqual(
      entries(await fetchVerified()).map((e) => e['dc:identifier']),
      [a],
    );

    const b = await add('b', ['--supersedes', a]);
    const c = await add('c', ['--supersedes', b]);
    await caster(['publish', list], { env });
    let doc = await fetchVerified();
    assert.deepEqual(
      entries(doc).map((e) => [e['dc:identifier'], e['vmi:supersedes']]),
      [[c, [b, a]]],
      'the superseding image carries the whole chain',
    );

    const first = await push('cluster', {
      title: 'Cluster',
      version: '1.0',
      images: [pushImage('head', 'h1'), pushImage('worker', 'w1')],
    });
    assert.equal(first.status, 200);
    doc = await fetchVerified();
    assert.equal(
      first.body['version'],
      doc['hv:imagelist']['hv:version'],
      'the response carries the new version',
    );
    let cluster = appliances(doc).find((x) => x['dc:identifier'] === 'cluster');
    const members = (cluster?.['vmi:images'] as JsonObject[]).map((m) => m['dc:identifier']);
    const listed = new Set(entries(doc).map((e) => e['dc:identifier']));
    assert.equal(members.length, 2);
    assert.ok(
      members.every((m) => listed.has(m)),
      'every appliance member is in hv:images',
    );

    const update = {
      title: 'Cluster',
      version: '1.1',
      images: [pushImage('head', 'h2'), pushImage('worker', 'w1')],
    };
    const second = await push('cluster', update);
    assert.equal(second.status, 200);
    doc = await fetchVerified();
    cluster = appliances(doc).find((x) => x['dc:identifier'] === 'cluster');
    const after = (cluster?.['vmi:images'] as JsonObject[]).map((m) => [m['vmi:role'], m['dc:identifier']]);
    assert.equal(after.find(([role]) => role === 'worker')?.[1], members[1], 'the unchanged worker is kept');
    const head = entries(doc).find(
      (e) => e['dc:identifier'] === after.find(([role]) => role === 'head')?.[1],
    );
    assert.deepEqual(head?.['vmi:supersedes'], [members[0]]);

    const before = await (await fetch(`${base}/list.smime`)).arrayBuffer();
    const again = await push('cluster', update);
    assert.equal(again.status, 200);
    assert.equal(again.body['changed'], false);
    assert.equal(again.body['version'], second.body['version']);
    assert.deepEqual(
      await (await fetch(`${base}/list.smime`)).arrayBuffer(),
      before,
      'the same push twice: one version',
    );

    await caster(['publish', list, '--renew'], { env });
    await fetchVerified();
    assert.equal(versions.length, 5);
  });

  it('serves a readable page of the published list, escaped, from the verified file', async () => {
    const response = await fetch(`${base}/lists/${list}`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const html = await response.text();
    const json = (await (await fetch(`${base}/lists/${list}.json`)).json()) as {
      signer: { dn: string };
      list: Doc;
    };
    const doc = json.list;
    assert.equal(json.signer.dn, world.grid.publisher.subject);
    assert.ok(html.includes('Images &lt;b&gt;&quot;quoted&quot;&lt;/b&gt; &amp; &#39;more&#39;'));
    assert.ok(!html.includes('<script>alert(1)</script>'), 'list content is escaped');
    assert.ok(html.includes('head &lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(html.includes(world.grid.publisher.subject));
    assert.ok(html.includes(world.grid.intermediate.subject));
    assert.ok(html.includes(`<dt>Version</dt><dd>${doc['hv:imagelist']['hv:version'] as string}</dd>`));
    assert.ok(html.includes(`<dt>VO</dt><dd>${VO}</dd>`));
    assert.ok(html.includes((doc['hv:imagelist']['dc:date:expires'] as string).replace('Z', '.000Z')));
    for (const image of entries(doc)) {
      assert.ok(html.includes(`id="image-${image['dc:identifier'] as string}"`));
      assert.ok(html.includes(`href="${image['hv:uri'] as string}"`), 'download links');
      for (const ancestor of (image['vmi:supersedes'] as string[] | undefined) ?? [])
        assert.ok(html.includes(ancestor));
    }
    for (const appliance of appliances(doc)) assert.ok(html.includes(appliance['dc:identifier'] as string));
    assert.ok(html.includes('href="/list.smime"'));
    const index = await (await fetch(`${base}/lists/`)).text();
    assert.ok(index.includes(`href="/lists/${list}"`));
    const missing = await fetch(`${base}/lists/no-such-list`);
    assert.equal(missing.status, 404);
  });

  it('answers conditional and range requests for the published file', async () => {
    const full = await fetch(`${base}/list.smime`);
    const etag = full.headers.get('etag') ?? '';
    const lastModified = full.headers.get('last-modified') ?? '';
    const bytes = new Uint8Array(await full.arrayBuffer());
    assert.match(full.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal((await fetch(`${base}/list.smime`, { headers: { 'if-none-match': etag } })).status, 304);
    assert.equal(
      (await fetch(`${base}/list.smime`, { headers: { 'if-modified-since': lastModified } })).status,
      304,
    );
    const range = await fetch(`${base}/list.smime`, { headers: { range: 'bytes=10-19' } });
    assert.equal(range.status, 206);
    assert.equal(range.headers.get('content-range'), `bytes 10-19/${bytes.length}`);
    assert.deepEqual(new Uint8Array(await range.arrayBuffer()), bytes.slice(10, 20));
    const history = await fetch(`${base}/history/${list}/1.smime`);
    assert.equal(history.status, 200);
    const doc = await casterJson<{ list: Doc }>(['verify', join(world.root, 'history', list, '1.smime')], {
      env: world.env,
    });
    assert.equal(doc.list['hv:imagelist']['hv:version'], '1');
  });
});
