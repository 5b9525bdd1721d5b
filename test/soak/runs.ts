/**
 * The faulty and the reference sites of the soak, and how the faulty one is run and watched:
 * `vmicatcher sync` as a child process (peak RSS from /proc, kill -9 on cue), and the check
 * that every fault a finished sync hit is visible in `vmicatcher status --json` or its log.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteStatus } from '../../src/catcher/ops/status.js';
import { makeCatcherHome, type TestCatcher } from '../helpers/catcher.js';
import { CATCHER, runCatcher } from '../helpers/catcher-cli.js';
import { ensureBuilt } from '../helpers/caster-cli.js';
import type { Grid } from '../helpers/grid.js';
import type { Fault } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { lightHook, type LightHook, type SoakList } from './world.js';

export interface Site {
  home: TestCatcher;
  backendDir: string;
  hook: LightHook;
}

export async function makeSite(grid: Grid, name: string): Promise<Site> {
  const dir = await tempDir(`vmicast-soak-${name}-`);
  const hook = await lightHook(join(dir, 'hook'));
  const backendDir = join(dir, 'images');
  const home = await makeCatcherHome(grid, {
    lists: { timeoutSeconds: 4 },
    downloads: { attempts: 8, parallel: 8, perHost: 4 },
    backends: [
      {
        type: 'exec',
        name: 'hook',
        command: hook.command,
        timeoutSeconds: 20,
        retryBackoffSeconds: 0,
        maxAttempts: 100,
      },
      { type: 'directory', name: 'site', path: backendDir },
    ],
  });
  return { home, backendDir, hook };
}

export interface SyncRun {
  status: number | null;
  killed: boolean;
  stdout: string;
  stderr: string;
  peakKb: number;
}

/**
 * `vmicatcher sync --json` as a child process, its peak RSS read from /proc. With `killAfter`
 * it gets kill -9 right after it has written that many log records (so, in the middle of its
 * work: lists accepted, downloads verified, events run).
 */
export function cliSync(site: Site, killAfter?: number, at?: string): Promise<SyncRun> {
  ensureBuilt();
  const args = [CATCHER, '--home', site.home.home, '--config', site.home.configPath, 'sync', '--json'];
  const child = spawn(process.execPath, [...args, ...(at === undefined ? [] : ['--at', at])], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let peakKb = 0;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
    if (killAfter !== undefined && stderr.split('\n').length > killAfter) child.kill('SIGKILL');
  });
  const sample = () => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid ?? 0}/status`, 'utf8'));
      if (hwm !== null) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // the process is gone
    }
  };
  const poll = setInterval(sample, 50);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (status, signal) => {
      clearInterval(poll);
      child.on('close', () => resolve({ status, killed: signal === 'SIGKILL', stdout, stderr, peakKb }));
    });
  });
}

export interface Planned {
  lists: SoakList[];
  images: { list: SoakList; id: string; path: string }[];
  hookType: string | undefined;
  killAfter: number | undefined;
}

/**
 * Faults for list URLs. Resets and stalls are left to image URLs: the test server answers a
 * conditional request with 304 before it applies those two, so on a list they would not fire.
 */
export function listFault(list: SoakList, random: () => number): Fault {
  const choice = Math.floor(random() * 3);
  if (choice < 2) return { kind: 'status', status: choice === 0 ? 500 : 503 };
  const body = new Uint8Array(list.server.files.get(list.path)?.body ?? new Uint8Array());
  const at = Math.floor(body.length / 2);
  body[at] = (body[at] ?? 0) ^ 0x20; // wrong bytes: a changed list
  return { kind: 'body', bytes: body };
}

/** Log records of a run (pino JSON lines on stderr). */
function records(run: SyncRun): Record<string, unknown>[] {
  return run.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** After a sync that finished: each injected fault that was hit shows in status or in its log. */
export async function checkVisible(site: Site, run: SyncRun, plan: Planned): Promise<number> {
  const status = (await runCatcher(site.home, ['status', '--json'])).json as SiteStatus;
  const logged = records(run);
  let hit = 0;
  for (const list of plan.lists) {
    if ((list.server.faults.get(list.path) ?? []).length > 0) continue; // never requested
    hit++;
    const sub = status.subscriptions.find((s) => s.id === list.id);
    assert.ok(
      sub !== undefined && sub.lastError !== null,
      `the refused list ${list.id} shows no error in status`,
    );
  }
  for (const image of plan.images) {
    if ((image.list.server.faults.get(image.path) ?? []).length > 0) continue;
    hit++;
    const inLog = logged.some((r) => r['msg'] === 'download failed' && r['image'] === image.id);
    const view = status.images.find((i) => i.id === image.id);
    assert.ok(
      inLog || (view !== undefined && view.lastError !== null),
      `the failed download of ${image.id} is invisible`,
    );
  }
  const hookFailed = logged.some((r) => r['msg'] === 'event hook failed' && r['event'] === plan.hookType);
  if (hookFailed) {
    hit++;
    const outbox = status.backends.find((b) => b.name === 'hook')?.outbox;
    assert.ok(
      outbox !== undefined && outbox !== null && outbox.lastError !== null,
      'the failed hook is not in status',
    );
  }
  return hit;
}
