import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { ALL_ERROR_CODES, ERROR_AREAS, EXIT_STATUS, type ErrorArea } from '../src/shared/errors.js';

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
  scripts: Record<string, string>;
};

describe('README', () => {
  it('documents every error code', () => {
    const missing = ALL_ERROR_CODES.filter((code) => !readme.includes(`\`${code}\``));
    assert.deepEqual(missing, []);
  });

  it('documents the exit status of every error area next to its codes', () => {
    for (const area of Object.keys(ERROR_AREAS) as ErrorArea[]) {
      const row = readme.split('\n').find((line) => line.startsWith(`| ${EXIT_STATUS[area]} |`));
      assert.ok(row, `a row for exit status ${EXIT_STATUS[area]} (${area})`);
      for (const code of ERROR_AREAS[area])
        assert.ok(row.includes(code), `${code} in the row of exit ${EXIT_STATUS[area]}`);
    }
  });

  it('gives exactly the two set-up commands, and both exist', () => {
    const setup = readme.slice(
      readme.indexOf('## Set up'),
      readme.indexOf('\n## ', readme.indexOf('## Set up') + 1),
    );
    const commands = setup
      .split('\n')
      .filter((l) => /^ {4}npm /.test(l))
      .map((l) => l.replace(/#.*$/, '').trim());
    assert.deepEqual(commands, ['npm run demo', 'npm test']);
    assert.ok(pkg.scripts['demo']);
    assert.ok(pkg.scripts['test']);
  });
});
