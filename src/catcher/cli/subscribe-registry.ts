import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { printJson } from '../../shared/cli.js';
import { VmiError } from '../../shared/errors.js';
import type { Credentials } from '../../shared/oci/auth.js';
import type { RegistryClient } from '../../shared/oci/client.js';
import { checkRegistry, checkRepository, MAX_REPOSITORY_LENGTH } from '../../shared/oci/reference.js';
import { DEFAULT_TAG_PATTERN, type RegistrySource } from '../registry/source.js';
import type { NewImagePolicy } from '../sync/reconcile.js';
import { withCatcher } from './context.js';

/**
 * `vmicatcher subscribe oci://HOST[:PORT]/PATH --unsigned` (issue 15): follow a registry
 * project or repository without a signed list, as EGI's central sync does. The registry is
 * asked now, with the credentials given, whether it answers; only then is anything stored.
 * The store, the HTTP client and the registry client are loaded by the command that runs.
 */

export const PASSWORD_ENV = 'VMICATCHER_REGISTRY_PASSWORD';

export interface SubscribeFlagsSeen {
  endorserDn?: string;
  endorserCa?: string;
  autoEndorse?: boolean;
  requireVoms?: boolean;
  fqan?: string;
  crl?: string;
  allowSha1?: boolean;
  purpose?: string;
  unsigned?: boolean;
  tagPattern?: string;
  repository?: boolean;
  vo?: string;
  newImages: NewImagePolicy;
  user?: string;
  password?: string;
  passwordFile?: string;
  at?: Date;
  json?: boolean;
}

/** Reads a password kept on one line of a file; errors name the file, never its content. */
export async function passwordFromFile(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new VmiError('USAGE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  });
  return text.replace(/\r?\n$/, '');
}

export function isRegistryUrl(url: string): boolean {
  return /^oci:/i.test(url);
}

const LIST_ONLY: readonly [keyof SubscribeFlagsSeen, string][] = [
  ['endorserDn', '--endorser-dn'],
  ['endorserCa', '--endorser-ca'],
  ['autoEndorse', '--auto-endorse'],
  ['requireVoms', '--require-voms'],
  ['fqan', '--fqan'],
  ['crl', '--crl'],
  ['allowSha1', '--allow-sha1'],
  ['purpose', '--purpose'],
  ['password', '--password'],
];
const REGISTRY_ONLY: readonly [keyof SubscribeFlagsSeen, string][] = [
  ['unsigned', '--unsigned'],
  ['tagPattern', '--tag-pattern'],
  ['repository', '--repository'],
];

/**
 * Flags that mean something for one kind of subscription only are refused on the other: a
 * signed list is always verified (no --unsigned), and a registry has no signer to check.
 */
export function checkFlagsFor(url: string, flags: SubscribeFlagsSeen): 'list' | 'registry' {
  const registry = isRegistryUrl(url);
  for (const [key, name] of registry ? LIST_ONLY : REGISTRY_ONLY) {
    if (flags[key] === undefined) continue;
    if (key === 'password')
      throw new VmiError(
        'USAGE',
        `a registry password is never a command-line argument: give --password-file or set ${PASSWORD_ENV}`,
      );
    throw new VmiError(
      'USAGE',
      registry
        ? `${name} is about signed lists; a registry subscription has no signature to check`
        : `${name} is for oci:// registry subscriptions; a list at an http(s) URL is always verified`,
    );
  }
  if (registry && flags.unsigned !== true) {
    throw new VmiError(
      'USAGE',
      'registry artefacts carry no signature: following oci:// trusts the registry and its TLS ' +
        'instead of an endorser; --unsigned says you accept that',
    );
  }
  return registry ? 'registry' : 'list';
}

const SHAPE = 'a registry subscription is oci://HOST[:PORT]/PROJECT or oci://HOST[:PORT]/REPOSITORY/PATH';

/**
 * `oci://host[:port]/path` to its canonical URL (the subscription's URL, whose UUID v5 is its
 * identifier) and source. The text is never echoed: it may hold credentials.
 */
export function parseRegistryUrl(
  text: string,
  asRepository: boolean,
  tagPattern: string = DEFAULT_TAG_PATTERN,
): { url: string; source: RegistrySource } {
  const match = /^oci:\/\/([^/]*)\/(.*)$/i.exec(text);
  if (match === null) throw new VmiError('USAGE', SHAPE);
  if (/[?#@\s\\]/.test(text))
    throw new VmiError(
      'USAGE',
      `${SHAPE}, without user, query or fragment (credentials: --user and --password-file)`,
    );
  const usage = (fn: () => string) => {
    try {
      return fn();
    } catch (err) {
      throw new VmiError('USAGE', `${SHAPE}: ${(err as Error).message}`);
    }
  };
  const registry = usage(() => checkRegistry(match[1] ?? ''));
  const path = usage(() => checkRepository(match[2] ?? ''));
  if (registry.length + 1 + path.length > MAX_REPOSITORY_LENGTH)
    throw new VmiError('USAGE', `${SHAPE}: longer than ${MAX_REPOSITORY_LENGTH} characters`);
  try {
    new RegExp(tagPattern);
  } catch (err) {
    throw new VmiError('USAGE', `--tag-pattern is not a regular expression: ${(err as Error).message}`);
  }
  const project = !asRepository && !path.includes('/');
  return {
    url: `oci://${registry}/${path}`,
    source: {
      registry,
      scope: project ? { kind: 'project', project: path } : { kind: 'repository', repository: path },
      tagPattern,
      unsigned: true,
    },
  };
}

/** The user and password for the registry, or undefined (anonymous). */
export async function registryCredentials(
  flags: SubscribeFlagsSeen,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credentials | undefined> {
  const fromEnv = env[PASSWORD_ENV];
  const password =
    flags.passwordFile !== undefined
      ? await passwordFromFile(flags.passwordFile)
      : fromEnv !== undefined && fromEnv !== ''
        ? fromEnv
        : undefined;
  if (flags.user === undefined) {
    if (flags.passwordFile !== undefined) throw new VmiError('USAGE', '--password-file needs --user');
    return undefined;
  }
  if (password === undefined || password === '' || /[\r\n]/.test(password))
    throw new VmiError(
      'USAGE',
      `--user needs a password: one non-empty line in --password-file, or ${PASSWORD_ENV}`,
    );
  if (flags.user === '' || /[:\r\n]/.test(flags.user))
    throw new VmiError('USAGE', 'a registry user name must be non-empty, without ":" or line breaks');
  return { username: flags.user, password };
}

/** How many repositories (project) or tags (repository) the registry listed: it answered. */
async function reach(client: RegistryClient, source: RegistrySource): Promise<number> {
  if (source.scope.kind === 'repository') return (await client.listTags(source.scope.repository)).length;
  const project = source.scope.project;
  const harbor = await client.harborRepositories(project);
  if (harbor !== undefined) return harbor.length;
  return (await client.catalog()).filter((name) => name.startsWith(`${project}/`)).length;
}

export async function subscribeRegistry(url: string, flags: SubscribeFlagsSeen, cmd: Command): Promise<void> {
  const parsed = parseRegistryUrl(url, flags.repository === true, flags.tagPattern);
  const credentials = await registryCredentials(flags);
  const [{ uuid5 }, { getSubscription, insertSubscription }, { RegistryClient: Client }, { registryView }] =
    await Promise.all([
      import('../../shared/uuid5.js'),
      import('../store/subscriptions.js'),
      import('../../shared/oci/client.js'),
      import('../views.js'),
    ]);
  const id = uuid5(parsed.url);
  const result = await withCatcher(cmd, async (catcher) => {
    const { db } = catcher;
    const taken = () => {
      const existing = getSubscription(db, id) ?? getSubscription(db, parsed.url);
      if (existing !== undefined)
        throw new VmiError('USAGE', `${parsed.url} is already subscribed as ${existing.id}`);
    };
    taken();
    // The catcher's own client: TLS as for downloads (system CAs, grid CAs, downloads.caFile).
    const client = new Client({
      registry: parsed.source.registry,
      http: await catcher.http(),
      ...(credentials === undefined ? {} : { credentials }),
    });
    const seen = await reach(client, parsed.source);
    const now = flags.at ?? catcher.clock();
    db.transaction(() => {
      taken();
      insertSubscription(
        db,
        {
          id,
          url: parsed.url,
          vo: flags.vo ?? null,
          requireVoms: false,
          fqan: null,
          newImages: flags.newImages,
          trust: {},
          username: credentials?.username ?? null,
          password: credentials?.password ?? null,
          endorsers: [],
          registry: parsed.source,
        },
        now,
      );
    }).immediate();
    return { id, url: parsed.url, seen, registry: registryView(parsed.source) };
  });
  if (flags.json === true) {
    printJson({
      ok: true,
      id: result.id,
      version: null,
      title: result.url,
      images: null,
      endorser: null,
      url: result.url,
      source: 'registry',
      signed: false,
      registry: result.registry,
      newImages: flags.newImages,
      seen: result.seen,
    });
    return;
  }
  process.stdout.write(`${result.id}\n`);
  process.stderr.write(
    `vmicatcher: ${result.id}: following ${result.url} without a signature (--unsigned): ` +
      `trust rests on the registry and its TLS\n`,
  );
}
