/** Helpers for the operations tests: subscribing a test home, polling, HTTP, the CLI. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { subscribe } from '../../src/catcher/sync/subscribe.js';
import type { TestCatcher } from './catcher.js';
import { ensureBuilt, REPO } from './caster-cli.js';
import type { Repo } from './repo.js';

export const CATCHER_MAIN = join(REPO, 'dist/catcher/main.js');

export async function subscribeTo(
  home: TestCatcher,
  repo: Repo,
  options: { vo?: string; newImages?: 'refuse' | 'accept' | 'subscribe'; at?: Date } = {},
): Promise<string> {
  const catcher = await home.open();
  try {
    const result = await subscribe(catcher, {
      url: repo.listUrl,
      endorser: { dn: repo.grid.publisher.subject, ca: repo.grid.intermediate.subject },
      autoEndorse: false,
      vo: options.vo,
      requireVoms: false,
      fqan: undefined,
      newImages: options.newImages ?? 'subscribe',
      username: undefined,
      password: undefined,
      trust: {},
      now: options.at ?? new Date(),
    });
    return result.id;
  } finally {
    await catcher.close();
  }
}

/** Polls `probe` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `vmicatcher --home H --config C ARGS...` from dist/ to completion. */
export function runVmicatcher(
  home: { home: string; configPath: string },
  args: string[],
): Promise<CliResult> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CATCHER_MAIN, '--home', home.home, '--config', home.configPath, ...args],
      { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}
