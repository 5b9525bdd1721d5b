import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps the memory of a long transfer flat (issue 14, item 6; docs/memory.md). Every body
 * chunk that node:http hands over is a fresh buffer outside the V8 heap; it is garbage as
 * soon as it is hashed and written, but V8 frees it only at a garbage collection, and its
 * small heap rarely needs one: measured on a 1 GiB sync, 40-60 MB of dead chunks piled up
 * between collections. A young-generation collection every few MiB received frees them for
 * a fraction of a millisecond each (no measurable throughput cost).
 */

type Gc = (options?: { type: 'minor' | 'major' }) => void;

let collect: Gc | undefined;

function gcFunction(): Gc {
  if (collect === undefined) {
    // `--expose-gc` set now installs `gc` in contexts created afterwards only: the
    // program's own global stays as it was.
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as Gc;
  }
  return collect;
}

/**
 * Default interval: 1 MiB. At 4 MiB the dead chunks between collections came to 8-9 MB of a
 * 1 GiB sync's peak; at 1 MiB to 3, for no measurable CPU time (1,024 young collections per
 * GiB, each over a young generation that holds almost nothing; docs/memory.md).
 */
export const RELEASE_EVERY = 1 << 20;

export interface ChunkReleaser {
  /** Counts bytes received; runs a young-generation collection when enough went by. */
  (bytes: number): void;
  /** The transfer ended: its bytes no longer widen the shared interval. */
  close(): void;
}

/**
 * Some chunks still outlive two young collections (a slow receiver, such as four uploads
 * into one Glance, keeps them waiting in its writes) and are promoted; V8 would free them
 * only when the old generation grows by tens of MB. Every few young collections, buffers
 * above this are collected with a full collection: a few milliseconds on the catcher's
 * small heap. It must be `gc()` itself: `gc({ type: 'major' })` left the dead buffers
 * counted (and resident) in the measurements of docs/memory.md.
 */
const PROMOTED_LIMIT = 4 * 1024 * 1024;
const CHECK_EVERY = 2;

/** The intervals of the transfers running now, summed, and the bytes since the last collection. */
let budget = 0;
let since = 0;
let collections = 0;

/** Collections the releasers ran so far (for tests and measurements). */
export function releaserCollections(): number {
  return collections;
}

/**
 * A transfer's share of one process-wide collector: a young-generation collection after
 * every `every` bytes of this transfer, or, while several run at once, after the sum of
 * their intervals of all their bytes together. Per-transfer counters would collect four
 * times as often with four transfers, while each one's chunks wait as long as before in its
 * own buffers: they survived two collections and were promoted (a 20-image sync into Glance
 * peaked at 105-110 MB, arrayBuffers up to 35 MB; docs/memory.md).
 */
export function chunkReleaser(every = RELEASE_EVERY): ChunkReleaser {
  const gc = gcFunction();
  let open = true;
  budget += every;
  const release = ((bytes: number) => {
    since += bytes;
    if (since >= Math.max(budget, RELEASE_EVERY)) {
      since = 0;
      collections += 1;
      gc({ type: 'minor' });
      if (collections % CHECK_EVERY === 0 && process.memoryUsage().arrayBuffers > PROMOTED_LIMIT) {
        gc();
      }
    }
  }) as ChunkReleaser;
  release.close = () => {
    if (open) budget -= every;
    open = false;
    if (budget === 0) since = 0;
  };
  return release;
}
