import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../src/caster/store/db.js';
import type { ImageView, SubscriptionView } from '../../src/catcher/views.js';
import { compareVersions } from '../../src/shared/imagelist/version.js';
import { caster, ensureBuilt, startCaster, stopCaster } from '../helpers/caster-cli.js';
import { makeCasterWorld } from '../helpers/caster-grid.js';
import { httpRequest } from '../helpers/caster-http.js';
import { makeCatcherHome } from '../helpers/catcher.js';
import { runCatcher } from '../helpers/catcher-cli.js';
import { sha512 } from '../helpers/lists.js';
import { TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { assertNoEventLost, lightHook } from '../soak/world.js';

/**
 * Concurrency (issue 8), publisher side: several clients push appliance versions to
 * `vmicaster serve` at once (each also repeating a request) while a site runs `vmicatcher
 * sync` against the published list. Every push is answered (409 "repeat the request" is
 * retried), each change gets its own list version, no sync ever sees a torn or older list,
 * and in the end the site holds exactly the last version of every appliance.
 */

const VO = 'vo.example.org';
const APPLIANCES = ['app-a', 'app-b', 'app-c'];
const VERSIONS = 4;

interface PushReply {
  ok: boolean;
  changed: boolean;
  version: string;
}

describe('concurrency: caster pushes while a site syncs', () => {
  const children: ChildProcess[] = [];
  const servers: TestServer[] = [];
  after(async () => {
    for (const child of children) await stopCaster(child);
    for (const server of servers) await server.stop();
  });

  it('every change its own version, no torn list, the last versions delivered', async () => {
    ensureBuilt();
    const world = await makeCasterWorld();
    const env = world.env;
    await caster(['credential', 'add', '--vo', VO, '--cert', world.certPath, '--key', world.keyPath], {
      env,
    });
    const list = await caster(
      ['list', 'create', '--title', 'Pushed', '--uri', 'https://example.org/l.smime', '--vo', VO],
      {
        env,
      },
    );
    await caster(['publish', list, '--out', join(world.root, 'list.smime')], { env });
    const token = await caster(['token', 'create', '--list', list, '--name', 'robot'], { env });
    const started = await startCaster(['serve', '--listen', '127.0.0.1:0', '--root', world.root, '--json'], {
      env,
    });
    children.push(started.child);
    const base = started.first['url'] as string;

    const images = await TestServer.start();
    servers.push(images);
    const body = (app: string, version: number) => ({
      title: `Appliance ${app}`,
      version: String(version),
      images: ['head', 'worker'].map((role) => {
        const bytes = new TextEncoder().encode(`${app} ${role} version ${version}`);
        return {
          role,
          title: `${app} ${role}`,
          uri: images.set(`/${app}/${role}/${version}.img`, bytes),
          size: bytes.length,
          sha512: sha512(bytes),
          os: 'Linux',
          osversion: '9',
          arch: 'x86_64',
          hypervisor: 'KVM',
          format: 'raw',
        };
      }),
    });
    const put = async (app: string, version: number): Promise<PushReply> => {
      for (let attempt = 0; ; attempt++) {
        const reply = await httpRequest(`${base}/api/v1/lists/${list}/appliances/${app}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body(app, version)),
        });
        if (reply.status === 409 && attempt < 10) continue; // "changed meanwhile; repeat the request"
        assert.equal(reply.status, 200, reply.text);
        return reply.json() as unknown as PushReply;
      }
    };

    const dir = await tempDir('vmicast-concurrency-caster-');
    const hook = await lightHook(join(dir, 'hook'));
    const backendDir = join(dir, 'images');
    const home = await makeCatcherHome(world.grid, {
      backends: [
        { type: 'exec', name: 'hook', command: hook.command, timeoutSeconds: 20, retryBackoffSeconds: 0 },
        { type: 'directory', name: 'site', path: backendDir },
      ],
    });
    const endorser = [
      '--endorser-dn',
      world.grid.publisher.subject,
      '--endorser-ca',
      world.grid.intermediate.subject,
    ];
    const subscribed = await runCatcher(home, [
      'subscribe',
      `${base}/list.smime`,
      ...endorser,
      '--vo',
      VO,
      '--json',
    ]);
    assert.equal(subscribed.status, 0, subscribed.stdout + subscribed.stderr);

    const changed: string[] = [];
    const pusher = async (app: string) => {
      for (let version = 1; version <= VERSIONS; version++) {
        const first = await put(app, version);
        if (first.changed) changed.push(first.version);
        const again = await put(app, version);
        assert.equal(again.changed, false, `repeating ${app} ${version} changed the list`);
        await new Promise((resolve) => setTimeout(resolve, 1000)); // let syncs interleave
      }
    };
    const seen: string[] = [];
    let pushing = true;
    let syncs = 0;
    const syncer = async () => {
      while (pushing) {
        const run = await runCatcher(home, ['sync', '--json']);
        assert.equal(run.status, 0, `a sync during pushes failed: ${run.stdout}${run.stderr}`);
        syncs++;
        const [sub] = (run.json as { subscriptions: { status: string; version?: string }[] }).subscriptions;
        if (sub?.status === 'updated' && sub.version !== undefined) seen.push(sub.version);
      }
    };
    const syncing = syncer();
    await Promise.all(APPLIANCES.map(pusher)).finally(() => (pushing = false));
    await syncing;

    process.stderr.write(
      `concurrency: ${syncs} syncs ran during the pushes, accepted versions ${seen.join(' ')}\n`,
    );
    assert.ok(syncs >= 2, 'syncs ran while pushes went on');
    assert.equal(changed.length, APPLIANCES.length * VERSIONS, 'every first push changed the list');
    assert.equal(new Set(changed).size, changed.length, 'each change has its own list version');
    for (let i = 1; i < seen.length; i++) {
      assert.equal(compareVersions(seen[i] ?? '', seen[i - 1] ?? ''), 1, `not increasing: ${seen.join(' ')}`);
    }
    for (let i = 0; i < 2; i++) assert.equal((await runCatcher(home, ['sync', '--json'])).status, 0);
    const last = [...changed].sort(compareVersions).pop();
    const subs = (await runCatcher(home, ['subscriptions', '--json'])).json as SubscriptionView[];
    assert.equal(subs[0]?.version, last);
    const held = ((await runCatcher(home, ['images', '--json'])).json as ImageView[])
      .filter((i) => i.state === 'delivered')
      .map((i) => `${i.title} ${i.sha512}`)
      .sort();
    const expected = APPLIANCES.flatMap((app) =>
      body(app, VERSIONS).images.map((image) => `${image.title} ${image.sha512}`),
    ).sort();
    assert.deepEqual(held, expected);
    await assertNoEventLost(home, hook, backendDir);

    await stopCaster(started.child);
    const db = new Database(join(world.home, DATABASE_FILE), { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.close();
    }
  });
});
