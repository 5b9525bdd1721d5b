/**
 * A running `vmicaster serve` over TLS for push API tests: two lists with a token each,
 * client certificates authorized for the list VO, for another VO and for none, a small
 * image server, and a baseline appliance `base-app` at version 2.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { caster, ensureBuilt, startCaster, stopCaster } from './caster-cli.js';
import { issueUser, makeCasterWorld, writeImage, type CasterWorld } from './caster-grid.js';
import {
  httpRequest,
  makeServerCertificate,
  serveFiles,
  type FileServer,
  type Reply,
} from './caster-http.js';
import { pushImage, stateFingerprint } from './caster-state.js';

export const PUSH_VO = 'vo.example.org';
export const OTHER_VO = 'other.example.org';

export interface ClientCert {
  cert: string;
  key: string;
}

export interface PushOptions {
  /** A bearer token; null sends none; default: the token of the main list. */
  token?: string | null;
  listId?: string;
  cert?: ClientCert;
  contentType?: string;
}

export interface PushWorld {
  world: CasterWorld;
  base: string;
  serverCa: string;
  list: string;
  otherList: string;
  tokenA: string;
  tokenB: string;
  published: string;
  clients: { ofVo: ClientCert; ofOtherVo: ClientCert; unknown: ClientCert };
  images: FileServer;
  put(appliance: string, body: JsonObject | string, options?: PushOptions): Promise<Reply>;
  /** The published bytes and every row of the state. */
  fingerprint(): Promise<string>;
  close(): Promise<void>;
}

export async function startPushWorld(): Promise<PushWorld> {
  ensureBuilt();
  const world = await makeCasterWorld();
  const env = world.env;
  const run = (...args: string[]) => caster(args, { env });
  await run('credential', 'add', '--vo', PUSH_VO, '--cert', world.certPath, '--key', world.keyPath);
  const list = await run(
    'list',
    'create',
    '--title',
    'L',
    '--uri',
    'https://example.org/l.smime',
    '--vo',
    PUSH_VO,
  );
  const otherList = await run(
    'list',
    'create',
    '--title',
    'M',
    '--uri',
    'https://example.org/m.smime',
    '--vo',
    PUSH_VO,
  );
  const file = await writeImage(world, 'base.img');
  await run(
    'image',
    'add',
    list,
    '--file',
    file.path,
    '--uri',
    'https://images.example.org/base.img',
    '--title',
    'B',
  );
  const published = join(world.root, 'list.smime');
  await run('publish', list, '--out', published);
  await run('publish', otherList, '--out', join(world.root, 'other.smime'));
  const tokenA = await run('token', 'create', '--list', list, '--name', 'a');
  const tokenB = await run('token', 'create', '--list', otherList, '--name', 'b');

  const tls = makeServerCertificate(world.dir);
  const serverCa = await readFile(tls.certPath, 'utf8');
  const robot = async (name: string, vo: string | undefined): Promise<ClientCert> => {
    const user = await issueUser(world, name, { extKeyUsage: ['clientAuth'] });
    if (vo !== undefined) {
      await run(
        'client',
        'add',
        '--vo',
        vo,
        '--dn',
        user.cert.subject,
        '--ca',
        world.grid.intermediate.subject,
      );
    }
    return { cert: user.cert.pem, key: user.cert.keyPem };
  };
  const clients = {
    ofVo: await robot('AppDB Robot', PUSH_VO),
    ofOtherVo: await robot('Other Robot', OTHER_VO),
    unknown: await robot('Unknown Robot', undefined),
  };

  const serve = ['serve', '--listen', '127.0.0.1:0', '--root', world.root, '--tls-cert', tls.certPath];
  serve.push('--tls-key', tls.keyPath, '--client-ca', world.grid.caDir, '--max-body', '65536', '--json');
  const started = await startCaster(serve, { env });
  const server: ChildProcess = started.child;
  const base = started.first['url'] as string;
  const images = await serveFiles(new Map([['/served.img', new TextEncoder().encode('served content')]]));

  const put = (appliance: string, body: JsonObject | string, options: PushOptions = {}): Promise<Reply> => {
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
  };
  const baseline = await put('base-app', { title: 'Base', version: '2', images: [pushImage('head', 'h1')] });
  if (baseline.status !== 200) throw new Error(`baseline push failed: ${baseline.text}`);

  return {
    world,
    base,
    serverCa,
    list,
    otherList,
    tokenA,
    tokenB,
    published,
    clients,
    images,
    put,
    fingerprint: () => stateFingerprint(world.home, published),
    close: async () => {
      await stopCaster(server);
      await images.close();
    },
  };
}
