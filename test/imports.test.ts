import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

/**
 * No import cycle in src/ (STYLE.md): every import counts, type-only ones included, since a
 * cycle of types is still two modules that cannot be read, or moved, one without the other.
 */

const SRC = new URL('../src', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The src/ files a file imports: relative specifiers only, `./x.js` naming `./x.ts`. */
function importsOf(file: string, text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => resolve(dirname(file), name.replace(/\.js$/, '.ts')))
    .filter((path) => existsSync(path));
}

/** The first cycle found, as a list of files ending where it started; undefined when none. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (file: string): string[] | undefined => {
    if (onPath.has(file)) return [...path.slice(path.indexOf(file)), file];
    if (done.has(file)) return undefined;
    path.push(file);
    onPath.add(file);
    for (const next of graph.get(file) ?? []) {
      const cycle = visit(next);
      if (cycle !== undefined) return cycle;
    }
    path.pop();
    onPath.delete(file);
    done.add(file);
    return undefined;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

describe('imports in src/', () => {
  it('finds a cycle and reports it from where it starts', () => {
    const graph = new Map([
      ['/c.ts', ['/a.ts']],
      ['/a.ts', ['/b.ts']],
      ['/b.ts', ['/a.ts']],
    ]);
    assert.deepEqual(findCycle(graph), ['/a.ts', '/b.ts', '/a.ts']);
    graph.set('/b.ts', []);
    assert.equal(findCycle(graph), undefined);
  });

  it('reads every kind of import, type-only ones included', () => {
    const file = join(SRC, 'x.ts');
    const text = [
      "import type { A } from './catcher/ops/sitestatus.js';",
      "export { B } from './catcher/ops/health.js';",
      "const c = await import('./catcher/ops/status.js');",
      "import 'node:fs';",
    ].join('\n');
    assert.deepEqual(
      importsOf(file, text).map((p) => relative(SRC, p)),
      ['catcher/ops/sitestatus.ts', 'catcher/ops/health.ts', 'catcher/ops/status.ts'],
    );
  });

  it('has no cycle', () => {
    const files = sources(SRC);
    const graph = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, 'utf8'))]));
    assert.ok(graph.size > 50, `only ${graph.size} files under src/`);
    const cycle = findCycle(graph);
    assert.equal(
      cycle,
      undefined,
      `import cycle: ${(cycle ?? []).map((f) => relative(SRC, f)).join(' -> ')}`,
    );
  });
});
