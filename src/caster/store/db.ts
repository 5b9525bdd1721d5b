import { join } from 'node:path';
import { openDatabase, type Db } from '../../shared/db.js';
import { CASTER_MIGRATIONS } from './migrations.js';

export type { Db };

export const DATABASE_FILE = 'vmicaster.db';

export async function openCasterDatabase(home: string): Promise<Db> {
  return openDatabase(join(home, DATABASE_FILE), CASTER_MIGRATIONS);
}

/**
 * One writer at a time. Across processes, `BEGIN IMMEDIATE` takes SQLite's write lock
 * (other writers wait up to the busy timeout, and the lock dies with a killed process, so
 * a crash never leaves a stale lock). Within one process (the server), requests queue on
 * a promise chain, because a connection holds only one transaction. The work may await
 * (signing, writing the published file): nothing else writes until it commits or rolls back.
 */
export class WriteLock {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly db: Db) {}

  async run<T>(work: () => Promise<T> | T): Promise<T> {
    const previous = this.tail;
    let release: () => void = () => undefined;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work();
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      release();
    }
  }
}
