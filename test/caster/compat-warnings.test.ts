/**
 * Issue 17 item 2: `credential add` and `publish` warn when some reader will not take what this
 * publisher signs (a proxy signer, a DN readers write differently, an https list URL whose
 * certificate only grid CAs trust); `--strict-compat` refuses instead, and a refusal changes
 * nothing (no credential registered, the published file and the state untouched).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT_STATUS } from '../../src/shared/errors.js';
import { caster, casterJson, failureOf, runCaster } from '../helpers/caster-cli.js';
import { issueUser, writeImage } from '../helpers/caster-grid.js';
import { makeCasterSite, VO, type CasterSite } from '../helpers/caster-site.js';
import { stateFingerprint } from '../helpers/caster-state.js';
import { writePem } from '../helpers/pki.js';
import { localhostServerCert } from '../helpers/tls.js';
import { makeProxy } from '../helpers/x509.js';

describe('warnings where a reader will fail, and --strict-compat', () => {
  let site: CasterSite;
  let env: NodeJS.ProcessEnv;
  let proxyPath: string;

  before(async () => {
    site = await makeCasterSite();
    env = site.env;
    const { grid } = site.world;
    const proxy = makeProxy(grid.publisher);
    proxyPath = await writePem(
      join(site.world.dir, 'proxy.pem'),
      proxy.pem,
      proxy.keyPem,
      grid.publisher.pem,
    );
  });

  const credentials = async (): Promise<unknown[]> => casterJson<unknown[]>(['credential', 'list'], { env });

  it('warns about a proxy signer at credential add, and refuses it with --strict-compat', async () => {
    const before = await credentials();
    const add = ['credential', 'add', '--vo', 'proxy.vo.org', '--cert', proxyPath];
    const strict = await runCaster([...add, '--strict-compat', '--json'], { env });
    assert.deepEqual(failureOf(strict), { code: 'CERT_PURPOSE', status: EXIT_STATUS.signature });
    assert.match(strict.stdout, /RFC 3820 proxy: atrope 2\.1 and plain `openssl smime -verify` refuse/);
    assert.deepEqual(await credentials(), before, 'nothing registered');

    const warned = await runCaster([...add, '--json'], { env });
    assert.equal(warned.status, 0, warned.stderr);
    assert.match(warned.stderr, /warning: the signing credential is an RFC 3820 proxy/);
    const result = JSON.parse(warned.stdout) as { warnings: string[] };
    assert.equal(result.warnings.length, 1);
  });

  it('warns about a proxy signer at publish, and refuses it with --strict-compat, leaving the file', async () => {
    const list = await site.newList();
    const out = join(site.world.root, 'proxy-signed.smime');
    await caster(['publish', list, '--out', out], { env });
    const unchanged = await stateFingerprint(site.world.home, out);
    const strict = await runCaster(['publish', list, '--cert', proxyPath, '--strict-compat', '--json'], {
      env,
    });
    assert.deepEqual(failureOf(strict), { code: 'CERT_PURPOSE', status: EXIT_STATUS.signature });
    assert.equal(await stateFingerprint(site.world.home, out), unchanged);

    const warned = await runCaster(['publish', list, '--cert', proxyPath], { env });
    assert.equal(warned.status, 0, warned.stderr);
    assert.match(warned.stderr, /warning: the signing credential is an RFC 3820 proxy/);
  });

  it('warns about a DN that readers write differently, and refuses it with --strict-compat', async () => {
    const jose = await issueUser(site.world, 'José Manager');
    const add = ['credential', 'add', '--vo', 'jose.vo.org', '--cert', jose.certPath, '--key', jose.keyPath];
    const before = await credentials();
    const strict = await runCaster([...add, '--strict-compat', '--json'], { env });
    assert.deepEqual(failureOf(strict), { code: 'ENDORSER_MISMATCH', status: EXIT_STATUS.authorization });
    assert.match(strict.stdout, /CN=Jos\\\\xC3\\\\xA9 Manager has characters that readers write differently/);
    assert.deepEqual(await credentials(), before, 'nothing registered');
    const warned = await runCaster(add, { env });
    assert.equal(warned.status, 0, warned.stderr);
    assert.match(warned.stderr, /warning: the signer DN .* atrope compares the UTF-8 text/);
    // The plain ASCII publisher of the site raises no warning.
    const plain = await runCaster(
      ['credential', 'add', '--vo', VO, '--cert', site.world.certPath, '--key', site.world.keyPath],
      { env },
    );
    assert.equal(plain.status, 0);
    assert.doesNotMatch(plain.stderr, /warning/);
  });

  describe('a list URL served with a certificate only grid CAs trust', () => {
    let server: Server;
    let url: string;
    let rootBundle: string;

    before(async () => {
      const { grid } = site.world;
      const host = localhostServerCert(grid.intermediate);
      server = createServer({ cert: host.pem + grid.intermediate.pem, key: host.keyPem }, (_req, res) =>
        res.end('list'),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/grid.smime`;
      rootBundle = await writePem(join(site.world.dir, 'system-bundle.pem'), grid.root.pem);
    });
    after(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );

    it('warns at publish, refuses with --strict-compat and leaves the published file', async () => {
      const list = await caster(['list', 'create', '--title', 'Grid served', '--uri', url, '--vo', VO], {
        env,
      });
      const file = await writeImage(site.world, 'grid.img');
      await caster(
        ['image', 'add', list, '--file', file.path, '--uri', 'https://i.example.org/g', '--title', 'G'],
        {
          env,
        },
      );
      const out = join(site.world.root, 'grid.smime');
      const first = await runCaster(['publish', list, '--out', out, '--json'], { env });
      assert.equal(first.status, 0, first.stderr);
      assert.match(
        first.stderr,
        /warning: the list URL https:\/\/127\.0\.0\.1:\d+\/grid\.smime is served with a certificate that only grid CAs trust/,
      );
      assert.equal((JSON.parse(first.stdout) as { warnings: string[] }).warnings.length, 1);

      const unchanged = await stateFingerprint(site.world.home, out);
      const bytes = readFileSync(out);
      const strict = await runCaster(['publish', list, '--strict-compat', '--json'], { env });
      assert.deepEqual(failureOf(strict), { code: 'CONFIG_INVALID', status: EXIT_STATUS.configuration });
      assert.deepEqual(readFileSync(out), bytes);
      assert.equal(await stateFingerprint(site.world.home, out), unchanged);

      // Trusted by the system bundle (here: a bundle holding the grid root): no warning.
      const trusted = await runCaster(['publish', list, '--strict-compat', '--json'], {
        env: { ...env, SSL_CERT_FILE: rootBundle },
      });
      assert.equal(trusted.status, 0, trusted.stderr);
      assert.doesNotMatch(trusted.stderr, /warning/);
    });
  });
});
