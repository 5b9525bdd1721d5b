#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { action, runProgram } from '../shared/cli.js';
import type { SigningDigest } from '../shared/cms.js';
import { VmiError } from '../shared/errors.js';
import { addVerifyCommand } from '../shared/verifycli.js';
import { VERSION } from '../shared/version.js';
import { addAccessCommands } from './commands/access.js';
import { addApplianceCommands } from './commands/appliances.js';
import { addCredentialCommands } from './commands/credentials.js';
import { addImageCommands } from './commands/images.js';
import { addImportCommand } from './commands/import.js';
import { addListCommands } from './commands/lists.js';
import { NAME } from './commands/names.js';
import { addPublishCommand } from './commands/publish.js';
import { addRegistryCommands } from './commands/registry.js';
import { addServeCommand } from './commands/serve.js';

interface SignFlags {
  cert: string;
  key?: string;
  chain?: string;
  digest: SigningDigest;
}

export function buildProgram(): Command {
  const program = new Command(NAME)
    .description('publish signed virtual machine image lists (HEPiX image list format)')
    .version(VERSION)
    // Global options go before the command name, so that `image add --version` is the image's.
    .enablePositionalOptions()
    .option(
      '--home <dir>',
      'state directory (default $VMICASTER_HOME, /var/lib/vmicaster as root, else XDG data dir)',
    )
    .option('--config <file>', 'configuration file (YAML; default <home>/vmicaster.yaml when it exists)');

  program
    .command('sign')
    .description('sign a JSON image list into an S/MIME multipart/signed file (detached)')
    .argument('<in>', 'JSON image list')
    .argument('<out>', 'signed output file (written atomically)')
    .requiredOption('--cert <file>', 'signer certificate (PEM; a proxy file may hold key and chain too)')
    .option('--key <file>', 'private key (PEM; default: from --cert)')
    .option('--chain <file>', 'extra certificates to embed (PEM)')
    .addOption(
      new Option('--digest <alg>', 'digest algorithm')
        .choices(['sha256', 'sha384', 'sha512'])
        .default('sha256'),
    )
    .action(
      action(NAME, async (input: string, output: string, flags: SignFlags) => {
        const content = await readFile(input).catch((err: unknown) => {
          throw new VmiError('USAGE', `cannot read ${input}: ${(err as Error).message}`);
        });
        // Imported here: `--help` and the other commands load no certificate code.
        const [{ parseImageList }, { loadSigningCredential }, { checkSigningKeyUsage, checkValidity }] =
          await Promise.all([
            import('../shared/imagelist/parse.js'),
            import('../shared/credentials.js'),
            import('../shared/pki/checks.js'),
          ]);
        const [{ signList }, { writeFileAtomic }] = await Promise.all([
          import('../shared/signlist.js'),
          import('../shared/fsutil.js'),
        ]);
        const list = parseImageList(new Uint8Array(content));
        for (const warning of list.warnings) process.stderr.write(`${NAME}: warning: ${warning}\n`);
        const credential = await loadSigningCredential(flags.cert, flags.key, flags.chain);
        const now = new Date();
        checkValidity(credential.certificate, now);
        checkSigningKeyUsage(credential.certificate);
        const signed = signList(new Uint8Array(content), credential, flags.digest, now);
        await writeFileAtomic(output, signed);
        process.stderr.write(`${NAME}: signed ${list.identifier} version ${list.version} into ${output}\n`);
      }),
    );

  addVerifyCommand(program, NAME);
  addListCommands(program);
  addImageCommands(program);
  addApplianceCommands(program);
  addCredentialCommands(program);
  addPublishCommand(program);
  addAccessCommands(program);
  addImportCommand(program);
  addServeCommand(program);
  addRegistryCommands(program);
  return program;
}

await runProgram(NAME, buildProgram(), process.argv);
