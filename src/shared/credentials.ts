import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { VmiError } from './errors.js';
import { decodeCertificate } from './pki/asn1/cert.js';
import { pemBlocks } from './pki/pem.js';
import type { Certificate } from './pki/types.js';

/**
 * A signing credential: certificate, private key and the certificates to embed. A grid
 * proxy file holds all three (proxy certificate, key, then the EEC and any further chain).
 */
export interface SigningCredential {
  certificate: Certificate;
  /** Certificates embedded after the signer: proxy chain and EEC, intermediates. */
  chain: Certificate[];
  key: KeyObject;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'latin1');
  } catch (err) {
    throw new VmiError('USAGE', `cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export async function loadSigningCredential(
  certPath: string,
  keyPath?: string,
  chainPath?: string,
): Promise<SigningCredential> {
  const certText = await readText(certPath, 'certificate');
  const certs = pemBlocks(certText, ['CERTIFICATE']).map((b) => decodeCertificate(b.der, 'USAGE'));
  const [certificate, ...rest] = certs;
  if (certificate === undefined) throw new VmiError('USAGE', `${certPath} holds no PEM certificate`);
  const keyText = keyPath === undefined ? certText : await readText(keyPath, 'private key');
  const keyBlock = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/.exec(
    keyText,
  );
  if (keyBlock === null) throw new VmiError('USAGE', `${keyPath ?? certPath} holds no PEM private key`);
  if (keyBlock[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(keyBlock[0])) {
    throw new VmiError(
      'USAGE',
      'the private key is encrypted; decrypt it (openssl pkey) into a file readable only by this user',
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyBlock[0], format: 'pem' });
  } catch (err) {
    throw new VmiError('USAGE', `cannot read the private key: ${(err as Error).message}`, { cause: err });
  }
  const extra =
    chainPath === undefined
      ? []
      : pemBlocks(await readText(chainPath, 'chain'), ['CERTIFICATE']).map((b) =>
          decodeCertificate(b.der, 'USAGE'),
        );
  return { certificate, chain: [...rest, ...extra], key };
}
