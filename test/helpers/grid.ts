/**
 * A ready-made grid PKI for trust tests: root CA -> intermediate CA -> publisher, with
 * CRLs and namespace files in an IGTF directory, and helpers to sign lists with it.
 */
import { join } from 'node:path';
import type { SigningDigest } from '../../src/shared/cms.js';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { DEFAULT_CHAIN_POLICY, type ChainPolicy } from '../../src/shared/pki/chain.js';
import { loadTrustStore } from '../../src/shared/pki/trustdir.js';
import type { TrustStore } from '../../src/shared/pki/truststore.js';
import { signList } from '../../src/shared/signlist.js';
import { serializeImageList } from '../../src/shared/imagelist/serialize.js';
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { writeTrustDir, type CaEntry } from './pki.js';
import { tempDir } from './tmp.js';
import { issue, type CertSpec, type TestCert } from './x509.js';
import { makeList, type ListSpec } from './lists.js';

export const ROOT_DN = '/DC=org/DC=example/CN=Example Root CA';
export const INTERMEDIATE_DN = '/DC=org/DC=example/CN=Example Issuing CA';
export const PUBLISHER_DN = '/DC=org/DC=example/O=Hosts/CN=publisher.example.org';

export interface Grid {
  dir: string;
  caDir: string;
  root: TestCert;
  intermediate: TestCert;
  publisher: TestCert;
  store: TrustStore;
}

export function publisherSpec(issuer: TestCert, over: Partial<CertSpec> = {}): CertSpec {
  return {
    subject: PUBLISHER_DN,
    issuer,
    ca: false,
    extKeyUsage: ['emailProtection', 'clientAuth'],
    ...over,
  };
}

export interface GridOptions {
  rootEntry?: CaEntry;
  intermediateEntry?: CaEntry;
  root?: Partial<CertSpec>;
  intermediate?: Partial<CertSpec>;
  publisher?: Partial<CertSpec>;
}

export async function makeGrid(options: GridOptions = {}): Promise<Grid> {
  const dir = await tempDir('vmicast-grid-');
  const root = issue({ subject: ROOT_DN, ca: true, ...options.root });
  const intermediate = issue({
    subject: INTERMEDIATE_DN,
    issuer: root,
    ca: true,
    pathLen: 0,
    ...options.intermediate,
  });
  const publisher = issue(publisherSpec(intermediate, options.publisher));
  const caDir = await writeTrustDir(join(dir, 'certificates'), [
    [root, options.rootEntry],
    [intermediate, options.intermediateEntry],
  ]);
  return { dir, caDir, root, intermediate, publisher, store: await loadTrustStore(caDir) };
}

export function listFor(
  signer: { eec: TestCert; issuer: TestCert },
  spec: Partial<ListSpec> = {},
): JsonObject {
  return makeList({ dn: signer.eec.subject, ca: signer.issuer.subject, ...spec });
}

/** Signs a list document with `signer` (embedding `chain`) the way vmicaster does. */
export function signDocument(
  document: JsonObject | Uint8Array,
  signer: TestCert,
  chain: TestCert[] = [],
  digest: SigningDigest = 'sha256',
): Uint8Array {
  const content = document instanceof Uint8Array ? document : serializeImageList(document);
  return signList(
    content,
    {
      certificate: decodeCertificate(signer.der),
      chain: chain.map((c) => decodeCertificate(c.der)),
      key: signer.key.privateKey,
    },
    digest,
    new Date(),
  );
}

export const STRICT: ChainPolicy = { ...DEFAULT_CHAIN_POLICY };
