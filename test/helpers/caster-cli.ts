/**
 * Runs the real vmicaster program (`node dist/caster/main.js`) for contract tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO = new URL('../..', import.meta.url).pathname;
export const CASTER = join(REPO, 'dist/caster/main.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path);
    newest = Math.max(newest, info.isDirectory() ? newestSource(path) : info.mtimeMs);
  }
  return newest;
}

function builtAt(): number {
  try {
    return statSync(CASTER).mtimeMs;
  } catch {
    return 0;
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

let checked = false;

/**
 * Builds dist/ when src/ changed since the last build: once per test run. All test files of
 * a run are children of one runner process, so the first file builds (others wait on the
 * lock) and leaves a marker; later files never rebuild under programs already running.
 */
export function ensureBuilt(): void {
  // `npm test` builds first; never rebuild under other tests' running programs there.
  if (checked || process.env['npm_lifecycle_event'] === 'test') return;
  const key = Buffer.from(REPO).toString('hex').slice(-16);
  const lock = join(tmpdir(), `vmicast-build-${key}.lock`);
  const marker = join(tmpdir(), `vmicast-build-${key}-${process.ppid}.done`);
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (waited > 180_000) rmSync(lock, { recursive: true, force: true });
      sleep(200);
    }
  }
  try {
    if (!existsSync(marker) && newestSource(join(REPO, 'src')) > builtAt()) {
      const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
      const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
        cwd: REPO,
        encoding: 'utf8',
      });
      if (builtAt() === 0) throw new Error(`build failed:\n${result.stdout}${result.stderr}`);
      // The rest of `npm run build`: the status page's browser script.
      const page = spawnSync(process.execPath, ['scripts/build-page.mjs'], { cwd: REPO, encoding: 'utf8' });
      if (page.status !== 0) throw new Error(`page build failed:\n${page.stdout}${page.stderr}`);
      // And the validators generated from the schemas (the program compiles them without).
      const gen = spawnSync(process.execPath, ['scripts/build-validators.mjs'], {
        cwd: REPO,
        encoding: 'utf8',
      });
      if (gen.status !== 0) throw new Error(`validator build failed:\n${gen.stdout}${gen.stderr}`);
    }
    writeFileSync(marker, '');
    checked = true;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Runs `vmicaster ARGS...` to completion. */
export function runCaster(args: string[], options: RunOptions = {}): Promise<RunResult> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CASTER, ...args], {
      env: { ...process.env, NODE_OPTIONS: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a command that must succeed; returns its trimmed stdout. */
export async function caster(args: string[], options: RunOptions = {}): Promise<string> {
  const result = await runCaster(args, options);
  if (result.status !== 0) {
    throw new Error(
      `vmicaster ${args.join(' ')} failed (${String(result.status)}):\n${result.stderr}${result.stdout}`,
    );
  }
  return result.stdout.trim();
}

/** Runs a command with --json that must succeed; returns the parsed document. */
export async function casterJson<T = Record<string, unknown>>(
  args: string[],
  options: RunOptions = {},
): Promise<T> {
  return JSON.parse(await caster([...args, '--json'], options)) as T;
}

/** Starts a long-running command (serve) and resolves with the first JSON document it prints. */
export function startCaster(
  args: string[],
  options: RunOptions = {},
): Promise<{ child: ChildProcess; first: Record<string, unknown>; stderr: () => string }> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CASTER, ...args], {
      env: { ...process.env, NODE_OPTIONS: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let done = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      if (done) return;
      try {
        const first = JSON.parse(stdout) as Record<string, unknown>;
        done = true;
        resolve({ child, first, stderr: () => stderr });
      } catch {
        // not complete yet
      }
    });
    child.on('exit', (code) => {
      if (!done) reject(new Error(`vmicaster ${args.join(' ')} exited with ${String(code)}:\n${stderr}`));
    });
  });
}

/** Stops a started command and waits for it to exit. */
export async function stopCaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/** The code and exit status of a command that failed with --json. */
export function failureOf(result: RunResult): { code: string; status: number | null } {
  const parsed = JSON.parse(result.stdout) as { ok: boolean; code: string };
  if (parsed.ok) throw new Error(`expected a failure, got ${result.stdout}`);
  return { code: parsed.code, status: result.status };
}
