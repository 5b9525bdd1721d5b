import type { Logger } from 'pino';
import { VmiError } from '../../shared/errors.js';
import type { Catcher } from '../catcher.js';
import { LockBusyError } from '../sync/lock.js';
import { syncOnce, type SyncReport } from '../sync/sync.js';
import type { CycleRecord, CycleResult, CycleTrigger } from './daemonstate.js';
import { explained } from './explain.js';

/**
 * Runs the daemon's sync cycles one at a time. A scheduled tick that finds a cycle running
 * is skipped; a request by signal or API while one runs is queued once and runs right after.
 * A manual `vmicatcher sync` in another process holds the cross-process lock: the cycle is
 * then skipped, which is normal operation and not an error. `stop()` aborts the cycle (its
 * downloads keep their partial files for resume) and waits until it has unwound.
 */

export type TriggerOutcome = 'started' | 'queued' | 'busy' | 'stopped';

export interface CycleRunnerDeps {
  /** The catcher to use for the next cycle (it changes on reload). */
  catcher: () => Catcher;
  log: Logger;
  clock: () => Date;
  onStart?: (trigger: CycleTrigger) => void;
  onFinish?: (record: CycleRecord, report: SyncReport | undefined) => Promise<void> | void;
}

export class CycleRunner {
  private current: Promise<void> | undefined;
  private controller: AbortController | undefined;
  private queued: CycleTrigger | undefined;
  private stopping = false;
  private idleWaiters: (() => void)[] = [];
  last: CycleRecord | undefined;

  constructor(private readonly deps: CycleRunnerDeps) {}

  get running(): boolean {
    return this.current !== undefined;
  }

  trigger(trigger: CycleTrigger): TriggerOutcome {
    if (this.stopping) return 'stopped';
    if (this.current !== undefined) {
      if (trigger === 'schedule') {
        this.deps.log.info({ trigger }, 'a cycle is still running; this scheduled cycle is skipped');
        return 'busy';
      }
      this.queued ??= trigger;
      return 'queued';
    }
    this.current = this.loop(trigger);
    return 'started';
  }

  /** Resolves when no cycle runs (at once when idle). */
  idle(): Promise<void> {
    if (this.current === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.queued = undefined;
    this.controller?.abort(new Error('vmicatcher is stopping'));
    await this.idle();
  }

  private async loop(first: CycleTrigger): Promise<void> {
    let trigger: CycleTrigger | undefined = first;
    while (trigger !== undefined && !this.stopping) {
      await this.runOne(trigger);
      trigger = this.queued;
      this.queued = undefined;
    }
    this.current = undefined;
    this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  private async runOne(trigger: CycleTrigger): Promise<void> {
    const { log, clock } = this.deps;
    const controller = new AbortController();
    this.controller = controller;
    const startedAt = clock();
    const t0 = performance.now();
    this.deps.onStart?.(trigger);
    log.info({ trigger }, 'cycle started');
    let report: SyncReport | undefined;
    let result: CycleResult;
    let error: CycleRecord['error'] = null;
    try {
      report = await syncOnce(this.deps.catcher(), { signal: controller.signal });
      result = controller.signal.aborted ? 'aborted' : report.failures > 0 ? 'failures' : 'ok';
    } catch (err) {
      if (err instanceof LockBusyError) {
        result = 'skipped';
        log.info(
          { trigger, holder: err.pid },
          'another vmicatcher sync holds the lock; this cycle is skipped',
        );
      } else {
        // Uncoded errors are bugs or environment failures (database, file system): INTERNAL, as the CLI says.
        const coded =
          err instanceof VmiError
            ? err
            : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
        result = controller.signal.aborted ? 'aborted' : 'error';
        error = explained(coded);
        log.error({ err, code: coded.code, trigger }, 'cycle failed');
      }
    } finally {
      this.controller = undefined;
    }
    const record: CycleRecord = {
      trigger,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date(startedAt.getTime() + (performance.now() - t0)).toISOString(),
      durationMs: Math.round(performance.now() - t0),
      result,
      failures: report?.failures ?? (result === 'error' ? 1 : 0),
      subscriptions: {
        updated: report?.subscriptions.filter((s) => s.status === 'updated').length ?? 0,
        unchanged: report?.subscriptions.filter((s) => s.status === 'unchanged').length ?? 0,
        refused: report?.subscriptions.filter((s) => s.status === 'refused').length ?? 0,
      },
      downloads: {
        ok: report?.downloads.filter((d) => d.ok).length ?? 0,
        failed: report?.downloads.filter((d) => !d.ok).length ?? 0,
        bytes: report?.downloads.reduce((sum, d) => sum + d.bytes, 0) ?? 0,
      },
      available: report?.available.length ?? 0,
      retired: report?.expired.length ?? 0,
      error,
    };
    this.last = record;
    if (result !== 'skipped') {
      const level = result === 'ok' ? 'info' : 'warn';
      log[level](
        {
          trigger,
          result,
          durationMs: record.durationMs,
          failures: record.failures,
          downloads: record.downloads,
        },
        'cycle finished',
      );
    }
    try {
      await this.deps.onFinish?.(record, report);
    } catch (err) {
      log.error({ err }, 'cannot record the cycle');
    }
  }
}
