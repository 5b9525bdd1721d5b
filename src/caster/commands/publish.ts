import { Option, type Command } from 'commander';
import { action, parsePositiveInt, printJson } from '../../shared/cli.js';
import type { SigningDigest } from '../../shared/cms.js';
import { VmiError } from '../../shared/errors.js';
import { addTrustOptions, chainPolicyFrom, type TrustFlags } from '../../shared/trustopts.js';
import { DEFAULT_LIFETIME_DAYS } from '../defaults.js';
import { NAME } from './names.js';

interface PublishFlags extends TrustFlags {
  out?: string;
  cert?: string;
  key?: string;
  chain?: string;
  lifetimeDays?: number;
  digest?: SigningDigest;
  renew?: boolean;
  strictCompat?: boolean;
  json?: boolean;
}

function warn(line: string): void {
  process.stderr.write(`${NAME}: ${line}\n`);
}

export function addPublishCommand(program: Command): void {
  addTrustOptions(
    program
      .command('publish')
      .description(
        'bump hv:version, set dates and endorser from the credential (the VO registered one by default), sign, ' +
          'verify the result against the trust store, and write PATH atomically (previous versions kept in history/)',
      )
      .argument('<list>', 'list identifier')
      .option('--out <path>', 'where the signed list goes (default: where it was last published)')
      .option('--cert <file>', 'sign with this certificate or proxy instead of the registered credential')
      .option('--key <file>', 'private key for --cert (default: from --cert)')
      .option('--chain <file>', 'further certificates to embed with --cert')
      .option(
        '--lifetime-days <n>',
        `days until dc:date:expires (default ${DEFAULT_LIFETIME_DAYS})`,
        parsePositiveInt,
      )
      .addOption(new Option('--digest <alg>', 'signature digest').choices(['sha256', 'sha384', 'sha512']))
      .option(
        '--renew',
        're-sign the last published content with new dates and a new version (for a daily timer)',
      )
      .option(
        '--strict-compat',
        'refuse, instead of warning, when a reader will not take the list (proxy signer, DN that ' +
          'readers write differently, https URL with a certificate only grid CAs trust)',
      )
      .option('--json', 'print the result as JSON'),
  ).action(
    action(NAME, async (listId: string, flags: PublishFlags, cmd: Command) => {
      const { withContext } = await import('../context.js');
      const { publishLocked } = await import('../publish.js');
      const { settleProblems, signerProblems } = await import('../readiness.js');
      const { prepareSigning } = await import('../signing.js');
      const { urlProblems } = await import('../urlcheck.js');
      const { requireList } = await import('../store/lists.js');
      if (flags.cert === undefined && (flags.key !== undefined || flags.chain !== undefined)) {
        throw new VmiError('USAGE', '--key and --chain need --cert');
      }
      const result = await withContext(cmd, async (ctx) => {
        const list = requireList(ctx.db, listId);
        const now = new Date();
        const setup = await prepareSigning(ctx.db, {
          vo: list.vo,
          cert: flags.cert,
          key: flags.key,
          chain: flags.chain,
          caDir: flags.caDir ?? ctx.config.caDir,
          vomsdir: flags.vomsdir ?? ctx.config.vomsDir,
          policy: chainPolicyFrom(flags),
          digest: flags.digest ?? ctx.config.digest ?? 'sha256',
          now,
        });
        // Checked before the lock and before anything is written: a refusal changes nothing.
        const problems = [...signerProblems(setup.checked), ...(await urlProblems(list.uri, setup.store))];
        const strict = flags.strictCompat ?? ctx.config.strictCompat ?? false;
        const warnings = settleProblems(problems, strict, warn);
        const published = await ctx.lock.run(() =>
          publishLocked(ctx.db, setup, {
            listId,
            outPath: flags.out,
            kind: flags.renew === true ? 'renew' : 'publish',
            lifetimeDays: flags.lifetimeDays ?? ctx.config.lifetimeDays ?? DEFAULT_LIFETIME_DAYS,
            now,
          }),
        );
        return { ...published, warnings };
      });
      if (flags.json === true) printJson({ ok: true, ...result });
      else
        process.stderr.write(
          `${NAME}: published list ${result.listId} version ${result.version} to ${result.path} ` +
            `(expires ${result.expires}, signed by ${result.signer})\n`,
        );
    }),
  );
}
