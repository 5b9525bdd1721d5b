import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VmiError } from '../shared/errors.js';

/**
 * A cross-process lock so that the daemon's cycle and a manual `sync` never overlap: a lock
 * file created exclusively with the holder's pid; a file whose process is gone is stale.
 */
export interface SyncLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LockBusyError extends VmiError {
  constructor(readonly pid: number) {
    super('USAGE', `another vmicatcher sync is running (pid ${pid})`);
  }
}

export async function acquireSyncLock(home: string): Promise<SyncLock> {
  const path = join(home, 'sync.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { release: () => rm(path, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new LockBusyError(pid);
      await rm(path, { force: true }); // stale: its holder died (kill -9, power loss)
    }
  }
  throw new VmiError('USAGE', `cannot take the sync lock ${path}`);
}
