import type { Command } from 'commander';
import { action, printJson } from '../../shared/cli.js';
import { VmiError } from '../../shared/errors.js';
import { NAME } from './names.js';

interface TokenFlags {
  list: string;
  name: string;
  verify?: boolean;
  json?: boolean;
}

export function addAccessCommands(program: Command): void {
  const token = program.command('token').description('bearer tokens for the push API, one list each');
  token
    .command('create')
    .description('create a push token for one list; prints it once (only its hash is kept)')
    .requiredOption('--list <list>', 'the list the token may change')
    .requiredOption('--name <name>', 'a name to recognise and revoke the token by')
    .option('--verify', 'download and check pushed images instead of trusting the given size and SHA-512')
    .option('--json', 'print the result as JSON')
    .action(
      action(NAME, async (flags: TokenFlags, cmd: Command) => {
        const { isoNow, withContext } = await import('../context.js');
        const { insertToken, tokensOf } = await import('../store/access.js');
        const { requireList } = await import('../store/lists.js');
        const { newToken } = await import('../tokens.js');
        if (flags.name === '') throw new VmiError('USAGE', 'a token needs a name');
        const { token: secret, hash } = newToken();
        await withContext(cmd, (ctx) =>
          ctx.lock.run(() => {
            requireList(ctx.db, flags.list);
            if (tokensOf(ctx.db, flags.list).some((t) => t.name === flags.name)) {
              throw new VmiError('USAGE', `list ${flags.list} already has a token named ${flags.name}`);
            }
            insertToken(ctx.db, hash, {
              listId: flags.list,
              name: flags.name,
              verify: flags.verify === true,
              createdAt: isoNow(),
            });
          }),
        );
        if (flags.json === true) printJson({ ok: true, list: flags.list, name: flags.name, token: secret });
        else process.stdout.write(`${secret}\n`);
      }),
    );

  token
    .command('list')
    .description('the tokens of a list (names only)')
    .requiredOption('--list <list>', 'list identifier')
    .option('--json', 'print JSON')
    .action(
      action(NAME, async (flags: { list: string; json?: boolean }, cmd: Command) => {
        const { withContext } = await import('../context.js');
        const { tokensOf } = await import('../store/access.js');
        const { requireList } = await import('../store/lists.js');
        const tokens = await withContext(cmd, (ctx) => {
          requireList(ctx.db, flags.list);
          return tokensOf(ctx.db, flags.list);
        });
        if (flags.json === true) printJson(tokens);
        else
          for (const t of tokens)
            process.stdout.write(`${t.name}\t${t.verify ? 'verify' : 'trust'}\t${t.createdAt}\n`);
      }),
    );

  token
    .command('revoke')
    .description('revoke a push token')
    .requiredOption('--list <list>', 'list identifier')
    .requiredOption('--name <name>', 'token name')
    .option('--json', 'print the result as JSON')
    .action(
      action(NAME, async (flags: TokenFlags, cmd: Command) => {
        const { withContext } = await import('../context.js');
        const { deleteToken } = await import('../store/access.js');
        await withContext(cmd, (ctx) =>
          ctx.lock.run(() => {
            if (!deleteToken(ctx.db, flags.list, flags.name)) {
              throw new VmiError('USAGE', `list ${flags.list} has no token named ${flags.name}`);
            }
          }),
        );
        if (flags.json === true) printJson({ ok: true });
      }),
    );

  program
    .command('client')
    .description('TLS client certificates allowed to push')
    .command('add')
    .description(
      'allow a client certificate (subject and issuer, oneline; UTF-8 or OpenSSL escaped form) to push to the lists of a VO',
    )
    .requiredOption('--vo <vo>', 'the VO whose lists the client may change')
    .requiredOption('--dn <dn>', 'client certificate subject, e.g. /DC=org/DC=example/CN=appdb.example.org')
    .requiredOption('--ca <dn>', 'client certificate issuer')
    .option('--verify', 'download and check pushed images instead of trusting the given size and SHA-512')
    .option('--json', 'print the result as JSON')
    .action(
      action(
        NAME,
        async (
          flags: { vo: string; dn: string; ca: string; verify?: boolean; json?: boolean },
          cmd: Command,
        ) => {
          const { isoNow, withContext } = await import('../context.js');
          const { putClient } = await import('../store/access.js');
          if (!flags.dn.startsWith('/') || !flags.ca.startsWith('/')) {
            throw new VmiError('USAGE', '--dn and --ca are oneline DNs starting with /');
          }
          await withContext(cmd, (ctx) =>
            ctx.lock.run(() =>
              putClient(
                ctx.db,
                { dn: flags.dn, ca: flags.ca, vo: flags.vo, verify: flags.verify === true },
                isoNow(),
              ),
            ),
          );
          if (flags.json === true) printJson({ ok: true });
        },
      ),
    );
}
