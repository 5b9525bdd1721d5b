/**
 * The repository simulator of the conformance harness (issue 8), after python-tuf's
 * RepositorySimulator: a real HTTP server publishing image lists signed at run time by the
 * test grid, with a history of every version it signed, so that a scenario can go back in
 * time (serve an old version), re-sign, withhold a newer version (keep serving a stale
 * one), swap the signature of one version onto another, serve wrong bytes under a listed
 * image URL, and inject transfer faults. Built on test/helpers/repo.ts and server.ts.
 */
import { composeEnvelope, splitEnvelope } from '../../src/shared/smime.js';
import { makeGrid, publisherSpec, signDocument, type Grid } from '../helpers/grid.js';
import { writeTrustDir } from '../helpers/pki.js';
import { Repo, type PublishOptions, type RepoImage } from '../helpers/repo.js';
import type { Fault } from '../helpers/server.js';
import { issue, type TestCert } from '../helpers/x509.js';

export const LIST_PATH = '/list.smime';
const HOUR = 3600_000;

/** One signed version as the publisher (or an attacker with a key) made it. */
export interface Signed {
  version: string;
  bytes: Uint8Array;
  images: RepoImage[];
}

export class Simulator {
  readonly history: Signed[] = [];
  private served: Signed | undefined;

  private constructor(readonly repo: Repo) {}

  static async create(grid?: Grid): Promise<Simulator> {
    return new Simulator(await Repo.create(grid ?? (await makeGrid())));
  }

  get grid(): Grid {
    return this.repo.grid;
  }

  get url(): string {
    return this.repo.listUrl;
  }

  get listId(): string {
    return this.repo.listId;
  }

  /** The endorser flags of `vmicatcher subscribe` for the grid's publisher. */
  get endorser(): string[] {
    return ['--endorser-dn', this.grid.publisher.subject, '--endorser-ca', this.grid.intermediate.subject];
  }

  /** Adds a served image to the list (not published yet). */
  add(content: string, spec: Parameters<Repo['image']>[1] = {}): RepoImage {
    return this.repo.add(content, spec);
  }

  /** Signs a version without serving it (a withheld or an attacker's version). */
  sign(options: PublishOptions = {}): Signed {
    const chain = options.chain ?? [this.grid.intermediate];
    const signer = options.signer ?? this.grid.publisher;
    const doc = this.repo.document(options);
    const list = doc['hv:imagelist'] as Record<string, unknown>;
    const signed: Signed = {
      version: list['hv:version'] as string,
      bytes: signDocument(doc, signer, chain),
      images: [...(options.images ?? this.repo.images)],
    };
    this.history.push(signed);
    return signed;
  }

  /** Signs and serves a new version. */
  publish(options: PublishOptions = {}): Signed {
    const signed = this.sign(options);
    this.serve(signed);
    return signed;
  }

  /** Serves any version again: go back in time, replay, or keep serving a stale one. */
  serve(signed: Signed | Uint8Array): void {
    const bytes = signed instanceof Uint8Array ? signed : signed.bytes;
    if (!(signed instanceof Uint8Array)) this.served = signed;
    this.repo.server.set(LIST_PATH, bytes, { contentType: 'application/pkcs7-mime' });
  }

  /** What is served now (the last version given to serve or publish). */
  get current(): Signed | undefined {
    return this.served;
  }

  /** The signed part of `content` with the signature of `signature` (mix-and-match of two versions). */
  swapSignature(content: Signed, signature: Signed): Uint8Array {
    return composeEnvelope(
      splitEnvelope(content.bytes).signedBytes,
      splitEnvelope(signature.bytes).signature,
      'sha256',
    );
  }

  /** Serves `bytes` at the URL the list gives for `image` (wrong software under a right name). */
  swapImage(image: RepoImage, bytes: Uint8Array | string): void {
    this.repo.server.set(new URL(image.entry['hv:uri'] as string).pathname, bytes);
  }

  /** Queues transfer faults for the list or for an image (one per request). */
  fault(target: RepoImage | 'list', ...faults: Fault[]): void {
    const path = target === 'list' ? LIST_PATH : new URL(target.entry['hv:uri'] as string).pathname;
    this.repo.server.fault(path, ...faults);
  }

  /** A certificate of the grid's CA with the publisher's DN and another key (a re-key, or a stolen key). */
  rekeyedPublisher(): TestCert {
    return issue(publisherSpec(this.grid.intermediate));
  }

  /** A certificate of the grid's CA for someone the subscription does not trust. */
  stranger(): TestCert {
    return issue(
      publisherSpec(this.grid.intermediate, {
        subject: '/DC=org/DC=example/O=Hosts/CN=stranger.example.org',
      }),
    );
  }

  /** Rewrites the CA's CRL in the trust directory with these certificates revoked. */
  async revoke(...certs: TestCert[]): Promise<void> {
    await writeTrustDir(this.grid.caDir, [
      [this.grid.root],
      [this.grid.intermediate, { crl: { revoked: certs, thisUpdate: new Date(Date.now() - HOUR) } }],
    ]);
  }

  async stop(): Promise<void> {
    await this.repo.stop();
  }
}

/** `now` plus some hours, as the ISO string `--at` takes. */
export function hoursFrom(base: Date, hours: number): string {
  return new Date(base.getTime() + hours * HOUR).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
