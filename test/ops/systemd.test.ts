import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureBuilt, REPO } from '../helpers/caster-cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The units in systemd/ pass `systemd-analyze verify`. It checks that each ExecStart binary
 * exists, so the units are verified twice: as shipped (they name /usr/bin/node, Debian's
 * node, and the npm global install path), where /usr/bin/node exists; and in a temporary
 * copy rewritten to this Node and this checkout's dist/, which must exist after the build.
 */

const UNITS_DIR = join(REPO, 'systemd');
const INSTALLED = '/usr/local/lib/node_modules/vmicast';
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));

function skipReason(): string | undefined {
  if (ANALYZE !== undefined) return undefined;
  if (process.env['VMICAST_CI'] === '1')
    throw new Error('systemd-analyze is missing: CI must install Debian systemd');
  const reason = 'systemd unit verification skipped: systemd-analyze not installed';
  process.stderr.write(`NOTICE: ${reason}\n`);
  return reason;
}

async function unitFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => /\.(service|timer)$/.test(n)).map((n) => join(dir, n));
}

function verify(files: string[]): { status: number | null; output: string } {
  const result = spawnSync(ANALYZE ?? 'systemd-analyze', ['verify', '--man=no', ...files], {
    encoding: 'utf8',
    env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Key=value pairs of a unit file, several values per key kept in order. */
async function parseUnit(path: string): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header !== null) section = header[1] ?? '';
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv !== null) {
      const key = `${section}.${kv[1] ?? ''}`;
      keys.set(key, [...(keys.get(key) ?? []), kv[2] ?? '']);
    }
  }
  return keys;
}

const reason = skipReason();

describe('systemd units', { skip: reason }, () => {
  it('ship the four units', async () => {
    const names = (await unitFiles(UNITS_DIR)).map((f) => f.slice(UNITS_DIR.length + 1)).sort();
    assert.deepEqual(names, [
      'vmicaster-renew.service',
      'vmicaster-renew.timer',
      'vmicaster.service',
      'vmicatcher.service',
    ]);
  });

  it('pass systemd-analyze verify when pointed at this build', async () => {
    ensureBuilt();
    const dir = await tempDir('vmicast-units-');
    const files: string[] = [];
    for (const file of await unitFiles(UNITS_DIR)) {
      const text = (await readFile(file, 'utf8'))
        .replaceAll('/usr/bin/node', process.execPath)
        .replaceAll(INSTALLED, REPO);
      // The program and the script it runs (after any Node options).
      for (const m of text.matchAll(/^ExecStart=(\S+) (?:--\S+ )*(\S+)/gm)) {
        assert.ok(existsSync(m[1] ?? ''), `${m[1] ?? ''} exists`);
        assert.ok(existsSync(m[2] ?? ''), `${m[2] ?? ''} exists`);
      }
      const target = join(dir, file.slice(UNITS_DIR.length + 1));
      await writeFile(target, text);
      files.push(target);
    }
    const { status, output } = verify(files);
    assert.equal(status, 0, output);
    const aboutOurs = output.split('\n').filter((l) => /vmica(tcher|ster)/.test(l));
    assert.deepEqual(aboutOurs, [], 'no warnings about our units');
  });

  it('pass systemd-analyze verify as shipped where Debian node is installed', async (t) => {
    if (!existsSync('/usr/bin/node')) {
      t.skip('no /usr/bin/node on this machine');
      return;
    }
    const { status, output } = verify(await unitFiles(UNITS_DIR));
    assert.equal(status, 0, output);
    assert.deepEqual(
      output.split('\n').filter((l) => /vmica(tcher|ster)/.test(l)),
      [],
    );
  });

  it('run the catcher hardened, as its own user, restarting on failure, reloading with HUP', async () => {
    const unit = await parseUnit(join(UNITS_DIR, 'vmicatcher.service'));
    const one = (key: string) => unit.get(key)?.join(' ');
    assert.equal(one('Service.User'), 'vmicatcher');
    assert.equal(one('Service.StateDirectory'), 'vmicatcher');
    assert.equal(one('Service.NoNewPrivileges'), 'yes');
    assert.equal(one('Service.ProtectSystem'), 'strict');
    assert.equal(one('Service.ProtectHome'), 'yes');
    assert.equal(one('Service.PrivateTmp'), 'yes');
    assert.equal(one('Service.Restart'), 'on-failure');
    assert.equal(one('Service.ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.deepEqual(unit.get('Service.ReadWritePaths'), ['-/srv/vmicatcher']);
    assert.match(one('Unit.After') ?? '', /\bfetch-crl\.service\b/);
    assert.match(one('Unit.Wants') ?? '', /\bfetch-crl\.service\b/);
    assert.match(one('Service.ExecStart') ?? '', / run$/);
  });

  it('renew one list daily with its list and output path from an environment file', async () => {
    const service = await parseUnit(join(UNITS_DIR, 'vmicaster-renew.service'));
    const timer = await parseUnit(join(UNITS_DIR, 'vmicaster-renew.timer'));
    assert.equal(service.get('Service.Type')?.[0], 'oneshot');
    assert.deepEqual(service.get('Service.EnvironmentFile'), ['/etc/vmicaster/renew.env']);
    assert.match(
      service.get('Service.ExecStart')?.[0] ?? '',
      /publish \$\{VMICASTER_LIST\} --out \$\{VMICASTER_OUT\} --renew$/,
    );
    assert.equal(timer.get('Timer.OnCalendar')?.[0], 'daily');
    assert.equal(timer.get('Timer.Persistent')?.[0], 'true');
    const caster = await parseUnit(join(UNITS_DIR, 'vmicaster.service'));
    assert.match(
      caster.get('Service.ExecStart')?.[0] ?? '',
      / serve --listen \$\{VMICASTER_LISTEN\} --root \$\{VMICASTER_ROOT\}$/,
    );
    assert.equal(caster.get('Service.ProtectSystem')?.[0], 'strict');
  });
});
