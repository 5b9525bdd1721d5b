/** The multi-step conformance scenarios (README.md rows T, X and U): metadata; each is one test. */
import type { Scenario } from './scenarios.js';

/** Multi-step scenarios (time, lineage, appliances): each is one test of its own. */
export const STORIES: Scenario[] = [
  {
    id: 'T01',
    attack: 'freeze: a newer list is withheld and the old one served on (TUF freeze)',
    guarantee:
      'the catcher keeps serving what it holds while that list is valid; after it expires the subscription lapses and, after graceHours, its images leave the backend',
  },
  {
    id: 'T02',
    attack: 'the signer is revoked (CRL) while its list is held',
    guarantee:
      'the held list stops verifying (CERT_REVOKED); images stay for graceHours, then leave the backend; a new valid list restores them',
  },
  {
    id: 'T03',
    attack: 'fast-forward: a stolen key signs a far-future version (TUF fast-forward), then recovery',
    guarantee:
      'the publisher’s next versions are refused as LIST_ROLLBACK until the operator runs `vmicatcher reset`; the next valid list is then accepted whatever its version, and once the stolen certificate is revoked a replay of the far-future list is refused (CERT_REVOKED)',
  },
  {
    id: 'T04',
    attack: 'indefinite freeze with a list that says it expires in 2499',
    guarantee:
      'with lists.maxAgeDays set, the held list stops counting once it is older than that (LIST_EXPIRED), and the subscription lapses',
  },
  {
    id: 'X01',
    attack: 'transport downgrade: the https list URL redirects to plain http',
    guarantee: 'refused (FETCH_FAILED) before anything is read; state unchanged',
  },
  {
    id: 'U01',
    attack:
      'successor chain with missed versions: v1 -> (v2 never seen) -> v3, whose image supersedes both ancestors',
    guarantee:
      'the successor is delivered; the ancestor leaves the backend only after that, and the cache on the next run (make before break); the missed version is never fetched',
  },
  {
    id: 'U02',
    attack: 'appliance partial update: one member replaced, one kept',
    guarantee:
      'only the new member is downloaded; the old member leaves the backend only once the new appliance is complete there',
  },
  {
    id: 'U03',
    attack:
      'mix-and-match of images from two list versions: an updated appliance whose new member URL serves the old bytes',
    guarantee:
      'no member of the new version is made available until all verify; the backend keeps the complete old version (marked deprecated, as the list supersedes it), never a mix; once healed, the new version replaces it',
  },
];
