import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_EXPLANATIONS, explain } from '../../src/catcher/ops/explain.js';
import { escapeDnValue, ldifLine } from '../../src/catcher/ops/glue2.js';
import { formatDuration, formatProbeLine } from '../../src/catcher/ops/health.js';
import { escapeHtml, renderStatusPage, STATUS_PAGE_CSP } from '../../src/catcher/ops/page.js';
import { parseListen } from '../../src/catcher/ops/server.js';
import type { SiteStatus } from '../../src/catcher/ops/status.js';
import { ALL_ERROR_CODES, VmiError } from '../../src/shared/errors.js';
import { REPO } from '../helpers/caster-cli.js';

describe('operations building blocks', () => {
  it('explains every error code of SPEC.md section 9 in a sentence', () => {
    assert.deepEqual(Object.keys(ERROR_EXPLANATIONS).sort(), [...ALL_ERROR_CODES].sort());
    for (const code of ALL_ERROR_CODES) {
      const text = explain(code);
      assert.match(text, /^[A-Z].{20,}\.$/, code);
      assert.ok(!text.includes(code), `${code}: say it in words, not with the code`);
    }
    assert.equal(
      new Set(Object.values(ERROR_EXPLANATIONS)).size,
      ALL_ERROR_CODES.length,
      'each sentence is its own',
    );
    assert.match(explain('INTERNAL'), /daemon log/);
    assert.equal(explain('SOMETHING_NEW'), 'Error SOMETHING_NEW.');
  });

  it('documents every explanation in docs/operations.md, word for word', async () => {
    const doc = await readFile(join(REPO, 'docs/operations.md'), 'utf8');
    for (const code of ALL_ERROR_CODES) assert.ok(doc.includes(`| \`${code}\` | ${explain(code)} |`), code);
  });

  it('writes LDIF values plainly when safe, in base64 otherwise, folded at 76 characters', () => {
    assert.equal(ldifLine('GLUE2EntityName', 'CentOS 7'), 'GLUE2EntityName: CentOS 7');
    for (const unsafe of [' leading space', ':colon', '<angle', 'trailing ', 'ünïcode', 'two\nlines']) {
      const line = ldifLine('a', unsafe);
      assert.ok(line.startsWith('a:: '), unsafe);
      assert.equal(Buffer.from(line.slice(4).replace(/\n /g, ''), 'base64').toString('utf8'), unsafe);
    }
    const long = ldifLine('GLUE2ApplicationEnvironmentDescription', 'x'.repeat(200));
    const lines = long.split('\n');
    assert.ok(lines.every((l) => l.length <= 76));
    assert.ok(lines.slice(1).every((l) => l.startsWith(' ')));
    assert.equal(
      lines.map((l, i) => (i === 0 ? l : l.slice(1))).join(''),
      `GLUE2ApplicationEnvironmentDescription: ${'x'.repeat(200)}`,
    );
    assert.equal(escapeDnValue('a,b+c="d"<e>;f\\g'), 'a\\,b\\+c\\=\\"d\\"\\<e\\>\\;f\\\\g');
    assert.equal(escapeDnValue(' #x '), '\\ #x\\ ');
  });

  it('formats durations and probe lines the Nagios way', () => {
    assert.equal(formatDuration(30 * 60), '30 min');
    assert.equal(formatDuration(-25 * 3600), '25.0 h');
    assert.equal(formatDuration(3 * 86400), '3.0 d');
    const line = formatProbeLine({
      status: 'WARNING',
      summary: 'a | b\nc',
      perfdata: [{ label: 'x', value: 5, uom: 's', warn: '10', crit: '20', min: '0' }],
    });
    assert.equal(line, 'VMICATCHER WARNING - a b c | x=5s;10;20;0');
  });

  it('parses listen addresses, IPv6 included, and refuses others with CONFIG_INVALID', () => {
    assert.deepEqual(parseListen('127.0.0.1:9465'), { host: '127.0.0.1', port: 9465 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
    for (const bad of ['9465', '127.0.0.1', '127.0.0.1:99999', ':80', 'host:port']) {
      assert.throws(
        () => parseListen(bad),
        (err: unknown) => err instanceof VmiError && err.code === 'CONFIG_INVALID',
        bad,
      );
    }
  });

  it('embeds the status in the page so that no text from a list can end the script element', () => {
    assert.equal(
      escapeHtml(`<a href="x">'&'</a>`),
      '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;',
    );
    const status = {
      health: { status: 'OK', summary: '</script><script>alert(1)</script>', problems: [], perfdata: [] },
      now: '2026-01-01T00:00:00.000Z',
      title: '</script><!-- \u2028',
    } as unknown as SiteStatus;
    const html = renderStatusPage(status);
    assert.equal(html.match(/<\/script>/g)?.length, 2, 'only the two script elements close');
    assert.ok(!html.includes('<script>alert(1)'));
    const json =
      /<script type="application\/json" id="initial-status">(.*?)<\/script>/s.exec(html)?.[1] ?? '';
    assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(status)));
    assert.match(
      STATUS_PAGE_CSP,
      /default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-/,
    );
  });
});
