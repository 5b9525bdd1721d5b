/**
 * A client of one OCI registry (distribution spec 1.1, Harbor's project API): tags, catalog,
 * manifests checked against their digest, referrers, blob URLs with the header a streaming
 * downloader sends, and pushes. Always https, TLS verified against the system CAs plus an
 * optional extra CA file (as the Glance backend's caFile).
 *
 * Blob downloads are left to the caller's streaming code: it GETs `blobUrl()` through the
 * project's HTTP client (shared/http.ts) with `headers: { authorization }` from `authorization()`. Registries
 * may redirect a blob GET to another host (a storage bucket with a signed URL); the client drops
 * the Authorization header when a redirect leaves the registry's origin (host or port
 * differs), and http.ts refuses https-to-http redirects, so the header only ever reaches the
 * registry. A caller must pass the header in the request's `headers` (never in the URL's userinfo).
 */
import { readFileSync } from 'node:fs';
import { VmiError } from '../errors.js';
import { createHttpClient, type HttpClient } from '../http.js';
import { RegistryAuth, repositoryScope, type Credentials } from './auth.js';
import { sha256Hex } from './digest.js';
import { listCatalog, listHarborRepositories, listTags } from './listing.js';
import {
  INDEX_TYPES,
  MANIFEST_TYPES,
  MEDIA_TYPES,
  parseImageManifest,
  parseIndex,
  parseJson,
  type OciDescriptor,
  type OciImageManifest,
  type OciIndex,
} from './manifest.js';
import type { CallOptions, RegistryCaller } from './caller.js';
import { pushBlob, putManifest, type BlobSource, type PushedBlob } from './push.js';
import { checkDigest, checkRegistry, checkRepository, checkTagOrDigest, shown } from './reference.js';
import { exchange, header, statusError, type Answer } from './transport.js';

export interface RegistryClientOptions {
  /** `host[:port]`, reached over https. */
  registry: string;
  credentials?: Credentials;
  /** A PEM file of extra CA certificates (a site or test CA). */
  caFile?: string;
  /** An HTTP client of the project's own (http.ts); made here when absent. */
  http?: HttpClient;
  /** Largest manifest or index read (default 4 MiB). */
  maxManifestBytes?: number;
  now?: () => number;
}

export type FetchedManifest = {
  /** The media type the manifest declares (or, without one, the Content-Type it came with). */
  mediaType: string;
  /** sha256 of `bytes`, equal to the digest asked for and to Docker-Content-Digest. */
  digest: string;
  bytes: Buffer;
} & ({ kind: 'manifest'; manifest: OciImageManifest } | { kind: 'index'; index: OciIndex });

export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_API_ANSWER = 4 * 1024 * 1024;
const ACCEPT_MANIFEST = [...MANIFEST_TYPES, ...INDEX_TYPES].join(', ');

export type { CallOptions } from './caller.js';

export class RegistryClient implements RegistryCaller {
  readonly registry: string;
  readonly origin: string;
  readonly http: HttpClient;
  readonly maxManifestBytes: number;
  private readonly auth: RegistryAuth;
  private readonly credentials: Credentials | undefined;

  constructor(options: RegistryClientOptions) {
    this.registry = checkRegistry(options.registry);
    this.origin = `https://${this.registry}`;
    let extraCaPem: string[] = [];
    if (options.caFile !== undefined) {
      try {
        extraCaPem = [readFileSync(options.caFile, 'latin1')];
      } catch (err) {
        throw new VmiError('CONFIG_INVALID', `registry CA file ${options.caFile}: ${(err as Error).message}`);
      }
    }
    this.http = options.http ?? createHttpClient({ extraCaPem });
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    this.credentials = options.credentials;
    this.auth = new RegistryAuth(this.http, options.credentials, options.now);
  }

  /** Basic credentials for APIs outside the token flow (Harbor's), or undefined. */
  basicAuthorization(): string | undefined {
    if (this.credentials === undefined) return undefined;
    const { username, password } = this.credentials;
    return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  /**
   * One request with the distribution auth flow: the known Authorization is sent, a 401 is
   * answered once (a streamed body is made anew for the retry).
   */
  async call(url: URL | string, scope: string, options: CallOptions = {}): Promise<Answer> {
    const target = typeof url === 'string' ? new URL(url, this.origin) : url;
    if (target.origin !== this.origin) {
      throw new VmiError(
        'FETCH_FAILED',
        `refusing to follow the registry to another origin (${target.origin})`,
      );
    }
    const send = (authorization: string | undefined) => {
      const body = typeof options.body === 'function' ? options.body() : options.body;
      return exchange(this.http, target, {
        ...(options.method === undefined ? {} : { method: options.method }),
        headers: { ...options.headers, authorization },
        ...(body === undefined ? {} : { body }),
        maxBytes: options.maxBytes ?? MAX_API_ANSWER,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      });
    };
    const sent = await this.auth.headerFor(scope);
    let answer = await send(sent);
    if (answer.status === 401) answer = await send(await this.auth.challenged(answer, scope, sent));
    if (answer.status === 401) throw this.auth.refusal(target.pathname);
    return answer;
  }

  /** A GET outside the distribution auth flow (Harbor's API), on the registry's origin. */
  callPlain(url: URL, headers: Record<string, string | undefined>): Promise<Answer> {
    if (url.origin !== this.origin)
      throw new VmiError('FETCH_FAILED', `refusing another origin (${url.origin})`);
    return exchange(this.http, url, {
      headers: { accept: 'application/json', ...headers },
      maxBytes: MAX_API_ANSWER,
    });
  }

  /** Learns how the registry authenticates (GET /v2/), once. */
  private async ping(): Promise<void> {
    if (this.auth.known) return;
    const answer = await exchange(this.http, new URL('/v2/', this.origin), { maxBytes: MAX_API_ANSWER });
    if (answer.status !== 200 && answer.status !== 401) {
      throw statusError(answer, `${this.origin}/v2/ (not a registry?)`);
    }
    this.auth.learn(answer);
  }

  /** The Authorization value a blob GET of `repo` should carry, or undefined (open registry). */
  async authorization(repo: string, actions: readonly string[] = ['pull']): Promise<string | undefined> {
    await this.ping();
    return this.auth.headerFor(repositoryScope(checkRepository(repo), actions));
  }

  blobUrl(repo: string, digest: string): string {
    return `${this.origin}/v2/${checkRepository(repo)}/blobs/${checkDigest(digest)}`;
  }

  async listTags(repo: string): Promise<string[]> {
    return listTags(this, checkRepository(repo));
  }

  async catalog(): Promise<string[]> {
    return listCatalog(this);
  }

  /** Repository names of a Harbor project without the project prefix; undefined when not Harbor. */
  async harborRepositories(project: string): Promise<string[] | undefined> {
    return listHarborRepositories(this, project);
  }

  async getManifest(repo: string, tagOrDigest: string): Promise<FetchedManifest> {
    const name = checkRepository(repo);
    const reference = checkTagOrDigest(tagOrDigest);
    const answer = await this.call(`/v2/${name}/manifests/${reference}`, repositoryScope(name, ['pull']), {
      headers: { accept: ACCEPT_MANIFEST },
      maxBytes: this.maxManifestBytes,
    });
    if (answer.status !== 200) throw statusError(answer, `manifest ${name}:${reference}`);
    return checkedManifest(answer, reference.startsWith('sha256:') ? reference : undefined);
  }

  /** Manifests that refer to `digest` (OCI 1.1 referrers API, else the `sha256-<hex>` tag). */
  async referrers(repo: string, digest: string, artifactType?: string): Promise<OciDescriptor[]> {
    const name = checkRepository(repo);
    checkDigest(digest);
    const answer = await this.call(`/v2/${name}/referrers/${digest}`, repositoryScope(name, ['pull']), {
      headers: { accept: MEDIA_TYPES.ociIndex },
      maxBytes: this.maxManifestBytes,
    });
    let index: OciIndex;
    if (answer.status === 200) {
      index = parseIndex(parseJson(answer.body, 'registry referrers'));
    } else if (answer.status === 404) {
      // Distribution 2.8 has no referrers API: clients keep an index under this tag instead.
      const fallback = await this.call(
        `/v2/${name}/manifests/${digest.replace(':', '-')}`,
        repositoryScope(name, ['pull']),
        {
          headers: { accept: INDEX_TYPES.join(', ') },
          maxBytes: this.maxManifestBytes,
        },
      );
      if (fallback.status === 404) return [];
      if (fallback.status !== 200) throw statusError(fallback, `referrers tag of ${name}@${digest}`);
      index = parseIndex(parseJson(fallback.body, 'registry referrers tag'));
    } else {
      throw statusError(answer, `referrers of ${name}@${digest}`);
    }
    return index.manifests.filter((m) => artifactType === undefined || m.artifactType === artifactType);
  }

  /** Uploads a blob (a file streamed, or bytes) unless the registry has it already. */
  async pushBlob(repo: string, source: BlobSource): Promise<PushedBlob> {
    return pushBlob(this, checkRepository(repo), source);
  }

  /** Stores a manifest or index under a tag or its digest; returns its digest. */
  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    return putManifest(this, checkRepository(repo), checkTagOrDigest(reference), bytes, mediaType);
  }
}

/** Parses a manifest answer and checks its bytes against every digest that names them. */
function checkedManifest(answer: Answer, wanted: string | undefined): FetchedManifest {
  const digest = `sha256:${sha256Hex(answer.body)}`;
  if (wanted !== undefined && digest !== wanted) {
    throw new VmiError(
      'IMAGE_DIGEST_MISMATCH',
      `registry served a manifest of digest ${digest} for ${wanted}`,
    );
  }
  const claimed = header(answer, 'docker-content-digest');
  if (claimed !== undefined && claimed !== digest) {
    throw new VmiError(
      'IMAGE_DIGEST_MISMATCH',
      `registry manifest bytes are ${digest}, its header says ${shown(claimed)}`,
    );
  }
  const doc = parseJson(answer.body, 'registry manifest');
  const declared = (doc as { mediaType?: unknown }).mediaType;
  const contentType = header(answer, 'content-type')?.split(';')[0]?.trim();
  const mediaType = typeof declared === 'string' ? declared : contentType;
  if (typeof declared === 'string' && contentType !== undefined && declared !== contentType) {
    throw new VmiError(
      'LIST_MALFORMED',
      `registry manifest declares ${shown(declared)} but came as ${shown(contentType)}`,
    );
  }
  if (mediaType !== undefined && MANIFEST_TYPES.includes(mediaType)) {
    return { kind: 'manifest', mediaType, digest, bytes: answer.body, manifest: parseImageManifest(doc) };
  }
  if (mediaType !== undefined && INDEX_TYPES.includes(mediaType)) {
    return { kind: 'index', mediaType, digest, bytes: answer.body, index: parseIndex(doc) };
  }
  throw new VmiError(
    'FORMAT_UNSUPPORTED',
    `registry manifest of unsupported type ${shown(String(mediaType))}`,
  );
}
