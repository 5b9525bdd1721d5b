import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/fsutil.js';
import type { ExplainedError } from './explain.js';

/**
 * What the daemon remembers between runs and tells the one-shot `status`: when it started,
 * where it listens, and its last cycle. A small JSON file in the state directory, written
 * atomically after every cycle (the database belongs to the protocol, not to the daemon).
 */

export type CycleTrigger = 'start' | 'schedule' | 'signal' | 'api';
export type CycleResult = 'ok' | 'failures' | 'skipped' | 'aborted' | 'error';

export interface CycleRecord {
  trigger: CycleTrigger;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** ok: nothing failed; failures: some subscription, download or delivery failed; skipped: another sync held the lock. */
  result: CycleResult;
  failures: number;
  subscriptions: { updated: number; unchanged: number; refused: number };
  downloads: { ok: number; failed: number; bytes: number };
  available: number;
  retired: number;
  error: ExplainedError | null;
}

export interface DaemonState {
  pid: number;
  startedAt: string;
  stoppedAt: string | null;
  schedule: string;
  listen: string | null;
  lastCycle: CycleRecord | null;
  /** When the last cycle without failures finished. */
  lastOkCycleAt: string | null;
}

export function daemonStatePath(home: string): string {
  return join(home, 'daemon-state.json');
}

export async function readDaemonState(home: string): Promise<DaemonState | undefined> {
  try {
    const value = JSON.parse(await readFile(daemonStatePath(home), 'utf8')) as unknown;
    return typeof value === 'object' && value !== null && 'pid' in value ? (value as DaemonState) : undefined;
  } catch {
    return undefined; // never ran, or a torn file from an old version: status shows no daemon
  }
}

export async function writeDaemonState(home: string, state: DaemonState): Promise<void> {
  await writeFileAtomic(daemonStatePath(home), `${JSON.stringify(state, null, 2)}\n`, 0o644);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
