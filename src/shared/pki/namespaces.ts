import { sameDn } from './dn.js';

/**
 * IGTF namespace constraints: which subject names a CA may certify. Two file formats
 * exist side by side in an IGTF directory: EUGridPMA `.namespaces` (EACL) and Globus
 * `.signing_policy`. Both are parsed into the same rules; `.namespaces` wins when a CA
 * has both, as it is the newer format.
 */

export interface NamespaceRule {
  /** Oneline DN of the CA the rule is about. */
  issuer: string;
  permit: boolean;
  pattern: RegExp;
  /** The pattern as written, for messages. */
  text: string;
}

export interface NamespacePolicy {
  source: 'namespaces' | 'signing_policy';
  file: string;
  rules: NamespaceRule[];
}

/** Joins backslash-continued lines and drops comments. */
function logicalLines(text: string): string[] {
  return text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.replace(/^\s*#.*$/, '').trim())
    .filter((l) => l !== '');
}

function anchored(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

/** Globus glob: `*` matches anything, everything else is literal. */
function globToRegExp(glob: string): RegExp {
  return anchored(
    glob
      .split('*')
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*'),
  );
}

/**
 * Parses a `.namespaces` file: `TO Issuer "<DN>"|SELF  PERMIT|DENY Subject "<regex>"`.
 * `self` is the DN of the CA the file belongs to.
 */
export function parseNamespaces(text: string, file: string, self: string | undefined): NamespacePolicy {
  const rules: NamespaceRule[] = [];
  const re =
    /^TO\s+Issuer\s+(?:"((?:[^"\\]|\\.)*)"|(SELF))\s+(PERMIT|DENY)\s+Subject\s+"((?:[^"\\]|\\.)*)"\s*$/i;
  for (const line of logicalLines(text)) {
    const m = re.exec(line);
    if (m === null) throw new Error(`${file}: cannot parse namespaces line ${JSON.stringify(line)}`);
    const issuer = m[2] !== undefined ? self : m[1];
    if (issuer === undefined) continue;
    const pattern = m[4] ?? '';
    rules.push({
      issuer,
      permit: (m[3] ?? '').toUpperCase() === 'PERMIT',
      pattern: anchored(pattern),
      text: pattern,
    });
  }
  return { source: 'namespaces', file, rules };
}

/** Parses a Globus `.signing_policy` file (access_id_CA, pos_rights, cond_subjects). */
export function parseSigningPolicy(text: string, file: string): NamespacePolicy {
  const rules: NamespaceRule[] = [];
  let issuer: string | undefined;
  for (const line of logicalLines(text)) {
    const ca = /^access_id_CA\s+X509\s+'([^']*)'/i.exec(line);
    if (ca !== null) {
      issuer = ca[1];
      continue;
    }
    const subjects = /^cond_subjects\s+globus\s+'([^']*)'/i.exec(line);
    if (subjects !== null && issuer !== undefined) {
      for (const m of (subjects[1] ?? '').matchAll(/"([^"]*)"/g)) {
        const glob = m[1] ?? '';
        rules.push({ issuer, permit: true, pattern: globToRegExp(glob), text: glob });
      }
    }
  }
  return { source: 'signing_policy', file, rules };
}

/**
 * Decides whether `subject` may be certified by `issuer` under `policy`: some PERMIT rule
 * for that issuer matches and no DENY rule does. Returns the reason when refused. The
 * rules are those of the issuing CA under the one DN comparison (dn.ts), so a rule file
 * that spells the CA's name in another case still binds it; the patterns themselves match
 * the subject's oneline text as written.
 */
export function checkNamespace(
  policy: NamespacePolicy,
  issuer: string,
  subject: string,
): { ok: true } | { ok: false; reason: string } {
  const rules = policy.rules.filter((r) => sameDn(r.issuer, issuer));
  const denied = rules.find((r) => !r.permit && r.pattern.test(subject));
  if (denied !== undefined) {
    return { ok: false, reason: `${policy.file} denies ${subject} (pattern ${denied.text})` };
  }
  if (rules.some((r) => r.permit && r.pattern.test(subject))) return { ok: true };
  return {
    ok: false,
    reason: `${subject} is outside the namespace that ${policy.file} permits for ${issuer}`,
  };
}
