/**
 * Pushes (distribution spec "push"): a blob by a monolithic upload (POST to open a session,
 * PUT `?digest=` with the whole body), skipped when HEAD says the registry has it; and a
 * manifest by PUT. A file is streamed twice (once to hash, once to send) and never loaded
 * whole; the registry checks the digest it is given against what it received.
 */
import { createReadStream } from 'node:fs';
import { VmiError } from '../errors.js';
import { repositoryScope } from './auth.js';
import type { RegistryCaller as RegistryClient } from './caller.js';
import { sha256File, sha256Hex } from './digest.js';
import { INDEX_TYPES, MANIFEST_TYPES } from './manifest.js';
import { shown } from './reference.js';
import { header, statusError } from './transport.js';

/** A file path (streamed) or bytes in memory (small blobs: configs, SBOMs). */
/** A file (hashed here), bytes, or a file whose digest and size the caller measured already. */
export type BlobSource = string | Buffer | MeasuredFile;

export interface MeasuredFile {
  path: string;
  /** `sha256:<hex>` */
  digest: string;
  size: number;
}

export interface PushedBlob {
  digest: string;
  size: number;
  /** True when the registry had the blob already and nothing was sent. */
  existed: boolean;
}

const UPLOAD_TIMEOUT_MS = 10 * 60_000;

function checkEcho(answered: string | undefined, digest: string, what: string): void {
  if (answered !== undefined && answered !== digest) {
    throw new VmiError(
      'IMAGE_DIGEST_MISMATCH',
      `${what}: registry stored ${shown(answered)}, vmicast sent ${digest}`,
    );
  }
}

export async function pushBlob(
  client: RegistryClient,
  repo: string,
  source: BlobSource,
): Promise<PushedBlob> {
  const { digest, size } =
    typeof source === 'string'
      ? await sha256File(source)
      : Buffer.isBuffer(source)
        ? { digest: `sha256:${sha256Hex(source)}`, size: source.length }
        : source;
  const path = typeof source === 'string' ? source : Buffer.isBuffer(source) ? undefined : source.path;
  const scope = repositoryScope(repo, ['pull', 'push']);
  const head = await client.call(`/v2/${repo}/blobs/${digest}`, scope, { method: 'HEAD' });
  if (head.status === 200) return { digest, size, existed: true };
  if (head.status !== 404) throw statusError(head, `blob ${repo}@${digest}`);
  const opened = await client.call(`/v2/${repo}/blobs/uploads/`, scope, {
    method: 'POST',
    headers: { 'content-length': '0' },
  });
  const location = header(opened, 'location');
  if (opened.status !== 202 || location === undefined) throw statusError(opened, `upload to ${repo}`);
  // The session URL may be relative; call() refuses one on another origin, so neither the
  // credentials nor the bytes leave the registry.
  const target = new URL(location, client.origin);
  target.searchParams.set('digest', digest);
  const done = await client.call(target, scope, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: path === undefined ? (source as Buffer) : () => createReadStream(path),
    timeoutMs: UPLOAD_TIMEOUT_MS,
  });
  if (done.status !== 201) throw statusError(done, `upload of ${digest} to ${repo}`);
  checkEcho(header(done, 'docker-content-digest'), digest, `upload to ${repo}`);
  return { digest, size, existed: false };
}

export async function putManifest(
  client: RegistryClient,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<string> {
  if (!MANIFEST_TYPES.includes(mediaType) && !INDEX_TYPES.includes(mediaType)) {
    throw new VmiError('CONFIG_INVALID', `not a manifest media type: ${shown(mediaType)}`);
  }
  if (bytes.length > client.maxManifestBytes) {
    throw new VmiError('CONFIG_INVALID', `manifest larger than ${client.maxManifestBytes} bytes`);
  }
  const digest = `sha256:${sha256Hex(bytes)}`;
  if (reference.startsWith('sha256:') && reference !== digest) {
    throw new VmiError('IMAGE_DIGEST_MISMATCH', `manifest bytes are ${digest}, not ${reference}`);
  }
  const answer = await client.call(
    `/v2/${repo}/manifests/${reference}`,
    repositoryScope(repo, ['pull', 'push']),
    {
      method: 'PUT',
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
    },
  );
  if (answer.status !== 201) throw statusError(answer, `manifest ${repo}:${reference}`);
  checkEcho(header(answer, 'docker-content-digest'), digest, `manifest ${repo}:${reference}`);
  return digest;
}
