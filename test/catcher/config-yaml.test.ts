import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig as loadCasterConfig } from '../../src/caster/context.js';
import { loadConfig } from '../../src/catcher/config.js';
import { VmiError } from '../../src/shared/errors.js';

/**
 * How the configuration files are read as YAML, whichever library reads them: YAML 1.2's
 * core schema (a date stays text, `<<` merges nothing), one value per key, no document at
 * all meaning the defaults.
 */
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vmicast-yaml-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function file(text: string): Promise<string> {
  const path = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(path, text);
  return path;
}

async function refused(load: () => Promise<unknown>): Promise<string> {
  try {
    await load();
  } catch (err) {
    if (err instanceof VmiError && err.code === 'CONFIG_INVALID') return err.message;
    throw err;
  }
  assert.fail('the configuration was accepted');
}

describe('configuration files as YAML', () => {
  it('reads an empty file and a comment-only file as the defaults', async () => {
    for (const text of ['', '# nothing set\n']) {
      const config = await loadConfig(await file(text), dir);
      assert.equal(config.schedule, '50 */6 * * *');
      assert.equal(config.home, dir);
    }
  });

  it('reads the values of block and flow style alike', async () => {
    const path = await file("schedule: '0 * * * *'\ndownloads: { parallel: 3, perHost: 1 }\n");
    const config = await loadConfig(path, dir);
    assert.equal(config.schedule, '0 * * * *');
    assert.equal(config.downloads.parallel, 3);
    assert.equal(config.downloads.perHost, 1);
  });

  it('keeps a date-like scalar as text (core schema, no timestamps)', async () => {
    const config = await loadConfig(
      await file('caDir: /etc/grid-security/2026-12-03\nvomsDir: 2026-12-03\n'),
      dir,
    );
    assert.equal(config.caDir, '/etc/grid-security/2026-12-03');
    assert.equal(typeof config.vomsDir, 'string');
    assert.match(config.vomsDir, /2026-12-03$/);
  });

  it('refuses broken YAML with CONFIG_INVALID naming the file', async () => {
    const path = await file('downloads: [1, 2\nschedule: x\n');
    assert.match(await refused(() => loadConfig(path, dir)), /is not valid YAML/);
    assert.match(await refused(() => loadCasterConfig(path)), new RegExp(path.replace(/[.]/g, '[.]')));
  });

  it('refuses a key given twice instead of taking either value', async () => {
    const path = await file("schedule: '0 * * * *'\nschedule: '5 * * * *'\n");
    assert.match(await refused(() => loadConfig(path, dir)), /is not valid YAML/);
    await assert.rejects(
      loadCasterConfig(path),
      (err: unknown) => err instanceof VmiError && err.code === 'CONFIG_INVALID',
    );
  });

  it('merges nothing with `<<`: it is an unknown key, refused', async () => {
    const path = await file('base: &b { parallel: 2 }\ndownloads:\n  <<: *b\n');
    await assert.rejects(
      loadConfig(path, dir),
      (err: unknown) => err instanceof VmiError && err.code === 'CONFIG_INVALID',
    );
  });
});
