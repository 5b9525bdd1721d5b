import { isDigest, isRepositoryName } from './reference.js';

/**
 * A registry blob named by digest in an image list (issue 15): `https://<registry>/v2/<repo>/blobs/sha256:<hex>`.
 * Any HTTP client fetches it from an open registry; vmicast also answers a registry's token
 * challenge (anonymous pulls from Harbor need one) and checks the bytes against the digest
 * in the URL besides the list's SHA-512, in the same pass (docs/registry.md).
 */
export interface RegistryBlob {
  /** `host[:port]` */
  registry: string;
  repository: string;
  /** `sha256:<hex>` */
  digest: string;
  /** The hex of the SHA-256 the bytes must have. */
  sha256: string;
}

const BLOB_PATH = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;

/** The blob an https URL names, or undefined for any other URL (no query, no fragment, no userinfo). */
export function registryBlob(uri: string): RegistryBlob | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (
    url.protocol !== 'https:' ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username !== '' ||
    url.password !== ''
  )
    return undefined;
  const m = BLOB_PATH.exec(url.pathname);
  const repository = m?.[1];
  const digest = m?.[2];
  if (repository === undefined || digest === undefined) return undefined;
  if (!isRepositoryName(repository) || !isDigest(digest)) return undefined;
  return { registry: url.host, repository, digest, sha256: digest.slice('sha256:'.length) };
}

/**
 * The SHA-512 an instance carries until its bytes are measured: an unsigned registry image
 * is known by its layer's sha256 only. The placeholder cannot be taken for a SHA-512 (128
 * hex digits); the download checks the sha256, measures the SHA-512 and stores it.
 */
export function pendingSha512(sha256hex: string): string {
  return `sha256:${sha256hex}`;
}

/** The sha256 hex of a placeholder made by `pendingSha512`, or undefined for a real SHA-512. */
export function pendingSha256(sha512: string): string | undefined {
  const m = /^sha256:([a-f0-9]{64})$/.exec(sha512);
  return m?.[1];
}
