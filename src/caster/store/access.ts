import { sameDn } from '../../shared/pki/dn.js';
import type { Name } from '../../shared/pki/types.js';
import type { Db } from './db.js';

/**
 * Who may sign and who may push. Credentials are file paths plus the facts checked when
 * they were registered (never the private key). Tokens are stored as SHA-256 hashes.
 */

export interface CredentialRecord {
  vo: string;
  kind: 'certificate' | 'proxy';
  certPath: string;
  keyPath: string | null;
  chainPath: string | null;
  caDir: string | null;
  vomsdir: string | null;
  /** SHA-256 of the signer certificate's DER when it was registered. */
  fingerprint: string;
  eecDn: string;
  eecCa: string;
  /** VO of the VOMS attributes the proxy carried, when it carried any. */
  vomsVo: string | null;
  notAfter: string;
  addedAt: string;
}

interface CredentialRow {
  vo: string;
  kind: 'certificate' | 'proxy';
  cert_path: string;
  key_path: string | null;
  chain_path: string | null;
  ca_dir: string | null;
  vomsdir: string | null;
  fingerprint: string;
  eec_dn: string;
  eec_ca: string;
  voms_vo: string | null;
  not_after: string;
  added_at: string;
}

function credentialFromRow(r: CredentialRow): CredentialRecord {
  return {
    vo: r.vo,
    kind: r.kind,
    certPath: r.cert_path,
    keyPath: r.key_path,
    chainPath: r.chain_path,
    caDir: r.ca_dir,
    vomsdir: r.vomsdir,
    fingerprint: r.fingerprint,
    eecDn: r.eec_dn,
    eecCa: r.eec_ca,
    vomsVo: r.voms_vo,
    notAfter: r.not_after,
    addedAt: r.added_at,
  };
}

/** Registers (or replaces) the signing credential of a VO. */
export function putCredential(db: Db, c: CredentialRecord): void {
  db.prepare(
    `INSERT OR REPLACE INTO credentials (vo, kind, cert_path, key_path, chain_path, ca_dir, vomsdir,
       fingerprint, eec_dn, eec_ca, voms_vo, not_after, added_at)
     VALUES (@vo, @kind, @certPath, @keyPath, @chainPath, @caDir, @vomsdir, @fingerprint, @eecDn, @eecCa,
       @vomsVo, @notAfter, @addedAt)`,
  ).run(c);
}

export function findCredential(db: Db, vo: string): CredentialRecord | undefined {
  const row = db.prepare('SELECT * FROM credentials WHERE vo = ?').get(vo) as CredentialRow | undefined;
  return row === undefined ? undefined : credentialFromRow(row);
}

export function allCredentials(db: Db): CredentialRecord[] {
  return (db.prepare('SELECT * FROM credentials ORDER BY vo').all() as CredentialRow[]).map(
    credentialFromRow,
  );
}

export interface TokenRecord {
  listId: string;
  name: string;
  /** Download and check pushed images instead of trusting the given size and digest. */
  verify: boolean;
  createdAt: string;
}

export function insertToken(db: Db, hash: string, t: TokenRecord): void {
  db.prepare('INSERT INTO tokens (hash, list_id, name, verify, created_at) VALUES (?, ?, ?, ?, ?)').run(
    hash,
    t.listId,
    t.name,
    t.verify ? 1 : 0,
    t.createdAt,
  );
}

export function findTokenByHash(db: Db, hash: string): TokenRecord | undefined {
  const row = db.prepare('SELECT * FROM tokens WHERE hash = ?').get(hash) as
    { list_id: string; name: string; verify: number; created_at: string } | undefined;
  return row === undefined
    ? undefined
    : { listId: row.list_id, name: row.name, verify: row.verify === 1, createdAt: row.created_at };
}

export function tokensOf(db: Db, listId: string): TokenRecord[] {
  return (
    db.prepare('SELECT * FROM tokens WHERE list_id = ? ORDER BY name').all(listId) as {
      list_id: string;
      name: string;
      verify: number;
      created_at: string;
    }[]
  ).map((r) => ({ listId: r.list_id, name: r.name, verify: r.verify === 1, createdAt: r.created_at }));
}

export function deleteToken(db: Db, listId: string, name: string): boolean {
  return db.prepare('DELETE FROM tokens WHERE list_id = ? AND name = ?').run(listId, name).changes > 0;
}

export interface ClientRecord {
  dn: string;
  ca: string;
  vo: string;
  verify: boolean;
}

/** Registers a client for a VO, replacing its registration there under any DN spelling. */
export function putClient(db: Db, c: ClientRecord, now: string): void {
  const same = (
    db.prepare('SELECT dn, ca FROM clients WHERE vo = ?').all(c.vo) as { dn: string; ca: string }[]
  ).filter((r) => sameDn(r.dn, c.dn) && sameDn(r.ca, c.ca));
  for (const r of same)
    db.prepare('DELETE FROM clients WHERE dn = ? AND ca = ? AND vo = ?').run(r.dn, r.ca, c.vo);
  db.prepare('INSERT OR REPLACE INTO clients (dn, ca, vo, verify, created_at) VALUES (?, ?, ?, ?, ?)').run(
    c.dn,
    c.ca,
    c.vo,
    c.verify ? 1 : 0,
    now,
  );
}

/**
 * The VOs a client certificate may push for: registered subject and issuer compared with
 * the certificate's under the one DN comparison (either oneline form, any case or spacing).
 */
export function clientAuthorizations(db: Db, dn: string | Name, ca: string | Name): ClientRecord[] {
  return (
    db.prepare('SELECT dn, ca, vo, verify FROM clients ORDER BY vo').all() as {
      dn: string;
      ca: string;
      vo: string;
      verify: number;
    }[]
  )
    .filter((r) => sameDn(r.dn, dn) && sameDn(r.ca, ca))
    .map((r) => ({ dn: r.dn, ca: r.ca, vo: r.vo, verify: r.verify === 1 }));
}
