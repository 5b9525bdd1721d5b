/**
 * Issue 16 item 3: the catcher's Glance backend against a real Keystone 22 and the real Glance
 * behind it (test/helpers/keystone.ts). vmicast acts as `vmicast`, a NON-ADMIN user with the
 * `member` role in `service`, `vo-a` and `vo-b`; `alice` is a plain member of `vo-a`; `admin` is
 * the bootstrap admin. Each test syncs a signed list served locally into the cloud, then reads
 * Glance as admin, and in places with Debian's OpenStack client as an operator would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { syncOnce } from '../../src/catcher/sync/sync.js';
import {
  ADMIN,
  describeWithCloud,
  SERVICE_USER,
  startCloud,
  VO_A_USER,
  type Cloud,
  type Credentials,
} from '../helpers/keystone.js';
import {
  assertHeldBack,
  membersOf,
  onlyImage,
  passwordAuth,
  problems,
  cloudBackend,
  withSite,
  VO,
} from './keystone-fixtures.js';

describeWithCloud(
  'the Glance backend behind a real Keystone',
  (cloud) => {
    let started: number;
    /** The second cloud of the last test, booting while the other tests run. */
    let second: Promise<Cloud>;
    before(() => {
      started = Date.now();
      // Its tokens live 10 s, so the test also sees one expire between two syncs.
      second = startCloud({ tokenExpirationSeconds: 10 });
      second.catch(() => undefined);
    });
    after(async () => {
      await (await second.catch(() => undefined))?.stop();
      process.stderr.write(
        `# keystone-glance: cloud started in ${cloud().startMs} ms, tests ${Date.now() - started} ms\n`,
      );
    });

    it('password auth as a non-admin member of vo-a: the image lands owned by vo-a, as the OpenStack client shows', async () => {
      const c = cloud();
      const vmicast: Credentials = { ...SERVICE_USER, project: 'vo-a' };
      await withSite([cloudBackend(passwordAuth(c, vmicast), c.projectIds['vo-a'])], async (run) => {
        const report = await syncOnce(run.catcher);
        assert.equal(report.failures, 0, problems(report).join('; '));
        const made = await onlyImage(c, run.image.identifier);
        assert.equal(made.owner, c.projectIds['vo-a']);
        assert.equal(made.visibility, 'private');
        assert.equal(made.status, 'active');
        // Read back as an operator of the VO would: Debian's OpenStack client, as alice.
        const shown = await c.openstack<Record<string, unknown>>(VO_A_USER, ['image', 'show', made.id]);
        assert.equal(shown['owner'], c.projectIds['vo-a']);
        assert.equal(shown['visibility'], 'private');
        const properties = shown['properties'] as Record<string, unknown>;
        assert.equal(properties['vmcatcher_event_dc_identifier'], run.image.identifier);
        assert.equal(properties['os_hash_value'], run.image.entry['sl:checksum:sha512']);
      });
    });

    it('application-credential auth: the image lands owned by the credential project (vo-b)', async () => {
      const c = cloud();
      const credential = await c.applicationCredential({ ...SERVICE_USER, project: 'vo-b' });
      await withSite(
        [
          {
            type: 'glance',
            name: 'cloud',
            auth: {
              url: c.keystone,
              applicationCredentialId: credential.id,
              applicationCredentialSecret: credential.secret,
            },
            projects: { [VO]: c.projectIds['vo-b'] },
          },
        ],
        async (run) => {
          const report = await syncOnce(run.catcher);
          assert.equal(report.failures, 0, problems(report).join('; '));
          const made = await onlyImage(c, run.image.identifier);
          assert.equal(made.owner, c.projectIds['vo-b']);
          assert.equal(made.os_hash_value, run.image.entry['sl:checksum:sha512']);
        },
      );
    });

    it('a revoked token: the next sync authenticates again and succeeds', async () => {
      const c = cloud();
      const vmicast: Credentials = { ...SERVICE_USER, project: 'vo-a' };
      await withSite([cloudBackend(passwordAuth(c, vmicast), c.projectIds['vo-a'])], async (run) => {
        assert.equal((await syncOnce(run.catcher)).failures, 0);
        // Disabling the user records a revocation event for every token issued to it so far,
        // the catcher's cached one included; enabling it again lets new tokens through.
        const witness = await c.token(vmicast);
        const admin = await c.token(ADMIN);
        const user = `${c.keystone}/users/${c.userIds['vmicast']}`;
        assert.equal((await c.request(user, 'PATCH', admin, { user: { enabled: false } })).status, 200);
        assert.equal((await c.request(user, 'PATCH', admin, { user: { enabled: true } })).status, 200);
        const refused = await c.request(`${c.glance}/v2/images`, 'GET', witness);
        assert.equal(refused.status, 401, 'the revocation reaches Glance');
        // Revocation events have one-second precision: a token of the same second is revoked too.
        await new Promise((r) => setTimeout(r, 1100));

        const second = run.repo.add(new Uint8Array(randomBytes(1024 * 1024)), {
          extra: { 'hv:format': 'raw' },
        });
        run.repo.publish({ vo: VO });
        const tokensBefore = await c.tokenRequests();
        const report = await syncOnce(run.catcher);
        assert.equal(report.failures, 0, problems(report).join('; '));
        assert.ok((await c.tokenRequests()) > tokensBefore, 'vmicast asked Keystone for a new token');
        assert.equal((await onlyImage(c, second.identifier)).owner, c.projectIds['vo-a']);
      });
    });

    it('shared as a non-admin: owned by service, vo-a an accepted member, listed for a vo-a user', async () => {
      const c = cloud();
      await withSite(
        [cloudBackend(passwordAuth(c, SERVICE_USER), c.projectIds['vo-a'], 'shared')],
        async (run) => {
          const report = await syncOnce(run.catcher);
          assert.equal(report.failures, 0, problems(report).join('; '));
          const made = await onlyImage(c, run.image.identifier);
          assert.equal(made.owner, c.projectIds['service']);
          assert.equal(made.visibility, 'shared');
          assert.deepEqual(await membersOf(c, made.id), [[c.projectIds['vo-a'], 'accepted']]);
          const listed = await c.openstack<{ ID: string }[]>(VO_A_USER, ['image', 'list']);
          assert.ok(
            listed.some((i) => i.ID === made.id),
            `alice (vo-a) lists the shared image: ${JSON.stringify(listed)}`,
          );
        },
      );
    });

    it('public as a non-admin: refused with a coded error naming the missing right, the upload held back hidden', async () => {
      const c = cloud();
      const vmicast: Credentials = { ...SERVICE_USER, project: 'vo-a' };
      await withSite(
        [cloudBackend(passwordAuth(c, vmicast), c.projectIds['vo-a'], 'public')],
        async (run) => {
          const report = await syncOnce(run.catcher);
          const said = problems(report);
          assert.ok(report.failures > 0);
          assert.ok(
            said.some(
              (m) => m.startsWith('BACKEND_FAILED') && /publicize_image/.test(m) && /admin role/.test(m),
            ),
            said.join('; '),
          );
          await assertHeldBack(c, run);
        },
      );
    });

    it('private as a non-admin, the VO mapped to another project: refused, naming the admin right', async () => {
      const c = cloud();
      const vmicast: Credentials = { ...SERVICE_USER, project: 'vo-a' };
      await withSite([cloudBackend(passwordAuth(c, vmicast), c.projectIds['vo-b'])], async (run) => {
        const report = await syncOnce(run.catcher);
        const said = problems(report);
        assert.ok(report.failures > 0);
        assert.ok(
          said.some((m) => m.startsWith('BACKEND_FAILED') && /owner/.test(m) && /admin role/.test(m)),
          said.join('; '),
        );
        await assertHeldBack(c, run);
      });
    });

    it('public as admin: the image is public and owned by the VO project', async () => {
      const c = cloud();
      await withSite([cloudBackend(passwordAuth(c, ADMIN), c.projectIds['vo-a'], 'public')], async (run) => {
        const report = await syncOnce(run.catcher);
        assert.equal(report.failures, 0, problems(report).join('; '));
        const made = await onlyImage(c, run.image.identifier);
        assert.equal(made.visibility, 'public');
        assert.equal(made.owner, c.projectIds['vo-a']);
      });
    });

    it('two clouds, each its own Keystone and credentials, as two backends of one catcher: both get the image, also after a token expired', async () => {
      const a = cloud();
      const b = await second;
      const credential = await b.applicationCredential({ ...SERVICE_USER, project: 'vo-b' });
      await withSite(
        [
          {
            type: 'glance',
            name: 'cloud-a',
            auth: passwordAuth(a, { ...SERVICE_USER, project: 'vo-a' }),
            projects: { [VO]: a.projectIds['vo-a'] },
          },
          {
            type: 'glance',
            name: 'cloud-b',
            auth: {
              url: b.keystone,
              applicationCredentialId: credential.id,
              applicationCredentialSecret: credential.secret,
            },
            visibility: 'shared',
            projects: { [VO]: b.projectIds['vo-a'] },
          },
        ],
        async (run) => {
          const report = await syncOnce(run.catcher);
          assert.equal(report.failures, 0, problems(report).join('; '));
          const atA = await onlyImage(a, run.image.identifier);
          const atB = await onlyImage(b, run.image.identifier);
          assert.equal(atA.owner, a.projectIds['vo-a']);
          assert.equal(atB.owner, b.projectIds['vo-b']);
          assert.equal(atB.visibility, 'shared');
          // An application credential is bound to vo-b: it cannot accept for vo-a, which must
          // accept the image itself (docs/glance.md).
          assert.deepEqual(await membersOf(b, atB.id), [[b.projectIds['vo-a'], 'pending']]);
          for (const image of [atA, atB])
            assert.equal(image.os_hash_value, run.image.entry['sl:checksum:sha512']);
          // Neither cloud's Keystone knows the other's projects: nothing crossed over.
          assert.notEqual(a.projectIds['vo-a'], b.projectIds['vo-a']);

          // Past cloud B's token lifetime the catcher's token there is dead (Glance answers 401
          // to a token of that age); the next sync gets a new one and delivers to both clouds.
          const old = await b.token({ ...SERVICE_USER, project: 'vo-b' });
          const tokensBefore = await b.tokenRequests();
          await new Promise((r) => setTimeout(r, 11_000));
          assert.equal((await b.request(`${b.glance}/v2/images`, 'GET', old)).status, 401);
          const next = run.repo.add(new Uint8Array(randomBytes(1024 * 1024)), {
            extra: { 'hv:format': 'raw' },
          });
          run.repo.publish({ vo: VO });
          const again = await syncOnce(run.catcher);
          assert.equal(again.failures, 0, problems(again).join('; '));
          assert.ok((await b.tokenRequests()) > tokensBefore, 'the catcher asked cloud B for a new token');
          assert.equal((await onlyImage(a, next.identifier)).owner, a.projectIds['vo-a']);
          assert.equal((await onlyImage(b, next.identifier)).owner, b.projectIds['vo-b']);
        },
      );
    });
  },
  { tools: ['qemu-img'] },
);
