import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

/**
 * One store boundary (issue 13): SQL lives in `src/<program>/store/` only. Every string and
 * template literal of every other file under src/ is checked for SQL statements.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const SRC = join(ROOT, 'src');

// Upper case, as the code base writes SQL: English prose ("select the image from the list") passes.
const SQL =
  /\b(SELECT\s+(?:DISTINCT\s+)?[\w*.,()\s]+?\s+FROM\s|SELECT\s+(?:\d|COUNT\s*\()|INSERT\s+(?:OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|REPLACE\s+INTO\s|(?:CREATE|DROP|ALTER)\s+(?:TABLE|INDEX|VIEW|TRIGGER)\s|PRAGMA\s+\w)/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The text of every string and template literal in a file (template parts joined with `?`). */
function literals(path: string): { line: number; text: string }[] {
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: { line: number; text: string }[] = [];
  const visit = (node: ts.Node): void => {
    let text: string | undefined;
    if (ts.isStringLiteralLike(node)) text = node.text;
    else if (ts.isTemplateExpression(node))
      text = [node.head.text, ...node.templateSpans.map((s) => s.literal.text)].join(' ? ');
    if (text !== undefined) {
      found.push({ line: file.getLineAndCharacterOfPosition(node.getStart()).line + 1, text });
      if (ts.isTemplateExpression(node)) node.templateSpans.forEach((s) => visit(s.expression));
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function outsideStore(path: string): boolean {
  return !relative(SRC, path).split(sep).includes('store');
}

describe('no SQL outside the store', () => {
  it('the check finds SQL where it is', () => {
    const sample = [
      "prepared(db, 'SELECT vo FROM subscriptions WHERE id = ?')",
      "db.prepare('SELECT 1').get()",
      'prepared(db, `UPDATE instances SET state = ? WHERE id = ${id}`)',
      "db.exec('INSERT OR IGNORE INTO t (a) VALUES (1)')",
      "const q = 'DELETE FROM events'",
    ];
    for (const code of sample) {
      const file = ts.createSourceFile('x.ts', code, ts.ScriptTarget.Latest, true);
      const texts: string[] = [];
      const visit = (node: ts.Node): void => {
        if (ts.isStringLiteralLike(node)) texts.push(node.text);
        else if (ts.isTemplateExpression(node))
          texts.push(node.head.text + node.templateSpans.map((s) => s.literal.text).join(''));
        else ts.forEachChild(node, visit);
      };
      visit(file);
      assert.ok(
        texts.some((t) => SQL.test(t)),
        code,
      );
    }
    for (const prose of [
      'select the image from the list',
      'DELETE',
      'update the metadata',
      'journal_mode = DELETE',
    ])
      assert.equal(SQL.test(prose), false, prose);
  });

  it('every SQL statement under src/ sits in a store module', () => {
    const withSql = sourceFiles(SRC)
      .filter(outsideStore)
      .map((path) => ({
        file: relative(ROOT, path).split(sep).join('/'),
        hits: literals(path).filter((l) => SQL.test(l.text)),
      }))
      .filter((f) => f.hits.length > 0);
    const offending = withSql.flatMap((f) =>
      f.hits.map((l) => `${f.file}:${l.line}: ${l.text.trim().slice(0, 60)}`),
    );
    assert.deepEqual(offending, []);
  });
});
