import * as pkijs from 'pkijs';
import { decodeWith, parseDer } from './der.js';

export interface PssParams {
  hashOid: string;
  mgfHashOid: string;
  saltLength: number;
}

/** Decodes RSASSA-PSS parameters (RFC 4055 defaults: SHA-1, MGF1-SHA-1, salt 20). */
export function decodePssParams(params: Uint8Array | undefined): PssParams {
  return decodeWith('SIGNATURE_INVALID', 'RSASSA-PSS parameters', () => {
    if (params === undefined)
      return { hashOid: '1.3.14.3.2.26', mgfHashOid: '1.3.14.3.2.26', saltLength: 20 };
    const p = new pkijs.RSASSAPSSParams({ schema: parseDer(params) });
    const mgfParams = p.maskGenAlgorithm.algorithmParams as unknown;
    const mgfHash =
      mgfParams === undefined
        ? '1.3.14.3.2.26'
        : new pkijs.AlgorithmIdentifier({ schema: mgfParams }).algorithmId;
    return { hashOid: p.hashAlgorithm.algorithmId, mgfHashOid: mgfHash, saltLength: p.saltLength };
  });
}
