import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCaster } from '../helpers/caster-cli.js';
import { makeCasterWorld, type CasterWorld } from '../helpers/caster-grid.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Which configuration vmicaster reads: `--config` wins; else `<home>/vmicaster.yaml` when it
 * exists; else none. `credential add` shows it: it validates against the configured caDir and
 * records it.
 */
describe('vmicaster: configuration found from the home', () => {
  let world: CasterWorld;
  // No trust store from the environment: only a configuration file can name the test grid's.
  const env = { VMICASTER_HOME: '', X509_CERT_DIR: '/nonexistent/certificates' };

  before(async () => {
    world = await makeCasterWorld();
  });

  async function homeWith(yaml: string | undefined): Promise<string> {
    const home = join(await tempDir('vmicaster-home-config-'), 'home');
    await mkdir(home);
    if (yaml !== undefined) await writeFile(join(home, 'vmicaster.yaml'), yaml);
    return home;
  }

  const addCredential = (globals: string[]) =>
    runCaster(
      [
        ...globals,
        'credential',
        'add',
        '--vo',
        'vo.example.org',
        '--cert',
        world.certPath,
        '--key',
        world.keyPath,
        '--json',
      ],
      { env },
    );

  it('reads <home>/vmicaster.yaml when no --config is given', async () => {
    const home = await homeWith(`caDir: ${JSON.stringify(world.grid.caDir)}\n`);
    const run = await addCredential(['--home', home]);
    assert.equal(run.status, 0, run.stderr);
    const doc = JSON.parse(run.stdout) as { credential: { caDir: string | null } };
    assert.equal(doc.credential.caDir, world.grid.caDir);
  });

  it('--config wins over the home file', async () => {
    const home = await homeWith('caDir: /nonexistent/home-file\n');
    const site = join(home, 'site.yaml');
    await writeFile(site, `caDir: ${JSON.stringify(world.grid.caDir)}\n`);
    const flagged = await addCredential(['--home', home, '--config', site]);
    assert.equal(flagged.status, 0, flagged.stderr);
    const unflagged = await addCredential(['--home', home]);
    assert.notEqual(unflagged.status, 0);
    assert.match(unflagged.stderr, /home-file/);
  });

  it('without a home file, behaves as before (the environment names the trust store)', async () => {
    const home = await homeWith(undefined);
    const refused = await addCredential(['--home', home]);
    assert.notEqual(refused.status, 0, 'the default trust store does not hold the test grid');
    const run = await runCaster(
      [
        '--home',
        home,
        'credential',
        'add',
        '--vo',
        'vo.example.org',
        '--cert',
        world.certPath,
        '--key',
        world.keyPath,
        '--json',
      ],
      { env: { ...env, X509_CERT_DIR: world.grid.caDir } },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { credential: { caDir: string | null } }).credential.caDir, null);
  });

  it('a broken home file is refused with CONFIG_INVALID', async () => {
    const home = await homeWith('noSuchKey: 1\n');
    const run = await runCaster(['--home', home, 'show', 'x', '--json'], { env });
    assert.equal((JSON.parse(run.stdout) as { code: string }).code, 'CONFIG_INVALID');
    assert.match(run.stderr, /vmicaster\.yaml/);
  });
});
