/**
 * kill -9 anywhere in a sync into a real Glance (issue 14, item 7): during the download,
 * during the upload, between verification and release. At every kill point no image of
 * ours is active with unverified bytes and the VO's project sees nothing but verified
 * active images; after the kill, the next sync converges to what an uninterrupted run
 * leaves (one active image per disk with the list's SHA-512, owner, visibility and
 * os_hidden as the reference has them, nothing half-made, no partial file, every image
 * delivered) and resumes the download with Range where bytes were already received.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, after, it } from 'node:test';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import { makeCatcherHome, openSubscription, type TestCatcher } from '../helpers/catcher.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { runCatcher, spawnCatcher } from '../helpers/catcher-cli.js';
import { describeWithGlance, GLANCE_ADMIN } from '../helpers/glance.js';
import {
  describeImage,
  diskBytes,
  filesIn,
  imagesOf,
  listAll,
  unsafeImages,
} from '../helpers/glance-crash.js';
import { Repo, sha512Of } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

const TRIALS = Number(process.env['VMICAST_GLANCE_CRASH_TRIALS'] ?? 6);
const VO = 'vo.example.org';
const APPLIANCE = 'app-crash';
/** Each download drips at this rate, so the download phase is long enough to be hit. */
const RATE = 16 * 1024 * 1024;
/** The disks of every list version: two images and the two members of an appliance. */
const DISKS = [
  { name: 'big', mib: 12, format: 'raw' },
  { name: 'small', mib: 8, format: 'qcow2' },
  { name: 'head', mib: 8, format: 'raw', role: 'head' },
  { name: 'worker', mib: 8, format: 'qcow2', role: 'worker' },
] as const;

interface Site {
  backend: string;
  project: string;
  home: TestCatcher;
}

describeWithGlance(
  'kill -9 during a sync into a real Glance',
  (glance) => {
    let repo: Repo;
    let work: string;
    let site: Site;
    let reference: Site;
    const identifiers = DISKS.map(() => '');
    /** Every SHA-512 a list gave an identifier: what an active image may hold. */
    const known = new Map<string, Set<string>>();

    async function makeSite(backend: string, project: string): Promise<Site> {
      const home = await makeCatcherHome(repo.grid, {
        backends: [{ type: 'glance', name: backend, ...glance().access, projects: { [VO]: project } }],
      });
      const catcher = await home.open();
      try {
        await subscribe(catcher, openSubscription(repo.listUrl));
      } finally {
        await catcher.close();
      }
      return { backend, project, home };
    }

    /** A new list version: new bytes for every disk, same identifiers, a new appliance version. */
    async function publishVersion(version: number): Promise<void> {
      repo.images = [];
      for (const [i, disk] of DISKS.entries()) {
        const bytes = await diskBytes(work, `${disk.name}-${version}`, disk.mib, disk.format);
        const extra: JsonObject = { 'hv:format': disk.format, 'dc:title': `${disk.name} ${version}` };
        if ('role' in disk) extra['vmi:appliance'] = APPLIANCE;
        const image = repo.add(bytes, {
          ...(identifiers[i] === '' ? {} : { identifier: identifiers[i] }),
          version: String(version),
          extra,
        });
        identifiers[i] = image.identifier;
        const shas = known.get(image.identifier) ?? new Set<string>();
        known.set(image.identifier, shas.add(sha512Of(bytes)));
      }
      repo.appliances = [
        {
          'vmi:appliance': {
            'dc:identifier': APPLIANCE,
            'dc:title': 'Crash cluster',
            'hv:version': String(version),
            'vmi:images': DISKS.flatMap((d, i) =>
              'role' in d ? [{ 'vmi:role': d.role, 'dc:identifier': identifiers[i] ?? '' }] : [],
            ),
          },
        },
      ];
      repo.publish({ vo: VO });
    }

    /** Throttles the next requests of every image (a resumed download is a new request). */
    function throttle(): void {
      for (const path of repo.server.files.keys()) {
        if (path.startsWith('/images/')) {
          repo.server.faults.set(
            path,
            Array.from({ length: 6 }, () => ({ kind: 'drip', bytesPerSecond: RATE })),
          );
        }
      }
    }

    /** One `sync --json` run; `firstMs`: when it asked for its first image (start-up and list done). */
    async function sync(s: Site): Promise<{ ok: boolean; text: string; ms: number; firstMs: number }> {
      throttle();
      const started = Date.now();
      const seen = repo.server.log.length;
      let firstMs = -1;
      const watch = setInterval(() => {
        const asked = repo.server.log.slice(seen).some((r) => r.path.startsWith('/images/'));
        if (firstMs < 0 && asked) firstMs = Date.now() - started;
      }, 20);
      const result = await runCatcher(s.home, ['sync', '--json']).finally(() => clearInterval(watch));
      const report = result.json as { ok?: boolean } | undefined;
      const text =
        report === undefined
          ? `${result.status} ${result.stderr.slice(-600)}`
          : JSON.stringify(report).slice(0, 1500);
      const ms = Date.now() - started;
      return { ok: result.status === 0 && report?.ok === true, text, ms, firstMs: firstMs < 0 ? 0 : firstMs };
    }

    const roles = (s: Site): Record<string, string> => ({
      [s.project]: 'VO',
      [GLANCE_ADMIN.projectId]: 'OWN',
    });

    /** What must equal between the crashed site and the reference: Glance and the status report. */
    async function finalState(s: Site): Promise<{ glance: string[]; status: string[] }> {
      const images = await imagesOf(glance().endpoint, s.backend);
      const status = await runCatcher(s.home, ['status', '--json']);
      const views =
        (
          status.json as
            | {
                images?: {
                  id: string;
                  sha512: string;
                  state: string;
                  backends: Record<string, { state: string }>;
                }[];
              }
            | undefined
        )?.images ?? [];
      return {
        glance: images.map((i) => describeImage(i, roles(s))).sort(),
        status: views
          .map(
            (v) =>
              `${v.id} ${v.sha512.slice(0, 12)} ${v.state} ${Object.values(v.backends)
                .map((b) => b.state)
                .join(',')}`,
          )
          .sort(),
      };
    }

    /** The end state every run must reach, checked against the current list alone. */
    async function endProblems(s: Site): Promise<string[]> {
      const problems: string[] = [];
      const images = await imagesOf(glance().endpoint, s.backend);
      for (const current of repo.images) {
        const mine = images.filter((i) => i['vmcatcher_event_dc_identifier'] === current.identifier);
        const sha = current.entry['sl:checksum:sha512'];
        const good = mine.filter((i) => i.status === 'active' && i.os_hash_value === sha);
        if (mine.length !== 1 || good.length !== 1) {
          problems.push(
            `${current.identifier.slice(0, 8)}: ${mine.map((i) => describeImage(i, roles(s))).join('; ') || 'no image'}`,
          );
        }
      }
      const listed = new Set(repo.images.map((i) => i.identifier));
      for (const stray of images.filter((i) => !listed.has(String(i['vmcatcher_event_dc_identifier'])))) {
        problems.push(`not in the list: ${describeImage(stray, roles(s))}`);
      }
      return problems;
    }

    async function safetyProblems(s: Site): Promise<string[]> {
      const asVo = { projectId: s.project, userId: 'vo-user', roles: ['member', 'reader'] };
      return [
        ...unsafeImages(await imagesOf(glance().endpoint, s.backend), known, false),
        ...unsafeImages(await listAll(glance().endpoint, asVo), known, true),
      ];
    }

    before(async () => {
      // A rebuild of dist/ inside the first timed run would skew the kill points.
      ensureBuilt();
      work = await tempDir('vmicast-glance-crash-');
      repo = await Repo.create();
      await publishVersion(1);
      site = await makeSite('site', 'vo-site');
      reference = await makeSite('ref', 'vo-ref');
    });
    after(async () => {
      await repo.stop();
    });

    it(`converges after ${TRIALS} kills spread over a sync, never exposing unverified bytes`, async () => {
      const problems: string[] = [];
      const log: string[] = [];
      for (let trial = 0; trial < TRIALS; trial++) {
        if (trial > 0) await publishVersion(trial + 1);
        // The uninterrupted run of this very list version: the reference state and the duration.
        const ref = await sync(reference);
        assert.ok(ref.ok, `reference sync of trial ${trial}: ${ref.text}`);
        assert.deepEqual(await endProblems(reference), [], `reference after trial ${trial}`);
        // Stratified over the run after start-up (list fetch and verification included).
        const fraction = (trial + Math.random()) / TRIALS;
        const from = Math.max(0, ref.firstMs - 200);
        const delay = Math.round(from + fraction * (ref.ms - from));

        throttle();
        const child = spawnCatcher(site.home, ['sync']);
        const exited = new Promise((resolve) => child.once('exit', resolve));
        await new Promise((resolve) => setTimeout(resolve, delay));
        child.kill('SIGKILL');
        await exited;
        const requestsBefore = repo.server.log.length;
        const tag = `trial ${trial} (killed at ${delay} ms; reference: first image at ${ref.firstMs}, done at ${ref.ms} ms)`;

        const atKill = await imagesOf(glance().endpoint, site.backend);
        const partial = await filesIn(join(site.home.home, 'partial'));
        log.push(
          `${tag}: partial [${partial.join(', ')}]; glance [${atKill.map((i) => `${i.status}${i['os_hidden'] === true ? ' hidden' : ''}`).join(', ')}]`,
        );
        for (const p of await safetyProblems(site)) problems.push(`${tag} at the kill: ${p}`);

        const recoveries = [await sync(site)];
        if (!recoveries[0]?.ok) recoveries.push(await sync(site));
        if (recoveries.length > 1)
          problems.push(`${tag}: the first sync after the kill failed: ${recoveries[0]?.text ?? ''}`);
        if (recoveries.at(-1)?.ok !== true)
          problems.push(`${tag}: no sync succeeded after the kill: ${recoveries.at(-1)?.text ?? ''}`);
        for (const p of await safetyProblems(site)) problems.push(`${tag} after recovery: ${p}`);
        for (const p of await endProblems(site)) problems.push(`${tag} after recovery: ${p}`);

        const [mine, theirs] = [await finalState(site), await finalState(reference)];
        try {
          assert.deepEqual(mine, theirs);
        } catch (err) {
          problems.push(`${tag}: differs from the uninterrupted run: ${(err as Error).message}`);
        }
        const leftovers = [
          ...(await filesIn(join(site.home.home, 'partial'))),
          ...(await filesIn(join(site.home.home, 'cache'))).filter((f) => f.split(' ')[0]?.includes('.')),
        ];
        if (leftovers.length > 0) problems.push(`${tag}: partial files left: ${leftovers.join(', ')}`);

        // Bytes already received are not fetched again: a partly grown `.part` file (not a
        // verified `.ok` one, nor a complete one) means a Range request after the kill.
        const sizes = new Set(repo.images.map((i) => String(i.bytes.length)));
        const grown = partial.filter((f) => {
          const [name = '', size = '0'] = f.split(' ');
          return name.endsWith('.part') && size !== '0' && !sizes.has(size);
        });
        const requests = repo.server.log.slice(requestsBefore).filter((r) => r.path.startsWith('/images/'));
        const ranged = requests.filter((r) => typeof r.headers.range === 'string');
        if (ranged.length < grown.length) {
          problems.push(`${tag}: partial files [${grown.join(', ')}] but ${ranged.length} Range request(s)`);
        }
        log.push(`${tag}: ${recoveries.length} sync(s) to recover, ${ranged.length} Range request(s)`);
      }
      console.log(log.join('\n'));
      assert.deepEqual(problems, []);
    });
  },
  { tools: ['qemu-img'] },
);
