import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  INTERMEDIATE_DN,
  listFor,
  makeGrid,
  PUBLISHER_DN,
  publisherSpec,
  signDocument,
  type Grid,
} from '../helpers/grid.js';
import { loadTrustStore } from '../../src/shared/pki/trustdir.js';
import { makeList } from '../helpers/lists.js';
import { subjectHash } from '../helpers/pki.js';
import { issue, makeCrl, makeProxy, type TestCert } from '../helpers/x509.js';
import { opensslVerify } from './openssl.js';
import { checkRow, ourVerdict, trustFor, type Row, type Trust } from './table.js';

/**
 * Tamper table of issue 3 (grid rules): revocation, IGTF namespaces, RFC 3820 proxies,
 * endorser and VO authorization, weak algorithms. VOMS rows are in voms.test.ts.
 */

const DAY = 86400_000;
const NS_OK = `TO Issuer "${INTERMEDIATE_DN}" PERMIT Subject "/DC=org/DC=example/.*"\n`;
const NS_OTHER = `# EUGridPMA namespaces\nTO Issuer "${INTERMEDIATE_DN}" \\\n  PERMIT Subject "/DC=org/DC=other/.*"\n`;
const SP_OTHER =
  `access_id_CA X509 '${INTERMEDIATE_DN}'\npos_rights globus CA:sign\n` +
  `cond_subjects globus '"/DC=org/DC=other/*" "/C=XX/*"'\n`;

describe('tamper table (revocation, namespaces, proxies, authorization)', () => {
  let grid: Grid;
  let trust: Trust;
  let proxy: TestCert;
  let proxied: Uint8Array;
  let direct: Uint8Array;
  const row = (r: Omit<Row, 'trust'> & { trust?: Trust }) => checkRow({ trust, ...r });
  const doc = (over: Parameters<typeof makeList>[0] | object = {}) =>
    listFor({ eec: grid.publisher, issuer: grid.intermediate }, over);
  const withCas = (intermediateEntry: Parameters<typeof trustFor>[0][number][1], rootEntry = {}) =>
    trustFor([
      [grid.root, rootEntry],
      [grid.intermediate, intermediateEntry],
    ]);

  before(async () => {
    grid = await makeGrid();
    trust = { caDir: grid.caDir, store: grid.store };
    proxy = makeProxy(grid.publisher);
    proxied = signDocument(doc(), proxy, [grid.publisher]);
    direct = signDocument(doc(), grid.publisher);
  });

  it('accepts a proxy-signed list (hv:dn names the EEC) and a directly signed one', () => {
    row({ name: 'proxy', signed: proxied, code: null });
    row({ name: 'direct', signed: direct, code: null });
    const ours = ourVerdict({ name: 'proxy', signed: proxied, trust, code: null });
    assert.equal(ours.result?.signer.dn, PUBLISHER_DN);
    assert.deepEqual(ours.result.signer.chain, [
      proxy.subject,
      PUBLISHER_DN,
      INTERMEDIATE_DN,
      grid.root.subject,
    ]);
  });

  it('revoked EEC behind a proxy: CERT_REVOKED (OpenSSL -crl_check alone misses it)', async () => {
    const t = await withCas({ crl: { revoked: [grid.publisher] } });
    row({ name: 'revoked EEC behind proxy', signed: proxied, code: 'CERT_REVOKED', trust: t });
    row({ name: 'revoked EEC', signed: direct, code: 'CERT_REVOKED', trust: t });
    // Why SPEC.md section 4 item 4 checks the EEC and every CA: -crl_check skips proxy signers.
    assert.equal(opensslVerify(proxied, { caDir: t.caDir, crlCheck: 'leaf' }).ok, true);
  });

  it('revoked intermediate: CERT_REVOKED', async () => {
    const t = await withCas({}, { crl: { revoked: [grid.intermediate] } });
    row({ name: 'revoked intermediate', signed: direct, code: 'CERT_REVOKED', trust: t });
  });

  it('stale CRL: CRL_STALE', async () => {
    const t = await withCas({
      crl: { thisUpdate: new Date(Date.now() - 10 * DAY), nextUpdate: new Date(Date.now() - DAY) },
    });
    row({ name: 'stale CRL', signed: direct, code: 'CRL_STALE', trust: t });
  });

  it('missing CRL: CRL_MISSING; accepted with crl if-present or off', async () => {
    const t = await withCas({ crl: 'none' });
    row({ name: 'missing CRL', signed: direct, code: 'CRL_MISSING', trust: t });
    row({
      name: 'missing CRL, if-present',
      signed: direct,
      code: null,
      trust: t,
      policy: { crl: 'if-present' },
    });
    row({ name: 'missing CRL, off', signed: direct, code: null, trust: t, policy: { crl: 'off' } });
    // A per-anchor relaxation (the cloudkeeper CA) works the same way.
    const perAnchor = { crl: 'require' as const, crlByAnchor: { [grid.root.subject]: 'off' as const } };
    row({
      name: 'missing CRL, anchor relaxed',
      signed: direct,
      code: null,
      trust: t,
      policy: perAnchor,
      noOracle: 'per-anchor',
    });
  });

  it('CRL not signed by its CA: CRL_MISSING (even with if-present)', async () => {
    // A CRL that carries the intermediate's name but is signed by another key.
    const stranger = issue({ subject: INTERMEDIATE_DN, ca: true });
    const t = await withCas({ crl: 'none' });
    await writeFile(join(t.caDir, `${subjectHash(grid.intermediate)}.r0`), makeCrl({ issuer: stranger }).pem);
    t.store = await loadTrustStore(t.caDir);
    row({ name: 'forged CRL', signed: direct, code: 'CRL_MISSING', trust: t });
    row({
      name: 'forged CRL, if-present',
      signed: direct,
      code: 'CRL_MISSING',
      trust: t,
      policy: { crl: 'if-present' },
      noOracle: 'no if-present mode in OpenSSL',
    });
  });

  it('namespace violation (.namespaces): SIGNER_NAMESPACE; a matching namespace passes', async () => {
    const bad = await withCas({ namespaces: NS_OTHER });
    row({
      name: '.namespaces',
      signed: direct,
      code: 'SIGNER_NAMESPACE',
      trust: bad,
      stricter: 'IGTF namespaces (OpenSSL reads no .namespaces/.signing_policy)',
    });
    row({
      name: '.namespaces behind proxy',
      signed: proxied,
      code: 'SIGNER_NAMESPACE',
      trust: bad,
      stricter: 'IGTF namespaces (OpenSSL reads no .namespaces/.signing_policy)',
    });
    const good = await withCas({ namespaces: NS_OK, signingPolicy: SP_OTHER });
    row({ name: '.namespaces wins over .signing_policy', signed: direct, code: null, trust: good });
  });

  it('namespace violation (.signing_policy): SIGNER_NAMESPACE', async () => {
    const bad = await withCas({ signingPolicy: SP_OTHER });
    row({
      name: '.signing_policy',
      signed: direct,
      code: 'SIGNER_NAMESPACE',
      trust: bad,
      stricter: 'IGTF namespaces (OpenSSL reads no .namespaces/.signing_policy)',
    });
  });

  it('proxy subject not issuer + CN: PROXY_INVALID', () => {
    const wrong = makeProxy(grid.publisher, { subject: '/DC=org/DC=example/O=Hosts/CN=someone.else/CN=123' });
    row({
      name: 'proxy subject',
      signed: signDocument(doc(), wrong, [grid.publisher]),
      code: 'PROXY_INVALID',
    });
    const twoCns = makeProxy(grid.publisher, { subject: `${PUBLISHER_DN}/CN=1/CN=2` });
    row({
      name: 'proxy adds two CNs',
      signed: signDocument(doc(), twoCns, [grid.publisher]),
      code: 'PROXY_INVALID',
    });
  });

  it('proxy path length exceeded: PROXY_INVALID', () => {
    const limited = makeProxy(grid.publisher, { proxy: { pathLen: 0 } });
    const below = makeProxy(limited);
    row({
      name: 'proxy path length',
      signed: signDocument(doc(), below, [limited, grid.publisher]),
      code: 'PROXY_INVALID',
    });
    const allowed = makeProxy(grid.publisher, { proxy: { pathLen: 1 } });
    const ok = makeProxy(allowed);
    row({
      name: 'proxy of proxy within length',
      signed: signDocument(doc(), ok, [allowed, grid.publisher]),
      code: null,
    });
  });

  it('proxy issued by a CA: PROXY_INVALID', () => {
    const caProxy = makeProxy(grid.intermediate);
    const list = listFor({ eec: grid.intermediate, issuer: grid.root });
    row({
      name: 'proxy of a CA',
      signed: signDocument(list, caProxy, [grid.intermediate]),
      code: 'PROXY_INVALID',
    });
  });

  it('legacy Globus proxy: PROXY_INVALID with a message that says so', () => {
    const legacy = issue({
      subject: `${PUBLISHER_DN}/CN=proxy`,
      issuer: grid.publisher,
      keyUsage: ['digitalSignature'],
      noKeyIds: true,
    });
    const r: Row = {
      name: 'legacy proxy',
      signed: signDocument(doc(), legacy, [grid.publisher]),
      trust,
      code: 'PROXY_INVALID',
    };
    row(r);
    assert.match(
      ourVerdict(r).error?.message ?? '',
      /legacy Globus proxies are not accepted; use an RFC 3820 proxy/,
    );
  });

  it('hv:dn or hv:ca not naming the signer: ENDORSER_MISMATCH; accepted when explicitly allowed', () => {
    const stricter = 'endorser and VO rules (OpenSSL does not read the list)' as const;
    const wrongDn = signDocument(
      makeList({ dn: '/DC=org/DC=example/CN=someone', ca: INTERMEDIATE_DN }),
      grid.publisher,
    );
    row({ name: 'DN mismatch', signed: wrongDn, code: 'ENDORSER_MISMATCH', stricter });
    row({ name: 'DN mismatch allowed', signed: wrongDn, code: null, allowEndorserMismatch: true });
    const wrongCa = signDocument(makeList({ dn: PUBLISHER_DN, ca: grid.root.subject }), grid.publisher);
    row({ name: 'CA mismatch', signed: wrongCa, code: 'ENDORSER_MISMATCH', stricter });
    // A proxy-signed list naming the proxy instead of the EEC is a mismatch too.
    const proxyDn = signDocument(makeList({ dn: proxy.subject, ca: PUBLISHER_DN }), proxy, [grid.publisher]);
    row({ name: 'hv:dn names the proxy', signed: proxyDn, code: 'ENDORSER_MISMATCH', stricter });
  });

  it('unauthorized endorser: ENDORSER_UNAUTHORIZED; the pinned one passes', () => {
    const stricter = 'endorser and VO rules (OpenSSL does not read the list)' as const;
    const other = { endorsers: [{ dn: '/DC=org/DC=example/CN=other', ca: INTERMEDIATE_DN }] };
    row({
      name: 'unauthorized endorser',
      signed: direct,
      code: 'ENDORSER_UNAUTHORIZED',
      authorization: other,
      stricter,
    });
    const sameDnOtherCa = { endorsers: [{ dn: PUBLISHER_DN, ca: grid.root.subject }] };
    row({
      name: 'endorser with other CA',
      signed: direct,
      code: 'ENDORSER_UNAUTHORIZED',
      authorization: sameDnOtherCa,
      stricter,
    });
    const pinned = { endorsers: [{ dn: PUBLISHER_DN, ca: INTERMEDIATE_DN }] };
    row({ name: 'pinned endorser', signed: proxied, code: null, authorization: pinned });
  });

  it('look-alike of a pinned CA minted by a second CA that spells its own name differently: SIGNER_NAMESPACE (issue 12)', async () => {
    const stricter = 'IGTF namespaces (OpenSSL reads no .namespaces/.signing_policy)' as const;
    const second = issue({ subject: '/DC=org/DC=second/CN=Second CA', ca: true });
    const nsSecond = `TO Issuer "${second.subject}" PERMIT Subject "/DC=org/DC=second/.*"\n`;
    const t = await trustFor([
      [grid.root, {}],
      [grid.intermediate, { namespaces: NS_OK }],
      [second, { namespaces: nsSecond }],
    ]);
    const pinned = { endorsers: [{ dn: PUBLISHER_DN, ca: INTERMEDIATE_DN }] };
    // Valid state: the genuine publisher under the pinned CA passes this trust store.
    row({ name: 'genuine pinned endorser', signed: direct, code: null, trust: t, authorization: pinned });
    // The second CA writes its own name in lower case in what it issues and certifies a
    // subordinate named exactly like the pinned CA, outside its own namespace.
    const spelled = { ...second, spec: { ...second.spec, subject: '/DC=org/DC=second/CN=second ca' } };
    const lookAlike = issue({ subject: INTERMEDIATE_DN, issuer: spelled, ca: true, pathLen: 0 });
    const forged = signDocument(doc(), issue(publisherSpec(lookAlike)), [lookAlike]);
    for (const crl of ['off', 'if-present'] as const) {
      row({
        name: `look-alike subordinate, --crl ${crl}`,
        signed: forged,
        code: 'SIGNER_NAMESPACE',
        trust: t,
        authorization: pinned,
        policy: { crl },
        stricter,
      });
    }
  });

  it('VO mismatch (ad:vo against the subscription VO): VO_MISMATCH', () => {
    const stricter = 'endorser and VO rules (OpenSSL does not read the list)' as const;
    const signed = signDocument(doc({ vo: 'vo.a.org' }), grid.publisher);
    row({ name: 'VO mismatch', signed, code: 'VO_MISMATCH', authorization: { vo: 'vo.b.org' }, stricter });
    row({ name: 'VO match', signed, code: null, authorization: { vo: 'vo.a.org' } });
    row({ name: 'list without ad:vo', signed: direct, code: null, authorization: { vo: 'vo.b.org' } });
  });

  it('weak algorithms: SHA-1 signature digest, SHA-1 or MD5 certificate, RSA-1024 signer', () => {
    const sha1Cert = issue(publisherSpec(grid.intermediate, { hash: 'sha1' }));
    const s1 = signDocument(doc(), sha1Cert);
    row({
      name: 'SHA-1 certificate',
      signed: s1,
      code: 'WEAK_ALGORITHM',
      stricter: 'SHA-1 refused by default',
    });
    row({ name: 'SHA-1 certificate allowed', signed: s1, code: null, policy: { allowSha1: true } });
    const md5Cert = issue(publisherSpec(grid.intermediate, { hash: 'md5' }));
    const md5 = signDocument(doc(), md5Cert);
    row({
      name: 'MD5 certificate',
      signed: md5,
      code: 'WEAK_ALGORITHM',
      policy: { allowSha1: true },
      stricter: 'MD5 refused (OpenSSL 3.0 accepts MD5-signed certificates)',
    });
    const small = issue(publisherSpec(grid.intermediate, { keyType: 'rsa1024' }));
    row({
      name: 'RSA-1024 signer',
      signed: signDocument(doc(), small),
      code: 'WEAK_ALGORITHM',
      stricter: 'RSA keys under 2048 bits',
    });
    const ec = issue(publisherSpec(grid.intermediate, { keyType: 'ec' }));
    row({ name: 'ECDSA P-256 signer', signed: signDocument(doc(), ec), code: null });
  });
});
