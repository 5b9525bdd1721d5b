import type { Db } from '../../shared/db.js';
import { selectionReason } from './reconcile.js';
import { saveSelection, selectionFacts } from '../store/images.js';

/**
 * `vmicatcher select`/`deselect` (and `subscribe --select`): records the choice and why the
 * image is unwanted afterwards. False when no subscription holds the identifier.
 */
export function selectImage(db: Db, identifier: string, selected: boolean, now: Date): boolean {
  const facts = selectionFacts(db, identifier);
  if (facts === undefined) return false;
  const reason = selectionReason({ ...facts, selected, now });
  saveSelection(db, identifier, facts, selected, reason, now);
  return true;
}
