/** Builds dist/ (tsc) when a source file is newer than the build: the benchmarks run dist/. */
import { ensureBuilt } from '../../test/helpers/caster-cli.js';

ensureBuilt();
