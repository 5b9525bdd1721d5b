import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { action, parseTime, printJson } from '../../shared/cli.js';
import { VmiError } from '../../shared/errors.js';
import {
  addTrustOptions,
  chainPolicyFrom,
  defaultCaDir,
  defaultVomsDir,
  type TrustFlags,
} from '../../shared/trustopts.js';
import { NAME } from './names.js';

interface ImportFlags extends TrustFlags {
  at?: Date;
  allowEndorserMismatch?: boolean;
  json?: boolean;
}

export function addImportCommand(program: Command): void {
  addTrustOptions(
    program
      .command('import')
      .description(
        'take over a signed list published by vmcaster or AppDB: verify it, then keep its identifier, images and ' +
          'version so that the next publish continues above it',
      )
      .argument('<file>', 'the signed list (S/MIME)')
      .option(
        '--at <time>',
        'verify at this ISO 8601 UTC time (to take over a list that has lapsed)',
        parseTime,
      )
      .option('--allow-endorser-mismatch', 'accept a legacy list whose hv:dn/hv:ca do not name its signer')
      .option('--json', 'print the result as JSON'),
  ).action(
    action(NAME, async (file: string, flags: ImportFlags, cmd: Command) => {
      const { loadTrustStore } = await import('../../shared/pki/trustdir.js');
      const { loadVomsDir } = await import('../../shared/pki/vomsdir.js');
      const { verifySignedList } = await import('../../shared/verify.js');
      const { isoNow, withContext } = await import('../context.js');
      const { importVerifiedList } = await import('../importlist.js');
      const bytes = new Uint8Array(
        await readFile(file).catch((err: unknown) => {
          throw new VmiError('USAGE', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
        }),
      );
      const summary = await withContext(cmd, async (ctx) => {
        const store = await loadTrustStore(flags.caDir ?? ctx.config.caDir ?? defaultCaDir());
        const vomsDir = await loadVomsDir(flags.vomsdir ?? ctx.config.vomsDir ?? defaultVomsDir());
        const verified = verifySignedList(bytes, store, {
          now: flags.at ?? new Date(),
          policy: chainPolicyFrom(flags),
          vomsDir,
          allowEndorserMismatch: flags.allowEndorserMismatch,
        });
        return ctx.lock.run(() => importVerifiedList(ctx.db, verified, bytes, isoNow()));
      });
      for (const warning of summary.warnings) process.stderr.write(`${NAME}: warning: ${warning}\n`);
      if (flags.json === true) printJson({ ok: true, ...summary });
      else process.stdout.write(`${summary.listId}\n`);
    }),
  );
}
