import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { VmiError } from '../../src/shared/errors.js';
import { OID } from '../../src/shared/pki/oids.js';
import { normalizeFqan, parseLsc, requireVoms, type VomsDir } from '../../src/shared/pki/voms.js';
import {
  INTERMEDIATE_DN,
  listFor,
  makeGrid,
  PUBLISHER_DN,
  signDocument,
  type Grid,
} from '../helpers/grid.js';
import { tempDir } from '../helpers/tmp.js';
import { issue, makeProxy } from '../helpers/x509.js';
import { checkRow, ourVerdict, type Row, type Trust } from './table.js';
import {
  fakeProxy,
  HAVE_VOMS,
  VOMS_SKIP,
  vomsExtensionOf,
  writeVomsDir,
  type FakeProxy,
  FQAN,
  hostCert,
  OTHER_VO,
  STRICTER,
  VO,
  VOMS_DN,
} from './vomskit.js';

/**
 * VOMS rows of the tamper table, with proxies made by the real voms-proxy-fake. OpenSSL
 * ignores attribute certificates, so it accepts every one of these lists: the oracle
 * asserts that, and the documented reason.
 */

const MANAGER = `/${VO}/prod/Role=manager/Capability=NULL`;

describe('VOMS attribute certificates (voms-proxy-fake)', { skip: VOMS_SKIP }, () => {
  let grid: Grid;
  let trust: Trust;
  let vomsDir: VomsDir;
  let good: FakeProxy;
  let doc: ReturnType<typeof listFor>;
  let dir: string;
  const required = { requireVoms: true, vo: VO };
  const row = (r: Omit<Row, 'trust' | 'vomsDir'> & { vomsDir?: VomsDir }) =>
    checkRow({ trust, vomsDir, ...r });
  const signWith = (p: FakeProxy) => signDocument(doc, p.proxy, p.chain);

  before(async () => {
    assert.ok(HAVE_VOMS, 'voms-proxy-fake is required (Debian package voms-clients)');
    grid = await makeGrid();
    trust = { caDir: grid.caDir, store: grid.store };
    dir = await tempDir('vmicast-voms-');
    const host = hostCert(VOMS_DN, grid.intermediate);
    vomsDir = await writeVomsDir(join(dir, 'vomsdir'), [
      { vo: VO, host: 'voms.example.org', dn: VOMS_DN, ca: INTERMEDIATE_DN },
      { vo: OTHER_VO, host: 'voms.example.org', dn: VOMS_DN, ca: INTERMEDIATE_DN },
    ]);
    good = await fakeProxy(dir, { user: grid.publisher, host, vo: VO, fqans: [FQAN, MANAGER] });
    doc = listFor({ eec: grid.publisher, issuer: grid.intermediate }, { vo: VO });
  });

  it('accepts a VOMS proxy signer and exposes VO and FQANs', () => {
    const signed = signWith(good);
    row({ name: 'VOMS proxy', signed, code: null, authorization: { ...required, fqan: MANAGER } });
    const ours = ourVerdict({
      name: 'VOMS proxy',
      signed,
      trust,
      vomsDir,
      code: null,
      authorization: required,
    });
    assert.equal(ours.result?.signer.dn, PUBLISHER_DN);
    assert.equal(ours.result.signer.vo, VO);
    assert.deepEqual(ours.result.signer.fqans, [FQAN, MANAGER]);
    // Without --require-voms the attributes are still reported.
    const plain = ourVerdict({ name: 'plain', signed, trust, vomsDir, code: null });
    assert.equal(plain.result?.signer.vo, VO);
    row({
      name: 'FQAN without Role/Capability',
      signed,
      code: null,
      authorization: { ...required, fqan: `/${VO}` },
    });
  });

  it('AC expired: VOMS_INVALID', async () => {
    const p = await fakeProxy(dir, {
      user: grid.publisher,
      host: hostCert(VOMS_DN, grid.intermediate),
      vo: VO,
      fqans: [FQAN],
      pastAc: '3:00',
      vomsLife: 1,
    });
    row({
      name: 'AC expired',
      signed: signWith(p),
      code: 'VOMS_INVALID',
      authorization: required,
      stricter: STRICTER,
    });
    // Not required: the list is accepted and the expired AC gives no VO.
    const plain = ourVerdict({
      name: 'AC expired, not required',
      signed: signWith(p),
      trust,
      vomsDir,
      code: null,
    });
    assert.equal(plain.code, null);
    assert.equal(plain.result?.signer.vo, null);
  });

  it('AC for another VO: VOMS_VO_MISMATCH', async () => {
    const p = await fakeProxy(dir, {
      user: grid.publisher,
      host: hostCert(VOMS_DN, grid.intermediate),
      vo: OTHER_VO,
      fqans: [`/${OTHER_VO}`],
    });
    row({
      name: 'AC for another VO',
      signed: signWith(p),
      code: 'VOMS_VO_MISMATCH',
      authorization: required,
      stricter: STRICTER,
    });
    // The list's own ad:vo is judged before VOMS (SPEC.md section 4 item 8).
    row({
      name: 'ad:vo against another VO',
      signed: signWith(p),
      code: 'VO_MISMATCH',
      authorization: { requireVoms: true, vo: OTHER_VO },
      stricter: 'endorser and VO rules (OpenSSL does not read the list)',
    });
  });

  it('AC with a different holder: VOMS_INVALID', async () => {
    const userB = issue({
      subject: '/DC=org/DC=example/CN=Someone Else',
      issuer: grid.intermediate,
      ca: false,
      extKeyUsage: ['emailProtection'],
    });
    const forB = await fakeProxy(dir, {
      user: userB,
      host: hostCert(VOMS_DN, grid.intermediate),
      vo: VO,
      fqans: [FQAN],
    });
    const stolen = makeProxy(grid.publisher, {
      extensions: [{ oid: OID.vomsAcSeq, critical: false, value: vomsExtensionOf(forB.proxy) }],
    });
    const r: Row = {
      name: 'AC of another holder',
      signed: signDocument(doc, stolen, [grid.publisher]),
      trust,
      vomsDir,
      code: 'VOMS_INVALID',
      authorization: required,
      stricter: STRICTER,
    };
    checkRow(r);
    assert.match(ourVerdict(r).error?.message ?? '', /issued to another certificate/);
  });

  it('AC signed by a VOMS server not in the vomsdir: VOMS_INVALID', async () => {
    const rogue = hostCert('/DC=org/DC=example/CN=rogue.example.org', grid.intermediate);
    const p = await fakeProxy(dir, { user: grid.publisher, host: rogue, vo: VO, fqans: [FQAN] });
    const r: Row = {
      name: 'AC by unlisted server',
      signed: signWith(p),
      trust,
      vomsDir,
      code: 'VOMS_INVALID',
      authorization: required,
      stricter: STRICTER,
    };
    checkRow(r);
    assert.match(ourVerdict(r).error?.message ?? '', /not listed for vo\.example\.org in the vomsdir/);
    // The listed DN with a CA DN that differs from the server's issuer does not count either.
    const wrongCa = await writeVomsDir(join(dir, 'vomsdir-wrong-ca'), [
      { vo: VO, host: 'voms.example.org', dn: VOMS_DN, ca: grid.root.subject },
    ]);
    row({
      name: 'lsc with wrong CA',
      signed: signWith(good),
      code: 'VOMS_INVALID',
      authorization: required,
      vomsDir: wrongCa,
      stricter: STRICTER,
    });
    row({
      name: 'empty vomsdir',
      signed: signWith(good),
      code: 'VOMS_INVALID',
      authorization: required,
      vomsDir: new Map(),
      stricter: STRICTER,
    });
  });

  it('missing required FQAN: VOMS_FQAN_MISSING', () => {
    row({
      name: 'missing FQAN',
      signed: signWith(good),
      code: 'VOMS_FQAN_MISSING',
      authorization: { ...required, fqan: `/${VO}/admin` },
      stricter: STRICTER,
    });
  });

  it('VOMS required but the signer is no VOMS proxy: VOMS_INVALID', () => {
    const plainProxy = makeProxy(grid.publisher);
    row({
      name: 'no AC',
      signed: signDocument(doc, plainProxy, [grid.publisher]),
      code: 'VOMS_INVALID',
      authorization: required,
      stricter: STRICTER,
    });
    row({
      name: 'no proxy',
      signed: signDocument(doc, grid.publisher),
      code: 'VOMS_INVALID',
      authorization: required,
      stricter: STRICTER,
    });
  });

  it('VOMS server certificate revoked: VOMS_INVALID', async () => {
    const { trustFor } = await import('./table.js');
    const host = hostCert(VOMS_DN, grid.intermediate);
    const p = await fakeProxy(dir, { user: grid.publisher, host, vo: VO, fqans: [FQAN] });
    const t = await trustFor([[grid.root], [grid.intermediate, { crl: { revoked: [host] } }]]);
    checkRow({
      name: 'revoked VOMS server',
      signed: signWith(p),
      trust: t,
      vomsDir,
      code: 'VOMS_INVALID',
      authorization: required,
      stricter: STRICTER,
    });
  });
});

describe('vomsdir and FQAN rules', () => {
  it('parses .lsc files: DN lines, comments, several chains', () => {
    const text = `# voms server\n${VOMS_DN}\r\n${INTERMEDIATE_DN}\n------ NEXT CHAIN ------\n/CN=b\n/CN=b-ca\n/CN=root\n`;
    assert.deepEqual(parseLsc(text), [
      [VOMS_DN, INTERMEDIATE_DN],
      ['/CN=b', '/CN=b-ca', '/CN=root'],
    ]);
    assert.deepEqual(parseLsc(`${VOMS_DN}\n`), []);
  });

  it('treats /vo/Role=NULL/Capability=NULL as /vo', () => {
    assert.equal(normalizeFqan(FQAN), `/${VO}`);
    assert.equal(normalizeFqan(MANAGER), `/${VO}/prod/Role=manager`);
  });

  it('requireVoms reports the first problem of the wanted VO', () => {
    const collected = {
      attributes: [],
      problems: [{ vo: VO, message: 'the AC for vo.example.org expired' }],
      present: true,
    };
    assert.throws(
      () => requireVoms(collected, VO, undefined),
      (e: unknown) => e instanceof VmiError && e.code === 'VOMS_INVALID' && e.message.includes('expired'),
    );
    const none = { attributes: [], problems: [], present: false };
    assert.throws(
      () => requireVoms(none, VO, undefined),
      (e: unknown) =>
        e instanceof VmiError && e.code === 'VOMS_INVALID' && /carries no VOMS attributes/.test(e.message),
    );
  });
});
