import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The state directory (CONTRACT.md): `--home`, else `$VMICATCHER_HOME`/`$VMICASTER_HOME`,
 * else /var/lib/<program> as root, else the XDG data directory.
 */
export function resolveHome(
  program: 'vmicaster' | 'vmicatcher',
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
