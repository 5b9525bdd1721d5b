import { VmiError } from '../../shared/errors.js';
import { checkRegistry, isRepositoryName } from '../../shared/oci/reference.js';
import type { RegistrySource } from '../registry/source.js';

/** True for a registry in the canonical form the subscribe command stores (`host[:port]`, lower case). */
function canonicalRegistry(host: string): boolean {
  try {
    return checkRegistry(host) === host;
  } catch {
    return false;
  }
}

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

/**
 * `subscriptions.registry_json` read back, checked again as it is read: a row that does not
 * parse is an error, never silently a list subscription (which would then be fetched as a URL),
 * nor a source with a name outside the distribution grammar.
 */
export function parseRegistrySource(id: string, json: string): RegistrySource {
  const bad = (why: string) =>
    new VmiError('CONFIG_INVALID', `stored registry subscription ${id} is unreadable: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw bad('not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw bad('not an object');
  const d = doc as Partial<Record<keyof RegistrySource, unknown>>;
  if (d.unsigned !== true) throw bad('"unsigned" is not true');
  if (typeof d.registry !== 'string' || !canonicalRegistry(d.registry)) throw bad('no valid registry');
  if (typeof d.tagPattern !== 'string' || !compiles(d.tagPattern)) throw bad('no valid tag pattern');
  const scope = d.scope as { kind?: unknown; project?: unknown; repository?: unknown } | null | undefined;
  const base = { registry: d.registry, tagPattern: d.tagPattern, unsigned: true } as const;
  if (
    scope?.kind === 'project' &&
    typeof scope.project === 'string' &&
    isRepositoryName(scope.project) &&
    !scope.project.includes('/')
  ) {
    return { ...base, scope: { kind: 'project', project: scope.project } };
  }
  if (
    scope?.kind === 'repository' &&
    typeof scope.repository === 'string' &&
    isRepositoryName(scope.repository)
  ) {
    return { ...base, scope: { kind: 'repository', repository: scope.repository } };
  }
  throw bad('no valid project or repository');
}
