import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { DaemonState } from '../../src/catcher/ops/daemonstate.js';
import type { SiteStatus } from '../../src/catcher/ops/status.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { syncLockFree } from '../helpers/lock.js';
import { CATCHER_MAIN, getJson, runVmicatcher, subscribeTo, waitFor } from '../helpers/ops.js';
import { Repo, sha512Of } from '../helpers/repo.js';
import { tempDir } from '../helpers/tmp.js';

/** The real `vmicatcher run` as a child process, driven by signals like systemd does. */

const DOWNLOADS = {
  backoffSeconds: 0.01,
  maxBackoffSeconds: 0.05,
  stallSeconds: 30,
  throughputWindowSeconds: 5,
  minBytesPerSecond: 1,
  minFreeBytes: 0,
  attempts: 5,
};

interface Running {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  raw: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startDaemon(home: TestCatcher): Running {
  ensureBuilt();
  const child = spawn(
    process.execPath,
    [CATCHER_MAIN, '--home', home.home, '--config', home.configPath, 'run'],
    {
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: Record<string, unknown>[] = [];
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
    pending += d.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, raw: () => `${stdout}\n--- stderr ---\n${stderr}`, exited };
}

const logged = (d: Running, msg: string, where: (l: Record<string, unknown>) => boolean = () => true) =>
  waitFor(`log line "${msg}"`, () => d.lines.find((l) => l['msg'] === msg && where(l)), 60_000);

describe('vmicatcher run as a process', () => {
  const running: Running[] = [];
  const repos: Repo[] = [];
  after(async () => {
    for (const d of running)
      if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
    for (const r of repos) await r.stop();
  });

  it('SIGTERM during a download stops cleanly, keeps a resumable partial file and no lock; the next sync resumes with Range', async () => {
    const repo = await Repo.create();
    repos.push(repo);
    const bytes = randomBytes(256 * 1024);
    const image = repo.add(bytes, { extra: { 'dc:title': 'Big image' } });
    repo.publish();
    const imagePath = new URL(image.entry['hv:uri'] as string).pathname;
    repo.server.fault(imagePath, { kind: 'drip', bytesPerSecond: 16 * 1024 }); // ~16 s for the whole file
    const home = await makeCatcherHome(repo.grid, {
      schedule: '0 0 1 1 *',
      status: { listen: '127.0.0.1:0', tokenFile: null },
      downloads: DOWNLOADS,
    });
    await subscribeTo(home, repo);
    const daemon = startDaemon(home);
    running.push(daemon);
    const partialDir = join(home.home, 'partial');
    const partial = await waitFor('a growing partial file', async () => {
      for (const name of await readdir(partialDir)) {
        if (name.endsWith('.part') && (await stat(join(partialDir, name))).size >= 4096)
          return join(partialDir, name);
      }
      return undefined;
    });
    daemon.child.kill('SIGTERM');
    const exit = await Promise.race([
      daemon.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit:\n${daemon.raw()}`)), 30_000),
      ),
    ]);
    assert.deepEqual(exit, { code: 0, signal: null }, daemon.raw());
    const kept = (await stat(partial)).size;
    assert.ok(kept > 0 && kept < bytes.length, `partial file of ${kept} bytes`);
    assert.equal(await syncLockFree(home.home), true, 'no lock left held');
    assert.ok(daemon.lines.some((l) => l['component'] === 'signals' && l['msg'] === 'stop requested'));
    assert.ok(daemon.lines.some((l) => l['msg'] === 'vmicatcher daemon stopped'));
    const state = JSON.parse(await readFile(join(home.home, 'daemon-state.json'), 'utf8')) as DaemonState;
    assert.equal(state.lastCycle?.result, 'aborted');
    assert.ok(state.stoppedAt !== null);

    const before = repo.server.requests(imagePath).length;
    const sync = await runVmicatcher(home, ['sync', '--json']);
    assert.equal(sync.status, 0, sync.stderr);
    const resumed = repo.server.requests(imagePath).slice(before);
    assert.equal(resumed.length, 1);
    assert.equal(resumed[0]?.headers.range, `bytes=${kept}-`);
    assert.equal(resumed[0].status, 206);
    const cached = await readFile(join(home.home, 'cache', image.identifier));
    assert.equal(sha512Of(cached), sha512Of(bytes));
    assert.equal(existsSync(partial), false);
  });

  it('logs JSON lines per component to stdout, runs a cycle on SIGUSR1 and over HTTP, reloads on SIGHUP', async () => {
    const repo = await Repo.create();
    repos.push(repo);
    repo.add(randomBytes(8 * 1024), { extra: { 'dc:title': 'Small image' } });
    repo.publish();
    const secrets = await tempDir('vmicast-token-');
    const token = randomBytes(20).toString('hex');
    const tokenFile = join(secrets, 'token');
    await writeFile(tokenFile, token, { mode: 0o600 });
    const home = await makeCatcherHome(repo.grid, {
      schedule: '0 0 1 1 *',
      status: { listen: '127.0.0.1:0', tokenFile },
      downloads: DOWNLOADS,
    });
    await subscribeTo(home, repo);
    const daemon = startDaemon(home);
    running.push(daemon);
    const started = await logged(daemon, 'vmicatcher daemon started');
    const url = started['url'] as string;
    await logged(daemon, 'cycle finished', (l) => l['trigger'] === 'start');

    daemon.child.kill('SIGUSR1');
    await logged(daemon, 'cycle finished', (l) => l['trigger'] === 'signal');

    await writeFile(home.configPath, stringify({ ...home.raw, schedule: '30 4 * * *' }));
    daemon.child.kill('SIGHUP');
    await logged(daemon, 'configuration and trust store reloaded');
    const status = await getJson<SiteStatus>(`${url}api/v1/status`);
    assert.equal(status.daemon?.schedule, '30 4 * * *');
    assert.equal(status.daemon.pid, daemon.child.pid);
    assert.equal(status.subscriptions[0]?.lastError, null);

    const res = await fetch(`${url}api/v1/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 202);
    await logged(daemon, 'cycle finished', (l) => l['trigger'] === 'api');

    daemon.child.kill('SIGINT');
    assert.deepEqual(await daemon.exited, { code: 0, signal: null }, daemon.raw());
    const components = new Set(daemon.lines.map((l) => l['component']));
    for (const c of ['daemon', 'cycle', 'sync', 'signals', 'status-server']) assert.ok(components.has(c), c);
    for (const l of daemon.lines) {
      assert.equal(l['name'], 'vmicatcher');
      assert.equal(typeof l['level'], 'number');
      assert.equal(typeof l['time'], 'number');
    }
    assert.ok(!daemon.raw().includes(token), 'the token never reaches the log');
  });

  it('exits with a configuration error when the status address cannot be used', async () => {
    const repo = await Repo.create();
    repos.push(repo);
    const home = await makeCatcherHome(repo.grid, { status: { listen: 'nowhere', tokenFile: null } });
    const result = await runVmicatcher(home, ['run']);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /CONFIG_INVALID: status\.listen must be HOST:PORT/);
  });
});
