/**
 * A publisher for catcher tests: a real HTTP server serving images and a list signed at
 * run time by the test grid. Change one thing, publish, sync, assert.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { formatListDate } from '../../src/shared/imagelist/dates.js';
import { makeGrid, signDocument, type Grid } from './grid.js';
import { makeImage, makeList, sha512 } from './lists.js';
import { TestServer } from './server.js';
import type { TestCert } from './x509.js';

export interface RepoImage {
  identifier: string;
  bytes: Uint8Array;
  entry: JsonObject;
}

export interface PublishOptions {
  version?: string;
  created?: Date;
  expires?: Date;
  vo?: string;
  identifier?: string;
  images?: RepoImage[];
  appliances?: JsonObject[];
  signer?: TestCert;
  chain?: TestCert[];
  endorser?: { dn: string; ca: string };
  path?: string;
}

export class Repo {
  readonly listId = randomUUID();
  images: RepoImage[] = [];
  appliances: JsonObject[] = [];
  private version = 0;

  private constructor(
    readonly grid: Grid,
    readonly server: TestServer,
  ) {}

  static async create(grid?: Grid): Promise<Repo> {
    return new Repo(grid ?? (await makeGrid()), await TestServer.start());
  }

  get listUrl(): string {
    return this.server.url('/list.smime');
  }

  /** Serves new bytes and returns the list entry (not yet added to the list). */
  image(
    bytes: Uint8Array | string,
    spec: { identifier?: string; version?: string; extra?: JsonObject } = {},
  ): RepoImage {
    const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
    const identifier = spec.identifier ?? randomUUID();
    const path = `/images/${identifier}-${sha512(data).slice(0, 8)}.img`;
    const uri = this.server.set(path, data);
    const entry = makeImage({
      identifier,
      bytes: data,
      uri,
      version: spec.version ?? '1',
      ...(spec.extra === undefined ? {} : { extra: spec.extra }),
    })['hv:image'] as JsonObject;
    return { identifier, bytes: data, entry };
  }

  /** Adds an image to the list and returns it. */
  add(bytes: Uint8Array | string, spec: Parameters<Repo['image']>[1] = {}): RepoImage {
    const image = this.image(bytes, spec);
    this.images.push(image);
    return image;
  }

  /** Replaces an image of the list (by identifier) with `replacement`. */
  replace(identifier: string, replacement: RepoImage): void {
    this.images = this.images.map((i) => (i.identifier === identifier ? replacement : i));
  }

  remove(identifier: string): void {
    this.images = this.images.filter((i) => i.identifier !== identifier);
  }

  document(options: PublishOptions = {}): JsonObject {
    const version = options.version ?? String(++this.version);
    const signer = options.signer ?? this.grid.publisher;
    const doc = makeList({
      identifier: options.identifier ?? this.listId,
      version,
      dn: options.endorser?.dn ?? signer.subject,
      ca: options.endorser?.ca ?? this.grid.intermediate.subject,
      ...(options.vo === undefined ? {} : { vo: options.vo }),
      created: options.created ?? new Date(Date.now() - 60_000),
      expires: options.expires ?? new Date(Date.now() + 28 * 86400_000),
      images: (options.images ?? this.images).map((i) => ({ 'hv:image': i.entry })),
    });
    const list = doc['hv:imagelist'] as JsonObject;
    list['hv:uri'] = this.listUrl;
    const appliances = options.appliances ?? this.appliances;
    if (appliances.length > 0) list['vmi:appliances'] = appliances;
    return doc;
  }

  /** Signs and serves the list; returns the signed bytes. */
  publish(options: PublishOptions = {}): Uint8Array {
    const signed = signDocument(
      this.document(options),
      options.signer ?? this.grid.publisher,
      options.chain ?? [this.grid.intermediate],
    );
    this.server.set(options.path ?? '/list.smime', signed, { contentType: 'application/pkcs7-mime' });
    return signed;
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }
}

export function entryWith(image: RepoImage, extra: JsonObject): RepoImage {
  return { ...image, entry: { ...image.entry, ...extra } };
}

export function dateIn(ms: number): string {
  return formatListDate(new Date(Date.now() + ms));
}

export function sha512Of(bytes: Uint8Array): string {
  return createHash('sha512').update(bytes).digest('hex');
}
