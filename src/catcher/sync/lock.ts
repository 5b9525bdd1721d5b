import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite, type Db } from '../../shared/db.js';
import { VmiError } from '../../shared/errors.js';

/**
 * A cross-process lock so that the daemon's cycle and a manual `sync` never overlap: an
 * exclusive SQLite transaction on a lock database of its own, held for the whole sync.
 * SQLite takes it with POSIX record locks, which the kernel drops when the holder dies
 * (kill -9, out of memory), so there is no pid file to judge and no stale lock to break.
 * Children (hooks) do not inherit such locks. A second attempt in the same process is
 * refused too: SQLite tracks its locks per file across the connections of a process.
 * The file is never removed: removing it would let two holders lock two different files.
 */
export interface SyncLock {
  release(): Promise<void>;
}

export const SYNC_LOCK_FILE = 'sync.lock.db';

export class LockBusyError extends VmiError {
  /** The holder's pid, when the kernel's lock table names it (Linux); informational only. */
  readonly pid: number | undefined;

  constructor(pid: number | undefined) {
    super('USAGE', `another vmicatcher sync is running${pid === undefined ? '' : ` (pid ${pid})`}`);
    this.pid = pid;
  }
}

/** Who holds a POSIX lock on `path`, from /proc/locks: for the operator's message only. */
function holderOf(path: string): number | undefined {
  try {
    const inode = statSync(path).ino;
    for (const line of readFileSync('/proc/locks', 'latin1').split('\n')) {
      // "1: POSIX  ADVISORY  WRITE 4242 08:01:1234567 1073741824 1073741825"
      const fields = line.trim().split(/\s+/);
      if (fields[1] !== 'POSIX') continue;
      const pid = Number(fields[4]);
      if (Number(fields[5]?.split(':')[2]) === inode && Number.isInteger(pid) && pid > 0) return pid;
    }
  } catch {
    // No /proc (not Linux) or the holder is gone already: the message goes without a pid.
  }
  return undefined;
}

function busy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

export function acquireSyncLock(home: string): Promise<SyncLock> {
  const path = join(home, SYNC_LOCK_FILE);
  let db: Db | undefined;
  try {
    // timeout 0: a held lock answers "busy" at once instead of waiting for it.
    db = openSqlite(path, { timeout: 0 });
    // Rollback journal (not WAL): BEGIN EXCLUSIVE then takes the file's exclusive lock at once.
    db.pragma('journal_mode = DELETE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db?.close();
    if (busy(err)) return Promise.reject(new LockBusyError(holderOf(path)));
    // Not a lock held elsewhere (an unwritable home, a broken file): a failure of the environment.
    return Promise.reject(
      new Error(`cannot take the sync lock ${path}: ${(err as Error).message}`, { cause: err }),
    );
  }
  const held = db;
  let released = false;
  return Promise.resolve({
    release: () => {
      if (!released) {
        released = true;
        held.close(); // closing rolls the empty transaction back and drops the lock
      }
      return Promise.resolve();
    },
  });
}
