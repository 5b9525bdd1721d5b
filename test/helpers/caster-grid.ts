/**
 * A publisher's world for vmicaster tests: the grid PKI of grid.ts (root -> intermediate ->
 * publisher, CRLs in an IGTF directory), the publisher's certificate and key on disk, a
 * state directory, a web root, and image files.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeGrid, type Grid } from './grid.js';
import { writePem } from './pki.js';
import { tempDir } from './tmp.js';
import { issue, type CertSpec, type TestCert } from './x509.js';

export interface CasterWorld {
  grid: Grid;
  dir: string;
  home: string;
  root: string;
  vomsdir: string;
  certPath: string;
  keyPath: string;
  /** Environment for the CLI: state dir and trust store. */
  env: NodeJS.ProcessEnv;
}

export async function makeCasterWorld(): Promise<CasterWorld> {
  const grid = await makeGrid();
  const dir = await tempDir('vmicaster-');
  const home = join(dir, 'home');
  const root = join(dir, 'www');
  const vomsdir = join(dir, 'vomsdir');
  await mkdir(root, { recursive: true });
  await mkdir(vomsdir, { recursive: true });
  const certPath = await writePem(join(dir, 'publisher.pem'), grid.publisher.pem);
  const keyPath = await writePem(join(dir, 'publisher.key'), grid.publisher.keyPem);
  return {
    grid,
    dir,
    home,
    root,
    vomsdir,
    certPath,
    keyPath,
    env: { VMICASTER_HOME: home, X509_CERT_DIR: grid.caDir, X509_VOMS_DIR: vomsdir },
  };
}

/** Issues another end-entity certificate under the grid's intermediate CA, written to disk. */
export async function issueUser(
  world: CasterWorld,
  name: string,
  over: Partial<CertSpec> = {},
): Promise<{ cert: TestCert; certPath: string; keyPath: string }> {
  const cert = issue({
    subject: `/DC=org/DC=example/O=Users/CN=${name}`,
    issuer: world.grid.intermediate,
    ca: false,
    extKeyUsage: ['emailProtection', 'clientAuth'],
    ...over,
  });
  const certPath = await writePem(join(world.dir, `${name.replace(/\W/g, '_')}.pem`), cert.pem);
  const keyPath = await writePem(join(world.dir, `${name.replace(/\W/g, '_')}.key`), cert.keyPem);
  return { cert, certPath, keyPath };
}

export interface ImageFile {
  path: string;
  size: number;
  sha512: string;
}

/** Writes an image file with random content (or the given bytes). */
export async function writeImage(world: CasterWorld, name: string, bytes?: Uint8Array): Promise<ImageFile> {
  const content = bytes ?? randomBytes(4096 + Math.floor(Math.random() * 4096));
  const path = join(world.root, 'images', name);
  await mkdir(join(world.root, 'images'), { recursive: true });
  await writeFile(path, content);
  return { path, size: content.length, sha512: createHash('sha512').update(content).digest('hex') };
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Verifies a signed file with the real `openssl smime -verify`, CRLs checked along the whole chain. */
export function opensslVerify(file: string, caDir: string, extra: string[] = []): string {
  return execFileSync(
    'openssl',
    ['smime', '-verify', '-in', file, '-CApath', caDir, '-crl_check_all', ...extra],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}
