import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parseRegistryUrl } from '../../src/catcher/cli/subscribe-registry.js';
import { formatStatusText } from '../../src/catcher/ops/statustext.js';
import { MIGRATIONS } from '../../src/catcher/store/schema.js';
import { insertSubscription } from '../../src/catcher/store/subscriptions.js';
import { imageViews, subscriptionViews } from '../../src/catcher/views.js';
import { openDatabase } from '../../src/shared/db.js';
import { EXIT_STATUS, VmiError } from '../../src/shared/errors.js';
import { uuid5 } from '../../src/shared/uuid5.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { runCatcher, type CatcherRun } from '../helpers/catcher-cli.js';
import { makeGrid, type Grid } from '../helpers/grid.js';
import { egiArtefact, rawPushArtefact } from '../helpers/registry-artefact.js';
import { describeWithRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Issue 15, item 1: `vmicatcher subscribe oci://HOST[:PORT]/PATH --unsigned` follows a registry
 * project or repository without a signed list, as an explicit operator choice. Refusals store
 * nothing; the registry is asked with the given credentials before anything is stored; status
 * says the subscription is unsigned and never shows the password.
 */

const USAGE = EXIT_STATUS.configuration;

async function subscriptionsOf(home: TestCatcher): Promise<unknown[]> {
  const run = await runCatcher(home, ['subscriptions', '--json']);
  assert.equal(run.status, 0, run.stderr);
  return run.json as unknown[];
}

function refused(run: CatcherRun, code: string, status: number, why: RegExp): void {
  assert.equal(run.status, status, `${run.stdout}${run.stderr}`);
  assert.match(run.stderr, new RegExp(`vmicatcher: ${code}: `));
  assert.match(run.stderr, why);
}

describe('registry subscription URLs', () => {
  it('reads a one-segment path as a project and a longer one as a repository', () => {
    assert.deepEqual(parseRegistryUrl('oci://Registry.EGI.eu/egi_vm_images', false), {
      url: 'oci://registry.egi.eu/egi_vm_images',
      source: {
        registry: 'registry.egi.eu',
        scope: { kind: 'project', project: 'egi_vm_images' },
        tagPattern: '^[^-]*$',
        unsigned: true,
      },
    });
    assert.deepEqual(parseRegistryUrl('oci://127.0.0.1:5000/egi_vm_images/ubuntu', false, '^22').source, {
      registry: '127.0.0.1:5000',
      scope: { kind: 'repository', repository: 'egi_vm_images/ubuntu' },
      tagPattern: '^22',
      unsigned: true,
    });
    assert.equal(parseRegistryUrl('oci://r.example/ubuntu', true).source.scope.kind, 'repository');
  });

  it('refuses every other form with USAGE, without echoing what may be credentials', () => {
    for (const url of [
      'oci://',
      'oci:///egi_vm_images',
      'oci://r.example',
      'oci://r.example/',
      'oci://r.example/egi_vm_images/',
      'oci://user:s3cret-pw@r.example/egi_vm_images',
      'oci://r.example/egi_vm_images?token=s3cret-pw',
      'oci://r.example/egi_vm_images#s3cret-pw',
      'oci://r.example/egi_vm_images/ubuntu:22.04',
      'oci://r.example/egi_vm_images/ubuntu@sha256:' + 'a'.repeat(64),
      'oci://r.example/Egi_VM_images',
      'oci://r.example/../etc',
      'oci://r.example:99999/p',
      'oci:r.example/p',
    ]) {
      assert.throws(
        () => parseRegistryUrl(url, false),
        (err: unknown) =>
          err instanceof VmiError && err.code === 'USAGE' && !err.message.includes('s3cret-pw'),
        url,
      );
    }
    assert.throws(
      () => parseRegistryUrl('oci://r.example/p', false, '(unclosed'),
      (err: unknown) => err instanceof VmiError && err.code === 'USAGE' && /tag-pattern/.test(err.message),
    );
  });
});

describe('vmicatcher subscribe oci:// refusals (nothing stored)', () => {
  let grid: Grid;
  let home: TestCatcher;
  before(async () => {
    grid = await makeGrid();
    home = await makeCatcherHome(grid);
  });

  const cases: [string, string[], RegExp][] = [
    ['without --unsigned', ['oci://r.example/egi_vm_images'], /carry no signature.*--unsigned/],
    ['--unsigned on a list URL', ['https://lists.example/list', '--unsigned', '--auto-endorse'], /oci:\/\//],
    ['--tag-pattern on a list URL', ['https://lists.example/list', '--tag-pattern', 'x'], /--tag-pattern/],
    ['an invalid tag pattern', ['oci://r.example/p', '--unsigned', '--tag-pattern', '(a'], /tag-pattern/],
    ['a URL with a query', ['oci://r.example/p?x=1', '--unsigned'], /oci:\/\/HOST/],
    ['a URL without a host', ['oci:///p', '--unsigned'], /oci:\/\/HOST/],
    ['a URL with userinfo', ['oci://u:pw@r.example/p', '--unsigned'], /without user/],
    ['a password argument', ['oci://r.example/p', '--unsigned', '--user', 'u', '--password', 'pw'], /never/],
    ['list trust flags', ['oci://r.example/p', '--unsigned', '--auto-endorse'], /signed lists/],
    ['a user without a password', ['oci://r.example/p', '--unsigned', '--user', 'u'], /needs a password/],
  ];
  for (const [name, args, why] of cases) {
    it(`refuses ${name}`, async () => {
      const run = await runCatcher(home, ['subscribe', ...args], { VMICATCHER_REGISTRY_PASSWORD: '' });
      refused(run, 'USAGE', USAGE, why);
      assert.deepEqual(await subscriptionsOf(home), []);
    });
  }
});

describeWithRegistry(
  'vmicatcher subscribe oci:// against a registry with htpasswd Basic auth',
  'basic',
  (registry) => {
    let home: TestCatcher;
    let passwordFile: string;
    let wrongFile: string;
    const project = () => `oci://${registry().host}/egi_vm_images`;
    const repository = () => `${project()}/ubuntu`;
    before(async () => {
      await rawPushArtefact(registry(), egiArtefact('egi_vm_images/ubuntu'));
      home = await makeCatcherHome(await makeGrid(), { downloads: { caFile: registry().caFile } });
      const dir = await tempDir('vmicast-registry-pw-');
      passwordFile = join(dir, 'password');
      wrongFile = join(dir, 'wrong');
      await writeFile(passwordFile, `${registry().user.password}\n`, { mode: 0o600 });
      await writeFile(wrongFile, 'wrong-password-0123456789\n', { mode: 0o600 });
    });
    const secrets = () => [registry().user.password, 'wrong-password-0123456789'];
    const assertNoSecret = (text: string, where: string) => {
      for (const secret of secrets()) assert.ok(!text.includes(secret), `a password in ${where}`);
    };

    it('refuses a wrong password with the registry’s refusal and stores nothing', async () => {
      const run = await runCatcher(home, [
        'subscribe',
        project(),
        '--unsigned',
        '--user',
        registry().user.username,
        '--password-file',
        wrongFile,
      ]);
      refused(run, 'HTTP_STATUS', EXIT_STATUS.transfer, /401|refused|credentials/i);
      assertNoSecret(run.stdout + run.stderr, 'the output of a refused subscribe');
      assert.deepEqual(await subscriptionsOf(home), []);
    });

    it('refuses anonymous access to a registry that wants credentials, storing nothing', async () => {
      const run = await runCatcher(home, ['subscribe', repository(), '--unsigned', '--json']);
      refused(run, 'HTTP_STATUS', EXIT_STATUS.transfer, /./);
      assert.deepEqual(await subscriptionsOf(home), []);
    });

    it('subscribes to a project with the right password (environment) and shows it unsigned', async () => {
      const run = await runCatcher(
        home,
        ['subscribe', project(), '--unsigned', '--user', registry().user.username, '--json'],
        { VMICATCHER_REGISTRY_PASSWORD: registry().user.password },
      );
      assert.equal(run.status, 0, run.stderr);
      const id = uuid5(project());
      assert.deepEqual(run.json, {
        ok: true,
        id,
        version: null,
        title: project(),
        images: null,
        endorser: null,
        url: project(),
        source: 'registry',
        signed: false,
        registry: { host: registry().host, scope: 'project', name: 'egi_vm_images', tagPattern: '^[^-]*$' },
        newImages: 'subscribe',
        seen: 1,
      });
      assertNoSecret(run.stdout + run.stderr, 'subscribe output');
      const again = await runCatcher(
        home,
        ['subscribe', project(), '--unsigned', '--user', registry().user.username],
        { VMICATCHER_REGISTRY_PASSWORD: registry().user.password },
      );
      refused(again, 'USAGE', USAGE, /already subscribed/);
    });

    it('subscribes to a repository with a password file and a tag pattern', async () => {
      const run = await runCatcher(home, [
        'subscribe',
        repository(),
        '--unsigned',
        '--tag-pattern',
        '^22\\.04$',
        '--new-images',
        'accept',
        '--user',
        registry().user.username,
        '--password-file',
        passwordFile,
      ]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, `${uuid5(repository())}\n`);
      assert.match(run.stderr, /without a signature/);
      const views = (await subscriptionsOf(home)) as { id: string; registry: unknown; newImages: string }[];
      const view = views.find((v) => v.id === uuid5(repository()));
      assert.ok(view !== undefined);
      assert.deepEqual(view.registry, {
        host: registry().host,
        scope: 'repository',
        name: 'egi_vm_images/ubuntu',
        tagPattern: '^22\\.04$',
      });
      assert.equal(view.newImages, 'accept');
    });

    it('never shows the password in subscriptions, status JSON or status text', async () => {
      const listing = await runCatcher(home, ['subscriptions']);
      const json = await runCatcher(home, ['status', '--json']);
      const text = await runCatcher(home, ['status']);
      for (const [name, run] of [
        ['subscriptions', listing],
        ['status --json', json],
        ['status', text],
      ] as const) {
        assertNoSecret(run.stdout + run.stderr, name);
        assert.doesNotMatch(run.stdout, /"password"|"username"/, name);
      }
      const subs = (json.json as { subscriptions: { id: string; source: string; signed: boolean }[] })
        .subscriptions;
      assert.deepEqual(
        subs.map((s) => [s.id, s.source, s.signed]).sort(),
        [
          [uuid5(project()), 'registry', false],
          [uuid5(repository()), 'registry', false],
        ].sort(),
      );
      assert.match(
        text.stdout,
        /unsigned registry project egi_vm_images on 127\.0\.0\.1:\d+, tags \^\[\^-\]\*\$/,
      );
      assert.match(listing.stdout, /unsigned registry repository, tags \^22\\\.04\$/);
    });

    it('unsubscribes a registry subscription as it does a list', async () => {
      const run = await runCatcher(home, ['unsubscribe', uuid5(repository()), '--json']);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(run.json, { ok: true, id: uuid5(repository()), removed: true, failures: 0 });
      const left = (await subscriptionsOf(home)) as { id: string }[];
      assert.deepEqual(
        left.map((s) => s.id),
        [uuid5(project())],
      );
    });
  },
);

describeWithRegistry(
  'vmicatcher subscribe oci:// against a registry with bearer tokens',
  'token',
  (registry) => {
    let home: TestCatcher;
    before(async () => {
      await rawPushArtefact(registry(), egiArtefact('egi_vm_images/centos'));
      home = await makeCatcherHome(await makeGrid(), { downloads: { caFile: registry().caFile } });
    });
    const project = () => `oci://${registry().host}/egi_vm_images`;
    const args = () => ['subscribe', project(), '--unsigned', '--user', registry().user.username, '--json'];

    it('refuses a password the token service refuses, storing nothing and showing no password', async () => {
      const run = await runCatcher(home, args(), { VMICATCHER_REGISTRY_PASSWORD: 'wrong-token-password-42' });
      refused(run, 'HTTP_STATUS', EXIT_STATUS.transfer, /token service refused the configured credentials/);
      assert.ok(!(run.stdout + run.stderr).includes('wrong-token-password-42'));
      assert.deepEqual(await subscriptionsOf(home), []);
    });

    it('subscribes to a project through the catalog with a token granted to the credentials', async () => {
      const run = await runCatcher(home, args(), { VMICATCHER_REGISTRY_PASSWORD: registry().user.password });
      assert.equal(run.status, 0, run.stderr);
      assert.equal((run.json as { seen: number }).seen, 1);
      const catalog = registry().issuer?.requests.filter(
        (r) => r.authorization !== undefined && r.scopes.includes('registry:catalog:*'),
      );
      assert.ok((catalog ?? []).length > 0, 'a catalog token was asked for with the credentials');
      const status = await runCatcher(home, ['status', '--json']);
      assert.ok(!(status.stdout + status.stderr).includes(registry().user.password));
    });
  },
);

describe('views of registry subscriptions and their images', () => {
  it('shows the source, the scope and the referrers, and no credentials of lists or registries', async () => {
    const db = await openDatabase(join(await tempDir('vmicast-views-'), 'vmicatcher.db'), MIGRATIONS);
    try {
      const common = {
        vo: null,
        requireVoms: false,
        fqan: null,
        newImages: 'subscribe' as const,
        trust: {},
        endorsers: [],
      };
      const at = new Date('2026-01-01T00:00:00.000Z');
      insertSubscription(
        db,
        { ...common, id: 'list-1', url: 'https://l.example/list', username: 'tok', password: 'list-secret' },
        at,
      );
      insertSubscription(
        db,
        {
          ...common,
          id: 'reg-1',
          url: 'oci://r.example/egi_vm_images',
          username: 'u',
          password: 'registry-secret',
          registry: {
            registry: 'r.example',
            scope: { kind: 'project', project: 'egi_vm_images' },
            tagPattern: '^[^-]*$',
            unsigned: true,
          },
        },
        at,
      );
      const digest = `sha256:${'c'.repeat(64)}`;
      const entry = {
        'dc:identifier': 'img-r',
        'dc:title': 'r.example egi_vm_images/ubuntu:22.04',
        'vmi:oci:manifest': `r.example/egi_vm_images/ubuntu@sha256:${'b'.repeat(64)}`,
        'vmi:oci:referrers': [
          { digest, artifactType: 'application/vnd.cyclonedx+json', mediaType: 'x', size: 10 },
          { digest: 'not-a-digest' },
          'junk',
        ],
      };
      db.prepare(
        `INSERT INTO images (subscription_id, identifier, selected, listed) VALUES ('reg-1', 'img-r', 1, 1)`,
      ).run();
      db.prepare(
        `INSERT INTO instances (subscription_id, identifier, sha512, size, version, uri, entry_json, current, state)
         VALUES ('reg-1', 'img-r', ?, 3, '2025-09-04-4d7122d6', 'https://r.example/v2/x/blobs/y', ?, 1, 'pending')`,
      ).run('ab'.repeat(64), JSON.stringify(entry));

      const views = subscriptionViews(db);
      assert.deepEqual(
        views.map((v) => [v.id, v.source, v.signed, v.registry?.scope ?? null]),
        [
          ['list-1', 'list', true, null],
          ['reg-1', 'registry', false, 'project'],
        ],
      );
      const shown = JSON.stringify(views);
      assert.ok(!shown.includes('list-secret') && !shown.includes('registry-secret'));
      const [image] = imageViews(db, []);
      assert.deepEqual(image?.referrers, [
        {
          reference: `r.example/egi_vm_images/ubuntu@${digest}`,
          artifactType: 'application/vnd.cyclonedx+json',
        },
      ]);
      // A manifest reference outside the grammar is not shown: the digest alone is.
      db.prepare('UPDATE instances SET entry_json = ?').run(
        JSON.stringify({ ...entry, 'vmi:oci:manifest': `\u001b[31mevil/x@sha256:${'b'.repeat(64)}` }),
      );
      assert.deepEqual(
        imageViews(db, [])[0]?.referrers?.map((r) => r.reference),
        [digest],
      );
      const text = formatStatusText(statusFor(views, image));
      assert.match(
        text,
        /attached application\/vnd\.cyclonedx\+json at r\.example\/egi_vm_images\/ubuntu@sha256:c+/,
      );
      assert.match(text, /reg-1 {2}unsigned registry project egi_vm_images on r\.example, tags/);
    } finally {
      db.close();
    }
  });
});

/** The least of a site status that formatStatusText reads, around the views under test. */
function statusFor(
  views: ReturnType<typeof subscriptionViews>,
  image: ReturnType<typeof imageViews>[number] | undefined,
): Parameters<typeof formatStatusText>[0] {
  const none = { known: 0, selected: 0, downloading: 0, cached: 0, delivered: 0, deprecated: 0, retired: 0 };
  return {
    now: '2026-01-02T00:00:00.000Z',
    health: { status: 'OK', summary: 'fine', problems: [] },
    daemon: null,
    lastCycle: null,
    subscriptions: views.map((v) => ({ ...v, lastError: null })),
    images: image === undefined ? [] : [{ ...image, lastError: null, backends: {} }],
    totals: { images: { ...none, selected: image === undefined ? 0 : 1 } },
    backends: [],
    accounting: [],
    trust: { location: '/x', error: null, summary: null },
  } as unknown as Parameters<typeof formatStatusText>[0];
}
