import type { Command } from 'commander';
import { action, printJson } from '../../shared/cli.js';
import { VmiError } from '../../shared/errors.js';
import type { TakeoverPlan } from '../backends/glance/adopt.js';
import type { GlanceConfig } from '../backends/config.js';
import type { ImageRecord } from '../backends/types.js';
import type { CatcherConfig } from '../config.js';
import { configFor } from './context.js';

/**
 * `vmicatcher takeover`: the dry run of taking over a Glance that atrope filled
 * (docs/operations.md "Taking over from atrope"). For each glance backend, what the next
 * sync would do with the images atrope made: adopt, replace or leave alone. It reads the
 * database (read-only) and lists Glance; it changes nothing anywhere.
 */

const NAME = 'vmicatcher';

interface BackendPlan extends TakeoverPlan {
  name: string;
  /** The takeover tag, null when recognition is off (`takeover: false`). */
  tag: string | null;
}

/** The wanted images of the store, as each backend would be told of them. */
async function wantedImages(
  config: CatcherConfig,
): Promise<{ records: (backend: GlanceConfig) => ImageRecord[]; close: () => void }> {
  const [{ openReadOnlySource }, { wantedInstances }, { listSummaries }, { routeCheck }, { imageRecord }] =
    await Promise.all([
      import('../ops/source.js'),
      import('../store/instances.js'),
      import('../store/lists.js'),
      import('../deliver/routes.js'),
      import('../deliver/record.js'),
    ]);
  const source = openReadOnlySource(config);
  try {
    const lists = listSummaries(source.db);
    const voOf = (id: string) => lists.get(id)?.vo ?? undefined;
    const routes = routeCheck(source.db, voOf);
    const wanted = wantedInstances(source.db);
    const { routingOf } = await import('../backends/routing.js');
    return {
      // Only what routing sends to the backend: other images are not its to sync.
      records: (backend) =>
        wanted
          .filter((inst) => routes({ name: backend.name, routing: routingOf(backend) }, inst) === undefined)
          .map((inst) => imageRecord(inst, voOf(inst.subscriptionId))),
      close: () => source.close(),
    };
  } catch (err) {
    source.close();
    throw err;
  }
}

function formatPlan(plans: readonly BackendPlan[]): string {
  const lines: string[] = [];
  for (const plan of plans) {
    if (plan.tag === null) lines.push(`${plan.name} takeover off`);
    for (const a of plan.adopt) lines.push(`${plan.name} adopt ${a.id} ${a.identifier}`);
    for (const r of plan.replace) lines.push(`${plan.name} replace ${r.id} ${r.identifier} (${r.why})`);
    for (const l of plan.leave) lines.push(`${plan.name} leave ${l.id} ${l.identifier ?? '-'} (${l.why})`);
    if (plan.tag !== null && plan.adopt.length + plan.replace.length + plan.leave.length === 0)
      lines.push(`${plan.name} no image tagged ${plan.tag}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export function addTakeoverCommand(program: Command): void {
  program
    .command('takeover')
    .description(
      'dry run of taking over from atrope: which atrope images in Glance a sync would adopt, replace or leave alone (changes nothing)',
    )
    .option('--backend <name>', 'only this glance backend')
    .option('--json', 'print the plan as JSON')
    .action(
      action(NAME, async (flags: { backend?: string; json?: boolean }, cmd: Command) => {
        const config = await configFor(cmd);
        const glances = config.backends.filter(
          (b): b is GlanceConfig =>
            b.type === 'glance' && (flags.backend === undefined || b.name === flags.backend),
        );
        if (glances.length === 0) {
          throw new VmiError(
            'USAGE',
            flags.backend === undefined
              ? 'no glance backend is configured'
              : `no glance backend named ${flags.backend}`,
          );
        }
        const [{ createGlanceBackend }, { createLogger }] = await Promise.all([
          import('../backends/glance/create.js'),
          import('../../shared/log.js'),
        ]);
        const log = createLogger(NAME, { fd: 2 });
        const store = await wantedImages(config);
        const plans: BackendPlan[] = [];
        try {
          for (const block of glances) {
            const backend = createGlanceBackend(block);
            const ctx = { log, signal: AbortSignal.timeout(block.timeoutSeconds * 10_000), now: new Date() };
            const plan = (await backend.takeoverPlan(store.records(block), ctx)) ?? {
              adopt: [],
              replace: [],
              leave: [],
            };
            const tag = block.takeover === false ? null : block.takeover.tag;
            plans.push({ name: block.name, tag, ...plan });
          }
        } finally {
          store.close();
        }
        if (flags.json === true) printJson({ ok: true, backends: plans });
        else process.stdout.write(formatPlan(plans));
      }),
    );
}
