import { resolve } from 'node:path';
import type { Command } from 'commander';
import { action, printJson } from '../../shared/cli.js';
import {
  addTrustOptions,
  chainPolicyFrom,
  defaultCaDir,
  defaultVomsDir,
  type TrustFlags,
} from '../../shared/trustopts.js';
import type { CredentialRecord } from '../store/access.js';
import { NAME } from './names.js';

interface AddFlags extends TrustFlags {
  vo: string;
  cert: string;
  key?: string;
  chain?: string;
  strictCompat?: boolean;
  json?: boolean;
}

function absolute(path: string | undefined): string | null {
  return path === undefined ? null : resolve(path);
}

export function addCredentialCommands(program: Command): void {
  const credential = program.command('credential').description('signing credentials, one per VO');

  addTrustOptions(
    credential
      .command('add')
      .description(
        'register the signing credential of a VO (certificate and key, or a proxy file); refused when it cannot sign, ' +
          'has expired, does not validate against the trust store, or is a VOMS proxy of another VO',
      )
      .requiredOption('--vo <vo>', 'the VO this credential signs for')
      .requiredOption(
        '--cert <file>',
        'certificate (PEM), or a proxy file holding certificate, key and chain',
      )
      .option('--key <file>', 'private key (PEM; default: from --cert); only its path is stored')
      .option('--chain <file>', 'further certificates to embed (PEM)')
      .option(
        '--strict-compat',
        'refuse, instead of warning, a credential some reader will not trust (a proxy, a DN that ' +
          'readers write differently)',
      )
      .option('--json', 'print the result as JSON'),
  ).action(
    action(NAME, async (flags: AddFlags, cmd: Command) => {
      const { loadSigningCredential } = await import('../../shared/credentials.js');
      const { loadTrustStore } = await import('../../shared/pki/trustdir.js');
      const { loadVomsDir } = await import('../../shared/pki/vomsdir.js');
      const { isoNow, withContext } = await import('../context.js');
      const { checkCredential } = await import('../credentials.js');
      const { settleProblems, signerProblems } = await import('../readiness.js');
      const { putCredential } = await import('../store/access.js');
      const loaded = await loadSigningCredential(flags.cert, flags.key, flags.chain);
      const now = new Date();
      const record = await withContext(cmd, async (ctx) => {
        const caDir = flags.caDir ?? ctx.config.caDir;
        const vomsdir = flags.vomsdir ?? ctx.config.vomsDir;
        const store = await loadTrustStore(caDir ?? defaultCaDir());
        const vomsDir = await loadVomsDir(vomsdir ?? defaultVomsDir());
        const checked = checkCredential(loaded, store, vomsDir, chainPolicyFrom(flags), now, flags.vo);
        const strict = flags.strictCompat ?? ctx.config.strictCompat ?? false;
        const warnings = settleProblems(signerProblems(checked), strict, (line) =>
          process.stderr.write(`${NAME}: ${line}\n`),
        );
        const entry: CredentialRecord = {
          vo: flags.vo,
          kind: checked.kind,
          certPath: resolve(flags.cert),
          keyPath: absolute(flags.key),
          chainPath: absolute(flags.chain),
          caDir: absolute(caDir),
          vomsdir: absolute(vomsdir),
          fingerprint: checked.fingerprint,
          eecDn: checked.eecDn,
          eecCa: checked.eecCa,
          vomsVo: checked.vomsVo,
          notAfter: checked.notAfter.toISOString(),
          addedAt: isoNow(now),
        };
        await ctx.lock.run(() => putCredential(ctx.db, entry));
        return { entry, warnings };
      });
      if (flags.json === true) {
        printJson({ ok: true, credential: record.entry, warnings: record.warnings });
      } else {
        const r = record.entry;
        process.stdout.write(
          `${r.vo}: ${r.kind} of ${r.eecDn} (CA ${r.eecCa})` +
            `${r.vomsVo === null ? '' : `, VOMS ${r.vomsVo}`}, valid until ${r.notAfter}\n`,
        );
      }
    }),
  );

  credential
    .command('list')
    .description('the registered credentials')
    .option('--json', 'print JSON')
    .action(
      action(NAME, async (flags: { json?: boolean }, cmd: Command) => {
        const { withContext } = await import('../context.js');
        const { allCredentials } = await import('../store/access.js');
        const records = await withContext(cmd, (ctx) => allCredentials(ctx.db));
        if (flags.json === true) printJson(records);
        else
          for (const r of records)
            process.stdout.write(`${r.vo}\t${r.kind}\t${r.eecDn}\t${r.notAfter}\t${r.certPath}\n`);
      }),
    );
}
