import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadTrustStore } from '../../src/shared/pki/trustdir.js';
import { listFor, makeGrid, publisherSpec, signDocument, type Grid } from '../helpers/grid.js';
import { tempDir } from '../helpers/tmp.js';
import { issue, makeCrl, makeProxy, type TestCert } from '../helpers/x509.js';
import { checkRow, trustFor, type Row, type Trust } from './table.js';

/**
 * Differential oracle over chain shapes that should be accepted or refused alike by
 * vmicast and `openssl cms -verify -CApath ... -allow_proxy_certs -crl_check_all`. The
 * tamper tables hold the single-rule refusals; this file varies the shape of valid paths.
 */

const DAY = 86400_000;

describe('chain shapes: vmicast and OpenSSL agree', () => {
  let grid: Grid;
  let trust: Trust;
  const sign = (eec: TestCert, issuer: TestCert, signer: TestCert = eec, chain: TestCert[] = []) =>
    signDocument(listFor({ eec, issuer }), signer, chain);
  const row = (r: Omit<Row, 'trust'> & { trust?: Trust }) => checkRow({ trust, ...r });

  before(async () => {
    grid = await makeGrid();
    trust = { caDir: grid.caDir, store: grid.store };
  });

  it('one-CA path: a publisher issued by the root itself', () => {
    const direct = issue(publisherSpec(grid.root, { subject: '/DC=org/DC=example/CN=direct' }));
    row({ name: 'root-issued', signed: sign(direct, grid.root), code: null });
  });

  it('three-CA path with the middle CA only embedded in the signature', async () => {
    const middle = issue({ subject: '/DC=org/DC=example/CN=Middle CA', issuer: grid.root, ca: true });
    const low = issue({ subject: '/DC=org/DC=example/CN=Low CA', issuer: middle, ca: true });
    const eec = issue(publisherSpec(low));
    // Anchors and CRLs in the directory; the middle CA's certificate comes with the list.
    const t = await trustFor([[grid.root], [middle], [low]]);
    row({ name: 'three CAs', signed: sign(eec, low, eec, [low, middle]), code: null, trust: t });
    // Its CRL is still needed: remove the middle CA's certificate, keep its CRL.
    const t2 = await trustFor([[grid.root], [low]]);
    const { subjectHash } = await import('../helpers/pki.js');
    await writeFile(join(t2.caDir, `${subjectHash(middle)}.r0`), makeCrl({ issuer: middle }).pem);
    t2.store = await loadTrustStore(t2.caDir);
    row({
      name: 'embedded middle CA',
      signed: sign(eec, low, eec, [middle]),
      code: null,
      trust: t2,
      laxer:
        'SPEC.md section 4 item 2 builds paths among embedded and trusted certificates; ' +
        'OpenSSL takes no untrusted certificate above one from -CApath',
    });
    row({ name: 'middle CA missing', signed: sign(eec, low), code: 'SIGNER_UNTRUSTED', trust: t2 });
  });

  it('mixed key types: EC root, RSA intermediate, EC signer, EC proxy', async () => {
    const root = issue({ subject: '/DC=org/DC=mixed/CN=EC Root', ca: true, keyType: 'ec' });
    const ca = issue({ subject: '/DC=org/DC=mixed/CN=RSA CA', issuer: root, ca: true });
    const eec = issue(publisherSpec(ca, { subject: '/DC=org/DC=mixed/CN=ec signer', keyType: 'ec' }));
    const t = await trustFor([[root], [ca]]);
    row({ name: 'mixed keys', signed: sign(eec, ca), code: null, trust: t });
    row({
      name: 'mixed keys, proxy',
      signed: sign(eec, ca, makeProxy(eec, { keyType: 'ec' }), [eec]),
      code: null,
      trust: t,
    });
  });

  it('judged at another time (--at): not yet valid, valid, expired', () => {
    const signed = sign(grid.publisher, grid.intermediate);
    row({ name: 'at now', signed, code: null });
    // The list itself was created a minute ago: an hour earlier the certificates are valid but the list is not.
    row({
      name: 'before the certificates',
      signed,
      code: 'CERT_NOT_YET_VALID',
      now: new Date(Date.now() - 2 * 3600_000),
    });
    row({
      name: 'after the certificates',
      signed,
      code: 'CERT_EXPIRED',
      now: new Date(Date.now() + 40 * DAY),
      policy: { crl: 'off' },
    });
  });

  it('a PEM bundle of anchors and CRLs (non-grid use), as -CAfile', async () => {
    const dir = await tempDir('vmicast-bundle-');
    const bundle = join(dir, 'bundle.pem');
    const crls = [makeCrl({ issuer: grid.root }).pem, makeCrl({ issuer: grid.intermediate }).pem];
    await writeFile(bundle, [grid.root.pem, grid.intermediate.pem, ...crls].join(''));
    const t: Trust = { caDir: bundle, caFile: true, store: await loadTrustStore(bundle) };
    row({ name: 'bundle', signed: sign(grid.publisher, grid.intermediate), code: null, trust: t });
    const revoking = join(dir, 'revoking.pem');
    const revoked = makeCrl({ issuer: grid.intermediate, revoked: [grid.publisher] }).pem;
    await writeFile(revoking, [grid.root.pem, grid.intermediate.pem, crls[0] ?? '', revoked].join(''));
    const t2: Trust = { caDir: revoking, caFile: true, store: await loadTrustStore(revoking) };
    row({
      name: 'bundle, revoked',
      signed: sign(grid.publisher, grid.intermediate),
      code: 'CERT_REVOKED',
      trust: t2,
    });
  });
});
