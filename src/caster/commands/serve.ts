import { Option, type Command } from 'commander';
import { action, parsePositiveInt, printJson } from '../../shared/cli.js';
import type { SigningDigest } from '../../shared/cms.js';
import { VmiError } from '../../shared/errors.js';
import { addTrustOptions, chainPolicyFrom, type TrustFlags } from '../../shared/trustopts.js';
import { DEFAULT_LIFETIME_DAYS, DEFAULT_MAX_BODY_BYTES } from '../defaults.js';
import { NAME } from './names.js';

interface ServeFlags extends TrustFlags {
  listen: string;
  root: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  maxBody?: number;
  lifetimeDays?: number;
  digest?: SigningDigest;
  json?: boolean;
}

/** `HOST:PORT` or `[v6]:PORT`. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (match === null || port > 65535)
    throw new VmiError('USAGE', `--listen wants HOST:PORT, not ${JSON.stringify(value)}`);
  return { host: match[1] ?? match[2] ?? '', port };
}

export function addServeCommand(program: Command): void {
  addTrustOptions(
    program
      .command('serve')
      .description(
        'serve the web root (ETag, Last-Modified, conditional GET, Range), list pages and the push API',
      )
      .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
      .requiredOption('--root <dir>', 'the static web root (where lists are published)')
      .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
      .option('--tls-key <file>', 'private key of --tls-cert')
      .option(
        '--client-ca <path>',
        'accept client certificates issued by these CAs (PEM bundle or IGTF directory)',
      )
      .option('--max-body <bytes>', `largest push body (default ${DEFAULT_MAX_BODY_BYTES})`, parsePositiveInt)
      .option(
        '--lifetime-days <n>',
        `lifetime of lists published by pushes (default ${DEFAULT_LIFETIME_DAYS})`,
        parsePositiveInt,
      )
      .addOption(new Option('--digest <alg>', 'signature digest').choices(['sha256', 'sha384', 'sha512']))
      .option('--json', 'print the listening URL as JSON'),
  ).action(
    action(NAME, async (flags: ServeFlags, cmd: Command) => {
      const { openContext } = await import('../context.js');
      const { CasterServer } = await import('../serve/server.js');
      const { host, port } = parseListen(flags.listen);
      if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
        throw new VmiError('USAGE', '--tls-cert and --tls-key go together');
      }
      if (flags.clientCa !== undefined && flags.tlsCert === undefined) {
        throw new VmiError('USAGE', '--client-ca needs --tls-cert and --tls-key');
      }
      const ctx = await openContext(cmd);
      const server = new CasterServer({
        db: ctx.db,
        lock: ctx.lock,
        logger: ctx.logger.child({ component: 'serve' }),
        root: flags.root,
        host,
        port,
        tls:
          flags.tlsCert === undefined || flags.tlsKey === undefined
            ? undefined
            : { cert: flags.tlsCert, key: flags.tlsKey, clientCa: flags.clientCa },
        maxBodyBytes: flags.maxBody ?? DEFAULT_MAX_BODY_BYTES,
        lifetimeDays: flags.lifetimeDays ?? ctx.config.lifetimeDays ?? DEFAULT_LIFETIME_DAYS,
        caDir: flags.caDir ?? ctx.config.caDir,
        vomsdir: flags.vomsdir ?? ctx.config.vomsDir,
        policy: chainPolicyFrom(flags),
        digest: flags.digest ?? ctx.config.digest ?? 'sha256',
      });
      let url: string;
      try {
        url = await server.start();
      } catch (err) {
        ctx.close();
        throw new VmiError('CONFIG_INVALID', `cannot listen on ${flags.listen}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (flags.json === true) printJson({ ok: true, url });
      else process.stderr.write(`${NAME}: serving ${flags.root} on ${url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          resolve();
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      await server.stop();
      ctx.close();
    }),
  );
}
