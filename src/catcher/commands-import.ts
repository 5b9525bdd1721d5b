import type { Command } from 'commander';
import { action, printJson } from '../shared/cli.js';
import { asVmiError } from '../shared/errors.js';
import { withCatcher } from './cli-context.js';
import { selectImage } from './store/images.js';
import { addEndorser, getSubscription } from './store/subscriptions.js';
import { subscribe } from './subscribe.js';
import { readVmcatcherDatabase } from './vmcatcher-import.js';

const NAME = 'vmicatcher';

interface ImportOutcome {
  uuid: string;
  url: string;
  status: 'imported' | 'skipped' | 'failed' | 'planned';
  code?: string;
  message?: string;
}

/**
 * `import-vmcatcher DB`: moves subscriptions, their endorsers and image selections from a
 * vmcatcher database. Each list is fetched and verified now, with the endorsers vmcatcher
 * trusted, and must carry the identifier vmcatcher pinned.
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
        const found = readVmcatcherDatabase(path);
        const outcomes = await withCatcher(cmd, async (catcher) => {
          const out: ImportOutcome[] = [];
          for (const sub of found) {
            const base = { uuid: sub.uuid, url: sub.url };
            const [first, ...others] = sub.endorsers;
            if (!sub.authorised || first === undefined) {
              out.push({
                ...base,
                status: 'skipped',
                message: sub.authorised ? 'no endorser: subscribe by hand' : 'not authorised in vmcatcher',
              });
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
                newImages: 'subscribe',
                username: undefined,
                password: undefined,
                trust: {},
                now,
                expectedId: sub.uuid,
              });
              catcher.db.transaction(() => {
                for (const e of others) addEndorser(catcher.db, sub.uuid, e);
                for (const id of sub.deselected) selectImage(catcher.db, id, false, now);
                for (const id of sub.selected) selectImage(catcher.db, id, true, now);
              })();
              out.push({ ...base, status: 'imported' });
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
