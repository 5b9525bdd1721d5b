import type { Logger } from 'pino';
import type { Db } from '../../shared/db.js';
import { asVmiError } from '../../shared/errors.js';
import type { ExecConfig } from '../backends/config.js';
import { runHook } from './hook.js';
import {
  bracketOpen,
  markEventDone,
  markEventFailed,
  pendingEvents,
  type PendingEvent,
} from '../store/outbox.js';

/**
 * Delivers outbox events to exec backends, oldest first, keeping vmcatcher's order where a
 * handler can rely on it (docs/operations.md, "Event outbox"):
 *
 * - A failing image event holds back only the later events of its own subscription; other
 *   subscriptions' events go on. It is retried with exponential backoff on later runs;
 *   after `maxAttempts` it is marked failed (status, `vmicatcher check`) and its
 *   subscription's queue moves on. Nothing is ever dropped.
 * - ProcessPrefix/ProcessPostfix bracket every subscription's events of a run, so a failing
 *   one holds back everything behind it. They do not wait for held events.
 * - An event whose run's bracket has closed (it was held) is delivered only after a later
 *   run's ProcessPrefix, so a handler always sees image events inside a bracket.
 */

const DEFAULT_MAX_ATTEMPTS = 10;
const MAX_BACKOFF_MS = 24 * 3600_000;

export interface OutboxOptions {
  now: Date;
  log: Logger;
  signal?: AbortSignal | undefined;
}

/** One backend's pass over its pending events. */
class Pass {
  /** Subscriptions with an earlier event still pending: their later events wait. */
  private readonly held = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly backend: ExecConfig,
    private readonly options: OutboxOptions,
    private readonly log: Logger,
  ) {}

  private due(event: PendingEvent): boolean {
    return (
      event.nextAttemptAt === null || new Date(event.nextAttemptAt).getTime() <= this.options.now.getTime()
    );
  }

  /** Runs the hook once; true when the queue behind the event may go on. */
  private async deliver(event: PendingEvent): Promise<boolean> {
    const { backend, options } = this;
    try {
      await runHook({
        command: backend.command,
        env: event.env,
        timeoutMs: backend.timeoutSeconds * 1000,
        log: this.log.child({ event: event.type, image: event.identifier }),
        signal: options.signal,
      });
      markEventDone(this.db, event.id, options.now);
      return true;
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
      markEventFailed(this.db, event.id, coded, new Date(options.now.getTime() + Math.max(delay, 1)), giveUp);
      this.log.warn(
        { err: coded, event: event.type, image: event.identifier, attempts, giveUp },
        'event hook failed',
      );
      return giveUp;
    }
  }

  /** An image event: delivered unless its subscription is held; holds it when it fails. */
  private async imageEvent(event: PendingEvent): Promise<void> {
    const key = event.orderKey ?? `event:${event.id}`;
    if (this.held.has(key)) return;
    if (!this.due(event) || !(await this.deliver(event))) this.held.add(key);
  }

  async run(): Promise<void> {
    const aborted = () => this.options.signal?.aborted === true;
    let open = bracketOpen(this.db, this.backend.name);
    let late: PendingEvent[] = [];
    for (const event of pendingEvents(this.db, this.backend.name)) {
      if (aborted()) return;
      if (event.type !== 'ProcessPrefix' && event.type !== 'ProcessPostfix') {
        if (open) await this.imageEvent(event);
        else late.push(event); // its run's bracket closed: wait for the next ProcessPrefix
        continue;
      }
      if (!this.due(event) || !(await this.deliver(event))) return;
      open = event.type === 'ProcessPrefix';
      if (!open) continue;
      for (const waiting of late) {
        if (aborted()) return;
        await this.imageEvent(waiting);
      }
      late = [];
    }
  }
}

export async function runOutbox(
  db: Db,
  backends: readonly ExecConfig[],
  options: OutboxOptions,
): Promise<void> {
  for (const backend of backends) {
    if (options.signal?.aborted === true) return;
    await new Pass(db, backend, options, options.log.child({ backend: backend.name })).run();
  }
}
