import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type ProgramName = 'vmicaster' | 'vmicatcher';

/**
 * The state directory (CONTRACT.md): `--home`, else `$VMICATCHER_HOME`/`$VMICASTER_HOME`,
 * else /var/lib/<program> as root, else the XDG data directory.
 */
export function resolveHome(
  program: ProgramName,
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env[program === 'vmicaster' ? 'VMICASTER_HOME' : 'VMICATCHER_HOME'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.getuid?.() === 0) return join('/var/lib', program);
  const xdg = env['XDG_DATA_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.local', 'share'), program);
}

/** The configuration a home carries: `<home>/vmicatcher.yaml` or `<home>/vmicaster.yaml`. */
export function homeConfigPath(program: ProgramName, home: string): string {
  return join(home, `${program}.yaml`);
}

/**
 * Which configuration file a command reads: `--config` when given, else the home's own file
 * when it exists, else none (built-in defaults and the vmcatcher environment variables).
 * Without this, `--home DIR` alone (as printed in hints) silently used the default trust
 * store while the commands that built DIR had used another.
 */
export async function findConfigFile(
  program: ProgramName,
  home: string,
  flag: string | undefined,
): Promise<string | undefined> {
  if (flag !== undefined) return flag;
  const candidate = homeConfigPath(program, home);
  try {
    await stat(candidate);
    return candidate;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Present but unreadable: reading it reports CONFIG_INVALID with the reason, rather
    // than running quietly on defaults.
    return code === 'ENOENT' || code === 'ENOTDIR' ? undefined : candidate;
  }
}
