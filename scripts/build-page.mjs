// Compiles the status page's browser script (src/catcher/ops/page/script.ts) into
// dist/catcher/ops/page/script.js, which the built program inlines into the page and hashes
// for its CSP. Runs after tsc has built dist/: it uses the compile function tsc just built,
// the same one that compiles the script on the fly when the tests run the sources.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const { compilePageScript } = await import(new URL('dist/catcher/ops/pagescript.js', root).href);
const text = compilePageScript(readFileSync(new URL('src/catcher/ops/page/script.ts', root), 'utf8'));
const out = new URL('dist/catcher/ops/page/script.js', root);
mkdirSync(new URL('.', out), { recursive: true });
// Renamed into place: a program started from dist/ meanwhile reads the old text or the new.
writeFileSync(new URL('script.js.tmp', out), text);
renameSync(new URL('script.js.tmp', out), out);
