import { OID } from '../oids.js';
import { algorithmOf, children, decodeWith, fail, intOf, isContext, parseDer, sequence } from './der.js';

export interface PssParams {
  hashOid: string;
  mgfHashOid: string;
  saltLength: number;
}

const SHA1: string = OID.sha1;

/**
 * Decodes RSASSA-PSS parameters (RFC 4055 section 3.1): [0] hash, [1] mask generation,
 * [2] salt length, [3] trailer field, each optional with the defaults SHA-1, MGF1 with
 * SHA-1, 20 and 1. A mask generation function other than MGF1, or another trailer field,
 * cannot be verified and is refused.
 */
export function decodePssParams(params: Uint8Array | undefined): PssParams {
  return decodeWith('SIGNATURE_INVALID', 'RSASSA-PSS parameters', () => {
    const result = { hashOid: SHA1, mgfHashOid: SHA1, saltLength: 20 };
    if (params === undefined) return result;
    const fields = sequence(parseDer(params), 'RSASSA-PSS parameters');
    let at = 0;
    const field = (tag: number) => {
      if (!isContext(fields[at], tag)) return undefined;
      const [value, ...more] = children(fields[at++]);
      if (more.length > 0) fail(`[${tag}] with more than one value`);
      return value;
    };
    const hash = field(0);
    if (hash !== undefined) result.hashOid = algorithmOf(hash).oid;
    const mgf = field(1);
    if (mgf !== undefined) {
      const { oid, params: mgfHash } = algorithmOf(mgf);
      if (oid !== OID.mgf1) fail(`mask generation function ${oid} is not MGF1`);
      result.mgfHashOid = mgfHash === undefined ? SHA1 : algorithmOf(parseDer(mgfHash)).oid;
    }
    const salt = field(2);
    if (salt !== undefined) result.saltLength = intOf(salt);
    const trailer = field(3);
    if (trailer !== undefined && intOf(trailer) !== 1) fail('trailer field other than 1');
    if (at !== fields.length) fail('RSASSA-PSS parameters with fields out of place');
    return result;
  });
}
