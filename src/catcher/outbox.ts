import type { Logger } from 'pino';
import type { Db } from '../shared/db.js';
import { asVmiError } from '../shared/errors.js';
import type { ExecConfig } from './backends/config.js';
import { runHook } from './hooks.js';
import { markEventDone, markEventFailed, nextPendingEvent } from './store/events.js';

/**
 * Delivers outbox events to exec backends, oldest first. A failing event stops its
 * backend's queue (later events wait, so handlers see vmcatcher's order) and is retried
 * with exponential backoff on later runs; after `maxAttempts` it is marked failed, shown
 * in status and by `vmicatcher check`, and the queue moves on. Nothing is ever dropped.
 */

const DEFAULT_MAX_ATTEMPTS = 10;
const MAX_BACKOFF_MS = 24 * 3600_000;

export interface OutboxOptions {
  now: Date;
  log: Logger;
  signal?: AbortSignal | undefined;
}

export async function runOutbox(
  db: Db,
  backends: readonly ExecConfig[],
  options: OutboxOptions,
): Promise<void> {
  for (const backend of backends) {
    const log = options.log.child({ backend: backend.name });
    for (;;) {
      if (options.signal?.aborted === true) return;
      const event = nextPendingEvent(db, backend.name);
      if (event === undefined) break;
      if (event.nextAttemptAt !== null && new Date(event.nextAttemptAt).getTime() > options.now.getTime())
        break;
      try {
        await runHook({
          command: backend.command,
          env: event.env,
          timeoutMs: (backend.timeoutSeconds || 600) * 1000,
          log: log.child({ event: event.type, image: event.identifier }),
          signal: options.signal,
        });
        markEventDone(db, event.id, options.now);
      } catch (err) {
        const coded = asVmiError(err, 'HOOK_FAILED');
        const attempts = event.attempts + 1;
        const giveUp = attempts >= (backend.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
        const delay = Math.min(
          (backend.retryBackoffSeconds ?? 60) * 1000 * 2 ** (attempts - 1),
          MAX_BACKOFF_MS,
        );
        // Never due again within this run (its `now` is fixed), even without a backoff: the
        // outbox is flushed after every event, which would spend every attempt in one run.
        markEventFailed(db, event.id, coded, new Date(options.now.getTime() + Math.max(delay, 1)), giveUp);
        log.warn(
          { err: coded, event: event.type, image: event.identifier, attempts, giveUp },
          'event hook failed',
        );
        if (!giveUp) break;
      }
    }
  }
}
