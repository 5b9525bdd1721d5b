/**
 * Registry references `host[:port]/path/repo[:tag][@sha256:hex]` (optionally prefixed with
 * `oci://` or `docker://`) and the name grammars of the OCI distribution spec. Every string
 * here may come from a list or a registry, so anything outside the grammar is refused; the
 * caller picks the code (CONFIG_INVALID for configuration and the command line, LIST_MALFORMED
 * for what a registry or a list said).
 */
import { VmiError, type ErrorCode } from '../errors.js';

export interface ImageReference {
  /** `host` or `host:port`, the host in lower case; always reached over https. */
  registry: string;
  /** Repository name inside the registry, e.g. `egi_vm_images/ubuntu`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

export type ReferenceErrorCode = Extract<ErrorCode, 'CONFIG_INVALID' | 'LIST_MALFORMED'>;

/** Distribution spec: many clients limit host + '/' + name to 255 characters. */
export const MAX_REPOSITORY_LENGTH = 255;

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_RE = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::([0-9]{1,5}))?$`);

/** A short, quoted, control-free rendering of a hostile string for an error message. */
export function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_REPOSITORY_LENGTH && REPOSITORY_RE.test(name);
}

export function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isDigest(digest: string): boolean {
  return DIGEST_RE.test(digest);
}

export function checkRepository(name: unknown, code: ReferenceErrorCode = 'CONFIG_INVALID'): string {
  if (typeof name !== 'string' || !isRepositoryName(name)) {
    throw new VmiError(code, `not a valid repository name: ${shown(String(name))}`);
  }
  return name;
}

export function checkTag(tag: unknown, code: ReferenceErrorCode = 'CONFIG_INVALID'): string {
  if (typeof tag !== 'string' || !isTag(tag))
    throw new VmiError(code, `not a valid tag: ${shown(String(tag))}`);
  return tag;
}

export function checkDigest(digest: unknown, code: ReferenceErrorCode = 'CONFIG_INVALID'): string {
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw new VmiError(code, `not a sha256 digest: ${shown(String(digest))}`);
  }
  return digest;
}

/** A tag or a digest, as used in `/manifests/<reference>`. */
export function checkTagOrDigest(reference: string, code: ReferenceErrorCode = 'CONFIG_INVALID'): string {
  return reference.startsWith('sha256:') ? checkDigest(reference, code) : checkTag(reference, code);
}

/** `host[:port]`, host lower-cased; refuses userinfo, paths and ports outside 1-65535. */
export function checkRegistry(registry: string, code: ReferenceErrorCode = 'CONFIG_INVALID'): string {
  if (registry.includes('@')) throw new VmiError(code, 'a registry reference must not contain credentials');
  const match = HOST_RE.exec(registry);
  const port = match?.[1];
  if (match === null || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    throw new VmiError(code, `not a valid registry host: ${shown(registry)}`);
  }
  return registry.toLowerCase();
}

/** Parses `[oci://|docker://]host[:port]/repo[:tag][@sha256:hex]`. */
export function parseReference(text: string, code: ReferenceErrorCode = 'CONFIG_INVALID'): ImageReference {
  const rest = text.replace(/^(?:oci|docker):\/\//, '');
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new VmiError(code, 'a registry reference needs host/repository');
  const registry = checkRegistry(rest.slice(0, slash), code);
  let path = rest.slice(slash + 1);
  const result: ImageReference = { registry, repository: '' };
  const at = path.lastIndexOf('@');
  if (at >= 0) {
    result.digest = checkDigest(path.slice(at + 1), code);
    path = path.slice(0, at);
  }
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    result.tag = checkTag(path.slice(colon + 1), code);
    path = path.slice(0, colon);
  }
  result.repository = checkRepository(path, code);
  if (registry.length + 1 + path.length > MAX_REPOSITORY_LENGTH) {
    throw new VmiError(code, `registry reference longer than ${MAX_REPOSITORY_LENGTH} characters`);
  }
  return result;
}

export function formatReference(ref: ImageReference): string {
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return `${ref.registry}/${ref.repository}${tag}${digest}`;
}

/** The https origin of a registry (`https://host[:port]`). */
export function registryOrigin(registry: string): string {
  return `https://${checkRegistry(registry)}`;
}
