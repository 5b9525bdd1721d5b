/**
 * Real VOMS proxies for vmicaster tests, made with `voms-proxy-fake` (Debian voms-clients),
 * as in ../shared/infra/make-voms-proxy.sh: a VOMS server certificate under the grid's
 * intermediate CA, its `.lsc` entry in the vomsdir, and an RFC 3820 proxy with an AC.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CasterWorld } from './caster-grid.js';
import { writePem } from './pki.js';
import { issue, type TestCert } from './x509.js';

export const VOMS_DN = '/DC=org/DC=example/CN=voms.example.org';

export interface VomsServer {
  cert: TestCert;
  certPath: string;
  keyPath: string;
}

/** A VOMS server certificate, listed in the world's vomsdir for each of `vos`. */
export async function makeVomsServer(world: CasterWorld, vos: string[]): Promise<VomsServer> {
  const cert = issue({
    subject: VOMS_DN,
    issuer: world.grid.intermediate,
    ca: false,
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: ['serverAuth', 'clientAuth'],
  });
  const certPath = await writePem(join(world.dir, 'voms.pem'), cert.pem);
  const keyPath = await writePem(join(world.dir, 'voms.key'), cert.keyPem);
  for (const vo of vos) {
    await mkdir(join(world.vomsdir, vo), { recursive: true });
    await writeFile(
      join(world.vomsdir, vo, 'voms.example.org.lsc'),
      `${VOMS_DN}\n${world.grid.intermediate.subject}\n`,
    );
  }
  return { cert, certPath, keyPath };
}

/** A VOMS proxy of the user (cert/key files) with an AC for `vo`; returns the proxy file. */
export function makeVomsProxy(
  world: CasterWorld,
  server: VomsServer,
  user: { certPath: string; keyPath: string },
  vo: string,
  out: string,
  hours = 12,
): string {
  execFileSync(
    'voms-proxy-fake',
    [
      '-rfc',
      '-q',
      '-cert',
      user.certPath,
      '-key',
      user.keyPath,
      '-certdir',
      world.grid.caDir,
      '-hostcert',
      server.certPath,
      '-hostkey',
      server.keyPath,
      '-voms',
      vo,
      '-uri',
      'voms.example.org:15000',
      '-fqan',
      `/${vo}/Role=NULL/Capability=NULL`,
      '-hours',
      String(hours),
      '-vomslife',
      String(hours),
      '-bits',
      '2048',
      '-keyusage',
      'digitalSignature,keyEncipherment,dataEncipherment',
      '-out',
      out,
    ],
    { stdio: 'ignore', env: { ...process.env, RANDFILE: join(world.dir, '.rnd') } },
  );
  return out;
}
