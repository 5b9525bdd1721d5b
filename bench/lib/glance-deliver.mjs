// Child process of bench/glance.ts: delivers one raw disk file to a Glance with the
// catcher's glance backend (built code from dist/, as vmicatcher runs it), so that its peak
// RSS is that of a real delivery and not of the benchmark harness.
//   node bench/lib/glance-deliver.mjs BACKEND_JSON FILE SHA512 WORKDIR
// BACKEND_JSON: the glance backend block (type, name, endpoint, testIdentity).
// Prints {"refs": [...], "size": N} on success.
import { createGlanceBackend } from '../../dist/catcher/backends/glance/create.js';
import { deliverDiskFile } from '../../dist/catcher/backends/glance/deliver-file.js';
import { silentLogger } from '../../dist/shared/log.js';

const [config, path, sha512, workDir] = process.argv.slice(2);
const backend = createGlanceBackend(JSON.parse(config));
const ctx = {
  log: silentLogger(),
  signal: new globalThis.AbortController().signal,
  now: new Date(),
  workDir,
};
const result = await deliverDiskFile(backend, { path, format: 'raw', sha512 }, ctx);
await backend.close?.();
process.stdout.write(`${JSON.stringify({ refs: result.refs, size: result.size })}\n`);
