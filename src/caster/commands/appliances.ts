import type { Command } from 'commander';
import { action, printJson } from '../../shared/cli.js';
import { NAME } from './names.js';

interface CreateFlags {
  title: string;
  supersedes?: string;
  version?: string;
  identifier?: string;
  json?: boolean;
}

export function addApplianceCommands(program: Command): void {
  const appliance = program.command('appliance').description('appliances: images deployed together');
  appliance
    .command('create')
    .description(
      'create an appliance; with --supersedes it starts with the old appliance members (replace roles with image add --appliance)',
    )
    .argument('<list>', 'list identifier')
    .requiredOption('--title <title>', 'dc:title')
    .option('--supersedes <appliance>', 'the appliance this one replaces; it leaves the list')
    .option(
      '--version <version>',
      'hv:version of the appliance (default 1, or the next after the one replaced)',
    )
    .option('--identifier <id>', 'dc:identifier (default: a new UUID)')
    .option('--json', 'print the result as JSON')
    .action(
      action(NAME, async (listId: string, flags: CreateFlags, cmd: Command) => {
        const { createAppliance } = await import('../appliances.js');
        const { isoNow, withContext } = await import('../context.js');
        const id = await withContext(cmd, (ctx) =>
          ctx.lock.run(() =>
            createAppliance(
              { db: ctx.db, now: isoNow(), code: 'USAGE' },
              {
                listId,
                id: flags.identifier,
                title: flags.title,
                version: flags.version,
                supersedes: flags.supersedes,
              },
            ),
          ),
        );
        if (flags.json === true) printJson({ ok: true, id });
        else process.stdout.write(`${id}\n`);
      }),
    );
}
