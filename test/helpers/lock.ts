import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { acquireSyncLock, LockBusyError } from '../../src/catcher/sync/lock.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const HOLDER = join(REPO, 'test/helpers/lock-holder.ts');

/** Another process that takes and releases the sync lock of a home on command. */
export class LockHolder {
  private readonly answers: string[] = [];
  private readonly waiting: ((line: string) => void)[] = [];
  readonly exited: Promise<unknown>;

  private constructor(readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const next = this.waiting.shift();
      if (next === undefined) this.answers.push(line);
      else next(line);
    });
    this.exited = new Promise((resolve) => child.once('exit', resolve));
  }

  static start(home: string): LockHolder {
    const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, home], {
      cwd: REPO,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    return new LockHolder(child);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  private ask(command: string): Promise<string> {
    const answer = new Promise<string>((resolve, reject) => {
      const early = this.answers.shift();
      if (early !== undefined) resolve(early);
      else {
        this.waiting.push(resolve);
        void this.exited.then(() => reject(new Error(`lock holder ${this.pid} exited`)));
      }
    });
    this.child.stdin?.write(`${command}\n`);
    return answer;
  }

  /** Resolves once the process is up and ready to race. */
  async ready(): Promise<void> {
    await this.ask('ping');
  }

  /** Tries to take the lock at the instant `at` (epoch ms): "won", "busy ..." or "error ...". */
  take(at = Date.now()): Promise<string> {
    return this.ask(`take ${at}`);
  }

  async release(): Promise<void> {
    await this.ask('release');
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

/**
 * A child process holding the sync lock of `home` until `kill()` or `release()`. A daemon
 * cycling every second may hold it at first: the child tries again between cycles, for a
 * few seconds.
 */
export async function holdSyncLock(home: string): Promise<LockHolder> {
  const holder = LockHolder.start(home);
  let answer = await holder.take();
  for (const deadline = Date.now() + 15_000; answer.startsWith('busy') && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    answer = await holder.take();
  }
  if (answer !== 'won') {
    await holder.kill();
    throw new Error(`could not take the sync lock of ${home}: ${answer}`);
  }
  return holder;
}

/** Whether the sync lock of `home` is free now (taken and given back at once). */
export async function syncLockFree(home: string): Promise<boolean> {
  try {
    await (await acquireSyncLock(home)).release();
    return true;
  } catch (err) {
    if (err instanceof LockBusyError) return false;
    throw err;
  }
}
