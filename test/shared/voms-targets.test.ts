import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { VmiError } from '../../src/shared/errors.js';
import { decodeTargets } from '../../src/shared/pki/asn1/ac.js';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { DEFAULT_CHAIN_POLICY } from '../../src/shared/pki/checks.js';
import { OID } from '../../src/shared/pki/oids.js';
import { collectVoms, type VomsDir } from '../../src/shared/pki/voms.js';
import { INTERMEDIATE_DN, listFor, makeGrid, signDocument, type Grid } from '../helpers/grid.js';
import { tempDir } from '../helpers/tmp.js';
import { checkRow, ourVerdict, type Row, type Trust } from './table.js';
import {
  fakeProxy,
  HAVE_VOMS,
  targetsValue,
  VOMS_SKIP,
  writeVomsDir,
  type FakeProxy,
  type FakeProxyOptions,
  FQAN,
  hostCert,
  OTHER_VO,
  STRICTER,
  VO,
  VOMS_DN,
} from './vomskit.js';

/**
 * Issue 12 section 5: an AC counts only for the services it targets and only for groups of
 * its own VO. A list verifier answers to no target unless told to (voms.ts, checkTargets),
 * so a targeted AC is refused; an FQAN outside `/<vo>` voids the whole AC. Proxies are made
 * by the real voms-proxy-fake; OpenSSL ignores attribute certificates and accepts them all.
 */

describe('VOMS AC targets and FQANs (voms-proxy-fake)', { skip: VOMS_SKIP }, () => {
  let grid: Grid;
  let trust: Trust;
  let vomsDir: VomsDir;
  let good: FakeProxy;
  let doc: ReturnType<typeof listFor>;
  let dir: string;
  const required = { requireVoms: true, vo: VO };
  const signWith = (p: FakeProxy) => signDocument(doc, p.proxy, p.chain);

  before(async () => {
    assert.ok(HAVE_VOMS, 'voms-proxy-fake is required (Debian package voms-clients)');
    grid = await makeGrid();
    trust = { caDir: grid.caDir, store: grid.store };
    dir = await tempDir('vmicast-voms-');
    vomsDir = await writeVomsDir(join(dir, 'vomsdir'), [
      { vo: VO, host: 'voms.example.org', dn: VOMS_DN, ca: INTERMEDIATE_DN },
    ]);
    const host = hostCert(VOMS_DN, grid.intermediate);
    good = await fakeProxy(dir, { user: grid.publisher, host, vo: VO, fqans: [FQAN] });
    doc = listFor({ eec: grid.publisher, issuer: grid.intermediate }, { vo: VO });
  });

  it('a plain AC (no targets, FQAN under the VO) is accepted', () => {
    checkRow({
      name: 'plain AC',
      signed: signWith(good),
      trust,
      vomsDir,
      code: null,
      authorization: required,
    });
  });

  /** The list is refused when VOMS is required; otherwise the AC just gives no VO or FQAN. */
  const refusedAc = (name: string, p: FakeProxy, reason: RegExp) => {
    const r: Row = {
      name,
      signed: signWith(p),
      trust,
      vomsDir,
      code: 'VOMS_INVALID',
      authorization: required,
      stricter: STRICTER,
    };
    checkRow(r);
    assert.match(ourVerdict(r).error?.message ?? '', reason, name);
    const plain = ourVerdict({ ...r, code: null, authorization: undefined });
    assert.equal(plain.code, null, name);
    assert.equal(plain.result?.signer.vo, null, name);
    assert.deepEqual(plain.result.signer.fqans, [], name);
  };

  it('AC targeted at another service (critical or not, VOMS or RFC 5755 form): VOMS_INVALID', async () => {
    const host = hostCert(VOMS_DN, grid.intermediate);
    const targeted = (critical: boolean, style: 'voms' | 'rfc'): Partial<FakeProxyOptions> => ({
      acExtensions: [{ oid: OID.acTargets, critical, value: targetsValue(['other.example.org'], style) }],
    });
    const cases: [string, Partial<FakeProxyOptions>][] = [
      // This voms-proxy-fake writes -target as a critical extension with an empty list.
      ['voms-proxy-fake -target', { target: 'other.example.org' }],
      ['VOMS form, critical', targeted(true, 'voms')],
      ['VOMS form, non-critical', targeted(false, 'voms')],
      ['RFC 5755 form, critical', targeted(true, 'rfc')],
    ];
    for (const [name, extra] of cases) {
      const p = await fakeProxy(dir, { user: grid.publisher, host, vo: VO, fqans: [FQAN], ...extra });
      refusedAc(`AC targeted, ${name}`, p, /AC for vo\.example\.org is targeted at/);
    }
  });

  it('AC targets: only a target the verifier was told to accept lets the AC count', async () => {
    const host = hostCert(VOMS_DN, grid.intermediate);
    const collect = (p: FakeProxy, targets: string[]) =>
      collectVoms(
        [decodeCertificate(p.proxy.der)],
        decodeCertificate(grid.publisher.der),
        grid.store,
        vomsDir,
        DEFAULT_CHAIN_POLICY,
        new Date(),
        targets,
      );
    for (const style of ['voms', 'rfc'] as const) {
      const value = targetsValue(['a.example.org', 'other.example.org'], style);
      const p = await fakeProxy(dir, {
        user: grid.publisher,
        host,
        vo: VO,
        fqans: [FQAN],
        acExtensions: [{ oid: OID.acTargets, critical: true, value }],
      });
      assert.equal(collect(p, ['Other.Example.ORG']).attributes[0]?.vo, VO, style);
      const refused = collect(p, ['mine.example.org']);
      assert.deepEqual(refused.attributes, [], style);
      assert.match(refused.problems[0]?.message ?? '', /a\.example\.org, other\.example\.org/);
    }
    // An empty target list (voms-proxy-fake -target) names nobody: refused whatever is accepted.
    const empty = await fakeProxy(dir, { user: grid.publisher, host, vo: VO, fqans: [FQAN], target: 'x' });
    assert.deepEqual(collect(empty, ['x']).attributes, []);
    // Without targets the accepted list does not matter.
    assert.equal(collect(good, []).attributes[0]?.vo, VO);
  });

  it("FQAN outside the AC's VO: VOMS_INVALID", async () => {
    const host = hostCert(VOMS_DN, grid.intermediate);
    const cases: [string, string[]][] = [
      ['another VO', [`/${OTHER_VO}/Role=NULL/Capability=NULL`]],
      ['one of two outside', [FQAN, '/othervo/admin']],
      ['VO name as a prefix', [`/${VO}x/prod`]],
      ['relative', ['prod/Role=manager']],
    ];
    for (const [name, fqans] of cases) {
      const p = await fakeProxy(dir, { user: grid.publisher, host, vo: VO, fqans });
      refusedAc(`FQAN ${name}`, p, /is not under \/vo\.example\.org/);
    }
  });
});

describe('AC target information decoding', () => {
  it('decodes AC target information in the VOMS and RFC 5755 forms; refuses anything else', () => {
    for (const style of ['voms', 'rfc'] as const) {
      assert.deepEqual(decodeTargets(targetsValue(['a.example.org', 'B.example.org'], style)), {
        uris: ['a.example.org', 'B.example.org'],
        others: 0,
      });
    }
    // As this voms-proxy-fake writes -target: a list with no target at all.
    assert.deepEqual(decodeTargets(new Uint8Array([0x30, 0x02, 0x30, 0x00])), { uris: [], others: 0 });
    // targetGroup [1] and a targetName that is a dNSName ([0] { [2] ... }): never matched.
    const group = [0xa1, 0x03, 0x86, 0x01, 0x67];
    const dns = [0xa0, 0x03, 0x82, 0x01, 0x68];
    const value = new Uint8Array([0x30, 0x0c, 0x30, 0x0a, ...group, ...dns]);
    assert.deepEqual(decodeTargets(value), { uris: [], others: 2 });
    const refused = (bytes: number[]) =>
      assert.throws(
        () => decodeTargets(new Uint8Array(bytes)),
        (e: unknown) => e instanceof VmiError && e.code === 'VOMS_INVALID',
        JSON.stringify(bytes),
      );
    refused([0x04, 0x00]); // not a SEQUENCE
    refused([0x30, 0x03, 0x02, 0x01, 0x01]); // an INTEGER among the targets
    refused([0x30, 0x05, 0xa0, 0x03, 0x86, 0x01, 0x67]); // a target outside a Targets list
    refused([0x30, 0x08, 0x30, 0x06, 0x30, 0x04, 0x30, 0x02, 0x30, 0x00]); // too deep
    refused([0x30, 0x05, 0x30, 0x03]); // truncated
    // Every one-byte change of a valid value decodes or is refused with VOMS_INVALID.
    const good = targetsValue(['other.example.org'], 'voms');
    for (let i = 0; i < good.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = new Uint8Array(good);
        bad[i] = (bad[i] ?? 0) ^ flip;
        try {
          decodeTargets(bad);
        } catch (e) {
          assert.ok(e instanceof VmiError && e.code === 'VOMS_INVALID', `byte ${i}: ${String(e)}`);
        }
      }
    }
  });
});
