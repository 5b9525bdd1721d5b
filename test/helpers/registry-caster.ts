/** The registry tests of vmicaster: the publisher's whole database, to show a refusal changed nothing. */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../src/caster/store/db.js';
import { snapshot } from './caster-state.js';

export function casterState(home: string): string {
  const db = new Database(join(home, DATABASE_FILE), { readonly: true, fileMustExist: true });
  try {
    return snapshot(db);
  } finally {
    db.close();
  }
}
