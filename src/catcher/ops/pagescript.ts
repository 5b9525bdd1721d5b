import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as TypeScript from 'typescript';

/**
 * The status page's script as the browser gets it: page/script.ts compiled to ES2020. The
 * build (scripts/build-page.mjs) writes that text next to this module, as page/script.js, so
 * the installed program only reads a file and needs no compiler. Run from the sources (the
 * tests, through tsx) there is no such file, and the same function compiles page/script.ts on
 * first use, with TypeScript from the dev dependencies: one compiler, one set of options, so
 * the tests serve and hash the same bytes as the package.
 */

const BUILT = new URL('./page/script.js', import.meta.url);
const SOURCE = new URL('./page/script.ts', import.meta.url);

export function compilePageScript(source: string): string {
  const ts = createRequire(import.meta.url)('typescript') as typeof TypeScript;
  const { outputText } = ts.transpileModule(source, {
    // Preserve: a module whose only import is a type compiles to plain statements, no `export {}`.
    compilerOptions: { target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.Preserve, sourceMap: false },
  });
  return outputText;
}

function readOrCompile(): string {
  try {
    return readFileSync(BUILT, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let source: string;
  try {
    source = readFileSync(SOURCE, 'utf8');
  } catch (err) {
    throw new Error(`${BUILT.pathname} is missing: build the program with npm run build`, { cause: err });
  }
  return compilePageScript(source);
}

/** The script text to inline in the status page; its CSP hash must be computed from exactly this. */
export function loadPageScript(): string {
  const text = readOrCompile();
  // Inlined in a <script> element: the text must not be able to end it.
  if (/<\/script/i.test(text)) throw new Error('the status page script contains </script');
  return text;
}
