import { VmiError } from '../../shared/errors.js';
import { mapLimited } from '../../shared/limited.js';
import type { FetchedManifest, RegistryClient } from '../../shared/oci/client.js';
import { checkRepository, isDigest } from '../../shared/oci/reference.js';
import { EGI_TAG, safeLine } from './entry.js';
import type { DiscoveredArtefact, DiscoveredReferrer, RegistrySource } from './source.js';

/**
 * What a registry subscription follows right now (issue 15): the tagged artefacts of a
 * project or repository whose tag matches the subscription's pattern, read as EGI's central
 * sync reads them (the first layer's digest and annotations; no `eu.egi.cloud.tag`, no image).
 *
 * Any failure to list or to read a manifest throws: the caller then changes nothing. A
 * partial answer would look as if images had been removed from the registry and retire them.
 * Artefacts that are not images in EGI's sense are skipped with a reason instead.
 */

export type { DiscoveredArtefact, DiscoveredReferrer } from './source.js';

export interface Discovery {
  artefacts: DiscoveredArtefact[];
  skipped: { reference: string; reason: string }[];
}

export interface DiscoverOptions {
  signal?: AbortSignal;
  /** Most repositories a project may hold (default 1000). */
  maxRepositories?: number;
  /** Most tags of one repository that match the pattern (default 1000). */
  maxTags?: number;
}

export const DEFAULT_MAX_REPOSITORIES = 1000;
export const DEFAULT_MAX_TAGS = 1000;
/** Manifest (and tag list) requests in flight at once. */
const PARALLEL = 8;
/** Referrers kept per artefact: the SBOM is one; a registry cannot grow an entry without bound. */
const MAX_REFERRERS = 16;
/** The tag the referrers fallback keeps its index under (OCI distribution 1.1). */
const REFERRERS_TAG = /^sha256-[a-f0-9]{64}$/;

type Candidate = { repository: string; tag: string };
type Outcome = { artefact: DiscoveredArtefact } | { skipped: { reference: string; reason: string } };

function tagMatcher(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch {
    throw new VmiError('CONFIG_INVALID', `the tag pattern is not a regular expression: ${pattern}`);
  }
}

/**
 * `fn` for mapLimited, made to do nothing once one call failed: the discovery is lost then,
 * and the other workers should not go on fetching.
 */
function stopOnFailure<T, R>(fn: (item: T) => Promise<R>): (item: T) => Promise<R | undefined> {
  let failed = false;
  return async (item) => {
    if (failed) return undefined;
    try {
      return await fn(item);
    } catch (err) {
      failed = true;
      throw err;
    }
  };
}

async function repositories(client: RegistryClient, source: RegistrySource, max: number): Promise<string[]> {
  let names: string[];
  if (source.scope.kind === 'repository') {
    names = [checkRepository(source.scope.repository)];
  } else {
    const project = source.scope.project;
    const harbor = await client.harborRepositories(project);
    names =
      harbor === undefined
        ? (await client.catalog()).filter((name) => name.startsWith(`${project}/`))
        : harbor.map((name) => `${project}/${name}`);
  }
  const unique = [...new Set(names)].sort();
  if (unique.length > max) {
    throw new VmiError(
      'LIST_TOO_LARGE',
      `${client.registry}: more than ${max} repositories to follow (the cap is ${max})`,
    );
  }
  return unique;
}

async function candidates(
  client: RegistryClient,
  repos: string[],
  pattern: RegExp,
  max: number,
  signal: AbortSignal | undefined,
): Promise<{ found: Candidate[]; skipped: Discovery['skipped'] }> {
  const lists = await mapLimited(
    repos,
    PARALLEL,
    stopOnFailure(async (repository: string) => {
      signal?.throwIfAborted();
      return { repository, tags: await client.listTags(repository) };
    }),
  );
  const found: Candidate[] = [];
  const skipped: Discovery['skipped'] = [];
  for (const listed of lists) {
    if (listed === undefined) continue;
    const { repository, tags } = listed;
    const kept = [...new Set(tags)].filter((tag) => pattern.test(tag)).sort();
    const images = kept.filter((tag) => !REFERRERS_TAG.test(tag));
    for (const tag of kept.filter((t) => REFERRERS_TAG.test(t))) {
      skipped.push({ reference: `${client.registry}/${repository}:${tag}`, reason: 'a referrers tag' });
    }
    if (images.length > max) {
      throw new VmiError(
        'LIST_TOO_LARGE',
        `${client.registry}/${repository}: more than ${max} tags match the pattern (the cap is ${max})`,
      );
    }
    for (const tag of images) found.push({ repository, tag });
  }
  return { found, skipped };
}

/** Why EGI's sync would not take this manifest as an image, or undefined. */
function notAnImage(fetched: FetchedManifest): string | undefined {
  if (fetched.kind === 'index') return 'an index of several manifests, not one image';
  const layer = fetched.manifest.layers[0];
  if (layer === undefined) return 'a manifest without layers';
  if (!isDigest(layer.digest)) return 'the first layer digest is not sha256';
  if (!Number.isSafeInteger(layer.size) || layer.size < 0) return 'the first layer size is not a size';
  const egiTag = layer.annotations?.[EGI_TAG];
  if (egiTag === undefined) return `the first layer has no ${EGI_TAG} annotation`;
  if (safeLine(egiTag) === undefined) return `the first layer's ${EGI_TAG} is not a plain value`;
  return undefined;
}

async function referrersOf(
  client: RegistryClient,
  repository: string,
  digest: string,
  signal: AbortSignal | undefined,
): Promise<DiscoveredReferrer[]> {
  try {
    const found = await client.referrers(repository, digest);
    return found.slice(0, MAX_REFERRERS).map((d) => ({
      digest: d.digest,
      artifactType: d.artifactType ?? '',
      mediaType: d.mediaType,
      size: d.size,
    }));
  } catch {
    // Optional: an SBOM the registry cannot show does not stop the image. An abort does.
    signal?.throwIfAborted();
    return [];
  }
}

async function inspect(
  client: RegistryClient,
  { repository, tag }: Candidate,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  signal?.throwIfAborted();
  const reference = `${client.registry}/${repository}:${tag}`;
  const fetched = await client.getManifest(repository, tag);
  const reason = notAnImage(fetched);
  if (reason !== undefined || fetched.kind !== 'manifest') {
    return { skipped: { reference, reason: reason ?? 'not an image manifest' } };
  }
  const layer = fetched.manifest.layers[0];
  if (layer === undefined) return { skipped: { reference, reason: 'a manifest without layers' } };
  signal?.throwIfAborted();
  return {
    artefact: {
      registry: client.registry,
      repository,
      tag,
      manifestDigest: fetched.digest,
      layer: {
        digest: layer.digest,
        size: layer.size,
        mediaType: layer.mediaType,
        annotations: { ...layer.annotations },
      },
      manifestAnnotations: { ...fetched.manifest.annotations },
      referrers: await referrersOf(client, repository, fetched.digest, signal),
    },
  };
}

/** The artefacts `source` follows now, sorted by repository and tag; throws on any failure. */
export async function discover(
  client: RegistryClient,
  source: RegistrySource,
  options: DiscoverOptions = {},
): Promise<Discovery> {
  const { signal } = options;
  const pattern = tagMatcher(source.tagPattern);
  signal?.throwIfAborted();
  const repos = await repositories(client, source, options.maxRepositories ?? DEFAULT_MAX_REPOSITORIES);
  const { found, skipped } = await candidates(
    client,
    repos,
    pattern,
    options.maxTags ?? DEFAULT_MAX_TAGS,
    signal,
  );
  const outcomes = await mapLimited(
    found,
    PARALLEL,
    stopOnFailure((candidate: Candidate) => inspect(client, candidate, signal)),
  );
  const artefacts: DiscoveredArtefact[] = [];
  for (const outcome of outcomes) {
    if (outcome === undefined) continue;
    if ('artefact' in outcome) artefacts.push(outcome.artefact);
    else skipped.push(outcome.skipped);
  }
  skipped.sort((a, b) => (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0));
  return { artefacts, skipped };
}
