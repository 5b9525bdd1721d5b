import type { Command } from 'commander';
import { resolveHome } from '../shared/home.js';
import { createLogger } from '../shared/log.js';
import { openCatcher, type Catcher } from './catcher.js';
import { loadConfig } from './config.js';

/** Opens the catcher for a one-shot command from the global --home/--config options. */
export async function catcherFor(cmd: Command, options: { logFd?: 1 | 2 } = {}): Promise<Catcher> {
  const globals = cmd.optsWithGlobals<{ home?: string; config?: string }>();
  const home = resolveHome('vmicatcher', globals.home);
  const config = await loadConfig(globals.config, home);
  return openCatcher(config, { log: createLogger('vmicatcher', { fd: options.logFd ?? 2 }) });
}

/** Runs `fn` with an open catcher and always closes it. */
export async function withCatcher<T>(cmd: Command, fn: (catcher: Catcher) => Promise<T> | T): Promise<T> {
  const catcher = await catcherFor(cmd);
  try {
    return await fn(catcher);
  } finally {
    await catcher.close();
  }
}
