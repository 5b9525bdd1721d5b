import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { VmiError } from '../../shared/errors.js';
import { hookEnvironment } from './environment.js';

/**
 * Runs a vmcatcher event handler the way vmcatcher did: `sh -c <command>` with the parent
 * environment plus the event variables. Enforces a timeout (TERM to the whole process
 * group, KILL after a grace), and logs what the handler prints.
 */

const KILL_GRACE_MS = 5_000;
const MAX_LOGGED_BYTES = 64 * 1024;

export interface HookRun {
  command: string;
  env: Record<string, string>;
  timeoutMs: number;
  log: Logger;
  signal?: AbortSignal | undefined;
}

function logLines(log: Logger, stream: 'stdout' | 'stderr', text: string): void {
  for (const line of text.split('\n')) {
    if (line.trim() !== '') log.info({ stream, line }, 'hook output');
  }
}

export function runHook(run: HookRun): Promise<void> {
  return new Promise((resolve, reject) => {
    // Again here, for outbox rows written before values were made safe: a NUL would make
    // this spawn throw on every retry.
    const child = spawn('sh', ['-c', run.command], {
      env: { ...process.env, ...hookEnvironment(run.env) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so a timeout stops the handler's children too
    });
    const output = { stdout: '', stderr: '' };
    const collect = (name: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (output[name].length < MAX_LOGGED_BYTES) output[name] += chunk.toString('utf8');
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const stop = () => {
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, run.timeoutMs);
    const onAbort = () => stop();
    run.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new VmiError('HOOK_FAILED', `cannot run ${run.command}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      run.signal?.removeEventListener('abort', onAbort);
      logLines(run.log, 'stdout', output.stdout);
      logLines(run.log, 'stderr', output.stderr);
      if (timedOut) {
        reject(
          new VmiError(
            'HOOK_TIMEOUT',
            `hook did not finish within ${Math.round(run.timeoutMs / 1000)} s and was stopped`,
          ),
        );
      } else if (code !== 0) {
        const how = code === null ? `was killed by ${sig ?? 'a signal'}` : `exited with status ${code}`;
        const tail = output.stderr.trim().split('\n').slice(-1)[0] ?? '';
        reject(new VmiError('HOOK_FAILED', `hook ${how}${tail === '' ? '' : `: ${tail}`}`));
      } else {
        resolve();
      }
    });
  });
}
