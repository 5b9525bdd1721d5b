import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { action, parseTime, printJson } from '../../shared/cli.js';
import { VmiError } from '../../shared/errors.js';
import { configFor } from './context.js';
import type { CatcherConfig } from '../config.js';
import { evaluateHealth, formatProbeLine, parseThresholds, PROBE_EXIT } from '../ops/health.js';
import type { DaemonView, SiteStatus } from '../ops/status.js';

/**
 * The operations commands of vmicatcher: run (the daemon), status, check (the probe), export.
 * Each imports what it needs when it runs: the daemon's scheduler, metrics registry and HTTP
 * client are never loaded by `status`, `check` or `--help`.
 */

const NAME = 'vmicatcher';

/** The status a stopped-or-running daemon would report, read from the database and its state file. */
async function statusFromDisk(config: CatcherConfig, now?: Date): Promise<SiteStatus> {
  const [{ openReadOnlySource }, { processAlive, readDaemonState }, { buildStatus }] = await Promise.all([
    import('../ops/source.js'),
    import('../ops/daemonstate.js'),
    import('../ops/status.js'),
  ]);
  const source = openReadOnlySource(config, now === undefined ? undefined : () => now);
  try {
    const state = await readDaemonState(config.home);
    const daemon: DaemonView = {
      info:
        state === undefined
          ? null
          : {
              running: state.stoppedAt === null && processAlive(state.pid),
              pid: state.pid,
              startedAt: state.startedAt,
              stoppedAt: state.stoppedAt,
              schedule: state.schedule,
              listen: state.listen,
              nextCycleAt: null,
              cycleRunning: false,
            },
      lastCycle: state?.lastCycle ?? null,
    };
    return await buildStatus(source, daemon);
  } finally {
    source.close();
  }
}

function addRun(program: Command): void {
  program
    .command('run')
    .description('the daemon: scheduled cycles (schedule in the configuration), status endpoint, metrics')
    .action(
      action(NAME, async (_flags: unknown, cmd: Command) => {
        // journald reads stdout: JSON lines there (readable lines on a terminal).
        const [{ createLogger }, { createDaemon }, { handleSignals }] = await Promise.all([
          import('../../shared/log.js'),
          import('../ops/daemon.js'),
          import('../ops/signals.js'),
        ]);
        const log = createLogger(NAME, { fd: 1 });
        const daemon = createDaemon({ loadConfig: () => configFor(cmd), log });
        await daemon.start();
        const unhandle = handleSignals(daemon, log);
        await daemon.stopped;
        unhandle();
        // Whatever still holds the event loop (an idle keep-alive socket) must not keep a stopped daemon alive.
        setTimeout(() => process.exit(), 5000).unref();
      }),
    );
}

function addStatus(program: Command): void {
  program
    .command('status')
    .description(
      'what the daemon reports: subscriptions, images, backends and queues, trust store, last errors',
    )
    .option('--at <time>', 'judge at this ISO 8601 UTC time instead of now', parseTime)
    .option('--json', 'print the status JSON (as GET /api/v1/status)')
    .action(
      action(NAME, async (flags: { at?: Date; json?: boolean }, cmd: Command) => {
        const status = await statusFromDisk(await configFor(cmd), flags.at);
        if (flags.json === true) printJson(status);
        else {
          const { formatStatusText } = await import('../ops/statustext.js');
          process.stdout.write(formatStatusText(status));
        }
      }),
    );
}

interface CheckFlags {
  staleHours: string;
  expiryHours: string;
  outboxHours: string;
  at?: string;
}

function addCheck(program: Command): void {
  program
    .command('check')
    .description(
      'monitoring probe (Nagios/ARGO): one status line with performance data; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN',
    )
    .option('--stale-hours <warn,crit>', 'hours since a subscription last updated successfully', '12,24')
    .option('--expiry-hours <warn,crit>', 'hours until a list expires', '72,24')
    .option('--outbox-hours <warn,crit>', 'hours that exec-backend events have been failing', '6,24')
    .option('--at <time>', 'judge at this ISO 8601 UTC time instead of now')
    .allowUnknownOption()
    .allowExcessArguments()
    // Not action(): every failure of a probe, usage included, is UNKNOWN (exit 3) on stdout.
    .action(async (flags: CheckFlags, cmd: Command) => {
      try {
        if (cmd.args.length > 0) throw new VmiError('USAGE', `unexpected argument ${cmd.args.join(' ')}`);
        const thresholds = {
          staleHours: parseThresholds(flags.staleHours, '--stale-hours', false),
          expiryHours: parseThresholds(flags.expiryHours, '--expiry-hours', true),
          outboxHours: parseThresholds(flags.outboxHours, '--outbox-hours', false),
        };
        const at = flags.at === undefined ? undefined : parseTime(flags.at);
        const status = await statusFromDisk(await configFor(cmd), at);
        const report = evaluateHealth(status, thresholds);
        process.stdout.write(`${formatProbeLine(report)}\n`);
        process.exitCode = PROBE_EXIT[report.status];
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const code = err instanceof VmiError ? `${err.code}: ` : '';
        process.stdout.write(
          `${formatProbeLine({ status: 'UNKNOWN', summary: `${code}${message}`, perfdata: [] })}\n`,
        );
        process.exitCode = PROBE_EXIT.UNKNOWN;
      }
    });
}

function addExport(program: Command): void {
  program
    .command('export')
    .description(
      'the site image index: images available here with backend-local identifiers, VO, appliances, successors',
    )
    .addOption(
      new Option('--format <format>', 'json, or GLUE 2.0 LDIF').choices(['json', 'glue2']).default('json'),
    )
    .option('--site <name>', 'site name for the records (default: this host name)')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(
      action(NAME, async (flags: { format: 'json' | 'glue2'; site?: string; out?: string }, cmd: Command) => {
        const [{ openReadOnlySource }, { buildSiteIndex }, { renderGlue2Ldif }] = await Promise.all([
          import('../ops/source.js'),
          import('../ops/export.js'),
          import('../ops/glue2.js'),
        ]);
        const source = openReadOnlySource(await configFor(cmd));
        let text: string;
        try {
          const index = buildSiteIndex(source, flags.site);
          text = flags.format === 'json' ? `${JSON.stringify(index, null, 2)}\n` : renderGlue2Ldif(index);
        } finally {
          source.close();
        }
        if (flags.out === undefined) process.stdout.write(text);
        else await writeFile(flags.out, text);
      }),
    );
}

export function addOpsCommands(program: Command): void {
  addRun(program);
  addStatus(program);
  addCheck(program);
  addExport(program);
}
