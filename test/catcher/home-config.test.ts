import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Command } from 'commander';
import { configFor } from '../../src/catcher/cli/context.js';
import type { CatcherConfig } from '../../src/catcher/config.js';
import { VmiError } from '../../src/shared/errors.js';
import { defaultCaDir } from '../../src/shared/trustopts.js';
import { CATCHER } from '../helpers/catcher-cli.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Which configuration vmicatcher reads: `--config` wins; else `<home>/vmicatcher.yaml` when
 * it exists; else the built-in defaults, with vmcatcher's environment variables where the
 * file read (if any) is silent.
 */

const ENV_KEYS = ['VMICATCHER_HOME', 'VMCATCHER_DIR_CERT', 'X509_CERT_DIR'] as const;
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

function setEnv(values: Partial<Record<(typeof ENV_KEYS)[number], string>>): void {
  for (const key of ENV_KEYS) {
    const value = values[key];
    if (value === undefined) Reflect.deleteProperty(process.env, key);
    else process.env[key] = value;
  }
}

/** The configuration a command sees for these global options, as in the real program. */
async function configOf(globals: string[]): Promise<CatcherConfig> {
  let seen: CatcherConfig | undefined;
  const program = new Command('vmicatcher').option('--home <dir>').option('--config <file>');
  program.command('probe').action(async (_flags: unknown, cmd: Command) => {
    seen = await configFor(cmd);
  });
  await program.parseAsync(['node', 'vmicatcher', ...globals, 'probe']);
  assert.ok(seen !== undefined);
  return seen;
}

async function homeWith(yaml: string | undefined): Promise<string> {
  const home = await tempDir('vmicast-home-config-');
  if (yaml !== undefined) await writeFile(join(home, 'vmicatcher.yaml'), yaml);
  return home;
}

describe('vmicatcher: configuration found from the home', () => {
  afterEach(() => setEnv(saved));

  it('reads <home>/vmicatcher.yaml when no --config is given', async () => {
    setEnv({});
    const home = await homeWith('caDir: /srv/demo/certificates\nschedule: "5 * * * *"\n');
    const config = await configOf(['--home', home]);
    assert.equal(config.caDir, '/srv/demo/certificates');
    assert.equal(config.schedule, '5 * * * *');
    assert.equal(config.home, home);
  });

  it('finds the file in a home named by $VMICATCHER_HOME too', async () => {
    const home = await homeWith('caDir: /srv/env-home/certificates\n');
    setEnv({ VMICATCHER_HOME: home });
    const config = await configOf([]);
    assert.equal(config.home, home);
    assert.equal(config.caDir, '/srv/env-home/certificates');
  });

  it('--config wins over the home file', async () => {
    setEnv({});
    const home = await homeWith('caDir: /srv/home-file\n');
    const other = join(await tempDir(), 'site.yaml');
    await writeFile(other, 'caDir: /srv/flag-file\n');
    const config = await configOf(['--home', home, '--config', other]);
    assert.equal(config.caDir, '/srv/flag-file');
  });

  it('without a home file, behaves as before: defaults and the vmcatcher environment', async () => {
    setEnv({});
    const home = await homeWith(undefined);
    assert.equal((await configOf(['--home', home])).caDir, defaultCaDir({}));
    setEnv({ VMCATCHER_DIR_CERT: '/srv/from-env' });
    assert.equal((await configOf(['--home', home])).caDir, '/srv/from-env');
  });

  it('the environment fills in only what the home file leaves out', async () => {
    setEnv({ VMCATCHER_DIR_CERT: '/srv/from-env' });
    assert.equal((await configOf(['--home', await homeWith('caDir: /srv/file\n')])).caDir, '/srv/file');
    assert.equal((await configOf(['--home', await homeWith('graceHours: 1\n')])).caDir, '/srv/from-env');
  });

  it('a broken home file is an error, not a silent fallback to the defaults', async () => {
    setEnv({});
    const home = await homeWith('noSuchKey: 1\n');
    await assert.rejects(
      configOf(['--home', home]),
      (err) => err instanceof VmiError && err.code === 'CONFIG_INVALID',
    );
    const dirInstead = await homeWith(undefined);
    await mkdir(join(dirInstead, 'vmicatcher.yaml'));
    await assert.rejects(
      configOf(['--home', dirInstead]),
      (err) => err instanceof VmiError && err.code === 'CONFIG_INVALID',
    );
  });

  it('the real program: `--home DIR status` reports the trust store of DIR/vmicatcher.yaml', async () => {
    ensureBuilt();
    const home = await homeWith(undefined);
    const caDir = join(home, 'certificates');
    await mkdir(caDir);
    await writeFile(join(home, 'vmicatcher.yaml'), `caDir: ${JSON.stringify(caDir)}\n`);
    const env = { ...process.env, NODE_OPTIONS: '', VMCATCHER_DIR_CERT: '/srv/not-this-one' };
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [CATCHER, '--home', home, ...args], { env, encoding: 'utf8' });

    const created = run('subscriptions', '--json');
    assert.equal(created.status, 0, created.stderr);
    const status = run('status', '--json');
    assert.equal(status.status, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { trust: { location: string } }).trust.location, caDir);

    const other = join(home, 'other.yaml');
    await writeFile(other, 'caDir: /srv/flag-file\n');
    const flagged = run('--config', other, 'status', '--json');
    assert.equal(flagged.status, 0, flagged.stderr);
    assert.equal(
      (JSON.parse(flagged.stdout) as { trust: { location: string } }).trust.location,
      '/srv/flag-file',
    );
  });
});
