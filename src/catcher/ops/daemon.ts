import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { VmiError } from '../../shared/errors.js';
import { VERSION } from '../../shared/version.js';
import { openCatcher, type Catcher, type CatcherOptions } from '../catcher.js';
import type { CatcherConfig } from '../config.js';
import { probeStore } from '../store/schema.js';
import { CycleRunner, type TriggerOutcome } from './cycle.js';
import {
  readDaemonState,
  writeDaemonState,
  type CycleRecord,
  type CycleTrigger,
  type DaemonState,
} from './daemonstate.js';
import { CatcherMetrics } from './metrics.js';
import { StatusServer } from './server.js';
import { buildStatus, type DaemonInfo, type SiteStatus } from './status.js';

/**
 * `vmicatcher run`: the daemon's composition root. It opens the catcher, serves the status
 * endpoint, runs a cycle at start and then on the node-cron schedule of the configuration,
 * reloads configuration and trust store on request (SIGHUP), and stops cleanly: no new
 * cycles, the running one aborted and awaited (partial downloads stay for resume, the sync
 * lock is released), the endpoint closed, the database closed.
 */

export interface DaemonDeps {
  /** Reads and validates the configuration (again at each reload). */
  loadConfig: () => Promise<CatcherConfig>;
  /** The root logger: each component gets a child. */
  log: Logger;
  clock?: () => Date;
  open?: (config: CatcherConfig, options: CatcherOptions) => Promise<Catcher>;
  /** Run a cycle right after start (default true). */
  cycleAtStart?: boolean;
}

export interface Daemon {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Reloads configuration and trust store; false (and the old ones kept) when the new configuration is unusable. */
  reload(): Promise<boolean>;
  triggerSync(trigger: CycleTrigger): TriggerOutcome;
  status(): Promise<SiteStatus>;
  /** The status endpoint's base URL once started. */
  readonly url: string | undefined;
  /** Resolves once stop() has finished. */
  readonly stopped: Promise<void>;
}

export function validateSchedule(expression: string): void {
  if (!cron.validate(expression)) {
    throw new VmiError('CONFIG_INVALID', `schedule "${expression}" is not a valid cron expression`);
  }
}

class CatcherDaemon implements Daemon {
  private readonly clock: () => Date;
  private readonly log: Logger;
  private readonly metrics = new CatcherMetrics();
  private readonly runner: CycleRunner;
  private readonly server: StatusServer;
  private config: CatcherConfig | undefined;
  private catcher: Catcher | undefined;
  private task: ScheduledTask | undefined;
  private startedAt = '';
  private previous: DaemonState | undefined;
  private lastOkCycleAt: string | null = null;
  private stopping: Promise<void> | undefined;
  private resolveStopped: () => void = () => undefined;
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));

  constructor(private readonly deps: DaemonDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.log = deps.log.child({ component: 'daemon' });
    this.runner = new CycleRunner({
      catcher: () => this.current(),
      log: deps.log.child({ component: 'cycle' }),
      clock: this.clock,
      onStart: () => this.metrics.cycleStarted(),
      onFinish: (record, report) => {
        this.metrics.observeCycle(record, report);
        if (record.result === 'ok') this.lastOkCycleAt = record.finishedAt;
        return this.saveState(null, record);
      },
    });
    this.server = new StatusServer({
      log: deps.log.child({ component: 'status-server' }),
      status: () => this.status(),
      metrics: this.metrics,
      alive: () => this.alive(),
      triggerSync: () => this.triggerSync('api'),
      tokenFile: () => this.config?.status.tokenFile ?? null,
    });
  }

  get url(): string | undefined {
    return this.server.url;
  }

  private current(): Catcher {
    if (this.catcher === undefined) throw new VmiError('USAGE', 'the daemon is not started');
    return this.catcher;
  }

  private open(config: CatcherConfig): Promise<Catcher> {
    return (this.deps.open ?? openCatcher)(config, {
      log: this.deps.log.child({ component: 'sync' }),
      clock: this.clock,
    });
  }

  async start(): Promise<void> {
    const config = await this.deps.loadConfig();
    validateSchedule(config.schedule);
    this.catcher = await this.open(config);
    this.config = config;
    this.startedAt = this.clock().toISOString();
    this.previous = await readDaemonState(config.home);
    this.lastOkCycleAt = this.previous?.lastOkCycleAt ?? null;
    try {
      await this.server.listen(config.status.listen);
      await this.schedule(config.schedule);
      await this.saveState(null, this.previous?.lastCycle ?? null);
    } catch (err) {
      // Leave nothing behind: a half-started daemon would hold the port and the database.
      await this.task?.destroy();
      await this.server.close();
      await this.catcher.close();
      this.catcher = undefined;
      throw err;
    }
    this.log.info(
      { version: VERSION, pid: process.pid, home: config.home, schedule: config.schedule, url: this.url },
      'vmicatcher daemon started',
    );
    if (this.deps.cycleAtStart !== false) this.triggerSync('start');
  }

  private async schedule(expression: string): Promise<void> {
    await this.task?.destroy();
    const log = this.deps.log.child({ component: 'scheduler' });
    this.task = cron.createTask(expression, () => void this.triggerSync('schedule'), {
      name: 'vmicatcher-sync',
      logger: {
        info: (m) => log.debug(m),
        warn: (m) => log.warn(m),
        error: (m) => log.error(m instanceof Error ? { err: m } : {}, String(m)),
        debug: (m) => log.debug(String(m)),
      },
    });
    await this.task.start();
  }

  triggerSync(trigger: CycleTrigger): TriggerOutcome {
    return this.runner.trigger(trigger);
  }

  private alive(): boolean {
    try {
      probeStore(this.current().db);
      return true;
    } catch {
      return false;
    }
  }

  private info(): DaemonInfo {
    return {
      running: this.stopping === undefined,
      pid: process.pid,
      startedAt: this.startedAt,
      stoppedAt: null,
      schedule: this.config?.schedule ?? '',
      listen: this.url ?? null,
      nextCycleAt: this.task?.getNextRun()?.toISOString() ?? null,
      cycleRunning: this.runner.running,
    };
  }

  async status(): Promise<SiteStatus> {
    return buildStatus(this.current(), {
      info: this.info(),
      lastCycle: this.runner.last ?? this.previous?.lastCycle ?? null,
    });
  }

  private async saveState(stoppedAt: string | null, lastCycle: CycleRecord | null): Promise<void> {
    if (this.config === undefined) return;
    await writeDaemonState(this.config.home, {
      pid: process.pid,
      startedAt: this.startedAt,
      stoppedAt,
      schedule: this.config.schedule,
      listen: this.url ?? null,
      lastCycle,
      lastOkCycleAt: this.lastOkCycleAt,
    });
  }

  async reload(): Promise<boolean> {
    if (this.stopping !== undefined || this.config === undefined) return false;
    let next: CatcherConfig;
    let catcher: Catcher;
    try {
      next = await this.deps.loadConfig();
      validateSchedule(next.schedule);
      catcher = await this.open(next);
    } catch (err) {
      this.log.error({ err }, 'configuration not reloaded; the daemon keeps the one it has');
      return false;
    }
    const old = this.current();
    const before = this.config;
    this.catcher = catcher;
    this.config = next;
    // A running cycle keeps the catcher it started with; it is closed once the cycle ends.
    void this.runner
      .idle()
      .then(() => old.close())
      .catch((err: unknown) => this.log.error({ err }, 'cannot close the previous database handle'));
    if (next.schedule !== before.schedule) await this.schedule(next.schedule);
    if (next.status.listen !== before.status.listen) {
      await this.server.close();
      try {
        await this.server.listen(next.status.listen);
      } catch (err) {
        this.log.error({ err }, 'cannot listen on the new address; staying on the old one');
        await this.server.listen(before.status.listen);
      }
    }
    await this.saveState(null, this.runner.last ?? this.previous?.lastCycle ?? null);
    this.log.info({ schedule: next.schedule, url: this.url }, 'configuration and trust store reloaded');
    return true;
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.log.info('stopping: no new cycles; aborting the running one');
    await this.task?.destroy();
    await this.runner.stop();
    await this.server.close();
    await this.saveState(
      this.clock().toISOString(),
      this.runner.last ?? this.previous?.lastCycle ?? null,
    ).catch((err: unknown) => this.log.error({ err }, 'cannot record the stop'));
    await this.catcher?.close();
    this.catcher = undefined;
    this.log.info('vmicatcher daemon stopped');
    this.resolveStopped();
  }
}

export function createDaemon(deps: DaemonDeps): Daemon {
  return new CatcherDaemon(deps);
}
