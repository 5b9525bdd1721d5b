import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { attributeName, formatOneline, sameName } from '../../src/shared/pki/dn.js';
import { checkNamespace, parseNamespaces } from '../../src/shared/pki/namespaces.js';
import { buildTrustStore } from '../../src/shared/pki/truststore.js';
import type { Name, NameAttribute } from '../../src/shared/pki/types.js';
import { parseLsc } from '../../src/shared/pki/voms.js';
import { issue, newKey, type KeyPair } from '../helpers/x509.js';
import { opensslSubject } from '../shared/openssl.js';
import { params, timed } from './fuzz.js';

/**
 * Distinguished names in OpenSSL's oneline form (SPEC.md section 2: hv:dn and hv:ca are
 * compared in it) and the places that read oneline DNs back: IGTF .namespaces files and
 * VOMS .lsc files.
 */

const KNOWN_OIDS = [
  '2.5.4.3',
  '2.5.4.6',
  '2.5.4.10',
  '2.5.4.11',
  '0.9.2342.19200300.100.1.25',
  '1.2.840.113549.1.9.1',
];
const oid = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN_OIDS) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.nat({ max: 99999 }), { minLength: 1, maxLength: 5 })
      .map((a) => `1.3.${a.join('.')}`),
  },
);
const STRING_TAGS = [12, 19, 20, 22, 28, 30];

function nameOf(rdns: NameAttribute[][]): Name {
  return { der: new Uint8Array(), rdns };
}

/** Names with any bytes in their values (what a hostile CA could put there). */
const anyName = fc
  .array(
    fc.array(
      fc.record({ oid, tag: fc.constantFrom(...STRING_TAGS, 27), value: fc.uint8Array({ maxLength: 24 }) }),
      { minLength: 1, maxLength: 3 },
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map(nameOf);

/** The inverse of formatOneline for values without a backslash (a backslash makes it ambiguous, as in OpenSSL). */
function parseBack(dn: string): { name: string; value: string }[][] {
  return dn
    .slice(1)
    .split(/(?<!\\)\//)
    .map((rdn) =>
      rdn.split(/(?<!\\)\+/).map((atv) => {
        const eq = atv.indexOf('=');
        const value = atv
          .slice(eq + 1)
          .replace(/\\x([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
          .replace(/\\([/+])/g, '$1');
        return { name: atv.slice(0, eq), value };
      }),
    );
}

const REGRESSIONS = JSON.parse(
  readFileSync(new URL('regressions/namespaces.json', import.meta.url), 'utf8'),
) as { cases: { kind: string; text: string }[] };

const regexEscape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('DN formatting and parsing (fuzz, issue 8)', () => {
  let key: KeyPair;
  before(() => {
    key = newKey('ec');
  });

  it('formats any name as printable ASCII, one "/" per RDN, deterministically', () => {
    fc.assert(
      fc.property(anyName, (name) => {
        const dn = timed(200, 'formatOneline', () => formatOneline(name));
        assert.match(dn, /^(\/[ -~]*)+$/);
        assert.equal(formatOneline(name), dn);
        assert.ok(sameName(name, name));
      }),
      params(1000),
    );
  });

  it('can be read back exactly when values hold no backslash', () => {
    const noBackslash = anyName.filter((n) =>
      n.rdns.every((rdn) => rdn.every((a) => a.tag !== 27 && !a.value.includes(0x5c))),
    );
    fc.assert(
      fc.property(noBackslash, (name) => {
        const expected = name.rdns.map((rdn) =>
          rdn.map((a) => ({ name: attributeName(a.oid), value: Buffer.from(a.value).toString('latin1') })),
        );
        assert.deepEqual(parseBack(formatOneline(name)), expected);
      }),
      params(1000),
    );
  });

  it('matches openssl x509 -subject -nameopt compat on random names', () => {
    const text = fc.stringMatching(/^[ -~]{1,16}$/);
    const attr = fc.record({
      oid: fc.constantFrom(...KNOWN_OIDS),
      tag: fc.constantFrom(12, 19, 22),
      value: text.map((t) => new TextEncoder().encode(t)),
    });
    fc.assert(
      fc.property(
        fc.array(fc.array(attr, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 4 }),
        (rdns) => {
          const cert = issue({ subject: rdns, key, noKeyIds: true, keyUsage: null });
          assert.equal(formatOneline(decodeCertificate(cert.der).subject), opensslSubject(cert.pem));
        },
      ),
      params(15),
    );
  });

  it('namespaces: a rule written from a formatted DN admits exactly that subject', () => {
    const safe = anyName.filter((n) => !formatOneline(n).includes('"') && !formatOneline(n).includes('\\'));
    fc.assert(
      fc.property(safe, safe, (ca, subject) => {
        const issuer = formatOneline(ca);
        const dn = formatOneline(subject);
        const policy = parseNamespaces(
          `# test\nTO Issuer "${issuer}" \\\n  PERMIT Subject "${regexEscape(dn)}"\n`,
          'x.namespaces',
          undefined,
        );
        assert.deepEqual(checkNamespace(policy, issuer, dn), { ok: true });
        assert.equal(checkNamespace(policy, issuer, `${dn}/CN=x`).ok, false);
        assert.equal(checkNamespace(policy, `${issuer}/CN=x`, dn).ok, false);
      }),
      params(300),
    );
  });

  it('lsc: any text gives chains of at least two trimmed DN lines; written chains read back', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        for (const chain of parseLsc(text)) {
          assert.ok(chain.length >= 2);
          for (const line of chain) {
            assert.equal(line, line.trim());
            assert.ok(line !== '' && !line.startsWith('#'));
          }
        }
      }),
      params(500),
    );
    const dnLine = anyName.map(formatOneline).filter((dn) => dn === dn.trim());
    fc.assert(
      fc.property(
        fc.array(fc.array(dnLine, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 3 }),
        (chains) => {
          const text = chains.map((c) => c.join('\n')).join('\n------ NEXT CHAIN ------\n');
          assert.deepEqual(parseLsc(`# comment\n${text}\n`), chains);
        },
      ),
      params(300),
    );
  });

  it('a CA with a namespaces file of its own is always constrained by it (fail closed)', () => {
    const ca = issue({ subject: '/DC=org/DC=example/CN=Fuzz CA', ca: true, key });
    const self = formatOneline(decodeCertificate(ca.der).subject);
    const dnText = fc.oneof(
      fc.constant(self),
      anyName.map(formatOneline),
      fc.constantFrom('/DC=org/DC=example/CN=Other CA', '/Email=x/CN=Fuzz CA'),
    );
    const ruleLine = fc
      .record({
        issuer: fc.oneof(
          dnText.map((d) => `"${d}"`),
          fc.constant('SELF'),
        ),
        verdict: fc.constantFrom('PERMIT', 'DENY', 'permit'),
        subject: fc.oneof(fc.constant('/DC=org/DC=example/.*'), fc.stringMatching(/^[ -!#-~]{0,20}$/)),
      })
      .map((r) => `TO Issuer ${r.issuer} ${r.verdict} Subject "${r.subject}"`);
    const policyText = fc
      .array(
        fc.oneof(
          ruleLine,
          fc.constantFrom('# comment', '', 'garbage line', 'TO Issuer \\'),
          fc.string({ maxLength: 30 }),
        ),
        {
          maxLength: 6,
        },
      )
      .map((lines) => lines.join('\n'));
    const subject = fc.oneof(fc.constant('/DC=org/DC=example/CN=user'), anyName.map(formatOneline));
    fc.assert(
      fc.property(policyText, fc.constantFrom('namespaces', 'signing_policy'), subject, (text, kind, dn) => {
        const store = buildTrustStore('fuzz', [
          { name: 'aabbccdd.0', bytes: new TextEncoder().encode(ca.pem) },
          { name: `aabbccdd.${kind}`, bytes: new TextEncoder().encode(text) },
        ]);
        const policy = store.namespaces.get(self);
        assert.ok(policy !== undefined, `the CA is unconstrained by its ${kind} file:\n${text}`);
        const verdict = timed(200, 'checkNamespace', () => checkNamespace(policy, self, dn));
        const permitted = policy.rules.some((r) => r.issuer === self && r.permit && r.pattern.test(dn));
        if (verdict.ok) assert.ok(permitted, 'admitted without a PERMIT rule for the CA');
      }),
      params(400),
    );
  });

  it('regressions: policy files without a rule for their own CA (regressions/namespaces.json)', () => {
    const ca = issue({ subject: '/DC=org/DC=example/CN=Fuzz CA', ca: true, key });
    const self = formatOneline(decodeCertificate(ca.der).subject);
    for (const c of REGRESSIONS.cases) {
      const store = buildTrustStore('fuzz', [
        { name: 'aabbccdd.0', bytes: new TextEncoder().encode(ca.pem) },
        { name: `aabbccdd.${c.kind}`, bytes: new TextEncoder().encode(c.text) },
      ]);
      const policy = store.namespaces.get(self);
      assert.ok(policy !== undefined, JSON.stringify(c.text));
      assert.equal(checkNamespace(policy, self, '/DC=org/DC=example/CN=user').ok, false);
      assert.match(store.warnings.join('\n'), /certifies nothing/);
    }
  });
});
