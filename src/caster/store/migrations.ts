import type { Migration } from '../../shared/db.js';

/**
 * The publisher's state. Every image and appliance version is kept (image_versions,
 * appliance_versions); successor links are stored one hop at a time with their order, and
 * the full chains are computed when a list is built. Private keys are never stored: only
 * the paths of credential files and certificate fingerprints. Push tokens are stored as
 * SHA-256 hashes.
 */
export const CASTER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE lists (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  description TEXT NOT NULL,
  source TEXT NOT NULL,
  uri TEXT NOT NULL,
  vo TEXT,
  email TEXT NOT NULL DEFAULT '',
  creator TEXT NOT NULL DEFAULT '',
  -- list-level keys this program does not manage, kept from an import
  extra_json TEXT NOT NULL DEFAULT '{}',
  -- last published (or imported) hv:version; NULL before the first publication
  version TEXT,
  endorser_dn TEXT,
  endorser_ca TEXT,
  publish_path TEXT,
  created_at TEXT NOT NULL
);

CREATE TABLE images (
  list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('listed', 'removed', 'superseded')),
  current_seq INTEGER,
  created_at TEXT NOT NULL,
  changed_at TEXT NOT NULL,
  PRIMARY KEY (list_id, id)
);

CREATE TABLE image_versions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  list_id TEXT NOT NULL,
  image_id TEXT NOT NULL,
  hv_version TEXT NOT NULL,
  uri TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha512 TEXT NOT NULL,
  -- the hv:image object without vmi:supersedes and vmi:appliance (derived when building)
  entry_json TEXT NOT NULL,
  added_at TEXT NOT NULL,
  FOREIGN KEY (list_id, image_id) REFERENCES images(list_id, id) ON DELETE CASCADE
);
CREATE INDEX image_versions_by_image ON image_versions(list_id, image_id);

CREATE TABLE image_successors (
  list_id TEXT NOT NULL,
  image_id TEXT NOT NULL,
  supersedes TEXT NOT NULL,
  ord INTEGER NOT NULL,
  PRIMARY KEY (list_id, image_id, supersedes),
  FOREIGN KEY (list_id, image_id) REFERENCES images(list_id, id) ON DELETE CASCADE
);

CREATE TABLE appliances (
  list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  title TEXT NOT NULL,
  hv_version TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('listed', 'removed', 'superseded')),
  -- 1 once this version went out in a publication: a later member change bumps the version
  published INTEGER NOT NULL DEFAULT 0,
  -- SHA-256 of the push body that made this version (idempotent pushes)
  body_sha256 TEXT,
  created_at TEXT NOT NULL,
  changed_at TEXT NOT NULL,
  PRIMARY KEY (list_id, id)
);

CREATE TABLE appliance_members (
  list_id TEXT NOT NULL,
  appliance_id TEXT NOT NULL,
  role TEXT NOT NULL,
  image_id TEXT NOT NULL,
  PRIMARY KEY (list_id, appliance_id, role),
  UNIQUE (list_id, image_id),
  FOREIGN KEY (list_id, appliance_id) REFERENCES appliances(list_id, id) ON DELETE CASCADE,
  FOREIGN KEY (list_id, image_id) REFERENCES images(list_id, id) ON DELETE CASCADE
);

CREATE TABLE appliance_versions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  list_id TEXT NOT NULL,
  appliance_id TEXT NOT NULL,
  hv_version TEXT NOT NULL,
  title TEXT NOT NULL,
  members_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  FOREIGN KEY (list_id, appliance_id) REFERENCES appliances(list_id, id) ON DELETE CASCADE
);

CREATE TABLE appliance_successors (
  list_id TEXT NOT NULL,
  appliance_id TEXT NOT NULL,
  supersedes TEXT NOT NULL,
  ord INTEGER NOT NULL,
  PRIMARY KEY (list_id, appliance_id, supersedes),
  FOREIGN KEY (list_id, appliance_id) REFERENCES appliances(list_id, id) ON DELETE CASCADE
);

CREATE TABLE credentials (
  vo TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('certificate', 'proxy')),
  cert_path TEXT NOT NULL,
  key_path TEXT,
  chain_path TEXT,
  ca_dir TEXT,
  vomsdir TEXT,
  fingerprint TEXT NOT NULL,
  eec_dn TEXT NOT NULL,
  eec_ca TEXT NOT NULL,
  voms_vo TEXT,
  not_after TEXT NOT NULL,
  added_at TEXT NOT NULL
);

CREATE TABLE tokens (
  hash TEXT PRIMARY KEY,
  list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  verify INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  UNIQUE (list_id, name)
);

CREATE TABLE clients (
  dn TEXT NOT NULL,
  ca TEXT NOT NULL,
  vo TEXT NOT NULL,
  verify INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  PRIMARY KEY (dn, ca, vo)
);

CREATE TABLE publications (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('publish', 'renew', 'push', 'import')),
  version TEXT NOT NULL,
  path TEXT,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  signer_dn TEXT NOT NULL,
  published_at TEXT NOT NULL,
  -- the unsigned document, so that a renewal re-signs exactly what was published
  document TEXT NOT NULL
);
CREATE INDEX publications_by_list ON publications(list_id, seq);
`,
  },
];
