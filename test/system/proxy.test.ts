import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runCatcher } from '../helpers/catcher-cli.js';
import { Repo } from '../helpers/repo.js';
import { squidMissing, startSquid, type Squid } from '../helpers/squid.js';
import { TestServer } from '../helpers/server.js';
import { localhostServerCert } from '../helpers/tls.js';

/**
 * Lists and images through a real HTTP proxy (squid) taken from the environment, the way
 * site operators configure it: http_proxy / https_proxy (CONNECT, TLS still verified end to
 * end) / no_proxy.
 */
const missing = squidMissing();
describe('HTTP(S) proxy from the environment', () => {
  if (missing !== undefined) {
    if (process.env['VMICAST_CI'] === '1') it('has squid (required in CI)', () => assert.fail(missing));
    else it('needs squid', (t) => t.skip(missing));
    return;
  }
  let squid: Squid;
  let repo: Repo;
  let https: TestServer;
  let home: TestCatcher;

  before(async () => {
    squid = await startSquid();
    repo = await Repo.create();
    const tls = localhostServerCert(repo.grid.intermediate);
    https = await TestServer.start({ cert: tls.pem, key: tls.keyPem });
    const image = repo.add('an image fetched over https through the proxy');
    https.set('/secure.img', image.bytes);
    repo.images = [{ ...image, entry: { ...image.entry, 'hv:uri': https.url('/secure.img') } }];
    repo.publish();
    home = await makeCatcherHome(repo.grid);
  });
  after(async () => {
    await https.stop();
    await repo.stop();
    await squid.stop();
  });

  it('fetches the list through http_proxy and the image through https_proxy (CONNECT)', async () => {
    const env = { http_proxy: squid.url, https_proxy: squid.url, no_proxy: '' };
    const sub = await runCatcher(home, ['subscribe', repo.listUrl, '--auto-endorse'], env);
    assert.equal(sub.status, 0, sub.stderr);
    const sync = await runCatcher(home, ['sync', '--json'], env);
    assert.equal(sync.status, 0, sync.stdout + sync.stderr);
    const log = squid.accessLog();
    assert.match(log, new RegExp(`GET ${repo.listUrl.replace(/[.?*+^$()[\]\\|{}]/g, '\\$&')}`));
    assert.match(log, new RegExp(`CONNECT 127\\.0\\.0\\.1:${new URL(https.origin).port}`));
    const images = (await runCatcher(home, ['images', '--json'])).json as { state: string }[];
    assert.deepEqual(
      images.map((i) => i.state),
      ['cached'],
    );
  });

  it('goes direct for hosts in no_proxy', async () => {
    const before = squid.accessLog().length;
    const sync = await runCatcher(home, ['sync', '--json'], {
      http_proxy: squid.url,
      https_proxy: squid.url,
      no_proxy: '127.0.0.1',
    });
    assert.equal(sync.status, 0, sync.stdout);
    assert.equal(squid.accessLog().slice(before), '', 'nothing went through the proxy');
  });
});
