import { join } from 'node:path';
import { prepared, type Db, type Migration } from '../../shared/db.js';

/** Where a home keeps the catcher's database. */
export function databasePath(config: { home: string }): string {
  return join(config.home, 'vmicatcher.db');
}

/**
 * The catcher's SQLite schema. Versioned: a new version is a new entry at the end, never
 * an edit of an old one (databases in the field already ran it).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL UNIQUE,
  vo TEXT,
  require_voms INTEGER NOT NULL DEFAULT 0,
  fqan TEXT,
  new_images TEXT NOT NULL CHECK (new_images IN ('refuse', 'accept', 'subscribe')),
  trust_json TEXT NOT NULL DEFAULT '{}',
  username TEXT,
  password TEXT,
  etag TEXT,
  last_modified TEXT,
  last_attempt_at TEXT,
  last_success_at TEXT,
  last_error_code TEXT,
  last_error_message TEXT,
  last_error_at TEXT,
  lapsed_since TEXT,
  -- Set by vmicatcher reset: the next valid list is accepted whatever its version
  -- (recovery from a fast-forward attack or a publisher that restarted its numbering).
  accept_any_version INTEGER NOT NULL DEFAULT 0,
  -- 'removing' after unsubscribe, until every backend let go of its images.
  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'removing')),
  created_at TEXT NOT NULL
);

CREATE TABLE endorsers (
  id INTEGER PRIMARY KEY,
  dn TEXT NOT NULL,
  ca TEXT NOT NULL,
  UNIQUE (dn, ca)
);

CREATE TABLE subscription_endorsers (
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
  endorser_id INTEGER NOT NULL REFERENCES endorsers(id),
  PRIMARY KEY (subscription_id, endorser_id)
);

-- Every accepted list, exact signed bytes included; the newest row is the high-water mark.
CREATE TABLE list_instances (
  id INTEGER PRIMARY KEY,
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
  version TEXT NOT NULL,
  created TEXT NOT NULL,
  expires TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  signed BLOB NOT NULL,
  signer_dn TEXT NOT NULL,
  signer_ca TEXT NOT NULL,
  vo TEXT,
  accepted_at TEXT NOT NULL
);
CREATE INDEX list_instances_subscription ON list_instances (subscription_id, id);

-- Image definitions: one per identifier and subscription. A UUID belongs to one
-- subscription because it names the cache file.
CREATE TABLE images (
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
  identifier TEXT NOT NULL,
  selected INTEGER NOT NULL,
  listed INTEGER NOT NULL,
  unwanted_reason TEXT,
  unwanted_since TEXT,
  superseded_by TEXT,
  appliance TEXT,
  -- Whether SubscriptionImageNew was emitted for it.
  announced INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (subscription_id, identifier)
);
CREATE UNIQUE INDEX images_identifier ON images (identifier);

-- vmi:supersedes links, nearest ancestor first.
CREATE TABLE successors (
  subscription_id TEXT NOT NULL,
  identifier TEXT NOT NULL,
  ancestor TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (subscription_id, identifier, ancestor),
  FOREIGN KEY (subscription_id, identifier) REFERENCES images ON DELETE CASCADE
);

-- Image instances: the bytes of one version of an image.
CREATE TABLE instances (
  id INTEGER PRIMARY KEY,
  subscription_id TEXT NOT NULL,
  identifier TEXT NOT NULL,
  sha512 TEXT NOT NULL,
  size INTEGER NOT NULL,
  version TEXT NOT NULL,
  uri TEXT NOT NULL,
  entry_json TEXT NOT NULL,
  current INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'downloading', 'verified', 'cached', 'expired', 'purged')),
  attempts INTEGER NOT NULL DEFAULT 0,
  attempts_version TEXT,
  next_attempt_at TEXT,
  last_error_code TEXT,
  last_error_message TEXT,
  cached_at TEXT,
  expired_at TEXT,
  expired_file TEXT,
  UNIQUE (subscription_id, identifier, sha512),
  FOREIGN KEY (subscription_id, identifier) REFERENCES images ON DELETE CASCADE
);

-- What each backend holds of each instance.
CREATE TABLE deliveries (
  instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  backend TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'deprecated', 'retired')),
  refs_json TEXT NOT NULL DEFAULT '[]',
  metadata_sha256 TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  last_error_code TEXT,
  last_error_message TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (instance_id, backend)
);

CREATE TABLE appliances (
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
  identifier TEXT NOT NULL,
  version TEXT NOT NULL,
  title TEXT NOT NULL,
  supersedes_json TEXT NOT NULL,
  listed INTEGER NOT NULL,
  PRIMARY KEY (subscription_id, identifier)
);

CREATE TABLE appliance_members (
  subscription_id TEXT NOT NULL,
  appliance TEXT NOT NULL,
  role TEXT NOT NULL,
  identifier TEXT NOT NULL,
  PRIMARY KEY (subscription_id, appliance, identifier),
  FOREIGN KEY (subscription_id, appliance) REFERENCES appliances ON DELETE CASCADE
);

-- When each appliance version became available on each backend (all members delivered).
CREATE TABLE appliance_backends (
  subscription_id TEXT NOT NULL,
  appliance TEXT NOT NULL,
  version TEXT NOT NULL,
  backend TEXT NOT NULL,
  available_at TEXT NOT NULL,
  PRIMARY KEY (subscription_id, appliance, version, backend),
  FOREIGN KEY (subscription_id, appliance) REFERENCES appliances ON DELETE CASCADE
);

-- vmcatcher-compatible events for exec backends: a durable outbox, retried until done.
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  backend TEXT NOT NULL,
  session TEXT NOT NULL,
  type TEXT NOT NULL,
  identifier TEXT,
  instance_id INTEGER,
  env_json TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  last_error_code TEXT,
  last_error_message TEXT,
  created_at TEXT NOT NULL,
  done_at TEXT
);
CREATE INDEX events_pending ON events (state, id);
`,
  },
  {
    version: 2,
    sql: `
-- Images of an accepted list refused one by one, the rest of the list going on: today an
-- identifier another subscription holds (IMAGE_IDENTIFIER_CLAIMED, owner names it). The
-- subscription's rows are rewritten each time its list is reconciled.
CREATE TABLE image_refusals (
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
  identifier TEXT NOT NULL,
  code TEXT NOT NULL,
  message TEXT NOT NULL,
  owner TEXT,
  since TEXT NOT NULL,
  PRIMARY KEY (subscription_id, identifier)
);
`,
  },
  {
    version: 3,
    sql: `
-- Registry subscriptions (issue 15): a RegistrySource as JSON (registry, project or
-- repository, tag pattern, unsigned), followed without a signed list. NULL for a list.
ALTER TABLE subscriptions ADD COLUMN registry_json TEXT;
`,
  },
];

/** Reads from the store: throws when the database cannot be read (health checks, opening). */
export function probeStore(db: Db): void {
  prepared(db, 'SELECT COUNT(*) FROM subscriptions').get();
}
