import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { bumpVersion, compareVersions } from '../../src/shared/imagelist/version.js';
import { CASTER, caster, casterJson, ensureBuilt } from '../helpers/caster-cli.js';
import { makeCasterWorld, opensslVerify, writeImage, type CasterWorld } from '../helpers/caster-grid.js';

const VO = 'vo.example.org';
const RUNS = 36;

/** Version of the signed file at `path`, after checking with openssl that it verifies. */
function verifiedVersion(path: string, caDir: string): string {
  const doc = JSON.parse(opensslVerify(path, caDir)) as { 'hv:imagelist': { 'hv:version': string } };
  return doc['hv:imagelist']['hv:version'];
}

/** Runs `vmicaster publish` and SIGKILLs it after `delayMs` (if it is still running). */
function publishAndKill(
  args: string[],
  env: NodeJS.ProcessEnv,
  delayMs: number,
): Promise<'killed' | 'finished'> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CASTER, ...args], {
      env: { ...process.env, NODE_OPTIONS: '', ...env },
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve('killed');
      else if (code === 0) resolve('finished');
      else reject(new Error(`publish exited with ${String(code)}`));
    });
  });
}

describe('a publication killed at any point', () => {
  let world: CasterWorld;
  let list: string;
  let out: string;

  before(async () => {
    ensureBuilt();
    world = await makeCasterWorld();
    const env = world.env;
    await caster(['credential', 'add', '--vo', VO, '--cert', world.certPath, '--key', world.keyPath], {
      env,
    });
    list = await caster(
      ['list', 'create', '--title', 'Crash', '--uri', 'https://example.org/crash.smime', '--vo', VO],
      { env },
    );
    for (let i = 0; i < 20; i++) {
      const file = await writeImage(world, `crash-${i}.img`);
      await caster(
        [
          'image',
          'add',
          list,
          '--file',
          file.path,
          '--uri',
          `https://images.example.org/${i}`,
          '--title',
          `Image ${i}`,
        ],
        { env },
      );
    }
    out = join(world.root, 'crash.smime');
    await caster(['publish', list, '--out', out], { env });
  });

  it('leaves the old or the new list in the web root, never a torn one', async (t) => {
    const env = world.env;
    const started = Date.now();
    await caster(['publish', list], { env });
    const duration = Date.now() - started;
    const outcomes = { old: 0, new: 0 };
    let current = verifiedVersion(out, world.grid.caDir);
    for (let run = 0; run < RUNS; run++) {
      // Spread the kills over the whole run (start-up, signing, writing, committing) and past it.
      const delay = Math.round((run / RUNS) * duration * 1.8 + Math.random() * 20);
      await publishAndKill(['publish', list], env, delay);
      const version = verifiedVersion(out, world.grid.caDir);
      if (version === current) outcomes.old++;
      else {
        assert.equal(version, bumpVersion(current), `after a kill at ${delay} ms`);
        outcomes.new++;
      }
      current = version;
    }
    t.diagnostic(`publish takes ${duration} ms; after ${RUNS} kills: ${JSON.stringify(outcomes)}`);
    assert.ok(
      outcomes.old > 0 && outcomes.new > 0,
      `kills before and after the switch: ${JSON.stringify(outcomes)}`,
    );

    // The state survived every kill: the next publication continues above what is on disk.
    const next = await casterJson<{ version: string }>(['publish', list], { env });
    assert.equal(next.version, bumpVersion(current));
    const leftovers = (await readdir(world.root)).filter((n) => n.endsWith('.tmp'));
    assert.deepEqual(leftovers, [], 'temporary files of killed runs are cleaned up');
    const history = await casterJson<{ version: string }[]>(['show', list, '--history'], { env });
    for (let i = 1; i < history.length; i++) {
      assert.equal(compareVersions(history[i]?.version ?? '', history[i - 1]?.version ?? ''), 1);
    }
    for (const name of await readdir(join(world.root, 'history', list))) {
      if (name.endsWith('.smime')) verifiedVersion(join(world.root, 'history', list, name), world.grid.caDir);
    }
    assert.deepEqual(
      await readFile(out),
      await readFile(join(world.root, 'history', list, `${next.version}.smime`)),
    );
  });

  it('serialises concurrent publications: distinct versions, the newest on disk, all in history', async () => {
    const env = world.env;
    const results = await Promise.all(
      Array.from({ length: 6 }, () => casterJson<{ version: string }>(['publish', list], { env })),
    );
    const versions = results.map((r) => r.version).sort(compareVersions);
    assert.equal(new Set(versions).size, 6);
    const newest = versions[versions.length - 1] ?? '';
    assert.equal(verifiedVersion(out, world.grid.caDir), newest);
    for (const version of versions) {
      assert.equal(
        verifiedVersion(join(world.root, 'history', list, `${version}.smime`), world.grid.caDir),
        version,
      );
    }
  });
});
