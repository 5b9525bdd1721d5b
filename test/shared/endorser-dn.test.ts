import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { formatOneline } from '../../src/shared/pki/dn.js';
import type { Authorization } from '../../src/shared/verify.js';
import { INTERMEDIATE_DN, makeGrid, publisherSpec, signDocument, type Grid } from '../helpers/grid.js';
import { makeList } from '../helpers/lists.js';
import { tempDir } from '../helpers/tmp.js';
import { issue, type TestCert } from '../helpers/x509.js';
import { ourVerdict, type Trust } from './table.js';
import { fakeProxy, HAVE_VOMS, VOMS_SKIP, writeVomsDir } from './vomskit.js';

/**
 * Issue 17 item 3 and issue 12 section 2: a signer with non-ASCII characters is named by
 * vmicaster in OpenSSL's escaped oneline form (`CN=Jos\xC3\xA9`) and by other tools in
 * UTF-8 text (`CN=José`). hv:dn/hv:ca, pinned endorsers and .lsc files compare both forms
 * (and any case or spacing) as the same name, and a different name stays different.
 */

const UTF8_DN = '/DC=org/DC=example/O=Hosts/CN=José Müller';
const VO = 'vo.example.org';

describe('DN forms of a UTF-8 signer (issue 17 item 3)', () => {
  let grid: Grid;
  let trust: Trust;
  let escaped: string;
  const verdict = (signed: Uint8Array, authorization?: Authorization) =>
    ourVerdict({ name: 'dn', signed, trust, code: null, ...(authorization ? { authorization } : {}) });
  const listNaming = (dn: string, ca = INTERMEDIATE_DN) => makeList({ dn, ca });

  before(async () => {
    grid = await makeGrid({ publisher: { subject: UTF8_DN } });
    trust = { caDir: grid.caDir, store: grid.store };
    escaped = formatOneline(decodeCertificate(grid.publisher.der).subject);
  });

  it('accepts hv:dn in UTF-8 text and in OpenSSL escaped form; refuses them for another signer', () => {
    assert.equal(escaped, '/DC=org/DC=example/O=Hosts/CN=Jos\\xC3\\xA9 M\\xC3\\xBCller');
    for (const dn of [UTF8_DN, escaped, escaped.replace(/\\x([0-9A-F]{2})/g, (m) => m.toLowerCase())]) {
      const result = verdict(signDocument(listNaming(dn), grid.publisher));
      assert.equal(result.code, null, `${dn}: ${result.error?.message ?? ''}`);
      assert.equal(result.result?.signer.dn, escaped);
    }
    // hv:ca in another case and spacing names the same CA.
    const ca = INTERMEDIATE_DN.toUpperCase().replace(' ISSUING', '  ISSUING');
    assert.equal(verdict(signDocument(listNaming(UTF8_DN, ca), grid.publisher)).code, null);
    // Different signers (no accents, another accent) claiming the same name are refused.
    for (const subject of [
      '/DC=org/DC=example/O=Hosts/CN=Jose Muller',
      '/DC=org/DC=example/O=Hosts/CN=Josè Müller',
    ]) {
      const other = issue(publisherSpec(grid.intermediate, { subject }));
      const forms: string[] = [UTF8_DN, escaped];
      for (const dn of forms) {
        assert.equal(
          verdict(signDocument(listNaming(dn), other)).code,
          'ENDORSER_MISMATCH',
          `${subject} as ${dn}`,
        );
      }
    }
  });

  it('a pinned endorser matches in either DN form, case or spacing; another name does not', () => {
    const signed = signDocument(listNaming(escaped), grid.publisher);
    const pin = (dn: string, ca = INTERMEDIATE_DN): Authorization => ({ endorsers: [{ dn, ca }] });
    for (const auth of [
      pin(UTF8_DN),
      pin(escaped),
      pin(UTF8_DN.toUpperCase()),
      pin(UTF8_DN.replace('CN=José', 'CN= José  ')),
      pin(UTF8_DN, INTERMEDIATE_DN.toLowerCase()),
    ]) {
      const result = verdict(signed, auth);
      assert.equal(result.code, null, `${JSON.stringify(auth)}: ${result.error?.message ?? ''}`);
    }
    for (const auth of [
      pin('/DC=org/DC=example/O=Hosts/CN=Jose Muller'),
      pin('/DC=org/DC=example/O=Hosts/CN=Jos\\xC3\\xA9'),
      pin('/DC=org/DC=example/CN=José Müller/O=Hosts'),
      pin(UTF8_DN, grid.root.subject),
    ]) {
      assert.equal(verdict(signed, auth).code, 'ENDORSER_UNAUTHORIZED', JSON.stringify(auth));
    }
  });

  describe('.lsc files name the VOMS server in either form', { skip: VOMS_SKIP }, () => {
    let host: TestCert;
    let signed: Uint8Array;
    let dir: string;

    before(async () => {
      assert.ok(HAVE_VOMS, 'voms-proxy-fake is required (Debian package voms-clients)');
      dir = await tempDir('vmicast-lsc-');
      host = issue({
        subject: '/DC=org/DC=example/CN=vöms.example.org',
        issuer: grid.intermediate,
        ca: false,
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        extKeyUsage: ['serverAuth', 'clientAuth'],
      });
      const proxy = await fakeProxy(dir, { user: grid.publisher, host, vo: VO, fqans: [`/${VO}`] });
      signed = signDocument(makeList({ dn: escaped, ca: INTERMEDIATE_DN, vo: VO }), proxy.proxy, proxy.chain);
    });

    it('accepts the UTF-8 and the escaped form in any case; refuses another server name', async () => {
      const hostEscaped = formatOneline(decodeCertificate(host.der).subject);
      const lsc = async (name: string, dn: string, ca: string) =>
        writeVomsDir(join(dir, name), [{ vo: VO, host: 'voms.example.org', dn, ca }]);
      const required = { requireVoms: true, vo: VO };
      const accepted: [string, string, string][] = [
        ['utf8', '/DC=org/DC=example/CN=vöms.example.org', INTERMEDIATE_DN],
        ['escaped', hostEscaped, INTERMEDIATE_DN.toLowerCase()],
        ['upper', '/DC=ORG/DC=EXAMPLE/CN=VÖMS.EXAMPLE.ORG', INTERMEDIATE_DN],
      ];
      for (const [name, dn, ca] of accepted) {
        const result = ourVerdict({
          name,
          signed,
          trust,
          code: null,
          authorization: required,
          vomsDir: await lsc(name, dn, ca),
        });
        assert.equal(result.code, null, `${name}: ${result.error?.message ?? ''}`);
        assert.equal(result.result?.signer.vo, VO);
      }
      const refused: [string, string, string][] = [
        ['other-server', '/DC=org/DC=example/CN=voms.example.org', INTERMEDIATE_DN],
        ['other-ca', '/DC=org/DC=example/CN=vöms.example.org', grid.root.subject],
      ];
      for (const [name, dn, ca] of refused) {
        const result = ourVerdict({
          name,
          signed,
          trust,
          code: null,
          authorization: required,
          vomsDir: await lsc(name, dn, ca),
        });
        assert.equal(result.code, 'VOMS_INVALID', name);
      }
    });
  });
});
