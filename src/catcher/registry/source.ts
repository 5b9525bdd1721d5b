/**
 * A registry subscription (issue 15): the artefacts of a registry project or repository,
 * followed by tag, without a signed list. EGI's images carry no signature, so following
 * them unsigned is an explicit operator choice (`vmicatcher subscribe oci://... --unsigned`).
 */
export interface RegistrySource {
  /** `host[:port]`, always reached over https with TLS verified. */
  registry: string;
  /** Every repository under a project (Harbor API, else the catalog), or one repository. */
  scope: { kind: 'project'; project: string } | { kind: 'repository'; repository: string };
  /** Tags followed: a regular expression over the whole tag (EGI's sync: `^[^-]*$`, moving tags). */
  tagPattern: string;
  /** Always true: the operator chose to trust the registry and its TLS instead of a signature. */
  unsigned: true;
}

/** EGI's central sync follows the moving tags only (`22.04`, not `22.04-2025-09-04-4d7122d6`). */
export const DEFAULT_TAG_PATTERN = '^[^-]*$';

/** What discovery (discover.ts) found of one tag; entry.ts maps it to an image entry. */
export interface DiscoveredArtefact {
  /** `host[:port]` */
  registry: string;
  /** e.g. `egi_vm_images/ubuntu` */
  repository: string;
  tag: string;
  /** `sha256:<hex>` of the manifest bytes. */
  manifestDigest: string;
  /** The first layer: its annotations as the registry gave them (hostile: see entry.ts). */
  layer: { digest: string; size: number; mediaType: string; annotations: Record<string, string> };
  manifestAnnotations: Record<string, string>;
  /** Manifests that refer to this one (an SBOM attached by `oras attach`), when the registry says. */
  referrers: DiscoveredReferrer[];
}

export interface DiscoveredReferrer {
  digest: string;
  /** Empty when the referrer declares none. */
  artifactType: string;
  mediaType: string;
  size: number;
}
