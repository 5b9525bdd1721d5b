import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { action, parseTime, printJson } from './cli.js';
import { VmiError } from './errors.js';
import {
  addTrustOptions,
  chainPolicyFrom,
  defaultCaDir,
  defaultVomsDir,
  type TrustFlags,
} from './trustopts.js';

interface VerifyFlags extends TrustFlags {
  at?: Date;
  json?: boolean;
  vo?: string;
  requireVoms?: boolean;
  fqan?: string;
  endorserDn?: string;
  endorserCa?: string;
  allowEndorserMismatch?: boolean;
}

async function readInput(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(file === '-' ? await readStdin() : await readFile(file));
  } catch (err) {
    throw new VmiError('USAGE', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `verify FILE`: the same command in vmicaster and vmicatcher (CONTRACT.md). */
export function addVerifyCommand(program: Command, name: string): void {
  const cmd = program
    .command('verify')
    .description(
      'verify a signed image list: envelope, signature, chain, CRLs, namespaces, proxies, VOMS, endorser, dates',
    )
    .argument('<file>', 'signed list (S/MIME), or - for standard input')
    .option('--at <time>', 'judge at this ISO 8601 UTC time instead of now', parseTime)
    .option('--vo <vo>', 'the VO the list must be for (ad:vo)')
    .option('--require-voms', 'require VOMS attributes of the VO in the signer proxy')
    .option('--fqan <fqan>', 'require this FQAN in the VOMS attributes')
    .option('--endorser-dn <dn>', 'require this endorser DN (with --endorser-ca)')
    .option('--endorser-ca <dn>', 'require this endorser CA DN (with --endorser-dn)')
    .option('--allow-endorser-mismatch', 'accept a list whose hv:dn/hv:ca do not name its signer')
    .option('--json', 'print the result as JSON');
  addTrustOptions(cmd).action(
    action(name, async (file: string, flags: VerifyFlags) => {
      if ((flags.endorserDn === undefined) !== (flags.endorserCa === undefined)) {
        throw new VmiError('USAGE', '--endorser-dn and --endorser-ca go together');
      }
      if (flags.fqan !== undefined && flags.requireVoms !== true) {
        throw new VmiError('USAGE', '--fqan needs --require-voms');
      }
      const bytes = await readInput(file);
      // Loaded here, not at start-up: `--help` and the other commands need no certificate code.
      const [{ loadTrustStore }, { loadVomsDir }, { extractPayload }, { verifySignedList }] =
        await Promise.all([
          import('./pki/trustdir.js'),
          import('./pki/vomsdir.js'),
          import('./smime.js'),
          import('./verify.js'),
        ]);
      const store = await loadTrustStore(flags.caDir ?? defaultCaDir());
      const vomsDir = await loadVomsDir(flags.vomsdir ?? defaultVomsDir());
      const verified = verifySignedList(bytes, store, {
        now: flags.at ?? new Date(),
        policy: chainPolicyFrom(flags),
        vomsDir,
        allowEndorserMismatch: flags.allowEndorserMismatch,
        authorization: {
          vo: flags.vo,
          requireVoms: flags.requireVoms,
          fqan: flags.fqan,
          endorsers:
            flags.endorserDn === undefined
              ? undefined
              : [{ dn: flags.endorserDn, ca: flags.endorserCa ?? '' }],
        },
      });
      for (const warning of verified.list.warnings) process.stderr.write(`${name}: warning: ${warning}\n`);
      if (flags.json === true) {
        printJson({ ok: true, signer: verified.signer, list: verified.list.document });
        return;
      }
      process.stdout.write(extractPayload(verified.signedBytes));
      const { signer, list } = verified;
      process.stderr.write(
        `${name}: verified list ${list.identifier} version ${list.version} (${list.images.length} images), ` +
          `signed by ${signer.dn} (CA ${signer.ca})${signer.vo === null ? '' : `, VO ${signer.vo}`}\n`,
      );
    }),
  );
}
