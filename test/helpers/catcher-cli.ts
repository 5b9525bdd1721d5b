/** Runs the real vmicatcher program (`node dist/catcher/main.js`) for contract and crash tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ensureBuilt, REPO, type RunResult } from './caster-cli.js';

export const CATCHER = join(REPO, 'dist/catcher/main.js');

export interface CatcherRun extends RunResult {
  json: unknown;
}

/** Runs `vmicatcher --home H --config C ARGS...` to completion. */
export function runCatcher(
  home: { home: string; configPath: string },
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CatcherRun> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CATCHER, '--home', home.home, '--config', home.configPath, ...args],
      {
        env: { ...process.env, NODE_OPTIONS: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status, signal) => {
      let json: unknown;
      try {
        json = stdout.trim() === '' ? undefined : JSON.parse(stdout);
      } catch {
        // not JSON: the caller looks at stdout
      }
      resolve({ status, signal, stdout, stderr, json });
    });
  });
}

/** Starts a vmicatcher command and returns the child (to kill it). */
export function spawnCatcher(
  home: { home: string; configPath: string },
  args: string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  ensureBuilt();
  return spawn(process.execPath, [CATCHER, '--home', home.home, '--config', home.configPath, ...args], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}
