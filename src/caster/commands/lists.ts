import type { Command } from 'commander';
import { action, parsePositiveInt, printJson } from '../../shared/cli.js';
import type { JsonObject } from '../../shared/imagelist/model.js';
import { DEFAULT_LIFETIME_DAYS } from '../defaults.js';
import { NAME } from './names.js';

interface CreateFlags {
  title: string;
  description: string;
  uri: string;
  vo?: string;
  source?: string;
  identifier?: string;
  email?: string;
  creator?: string;
  json?: boolean;
}

interface ShowFlags {
  json?: boolean;
  lifetimeDays?: number;
  history?: boolean;
}

export function addListCommands(program: Command): void {
  const list = program.command('list').description('image lists');
  list
    .command('create')
    .description('create a list; prints its identifier')
    .requiredOption('--title <title>', 'dc:title')
    .option('--description <text>', 'dc:description', '')
    .requiredOption('--uri <url>', "hv:uri: the list's public URL")
    .option('--vo <vo>', 'ad:vo: the VO the list is for (picks the signing credential)')
    .option('--source <text>', 'dc:source (default: the URI)')
    .option('--identifier <id>', 'dc:identifier (default: a new UUID)')
    .option('--email <email>', 'hv:email of the endorser')
    .option('--creator <name>', 'dc:creator (default: the signer common name)')
    .option('--json', 'print the result as JSON')
    .action(
      action(NAME, async (flags: CreateFlags, cmd: Command) => {
        const { createList } = await import('../catalog.js');
        const { isoNow, withContext } = await import('../context.js');
        const id = await withContext(cmd, (ctx) =>
          ctx.lock.run(() =>
            createList({ db: ctx.db, now: isoNow(), code: 'USAGE' }, { ...flags, id: flags.identifier }),
          ),
        );
        if (flags.json === true) printJson({ ok: true, id });
        else process.stdout.write(`${id}\n`);
      }),
    );

  program
    .command('show')
    .description('the list JSON as it would be signed next')
    .argument('<list>', 'list identifier')
    .option('--lifetime-days <n>', 'lifetime used for dc:date:expires', parsePositiveInt)
    .option('--history', 'print the publications of the list instead')
    .option('--json', 'print JSON only (the document, or the publications with --history)')
    .action(
      action(NAME, async (listId: string, flags: ShowFlags, cmd: Command) => {
        const { serializeImageList } = await import('../../shared/imagelist/serialize.js');
        const { assembleDocument, stampDocument } = await import('../build.js');
        const { withContext } = await import('../context.js');
        const { loadListState, nextVersion, readPublishedFile } = await import('../publish.js');
        const { registeredEmail } = await import('../readiness.js');
        const { findCredential } = await import('../store/access.js');
        const { publicationsOf } = await import('../store/publications.js');
        await withContext(cmd, async (ctx) => {
          if (flags.history === true) {
            const publications = publicationsOf(ctx.db, listId);
            if (flags.json === true) printJson(publications);
            else
              for (const p of publications)
                process.stdout.write(`${p.publishedAt} ${p.kind} ${p.version} ${p.sha256}\n`);
            return;
          }
          const state = loadListState(ctx.db, listId);
          const onDisk =
            state.list.publishPath === null ? undefined : await readPublishedFile(state.list.publishPath);
          const credential = state.list.vo === null ? undefined : findCredential(ctx.db, state.list.vo);
          const now = new Date(Math.floor(Date.now() / 1000) * 1000);
          const days = flags.lifetimeDays ?? ctx.config.lifetimeDays ?? DEFAULT_LIFETIME_DAYS;
          const until = now.getTime() + days * 86_400_000;
          const expires = new Date(
            Math.min(until, Date.parse(credential?.notAfter ?? '9999-12-31T00:00:00Z')),
          );
          const document: JsonObject = stampDocument(assembleDocument(state), {
            version: nextVersion(state.list.version, onDisk?.version),
            created: now,
            expires,
            endorserDn: credential?.eecDn ?? state.list.endorserDn ?? '',
            endorserCa: credential?.eecCa ?? state.list.endorserCa ?? '',
            imageExpires: new Date(expires.getTime() + days * 86_400_000),
            endorserEmail: credential === undefined ? undefined : await registeredEmail(credential),
          });
          if (flags.json === true) printJson(document);
          else
            process.stdout.write(
              Buffer.from(serializeImageList(document)).toString('utf8').replace(/\r\n/g, '\n'),
            );
        });
      }),
    );
}
