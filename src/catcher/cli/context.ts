import type { Command } from 'commander';
import { findConfigFile, resolveHome } from '../../shared/home.js';
import type { Catcher } from '../catcher.js';
import type { CatcherConfig } from '../config.js';

/*
 * The modules behind these functions (configuration schema, store, HTTP client, logger) are
 * imported when a command runs, not when the program starts: `--help` loads none of them.
 */

/**
 * The configuration of a command from the global options, the same for the daemon and every
 * one-shot command: `--config FILE` wins; else `<home>/vmicatcher.yaml` when it exists (the
 * home from `--home`, `$VMICATCHER_HOME` or the default); else the built-in defaults. The
 * vmcatcher environment variables fill in what the file read (if any) does not set.
 */
export async function configFor(cmd: Command): Promise<CatcherConfig> {
  const globals = cmd.optsWithGlobals<{ home?: string; config?: string }>();
  const { loadConfig } = await import('../config.js');
  const home = resolveHome('vmicatcher', globals.home);
  return loadConfig(await findConfigFile('vmicatcher', home, globals.config), home);
}

/** Opens the catcher for a one-shot command from the global --home/--config options. */
export async function catcherFor(cmd: Command, options: { logFd?: 1 | 2 } = {}): Promise<Catcher> {
  const config = await configFor(cmd);
  const [{ createLogger }, { openCatcher }] = await Promise.all([
    import('../../shared/log.js'),
    import('../catcher.js'),
  ]);
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
