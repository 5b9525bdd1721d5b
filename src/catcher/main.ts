#!/usr/bin/env node
import { Command } from 'commander';
import { runProgram } from '../shared/cli.js';
import { addVerifyCommand } from '../shared/verifycli.js';
import { addCatcherCommands } from './cli/lists.js';
import { addOpsCommands } from './cli/ops.js';
import { addTakeoverCommand } from './cli/takeover.js';
import { VERSION } from '../shared/version.js';

const NAME = 'vmicatcher';

export function buildProgram(): Command {
  const program = new Command(NAME)
    .description('subscribe to signed virtual machine image lists and deliver verified images to a cloud')
    .version(VERSION)
    .option(
      '--home <dir>',
      'state directory (default $VMICATCHER_HOME, /var/lib/vmicatcher as root, else XDG data dir)',
    )
    .option('--config <file>', 'configuration file (YAML; default <home>/vmicatcher.yaml when it exists)');
  addVerifyCommand(program, NAME);
  addCatcherCommands(program);
  addOpsCommands(program);
  addTakeoverCommand(program);
  return program;
}

await runProgram(NAME, buildProgram(), process.argv);
