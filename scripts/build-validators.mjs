// Generates dist/shared/schema-validators.cjs: Ajv's standalone code for every schema the
// built modules give to validatorFor (src/shared/schema.ts), so that the programs validate
// without loading Ajv's compiler or compiling a schema at start-up. Runs after tsc has built
// dist/: it imports every built module that declares a validator (which registers its
// schema) and uses the generator of the built schema.js. A schema missing here is not an
// error at run time: it is compiled on first use, as without this step.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;

function builtModules(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return builtModules(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
}

const schemaModule = join(dist, 'shared/schema.js');
const { registeredSchemas, standaloneModule } = await import(schemaModule);
for (const path of builtModules(dist)) {
  if (path === schemaModule || !readFileSync(path, 'utf8').includes('validatorFor(')) continue;
  // A module that cannot be imported keeps its schemas compiled at run time, as before.
  await import(path).catch((err) => console.warn(`validators: skipped ${path}: ${err.message}`));
}
const schemas = registeredSchemas();
if (schemas.length === 0) throw new Error('no schema registered: nothing declares a validator');
const out = join(dist, 'shared/schema-validators.cjs');
// Renamed into place: a program started from dist/ meanwhile reads the old module or the new.
writeFileSync(`${out}.tmp`, standaloneModule(schemas));
renameSync(`${out}.tmp`, out);
console.log(`validators: ${schemas.length} schemas -> ${out}`);
