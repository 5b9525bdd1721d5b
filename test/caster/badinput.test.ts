import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../src/caster/store/db.js';
import { EXIT_STATUS, type ErrorCode } from '../../src/shared/errors.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { caster, ensureBuilt, runCaster, startCaster, stopCaster } from '../helpers/caster-cli.js';
import {
  issueUser,
  makeCasterWorld,
  sha256File,
  writeImage,
  type CasterWorld,
} from '../helpers/caster-grid.js';
import {
  httpRequest,
  makeServerCertificate,
  serveFiles,
  type FileServer,
  type Reply,
} from '../helpers/caster-http.js';
import { issue } from '../helpers/x509.js';
import { sha512 } from '../helpers/lists.js';

const VO = 'vo.example.org';
const OTHER_VO = 'other.example.org';

function image(role: string, name: string, over: JsonObject = {}): JsonObject {
  const bytes = new TextEncoder().encode(name);
  return {
    role,
    title: name,
    uri: `https://images.example.org/${name}`,
    size: bytes.length,
    sha512: sha512(bytes),
    os: 'Linux',
    osversion: '9',
    arch: 'x86_64',
    hypervisor: 'KVM',
    format: 'raw',
    ...over,
  };
}

function without(object: JsonObject, key: string): JsonObject {
  return Object.fromEntries(Object.entries(object).filter(([k]) => k !== key));
}

describe('bad input leaves the published list byte-identical', () => {
  let world: CasterWorld;
  let server: ChildProcess;
  let images: FileServer;
  let base: string;
  let serverCa: string;
  let list: string;
  let otherList: string;
  let tokenA: string;
  let tokenB: string;
  let published: string;
  let clientOfVo: { cert: string; key: string };
  let clientOfOtherVo: { cert: string; key: string };
  let clientUnknown: { cert: string; key: string };

  before(async () => {
    ensureBuilt();
    world = await makeCasterWorld();
    const env = world.env;
    await caster(['credential', 'add', '--vo', VO, '--cert', world.certPath, '--key', world.keyPath], {
      env,
    });
    list = await caster(
      ['list', 'create', '--title', 'L', '--uri', 'https://example.org/l.smime', '--vo', VO],
      { env },
    );
    otherList = await caster(
      ['list', 'create', '--title', 'M', '--uri', 'https://example.org/m.smime', '--vo', VO],
      { env },
    );
    const file = await writeImage(world, 'base.img');
    await caster(
      [
        'image',
        'add',
        list,
        '--file',
        file.path,
        '--uri',
        'https://images.example.org/base.img',
        '--title',
        'Base',
      ],
      { env },
    );
    published = join(world.root, 'list.smime');
    await caster(['publish', list, '--out', published], { env });
    await caster(['publish', otherList, '--out', join(world.root, 'other.smime')], { env });
    tokenA = await caster(['token', 'create', '--list', list, '--name', 'a'], { env });
    tokenB = await caster(['token', 'create', '--list', otherList, '--name', 'b'], { env });

    const tls = makeServerCertificate(world.dir);
    serverCa = await readFile(tls.certPath, 'utf8');
    const robot = async (name: string, vo: string | undefined) => {
      const user = await issueUser(world, name, { extKeyUsage: ['clientAuth'] });
      if (vo !== undefined) {
        await caster(
          ['client', 'add', '--vo', vo, '--dn', user.cert.subject, '--ca', world.grid.intermediate.subject],
          { env },
        );
      }
      return { cert: user.cert.pem, key: user.cert.keyPem };
    };
    clientOfVo = await robot('AppDB Robot', VO);
    clientOfOtherVo = await robot('Other Robot', OTHER_VO);
    clientUnknown = await robot('Unknown Robot', undefined);

    const started = await startCaster(
      [
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--root',
        world.root,
        '--tls-cert',
        tls.certPath,
        '--tls-key',
        tls.keyPath,
        '--client-ca',
        world.grid.caDir,
        '--max-body',
        '65536',
        '--json',
      ],
      { env },
    );
    server = started.child;
    base = started.first['url'] as string;
    images = await serveFiles(new Map([['/served.img', new TextEncoder().encode('served content')]]));
    const baseline = await putAppliance('base-app', {
      title: 'Base',
      version: '2',
      images: [image('head', 'h1')],
    });
    assert.equal(baseline.status, 200, baseline.text);
  });

  after(async () => {
    await stopCaster(server);
    await images.close();
  });

  function putAppliance(
    appliance: string,
    body: JsonObject | string,
    options: {
      token?: string | null;
      listId?: string;
      cert?: { cert: string; key: string };
      contentType?: string;
    } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
    const token = options.token === undefined ? tokenA : options.token;
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    return httpRequest(`${base}/api/v1/lists/${options.listId ?? list}/appliances/${appliance}`, {
      method: 'PUT',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ca: serverCa,
      ...(options.cert === undefined ? {} : { cert: options.cert.cert, key: options.cert.key }),
    });
  }

  /** What must not change: the published bytes and every row of the publisher's state. */
  async function fingerprint(): Promise<string> {
    const db = new Database(join(world.home, DATABASE_FILE), { readonly: true, fileMustExist: true });
    try {
      const tables = db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
        .all() as {
        name: string;
      }[];
      const rows = tables.map((t) => db.prepare(`SELECT * FROM "${t.name}"`).all());
      return `${await sha256File(published)}|${JSON.stringify(rows)}`;
    } finally {
      db.close();
    }
  }

  it('refuses bad command-line input with a coded error and an exit status by area', async () => {
    const env = world.env;
    const file = await writeImage(world, 'bad.img');
    const add = [
      'image',
      'add',
      list,
      '--file',
      file.path,
      '--uri',
      'https://images.example.org/bad.img',
      '--title',
      'Bad',
    ];
    const config = join(world.dir, 'bad-config.yaml');
    await writeFile(config, 'lifetimeDays: -3\nunknownKey: 1\n');
    const foreign = join(world.root, 'other.smime');
    const foreignBefore = await sha256File(foreign);
    const cases: [string, string[], ErrorCode][] = [
      [
        'unknown list',
        [
          'image',
          'add',
          randomUUID(),
          '--file',
          file.path,
          '--uri',
          'https://i.example.org/x',
          '--title',
          'x',
        ],
        'USAGE',
      ],
      [
        'missing field',
        ['image', 'add', list, '--file', file.path, '--uri', 'https://i.example.org/x'],
        'USAGE',
      ],
      ['malformed size', [...add, '--size', '12x'], 'USAGE'],
      ['malformed sha512', [...add, '--sha512', 'xyz'], 'USAGE'],
      ['wrong sha512', [...add, '--sha512', 'ab'.repeat(64)], 'IMAGE_DIGEST_MISMATCH'],
      ['supersedes unknown image', [...add, '--supersedes', randomUUID()], 'USAGE'],
      [
        'appliance member of a missing appliance',
        [...add, '--appliance', 'no-such-app', '--role', 'head'],
        'USAGE',
      ],
      ['appliance without role', [...add, '--appliance', 'base-app'], 'USAGE'],
      [
        'image URI not http',
        ['image', 'add', list, '--file', file.path, '--uri', 'ftp://i.example.org/x', '--title', 'x'],
        'USAGE',
      ],
      [
        'missing image file',
        [
          'image',
          'add',
          list,
          '--file',
          join(world.dir, 'nope'),
          '--uri',
          'https://i.example.org/x',
          '--title',
          'x',
        ],
        'USAGE',
      ],
      ['remove unknown image', ['image', 'remove', list, randomUUID()], 'USAGE'],
      ['publish unknown list', ['publish', randomUUID(), '--out', published], 'USAGE'],
      ['publish over another list', ['publish', list, '--out', foreign], 'CONFIG_INVALID'],
      ['lifetime not a number', ['publish', list, '--lifetime-days', 'ten'], 'USAGE'],
      ['bad configuration', ['--config', config, 'show', list], 'CONFIG_INVALID'],
      ['token for unknown list', ['token', 'create', '--list', randomUUID(), '--name', 'x'], 'USAGE'],
      [
        'appliance supersedes unknown',
        ['appliance', 'create', list, '--title', 'x', '--supersedes', randomUUID()],
        'USAGE',
      ],
    ];
    const before = await fingerprint();
    for (const [name, args, code] of cases) {
      const result = await runCaster([...args, '--json'], { env });
      const reply = JSON.parse(result.stdout) as { ok: boolean; code: string; message: string };
      assert.equal(reply.ok, false, name);
      assert.equal(reply.code, code, `${name}: ${reply.message}`);
      assert.ok(reply.message.length > 0, name);
      assert.equal(
        result.status,
        code === 'USAGE' || code === 'CONFIG_INVALID' ? EXIT_STATUS.configuration : EXIT_STATUS.images,
        name,
      );
      assert.equal(await fingerprint(), before, `${name} changed the list`);
    }
    assert.equal(await sha256File(foreign), foreignBefore);
  });

  it('refuses bad pushes with a 4xx and a coded error', async () => {
    const ok = { title: 'New', version: '1', images: [image('head', 'n1')] };
    const deep = JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) as JsonObject;
    const cases: [string, () => Promise<Reply>, number, ErrorCode][] = [
      ['unknown list', () => putAppliance('app', ok, { listId: randomUUID() }), 404, 'USAGE'],
      ['missing field', () => putAppliance('app', { title: 'x', images: ok.images }), 400, 'LIST_MALFORMED'],
      [
        'missing image field',
        () => putAppliance('app', { ...ok, images: [without(image('head', 'x'), 'sha512')] }),
        400,
        'LIST_MALFORMED',
      ],
      [
        'size as text',
        () => putAppliance('app', { ...ok, images: [image('head', 'x', { size: '12' })] }),
        400,
        'LIST_MALFORMED',
      ],
      [
        'negative size',
        () => putAppliance('app', { ...ok, images: [image('head', 'x', { size: -1 })] }),
        400,
        'LIST_MALFORMED',
      ],
      [
        'malformed sha512',
        () => putAppliance('app', { ...ok, images: [image('head', 'x', { sha512: 'abc' })] }),
        400,
        'LIST_MALFORMED',
      ],
      ['unknown key', () => putAppliance('app', { ...ok, extra: 1 }), 400, 'LIST_MALFORMED'],
      [
        'duplicate role',
        () => putAppliance('app', { ...ok, images: [image('head', 'x'), image('head', 'y')] }),
        400,
        'LIST_MALFORMED',
      ],
      ['not JSON', () => putAppliance('app', '{"title": '), 400, 'LIST_MALFORMED'],
      ['too deep', () => putAppliance('app', deep), 400, 'LIST_MALFORMED'],
      [
        'wrong content type',
        () => putAppliance('app', ok, { contentType: 'text/plain' }),
        415,
        'LIST_MALFORMED',
      ],
      ['bad appliance identifier', () => putAppliance('bad%20id', ok), 400, 'LIST_MALFORMED'],
      [
        'supersedes unknown appliance',
        () => putAppliance('app', { ...ok, supersedes: 'no-such-app' }),
        422,
        'LIST_MALFORMED',
      ],
      [
        'appliance member missing',
        () => putAppliance('app', { ...ok, images: [{ role: 'head', identifier: randomUUID() }] }),
        422,
        'LIST_MALFORMED',
      ],
      [
        'same version, other content',
        () => putAppliance('base-app', { title: 'Base', version: '2', images: [image('head', 'h9')] }),
        409,
        'LIST_CONFLICT',
      ],
      [
        'older version',
        () => putAppliance('base-app', { title: 'Base', version: '1', images: [image('head', 'h9')] }),
        409,
        'LIST_ROLLBACK',
      ],
      [
        'image not as pushed (verify)',
        () =>
          putAppliance('app', {
            ...ok,
            verify: true,
            images: [image('head', 'x', { uri: `${images.url}/served.img` })],
          }),
        422,
        'IMAGE_SIZE_MISMATCH',
      ],
      ['no credentials', () => putAppliance('app', ok, { token: null }), 401, 'ENDORSER_UNAUTHORIZED'],
      ['wrong token', () => putAppliance('app', ok, { token: `${tokenA}x` }), 401, 'ENDORSER_UNAUTHORIZED'],
      [
        'token for another list',
        () => putAppliance('app', ok, { token: tokenB }),
        403,
        'ENDORSER_UNAUTHORIZED',
      ],
      [
        'client certificate of another VO',
        () => putAppliance('app', ok, { token: null, cert: clientOfOtherVo }),
        403,
        'VO_MISMATCH',
      ],
      [
        'client certificate not authorized',
        () => putAppliance('app', ok, { token: null, cert: clientUnknown }),
        403,
        'ENDORSER_UNAUTHORIZED',
      ],
      [
        'client certificate of an unknown CA',
        () => {
          const stranger = issue({
            subject: '/DC=org/DC=example/CN=Stranger',
            ca: false,
            extKeyUsage: ['clientAuth'],
          });
          return putAppliance('app', ok, { token: null, cert: { cert: stranger.pem, key: stranger.keyPem } });
        },
        401,
        'ENDORSER_UNAUTHORIZED',
      ],
      [
        'oversized body',
        () => putAppliance('app', { ...ok, title: 'x'.repeat(200_000) }),
        413,
        'LIST_TOO_LARGE',
      ],
    ];
    const before = await fingerprint();
    for (const [name, send, status, code] of cases) {
      const reply = await send();
      assert.equal(reply.status, status, `${name}: ${reply.text}`);
      const body = reply.json();
      assert.equal(body['code'], code, `${name}: ${reply.text}`);
      assert.ok(typeof body['message'] === 'string' && body['message'] !== '', name);
      assert.equal(await fingerprint(), before, `${name} changed the list`);
    }
    const wrongMethod = await httpRequest(`${base}/api/v1/lists/${list}/appliances/x`, { ca: serverCa });
    assert.equal(wrongMethod.status, 405);
  });

  it('accepts a push from a client certificate authorized for the list VO', async () => {
    const reply = await putAppliance(
      'robot-app',
      { title: 'Robot', version: '1', images: [image('main', 'r1')] },
      { token: null, cert: clientOfVo },
    );
    assert.equal(reply.status, 200, reply.text);
    const shown = JSON.parse(await caster(['verify', published, '--json'], { env: world.env })) as {
      list: { 'hv:imagelist': JsonObject };
    };
    assert.equal(shown.list['hv:imagelist']['hv:version'], reply.json()['version']);
  });

  it('downloads and checks pushed images when the token says so', async () => {
    const verifying = await caster(['token', 'create', '--list', list, '--name', 'verifying', '--verify'], {
      env: world.env,
    });
    const served = new TextEncoder().encode('served content');
    const right = image('main', 'v', {
      uri: `${images.url}/served.img`,
      size: served.length,
      sha512: sha512(served),
    });
    const wrong = { ...right, sha512: sha512(new TextEncoder().encode('something else')) };
    const before = await fingerprint();
    const refused = await putAppliance(
      'checked-app',
      { title: 'C', version: '1', images: [wrong] },
      { token: verifying },
    );
    assert.equal(refused.status, 422, refused.text);
    assert.equal(refused.json()['code'], 'IMAGE_DIGEST_MISMATCH');
    assert.equal(await fingerprint(), before);
    const trusted = images.requests.length;
    const accepted = await putAppliance(
      'checked-app',
      { title: 'C', version: '1', images: [right] },
      { token: verifying },
    );
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal(images.requests.length, trusted + 1, 'the image was downloaded once');
  });

  it('serialises concurrent pushes: distinct versions, one version for identical bodies, one winner on conflict', async () => {
    const distinct = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        putAppliance(`par-${i}`, { title: `P${i}`, version: '1', images: [image('main', `p${i}`)] }),
      ),
    );
    assert.deepEqual(
      distinct.map((r) => r.status),
      Array(6).fill(200),
    );
    const versions = distinct.map((r) => Number(r.json()['version']));
    assert.equal(new Set(versions).size, 6, 'every push published its own version');
    const final = JSON.parse(await caster(['verify', published, '--json'], { env: world.env })) as {
      list: { 'hv:imagelist': JsonObject };
    };
    assert.equal(Number(final.list['hv:imagelist']['hv:version']), Math.max(...versions));
    const ids = (final.list['hv:imagelist']['vmi:appliances'] as JsonObject[]).map(
      (w) => (w['vmi:appliance'] as JsonObject)['dc:identifier'],
    );
    for (let i = 0; i < 6; i++) assert.ok(ids.includes(`par-${i}`));

    const same = { title: 'Same', version: '1', images: [image('main', 'same')] };
    const identical = await Promise.all(Array.from({ length: 5 }, () => putAppliance('same-app', same)));
    assert.deepEqual(
      identical.map((r) => r.status),
      Array(5).fill(200),
    );
    assert.equal(identical.filter((r) => r.json()['changed'] === true).length, 1);
    assert.equal(new Set(identical.map((r) => r.json()['version'])).size, 1);

    const rivals = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        putAppliance('rival-app', { title: 'R', version: '1', images: [image('main', `rival${i}`)] }),
      ),
    );
    assert.equal(rivals.filter((r) => r.status === 200).length, 1);
    assert.deepEqual(
      rivals.filter((r) => r.status !== 200).map((r) => [r.status, r.json()['code']]),
      Array(3).fill([409, 'LIST_CONFLICT']),
    );
  });
});
