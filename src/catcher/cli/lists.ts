import { Command, Option } from 'commander';
import { action, parseTime, printJson } from '../../shared/cli.js';
import { VmiError } from '../../shared/errors.js';
import { withCatcher } from './context.js';
import { addImportCommand } from './import.js';
import { checkFlagsFor, passwordFromFile, subscribeRegistry } from './subscribe-registry.js';
import { DEFAULT_TAG_PATTERN } from '../registry/source.js';
import type { NewImagePolicy } from '../sync/reconcile.js';
import type { TrustOverrides } from '../store/subscriptions.js';

// The store, sync and view modules are imported by the command that needs them (not at
// start-up): `--help` and the read-only commands load no HTTP client or certificate code.

const NAME = 'vmicatcher';

interface SubscribeFlags {
  endorserDn?: string;
  endorserCa?: string;
  autoEndorse?: boolean;
  vo?: string;
  requireVoms?: boolean;
  fqan?: string;
  newImages: NewImagePolicy;
  user?: string;
  password?: string;
  passwordFile?: string;
  crl?: TrustOverrides['crl'];
  allowSha1?: boolean;
  purpose?: TrustOverrides['purpose'];
  at?: Date;
  json?: boolean;
  unsigned?: boolean;
  tagPattern?: string;
  repository?: boolean;
}

function trustOverrides(flags: SubscribeFlags): TrustOverrides {
  return {
    ...(flags.crl === undefined ? {} : { crl: flags.crl }),
    ...(flags.allowSha1 === true ? { allowSha1: true } : {}),
    ...(flags.purpose === undefined ? {} : { purpose: flags.purpose }),
  };
}

async function password(flags: SubscribeFlags): Promise<string | undefined> {
  return flags.passwordFile === undefined ? flags.password : passwordFromFile(flags.passwordFile);
}

function addSubscribe(program: Command): void {
  program
    .command('subscribe')
    .description(
      'subscribe to a signed image list (fetched and verified now), or with --unsigned to a registry (oci://)',
    )
    .argument('<url>', 'URL of the signed list, or oci://HOST[:PORT]/PROJECT[/REPOSITORY]')
    .option('--endorser-dn <dn>', 'trusted endorser subject (oneline form)')
    .option('--endorser-ca <dn>', 'trusted endorser CA subject (oneline form)')
    .option('--auto-endorse', 'trust the signer seen now (trust on first use)')
    .option('--vo <vo>', 'the VO the list must be for (ad:vo)')
    .option('--require-voms', 'require VOMS attributes of the VO in the signer proxy')
    .option('--fqan <fqan>', 'require this FQAN (with --require-voms)')
    .addOption(
      new Option('--new-images <policy>', 'what to do with images not seen before')
        .choices(['refuse', 'accept', 'subscribe'])
        .default('subscribe'),
    )
    .option('--user <user>', 'HTTP Basic user (AppDB: the access token)')
    .option('--password <password>', 'HTTP Basic password (AppDB: x-oauth-basic)')
    .option('--password-file <file>', 'read the password from a file instead')
    .addOption(
      new Option('--crl <mode>', 'CRL checking for this subscription').choices([
        'require',
        'if-present',
        'off',
      ]),
    )
    .option('--allow-sha1', 'accept SHA-1 signatures for this subscription')
    .addOption(new Option('--purpose <purpose>', 'required certificate purpose').choices(['smime', 'any']))
    .option('--unsigned', 'oci:// only: follow a registry without a signed list (it carries no signature)')
    .option('--tag-pattern <re>', `oci:// only: tags followed (JavaScript RegExp; ${DEFAULT_TAG_PATTERN})`)
    .option('--repository', 'oci:// only: a one-segment path is a repository, not a project')
    .option('--at <time>', 'judge at this ISO 8601 UTC time instead of now', parseTime)
    .option('--json', 'print the result as JSON')
    .action(
      action(NAME, async (url: string, flags: SubscribeFlags, cmd: Command) => {
        if (checkFlagsFor(url, flags) === 'registry') return subscribeRegistry(url, flags, cmd);
        if ((flags.endorserDn === undefined) !== (flags.endorserCa === undefined)) {
          throw new VmiError('USAGE', '--endorser-dn and --endorser-ca go together');
        }
        if (flags.autoEndorse === true && flags.endorserDn !== undefined) {
          throw new VmiError('USAGE', '--auto-endorse and --endorser-dn exclude each other');
        }
        if (flags.fqan !== undefined && flags.requireVoms !== true)
          throw new VmiError('USAGE', '--fqan needs --require-voms');
        const { subscribe } = await import('../sync/subscribe.js');
        const result = await withCatcher(cmd, async (catcher) =>
          subscribe(catcher, {
            url,
            endorser:
              flags.endorserDn === undefined
                ? undefined
                : { dn: flags.endorserDn, ca: flags.endorserCa ?? '' },
            autoEndorse: flags.autoEndorse === true,
            vo: flags.vo,
            requireVoms: flags.requireVoms === true,
            fqan: flags.fqan,
            newImages: flags.newImages,
            username: flags.user,
            password: await password(flags),
            trust: trustOverrides(flags),
            now: flags.at ?? catcher.clock(),
          }),
        );
        if (flags.json === true) printJson({ ok: true, ...result });
        else process.stdout.write(`${result.id}\n`);
      }),
    );
}

function addListing(program: Command): void {
  program
    .command('subscriptions')
    .description('list subscriptions with their list version, expiry, last success and last error')
    .option('--json', 'print JSON')
    .action(
      action(NAME, async (flags: { json?: boolean }, cmd: Command) => {
        const { subscriptionViews } = await import('../views.js');
        const views = await withCatcher(cmd, (catcher) => subscriptionViews(catcher.db));
        if (flags.json === true) return printJson(views);
        for (const v of views) {
          const error = v.lastError === null ? 'ok' : `${v.lastError.code}: ${v.lastError.message}`;
          const what =
            v.registry === null
              ? `v${v.version ?? '-'}  expires ${v.expires ?? '-'}`
              : `unsigned registry ${v.registry.scope}, tags ${v.registry.tagPattern}`;
          process.stdout.write(`${v.id}  ${what}  ${v.url}  [${error}]\n`);
        }
      }),
    );
  program
    .command('images')
    .description('list images with their state and backend deliveries')
    .option('--subscription <id>', 'only this subscription')
    .option('--json', 'print JSON')
    .action(
      action(NAME, async (flags: { json?: boolean; subscription?: string }, cmd: Command) => {
        const { imageViews } = await import('../views.js');
        const views = await withCatcher(cmd, (catcher) =>
          imageViews(
            catcher.db,
            catcher.backends.delivery.map((b) => b.name),
          ).filter((v) => flags.subscription === undefined || v.subscription === flags.subscription),
        );
        if (flags.json === true) return printJson(views);
        for (const v of views)
          process.stdout.write(`${v.id}  ${v.state.padEnd(10)}  v${v.version}  ${v.title}\n`);
      }),
    );
}

function addSelection(program: Command): void {
  const image = program.command('image').description('choose whether an image is cached and delivered');
  for (const [name, selected] of [
    ['select', true],
    ['deselect', false],
  ] as const) {
    image
      .command(name)
      .argument('<uuid>', 'image identifier')
      .option('--json', 'print JSON')
      .action(
        action(NAME, async (uuid: string, flags: { json?: boolean }, cmd: Command) => {
          const { selectImage } = await import('../sync/selection.js');
          await withCatcher(cmd, (catcher) => {
            if (!selectImage(catcher.db, uuid, selected, catcher.clock()))
              throw new VmiError('USAGE', `no image ${uuid}`);
          });
          if (flags.json === true) printJson({ ok: true, id: uuid, selected });
        }),
      );
  }
}

function addSync(program: Command): void {
  program
    .command('sync')
    .description('one full cycle now: lists, downloads, deliveries, retirements')
    .option('--subscription <id>', 'only this subscription')
    .option('--at <time>', 'run at this ISO 8601 UTC time instead of now', parseTime)
    .option('--verify-cache', 're-hash cached files; a damaged one is fetched again')
    .option('--json', 'print the report as JSON')
    .action(
      action(
        NAME,
        async (
          flags: { subscription?: string; at?: Date; verifyCache?: boolean; json?: boolean },
          cmd: Command,
        ) => {
          const { syncOnce } = await import('../sync/sync.js');
          const report = await withCatcher(cmd, (catcher) =>
            syncOnce(catcher, {
              subscription: flags.subscription,
              now: flags.at,
              verifyCache: flags.verifyCache,
            }),
          );
          if (flags.json === true) printJson({ ok: report.failures === 0, ...report });
          else {
            for (const s of report.subscriptions) {
              process.stderr.write(
                `${NAME}: ${s.id}: ${s.status}${s.code === undefined ? '' : ` ${s.code}: ${s.message ?? ''}`}\n`,
              );
            }
            process.stderr.write(
              `${NAME}: ${report.available.length} made available, ${report.expired.length} retired, ${report.failures} failures\n`,
            );
          }
          if (report.failures > 0) process.exitCode = 1;
        },
      ),
    );
  program
    .command('unsubscribe')
    .description('remove a subscription and retire its images')
    .argument('<id>', 'subscription identifier or URL')
    .option('--at <time>', 'run at this ISO 8601 UTC time instead of now', parseTime)
    .option('--json', 'print JSON')
    .action(
      action(NAME, async (id: string, flags: { at?: Date; json?: boolean }, cmd: Command) => {
        const [{ getSubscription, markRemoving }, { syncOnce }, { LockBusyError }] = await Promise.all([
          import('../store/subscriptions.js'),
          import('../sync/sync.js'),
          import('../sync/lock.js'),
        ]);
        const report = await withCatcher(cmd, async (catcher) => {
          const sub = getSubscription(catcher.db, id);
          if (sub === undefined) throw new VmiError('USAGE', `no subscription ${id}`);
          const now = flags.at ?? catcher.clock();
          catcher.db.transaction(() => markRemoving(catcher.db, sub.id, now))();
          // The removal is recorded: a sync running elsewhere (the daemon) completes it.
          const r = await syncOnce(catcher, { subscription: sub.id, now }).catch((err: unknown) => {
            if (err instanceof LockBusyError) return undefined;
            throw err;
          });
          return {
            id: sub.id,
            removed: getSubscription(catcher.db, sub.id) === undefined,
            failures: r?.failures ?? 0,
          };
        });
        if (flags.json === true) printJson({ ok: true, ...report });
        else if (!report.removed)
          process.stderr.write(
            `${NAME}: ${report.id}: removal recorded; it completes on a later sync (a sync is running, or some backend still holds images)\n`,
          );
      }),
    );
}

function addReset(program: Command): void {
  program
    .command('reset')
    .description(
      'accept the next valid list of a subscription whatever its version (recovery from a fast-forward)',
    )
    .argument('<id>', 'subscription identifier or URL')
    .option('--json', 'print JSON')
    .action(
      action(NAME, async (id: string, flags: { json?: boolean }, cmd: Command) => {
        const { allowAnyVersion, getSubscription } = await import('../store/subscriptions.js');
        const sub = await withCatcher(cmd, (catcher) => {
          const found = getSubscription(catcher.db, id);
          if (found === undefined) throw new VmiError('USAGE', `no subscription ${id}`);
          allowAnyVersion(catcher.db, found.id, true);
          return found;
        });
        if (flags.json === true) printJson({ ok: true, id: sub.id });
        else
          process.stderr.write(`${NAME}: ${sub.id}: the next valid list is accepted whatever its version\n`);
      }),
    );
}

export function addCatcherCommands(program: Command): void {
  addReset(program);
  addImportCommand(program);
  addSubscribe(program);
  addListing(program);
  addSelection(program);
  addSync(program);
}
