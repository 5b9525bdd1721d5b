import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { removeScratch, scratchDir } from './scratch.js';

/**
 * Runs a program and measures its wall time, peak resident set size and CPU time. Peak RSS
 * comes from GNU time (`/usr/bin/time -f %M`, which covers the whole process tree: for
 * `sh -c 'a | b'` it is the largest of a and b); without it, /proc/<pid>/status VmHWM of
 * the process and its descendants is polled. CPU time (user + system, the whole tree) is
 * known with GNU time only.
 */

export interface Measured {
  ms: number;
  /** Peak RSS in KiB (null when it could not be measured). */
  rssKiB: number | null;
  /** User + system CPU time of the command and its children in ms (null without GNU time). */
  cpuMs: number | null;
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process (SIGKILL) after this long. */
  timeoutMs?: number;
}

const GNU_TIME = '/usr/bin/time';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const hasGnuTime = executable(GNU_TIME);

export function onPath(tool: string): boolean {
  return (process.env['PATH'] ?? '')
    .split(delimiter)
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => executable(join(dir, tool)));
}

/** Absolute path of a tool on PATH (or in /usr/sbin), or undefined. */
export function which(tool: string): string | undefined {
  return (process.env['PATH'] ?? '')
    .split(delimiter)
    .concat(['/usr/sbin', '/sbin'])
    .map((dir) => join(dir, tool))
    .find(executable);
}

function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i] ?? 0;
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (children !== '') out.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // gone already
    }
  }
  return out;
}

function hwmKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/** Polls VmHWM of a process tree until stopped; returns the largest value seen. */
function pollHwm(pid: number): () => number | null {
  let peak = 0;
  const tick = () => {
    for (const p of descendants(pid)) peak = Math.max(peak, hwmKiB(p));
  };
  const timer = setInterval(tick, 20);
  tick();
  return () => {
    clearInterval(timer);
    return peak === 0 ? null : peak;
  };
}

export interface Running {
  child: ChildProcess;
  done: Promise<Measured>;
}

/** Starts `cmd args` measured; `done` resolves when it exits (it never rejects on failure). */
export function start(cmd: string, args: string[], options: RunOptions = {}): Running {
  return startMeasured(cmd, args, options, hasGnuTime);
}

/** Same, without GNU time in between: `child.pid` is the program itself (to kill -9 it). */
export function startDirect(cmd: string, args: string[], options: RunOptions = {}): Running {
  return startMeasured(cmd, args, options, false);
}

function startMeasured(cmd: string, args: string[], options: RunOptions, gnuTime: boolean): Running {
  const dir = gnuTime ? scratchDir('vmicast-bench-time-') : '';
  const timeFile = join(dir, 'rss');
  const [file, argv] = gnuTime ? [GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  const child = spawn(file, argv, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stopPoll = gnuTime || child.pid === undefined ? () => null : pollHwm(child.pid);
  const timer =
    options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const done = (async (): Promise<Measured> => {
    const { status, signal } = await new Promise<{ status: number | null; signal: NodeJS.Signals | null }>(
      (resolve) => {
        child.on('error', (err) => {
          stderr += String(err);
          resolve({ status: null, signal: null });
        });
        child.on('close', (s, sig) => resolve({ status: s, signal: sig }));
      },
    );
    const ms = performance.now() - t0;
    if (timer !== undefined) clearTimeout(timer);
    let rssKiB = stopPoll();
    let cpuMs: number | null = null;
    if (gnuTime) {
      const text = await readFile(timeFile, 'utf8').catch(() => '');
      // GNU time writes "Command exited with non-zero status N" before the figures, and
      // seconds with the locale's decimal mark.
      const [rss, user, system] = (text.trim().split('\n').pop() ?? '').split(' ');
      const seconds = (v: string | undefined) =>
        /^\d+[.,]\d+$/.test(v ?? '') ? Number(v?.replace(',', '.')) : NaN;
      rssKiB = /^\d+$/.test(rss ?? '') ? Number(rss) : null;
      const cpu = Math.round((seconds(user) + seconds(system)) * 1000);
      cpuMs = Number.isNaN(cpu) ? null : cpu;
      removeScratch(dir);
    }
    return { ms, rssKiB, cpuMs, status, signal, stdout, stderr };
  })();
  return { child, done };
}

/** Runs to completion, measured. */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<Measured> {
  return start(cmd, args, options).done;
}

/** Runs a shell command line, measured (the whole pipeline). */
export function shell(line: string, options: RunOptions = {}): Promise<Measured> {
  return run('/bin/sh', ['-c', line], options);
}

/** Throws with the program's output when it failed: a broken harness, not a slow machine. */
export function check(m: Measured, what: string): Measured {
  if (m.status !== 0) {
    throw new Error(
      `${what} failed (status ${m.status ?? m.signal ?? '?'}):\n${m.stderr.slice(-2000)}${m.stdout.slice(-1000)}`,
    );
  }
  return m;
}

export const mb = (kib: number | null): number | null => (kib === null ? null : Math.round(kib / 1024));
