import { readFile } from 'node:fs/promises';
import { VmiError } from '../../shared/errors.js';
import type { Credentials } from '../../shared/oci/auth.js';
import { RegistryClient } from '../../shared/oci/client.js';
import type { ImageReference } from '../../shared/oci/reference.js';

/**
 * How vmicaster reaches a registry: credentials from a file or the environment, never from
 * the command line (arguments show in `ps` and shell history), and the registry's CA.
 */

export const USER_ENV = 'VMICASTER_REGISTRY_USER';
export const PASSWORD_ENV = 'VMICASTER_REGISTRY_PASSWORD';

export interface AccessFlags {
  user?: string | undefined;
  passwordFile?: string | undefined;
  caFile?: string | undefined;
}

async function readPassword(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    // The path only: the message of a read error never holds the content.
    throw new VmiError(
      'USAGE',
      `cannot read the registry password file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  // One trailing newline is how `echo` and editors leave a secret in a file.
  const password = text.replace(/\r?\n$/, '');
  if (password === '' || /[\r\n]/.test(password)) {
    throw new VmiError('USAGE', `the registry password file ${file} must hold one non-empty line`);
  }
  return password;
}

/** The credentials the flags and environment give, or undefined (anonymous). */
export async function registryCredentials(
  flags: AccessFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credentials | undefined> {
  const user = flags.user ?? env[USER_ENV];
  const fromEnv = env[PASSWORD_ENV];
  const password =
    flags.passwordFile !== undefined
      ? await readPassword(flags.passwordFile)
      : fromEnv !== undefined && fromEnv !== ''
        ? fromEnv
        : undefined;
  if (user === undefined || user === '') {
    if (flags.passwordFile !== undefined) {
      throw new VmiError('USAGE', `a registry password file needs a user (--user or ${USER_ENV})`);
    }
    return undefined;
  }
  if (password === undefined) {
    throw new VmiError(
      'USAGE',
      `registry user given without a password: give a password file or set ${PASSWORD_ENV}`,
    );
  }
  if (user.includes(':') || /[\r\n]/.test(user)) {
    throw new VmiError('USAGE', 'a registry user name must not contain ":" or line breaks');
  }
  return { username: user, password };
}

/** A client for the reference's registry, TLS verified (system CAs, NODE_EXTRA_CA_CERTS, --ca-file). */
export async function clientFor(ref: ImageReference, flags: AccessFlags): Promise<RegistryClient> {
  const credentials = await registryCredentials(flags);
  return new RegistryClient({
    registry: ref.registry,
    ...(credentials === undefined ? {} : { credentials }),
    ...(flags.caFile === undefined ? {} : { caFile: flags.caFile }),
  });
}
