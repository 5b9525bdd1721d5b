/**
 * The publisher's state as data, for tests that must show a refused change changed
 * nothing: every row of every table, plus the published bytes.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DATABASE_FILE, type Db } from '../../src/caster/store/db.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { sha512 } from './lists.js';

/** Every row of every table, as JSON. */
export function snapshot(db: Db): string {
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as {
    name: string;
  }[];
  return JSON.stringify(tables.map((t) => db.prepare(`SELECT * FROM "${t.name}"`).all()));
}

/** The state of a publisher home (read-only, beside a running server) and the published file. */
export async function stateFingerprint(home: string, published: string): Promise<string> {
  const db = new Database(join(home, DATABASE_FILE), { readonly: true, fileMustExist: true });
  try {
    const bytes = await readFile(published);
    return `${createHash('sha256').update(bytes).digest('hex')}|${snapshot(db)}`;
  } finally {
    db.close();
  }
}

/** A new image for a push body, with size and SHA-512 of its name. */
export function pushImage(role: string, name: string, over: JsonObject = {}): JsonObject {
  const bytes = new TextEncoder().encode(name);
  return {
    role,
    title: name,
    uri: `https://images.example.org/${name}`,
    size: bytes.length,
    sha512: sha512(bytes),
    os: 'Linux',
    osversion: '9',
    arch: 'x86_64',
    hypervisor: 'KVM',
    format: 'raw',
    ...over,
  };
}
