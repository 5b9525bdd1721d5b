import * as asn1js from 'asn1js';
import { OID } from '../oids.js';
import type { AttributeCertificate, Certificate, Extension, Name } from '../types.js';
import { decodeCertificate } from './cert.js';
import {
  algorithmOf,
  bitsOf,
  boolOf,
  children,
  decodeWith,
  encoded,
  fail,
  integerHex,
  isContext,
  isInteger,
  nameOf,
  octetsOf,
  oidOf,
  parseDer,
  timeOf,
} from './der.js';

/** VOMS attribute certificates as carried in a proxy (extension 1.3.6.1.4.1.8005.100.100.5). */

const MAX_ACS = 16;

/** The directoryName of a GeneralNames, when there is one. */
function directoryName(generalNames: asn1js.AsnType | undefined): Name | undefined {
  if (generalNames === undefined) return undefined;
  for (const gn of children(generalNames)) {
    if (isContext(gn, 4)) return nameOf(children(gn)[0]);
  }
  return undefined;
}

function holderOf(block: asn1js.AsnType | undefined): AttributeCertificate['holder'] {
  if (block === undefined) fail('missing holder');
  const base = children(block).find((b) => isContext(b, 0));
  if (base === undefined) return undefined;
  const [names, serial] = children(base);
  const issuer = directoryName(names);
  return issuer === undefined ? undefined : { issuer, serial: integerHex(serial) };
}

function issuerOf(block: asn1js.AsnType | undefined): Name | undefined {
  // AttCertIssuer: v2Form [0] V2Form { issuerName GeneralNames OPTIONAL, ... }
  if (!isContext(block, 0)) fail('AC issuer is not in v2Form');
  const first = children(block)[0];
  return first instanceof asn1js.Sequence ? directoryName(first) : undefined;
}

function extensionsOf(block: asn1js.AsnType | undefined): Extension[] {
  if (block === undefined) return [];
  return children(block).map((ext) => {
    const items = children(ext);
    const critical = items.length === 3 ? boolOf(items[1]) : false;
    return { oid: oidOf(items[0]), critical, value: octetsOf(items[items.length - 1]) };
  });
}

/** FQANs and policy authority from the IetfAttrSyntax values of the VOMS attribute. */
function vomsAttributes(attributes: asn1js.AsnType | undefined): {
  uri: string | undefined;
  fqans: string[];
} {
  let uri: string | undefined;
  const fqans: string[] = [];
  for (const attr of attributes === undefined ? [] : children(attributes)) {
    const [type, values] = children(attr);
    if (oidOf(type) !== OID.vomsFqans) continue;
    for (const syntax of children(values)) {
      for (const part of children(syntax)) {
        if (isContext(part, 0)) {
          const gn = children(part).find((g) => isContext(g, 6));
          if (gn !== undefined) uri = Buffer.from(octetsOf(gn)).toString('utf8');
        } else if (part instanceof asn1js.Sequence) {
          for (const value of children(part)) fqans.push(Buffer.from(octetsOf(value)).toString('utf8'));
        }
      }
    }
  }
  return { uri, fqans };
}

/** Certificates in the AC's certs extension, however deeply VOMS wrapped them. */
function carriedCertificates(value: Uint8Array): Certificate[] {
  const found: Certificate[] = [];
  const visit = (block: asn1js.AsnType, depth: number): void => {
    const items = block instanceof asn1js.Sequence ? children(block) : [];
    if (items.length === 3 && items[0] instanceof asn1js.Sequence && items[2] instanceof asn1js.BitString) {
      found.push(decodeCertificate(encoded(block), 'VOMS_INVALID'));
    } else if (depth < 3) {
      items.forEach((item) => visit(item, depth + 1));
    }
  };
  visit(parseDer(value), 0);
  return found;
}

function attributeCertificateFrom(block: asn1js.AsnType): AttributeCertificate {
  const [info, alg, sig] = children(block);
  if (info === undefined) fail('empty attribute certificate');
  const fields = children(info);
  let i = 0;
  if (isInteger(fields[i])) i++; // version v2
  const holder = holderOf(fields[i++]);
  const issuer = issuerOf(fields[i++]);
  i++; // signature algorithm inside the info
  const serial = integerHex(fields[i++]);
  const [notBefore, notAfter] = children(fields[i++]);
  const attributes = fields[i++];
  if (fields[i] instanceof asn1js.BitString) i++; // issuerUniqueID
  const extensions = extensionsOf(fields[i]);
  const { uri, fqans } = vomsAttributes(attributes);
  const certs = extensions.find((e) => e.oid === OID.vomsCerts);
  return {
    der: encoded(block),
    info: encoded(info),
    signatureAlgorithm: algorithmOf(alg),
    signature: bitsOf(sig).bytes,
    holder,
    issuer,
    serial,
    notBefore: timeOf(notBefore),
    notAfter: timeOf(notAfter),
    vo: uri === undefined ? undefined : uri.split('://')[0],
    policyAuthority: uri,
    fqans,
    certificates: certs === undefined ? [] : carriedCertificates(certs.value),
    extensions,
  };
}

/** What an AC's targetInformation extension (2.5.29.55) names. */
export interface AcTargets {
  /** targetName URIs (VOMS writes host names there). */
  uris: string[];
  /** Targets of other kinds (groups, certificates, non-URI names): never matched. */
  others: number;
}

const MAX_TARGETS = 64;

/**
 * Decodes a targetInformation value. RFC 5755 writes SEQUENCE OF Targets, each a SEQUENCE
 * OF Target CHOICE ([0] name, [1] group, [2] cert); VOMS's C library wraps each Target in
 * one more SEQUENCE. Both are read; anything else is malformed.
 */
export function decodeTargets(value: Uint8Array): AcTargets {
  return decodeWith('VOMS_INVALID', 'AC target information', () => {
    const found: AcTargets = { uris: [], others: 0 };
    const visit = (block: asn1js.AsnType, depth: number): void => {
      if (found.uris.length + found.others >= MAX_TARGETS) fail('too many AC targets');
      if (block instanceof asn1js.Sequence && depth < 3) {
        children(block).forEach((item) => visit(item, depth + 1));
      } else if (isContext(block, 0) && depth >= 2) {
        const name = children(block)[0];
        if (isContext(name, 6)) found.uris.push(Buffer.from(octetsOf(name)).toString('latin1'));
        else found.others++;
      } else if ((isContext(block, 1) || isContext(block, 2)) && depth >= 2) {
        found.others++;
      } else {
        fail('unexpected element in AC target information');
      }
    };
    const top = parseDer(value);
    if (!(top instanceof asn1js.Sequence)) fail('AC target information is not a SEQUENCE');
    visit(top, 0);
    return found;
  });
}

/** Decodes the VOMS extension of a proxy into its attribute certificates. */
export function decodeVomsExtension(value: Uint8Array): AttributeCertificate[] {
  return decodeWith('VOMS_INVALID', 'VOMS attribute certificate', () => {
    const acs: AttributeCertificate[] = [];
    // SEQUENCE OF SEQUENCE OF AttributeCertificate (some writers drop one level).
    const visit = (block: asn1js.AsnType, depth: number): void => {
      const items = children(block);
      const looksLikeAc =
        items.length === 3 && items[0] instanceof asn1js.Sequence && items[2] instanceof asn1js.BitString;
      if (looksLikeAc) {
        if (acs.length >= MAX_ACS) fail('too many attribute certificates');
        acs.push(attributeCertificateFrom(block));
      } else if (depth < 2) {
        items.forEach((item) => visit(item, depth + 1));
      }
    };
    visit(parseDer(value), 0);
    return acs;
  });
}
