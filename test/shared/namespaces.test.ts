import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeCertificate } from '../../src/shared/pki/asn1/cert.js';
import { validateChain } from '../../src/shared/pki/chain.js';
import { checkNamespace, parseNamespaces, parseSigningPolicy } from '../../src/shared/pki/namespaces.js';
import { buildTrustStore, type TrustStore } from '../../src/shared/pki/truststore.js';
import { VmiError } from '../../src/shared/errors.js';
import { DEFAULT_CHAIN_POLICY } from '../../src/shared/pki/chain.js';
import { issue, type TestCert } from '../helpers/x509.js';

/** IGTF namespace files: `.namespaces` (EACL) and Globus `.signing_policy`. */

const CA = '/DC=org/DC=example/CN=Example CA';

describe('parseNamespaces', () => {
  it('reads TO Issuer ... PERMIT|DENY Subject lines with continuations, comments and SELF', () => {
    const text = [
      '##############',
      '#NAMESPACES-VERSION: 1.0',
      `TO Issuer "${CA}" \\`,
      '  PERMIT Subject "/DC=org/DC=example/.*"',
      `to issuer "${CA}" deny subject "/DC=org/DC=example/CN=banned.*"`,
      'TO Issuer SELF PERMIT Subject "/DC=org/DC=self/.*"',
      '',
    ].join('\n');
    const policy = parseNamespaces(text, 'x.namespaces', '/CN=Self CA');
    assert.equal(policy.source, 'namespaces');
    assert.deepEqual(
      policy.rules.map((r) => [r.issuer, r.permit, r.text]),
      [
        [CA, true, '/DC=org/DC=example/.*'],
        [CA, false, '/DC=org/DC=example/CN=banned.*'],
        ['/CN=Self CA', true, '/DC=org/DC=self/.*'],
      ],
    );
    // SELF without a known self DN is skipped, not guessed.
    assert.equal(parseNamespaces(text, 'x.namespaces', undefined).rules.length, 2);
  });

  it('throws on a line it cannot read (the trust store then fails closed)', () => {
    assert.throws(
      () => parseNamespaces('TO Issuer "/CN=x" ALLOW Subject "/.*"', 'bad.namespaces', undefined),
      /cannot parse/,
    );
  });
});

describe('parseSigningPolicy', () => {
  it('reads access_id_CA and every quoted glob of cond_subjects, for several CAs', () => {
    const text = [
      '# comment',
      ` access_id_CA   X509  '${CA}'`,
      ' pos_rights     globus CA:sign',
      ` cond_subjects  globus '"/DC=org/DC=example/*" "/C=XX/O=Ex.ample/*"'`,
      " access_id_CA X509 '/CN=Second CA'",
      ' pos_rights globus CA:sign',
      ` cond_subjects globus '"/CN=Second*"'`,
    ].join('\n');
    const policy = parseSigningPolicy(text, 'x.signing_policy');
    assert.deepEqual(
      policy.rules.map((r) => [r.issuer, r.text]),
      [
        [CA, '/DC=org/DC=example/*'],
        [CA, '/C=XX/O=Ex.ample/*'],
        ['/CN=Second CA', '/CN=Second*'],
      ],
    );
    // Globs: `*` matches anything, everything else (the dot here) is literal.
    const rule = policy.rules[1];
    assert.ok(rule?.pattern.test('/C=XX/O=Ex.ample/CN=a'));
    assert.ok(rule?.pattern.test('/C=XX/O=ExXample/CN=a') === false);
  });
});

describe('checkNamespace', () => {
  const policy = parseNamespaces(
    `TO Issuer "${CA}" PERMIT Subject "/DC=org/DC=example/.*"\n` +
      `TO Issuer "${CA}" DENY Subject "/DC=org/DC=example/CN=banned.*"\n` +
      `TO Issuer "/CN=Other" PERMIT Subject ".*"\n`,
    'p.namespaces',
    undefined,
  );

  it('permits a matching subject, anchored at both ends', () => {
    assert.deepEqual(checkNamespace(policy, CA, '/DC=org/DC=example/CN=host'), { ok: true });
    assert.equal(checkNamespace(policy, CA, '/DC=org/DC=examplex/CN=host').ok, false);
    assert.equal(checkNamespace(policy, CA, '/X=1/DC=org/DC=example/CN=host').ok, false);
  });

  it('a DENY rule wins over a PERMIT rule', () => {
    const verdict = checkNamespace(policy, CA, '/DC=org/DC=example/CN=banned user');
    assert.ok(!verdict.ok);
    assert.match(verdict.reason, /denies/);
  });

  it("only the issuer's own rules count", () => {
    const verdict = checkNamespace(policy, '/CN=Unknown', '/DC=org/DC=example/CN=host');
    assert.ok(!verdict.ok);
    assert.match(verdict.reason, /outside the namespace/);
  });
});

describe('namespace files in a trust store', () => {
  it('an unreadable .namespaces file makes its CA certify nothing (SIGNER_NAMESPACE), with a warning', () => {
    const ca = issue({ subject: CA, ca: true });
    const leaf = issue({ subject: '/DC=org/DC=example/CN=host', issuer: ca, ca: false });
    const text = (s: string) => new TextEncoder().encode(s);
    const store = buildTrustStore('memory', [
      { name: '0a1b2c3d.0', bytes: text(ca.pem) },
      { name: '0a1b2c3d.namespaces', bytes: text('TO Issuer garbage\n') },
    ]);
    assert.equal(store.warnings.length, 1);
    assert.match(store.warnings[0] ?? '', /0a1b2c3d\.namespaces/);
    const cert = decodeCertificate(leaf.der);
    assert.throws(
      () => validateChain(cert, [cert], store, { ...DEFAULT_CHAIN_POLICY, crl: 'off' }, new Date()),
      (e: unknown) => e instanceof VmiError && e.code === 'SIGNER_NAMESPACE',
    );
  });

  it('.namespaces takes precedence over .signing_policy for the same CA', () => {
    const ca = issue({ subject: CA, ca: true });
    const leaf = issue({ subject: '/DC=org/DC=example/CN=host', issuer: ca, ca: false });
    const text = (s: string) => new TextEncoder().encode(s);
    const store = buildTrustStore('memory', [
      { name: '0a1b2c3d.0', bytes: text(ca.pem) },
      {
        name: '0a1b2c3d.signing_policy',
        bytes: text(`access_id_CA X509 '${CA}'\ncond_subjects globus '"/C=XX/*"'\n`),
      },
      {
        name: '0a1b2c3d.namespaces',
        bytes: text(`TO Issuer "${CA}" PERMIT Subject "/DC=org/DC=example/.*"\n`),
      },
    ]);
    assert.equal(store.namespaces.get(CA)?.source, 'namespaces');
    const cert = decodeCertificate(leaf.der);
    const chain = validateChain(cert, [cert], store, { ...DEFAULT_CHAIN_POLICY, crl: 'off' }, new Date());
    assert.equal(chain.path.length, 2);
  });
});

describe('namespace rules bind the CA that actually issued a certificate (issue 12)', () => {
  const OFF = { ...DEFAULT_CHAIN_POLICY, crl: 'off' as const };
  const text = (s: string) => new TextEncoder().encode(s);
  /** The same CA key and subject, but writing `spelling` as its name in what it issues. */
  const spelledAs = (ca: TestCert, spelling: string): TestCert => ({
    ...ca,
    spec: { ...ca.spec, subject: spelling },
  });
  const verdictOf = (leaf: TestCert, store: TrustStore): string => {
    const cert = decodeCertificate(leaf.der);
    try {
      validateChain(cert, [cert], store, OFF, new Date());
      return 'accepted';
    } catch (err) {
      if (err instanceof VmiError) return err.code;
      throw err;
    }
  };

  it('a CA writing its own name in another case or spacing stays bound by its .namespaces rule', () => {
    const ca = issue({ subject: CA, ca: true });
    const store = buildTrustStore('memory', [
      { name: '0a1b2c3d.0', bytes: text(ca.pem) },
      {
        name: '0a1b2c3d.namespaces',
        bytes: text(`TO Issuer "${CA}" PERMIT Subject "/DC=org/DC=example/.*"\n`),
      },
    ]);
    const outside = '/DC=org/DC=elsewhere/CN=intruder';
    // Valid state: the CA's own spelling, inside and outside its namespace.
    assert.equal(
      verdictOf(issue({ subject: '/DC=org/DC=example/CN=host', issuer: ca, ca: false }), store),
      'accepted',
    );
    assert.equal(verdictOf(issue({ subject: outside, issuer: ca, ca: false }), store), 'SIGNER_NAMESPACE');
    // One change: the issuer field spells the CA's name differently.
    for (const spelling of [
      '/DC=org/DC=example/CN=example ca',
      CA.toUpperCase(),
      '/DC=org/DC=example/CN=Example  CA',
    ]) {
      const leaf = issue({ subject: outside, issuer: spelledAs(ca, spelling), ca: false });
      assert.equal(verdictOf(leaf, store), 'SIGNER_NAMESPACE', spelling);
    }
  });

  it('a .signing_policy naming the CA in another case binds it too', () => {
    const ca = issue({ subject: CA, ca: true });
    const store = buildTrustStore('memory', [
      { name: '0a1b2c3d.0', bytes: text(ca.pem) },
      {
        name: '0a1b2c3d.signing_policy',
        bytes: text(
          `access_id_CA X509 '${CA.toUpperCase()}'\ncond_subjects globus '"/DC=org/DC=example/*"'\n`,
        ),
      },
    ]);
    assert.equal(
      verdictOf(issue({ subject: '/DC=org/DC=example/CN=h', issuer: ca, ca: false }), store),
      'accepted',
    );
    assert.equal(
      verdictOf(issue({ subject: '/C=XX/CN=h', issuer: ca, ca: false }), store),
      'SIGNER_NAMESPACE',
    );
  });
});
