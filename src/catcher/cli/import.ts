import type { Command } from 'commander';
import { action, printJson } from '../../shared/cli.js';
import { asVmiError } from '../../shared/errors.js';
import { withCatcher } from './context.js';
import type { VmcatcherSubscription } from '../store/vmcatcher.js';

const NAME = 'vmicatcher';

interface ImportOutcome {
  uuid: string;
  url: string;
  status: 'imported' | 'skipped' | 'failed' | 'planned';
  code?: string;
  message?: string;
  /** What would be or was taken over (never the credentials themselves). */
  newImages?: string;
  private?: boolean;
  endorsers?: number;
  selected?: number;
  known?: number;
}

/** Why a vmcatcher subscription is not taken over, or undefined when it can be. */
function skipReason(sub: VmcatcherSubscription): string | undefined {
  if (!sub.authorised) return 'not authorised in vmcatcher';
  if (sub.endorsers.length === 0) return 'no authorised endorser: subscribe by hand';
  if (sub.newImages === undefined) return `unknown vmcatcher updateMode ${sub.updateMode}: subscribe by hand`;
  return undefined;
}

function summary(sub: VmcatcherSubscription): Partial<ImportOutcome> {
  return {
    newImages: sub.newImages,
    private: sub.username !== undefined,
    endorsers: sub.endorsers.length,
    selected: [...sub.images.values()].filter(Boolean).length,
    known: sub.images.size,
  };
}

/**
 * `import-vmcatcher DB`: moves subscriptions, their authorised endorsers, private-list
 * credentials, update mode (as the new-images policy) and image selections from a vmcatcher
 * database. Each list is fetched and verified now, with the endorsers vmcatcher trusted, and
 * must carry the identifier vmcatcher pinned. Credentials are stored, never printed.
 */
export function addImportCommand(program: Command): void {
  program
    .command('import-vmcatcher')
    .description('take over subscriptions, endorsers and image selections from a vmcatcher database')
    .argument('<database>', 'vmcatcher SQLite database (e.g. /var/lib/vmcatcher/vmcatcher.db)')
    .option('--dry-run', 'show what would be imported')
    .option('--json', 'print JSON')
    .action(
      action(NAME, async (path: string, flags: { dryRun?: boolean; json?: boolean }, cmd: Command) => {
        // Imported here, not at start-up (SQLite, HTTP client, certificate code).
        const [{ readVmcatcherDatabase }, { getSubscription }, { displayUrl, subscribe }] = await Promise.all(
          [
            import('../store/vmcatcher.js'),
            import('../store/subscriptions.js'),
            import('../sync/subscribe.js'),
          ],
        );
        const found = readVmcatcherDatabase(path);
        const outcomes = await withCatcher(cmd, async (catcher) => {
          const out: ImportOutcome[] = [];
          for (const sub of found) {
            const base = { uuid: sub.uuid, url: displayUrl(sub.url) };
            const [first, ...others] = sub.endorsers;
            const reason = skipReason(sub);
            if (reason !== undefined || first === undefined || sub.newImages === undefined) {
              out.push({ ...base, status: 'skipped', message: reason });
              continue;
            }
            if (
              getSubscription(catcher.db, sub.url) !== undefined ||
              getSubscription(catcher.db, sub.uuid) !== undefined
            ) {
              out.push({ ...base, status: 'skipped', message: 'already subscribed' });
              continue;
            }
            if (flags.dryRun === true) {
              out.push({
                ...base,
                status: 'planned',
                message: `endorsers: ${sub.endorsers.map((e) => e.dn).join('; ')}`,
                ...summary(sub),
              });
              continue;
            }
            try {
              const now = catcher.clock();
              await subscribe(catcher, {
                url: sub.url,
                endorser: first,
                autoEndorse: false,
                vo: undefined,
                requireVoms: false,
                fqan: undefined,
                newImages: sub.newImages,
                username: sub.username,
                password: sub.password,
                trust: {},
                now,
                expectedId: sub.uuid,
                carried: sub.images,
                moreEndorsers: others,
              });
              out.push({ ...base, status: 'imported', ...summary(sub) });
            } catch (err) {
              const error = asVmiError(err, 'FETCH_FAILED');
              out.push({ ...base, status: 'failed', code: error.code, message: error.message });
            }
          }
          return out;
        });
        if (flags.json === true) printJson(outcomes);
        else {
          for (const o of outcomes) {
            process.stdout.write(
              `${o.uuid}  ${o.status}${o.code === undefined ? '' : ` ${o.code}`}  ${o.url}${o.message === undefined ? '' : `  (${o.message})`}\n`,
            );
          }
        }
        if (outcomes.some((o) => o.status === 'failed')) process.exitCode = 1;
      }),
    );
}
