import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { formatOneline } from '../../src/shared/pki/dn.js';
import { checkNamespace, parseNamespaces, parseSigningPolicy } from '../../src/shared/pki/namespaces.js';
import { loadTrustStore } from '../../src/shared/pki/trustdir.js';
import { summarizeTrustStore, type TrustStore } from '../../src/shared/pki/truststore.js';
import { listFor, makeGrid, signDocument } from '../helpers/grid.js';
import { ourVerdict } from './table.js';

/**
 * The real IGTF bundle as Debian's igtf-policy-classic installs it. Counts and dates are
 * taken with Node's own X.509 parser, independent of the code under test.
 */

const IGTF = '/etc/grid-security/certificates';
const PRESENT = existsSync(IGTF) && readdirSync(IGTF).some((n) => n.endsWith('.0'));
const SKIP: string | false =
  !PRESENT && process.env['VMICAST_CI'] !== '1'
    ? `${IGTF} is not installed (apt-get install igtf-policy-classic)`
    : false;

function pemCertificates(text: string): X509Certificate[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (pem) => new X509Certificate(pem),
  );
}

describe('the IGTF trust anchor bundle', { skip: SKIP }, () => {
  let store: TrustStore;
  let anchors: Map<string, X509Certificate>;
  const files = (suffix: string) => readdirSync(IGTF).filter((n) => n.endsWith(suffix));

  before(async () => {
    assert.ok(PRESENT, `${IGTF} with <hash>.0 files is required (igtf-policy-classic)`);
    store = await loadTrustStore(IGTF);
    anchors = new Map();
    for (const name of files('.0')) {
      for (const cert of pemCertificates(readFileSync(join(IGTF, name), 'latin1'))) {
        anchors.set(cert.fingerprint256, cert);
      }
    }
  });

  it('loads every anchor once (old and new hash names deduplicated by fingerprint)', () => {
    assert.ok(files('.0').length >= anchors.size * 2 - 2, 'both hash names are present');
    assert.equal(store.certificates.length, anchors.size);
    assert.ok(anchors.size >= 60, `${anchors.size} anchors`);
    assert.deepEqual(store.warnings, []);
  });

  it('reports exactly the expired anchors', () => {
    const now = new Date();
    const expired = [...anchors.values()]
      .filter((c) => new Date(c.validTo).getTime() < now.getTime())
      .map((c) => new Date(c.validTo).toISOString())
      .sort();
    const summary = summarizeTrustStore(store, now);
    assert.equal(summary.anchors, anchors.size);
    assert.deepEqual(summary.expiredAnchors.map((e) => e.notAfter).sort(), expired);
    // The Debian bundle is frozen (March 2025): some anchors have expired since.
    assert.ok(summary.expiredAnchors.length > 0);
    for (const e of summary.expiredAnchors) assert.match(e.subject, /^\/.+=/);
  });

  it('parses every .namespaces and .signing_policy file of the bundle without warnings', () => {
    let rules = 0;
    for (const name of files('.namespaces')) {
      const policy = parseNamespaces(readFileSync(join(IGTF, name), 'utf8'), name, undefined);
      assert.ok(policy.rules.length > 0, `${name} has rules`);
      rules += policy.rules.length;
    }
    for (const name of files('.signing_policy')) {
      const policy = parseSigningPolicy(readFileSync(join(IGTF, name), 'utf8'), name);
      assert.ok(policy.rules.length > 0, `${name} has rules`);
      rules += policy.rules.length;
    }
    assert.ok(rules > 400);
    // Every anchor's issuer has a namespace policy.
    for (const cert of store.certificates) {
      assert.ok(store.namespaces.has(formatOneline(cert.issuer)), formatOneline(cert.subject));
    }
  });

  it("the namespaces admit the bundle's own subordinate CAs", () => {
    let checked = 0;
    for (const cert of store.certificates) {
      const issuer = formatOneline(cert.issuer);
      const subject = formatOneline(cert.subject);
      const policy = store.namespaces.get(issuer);
      if (issuer === subject || policy === undefined) continue;
      assert.deepEqual(checkNamespace(policy, issuer, subject), { ok: true }, subject);
      checked++;
    }
    assert.ok(checked > 0);
  });

  it('refuses a list signed under a test CA as SIGNER_UNTRUSTED', async () => {
    const grid = await makeGrid();
    const signed = signDocument(listFor({ eec: grid.publisher, issuer: grid.intermediate }), grid.publisher, [
      grid.intermediate,
    ]);
    const verdict = ourVerdict({ name: 'test CA', signed, trust: { caDir: IGTF, store }, code: null });
    assert.equal(verdict.code, 'SIGNER_UNTRUSTED');
  });
});
