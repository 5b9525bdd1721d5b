import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { IMAGE_ATTACKS, LIST_EXTRAS, REFUSALS } from './scenarios.js';
import { STORIES } from './stories.js';

/** README.md is what operators read of vmicast's promises: it must list every scenario as run. */
describe('conformance README', () => {
  const readme = readFileSync(new URL('README.md', import.meta.url), 'utf8');

  it('lists every scenario with the attack it stages', () => {
    for (const row of [...LIST_EXTRAS, ...REFUSALS, ...IMAGE_ATTACKS, ...STORIES]) {
      assert.ok(
        readme.includes(`| ${row.id} | ${row.attack} |`),
        `README.md lacks row ${row.id}: ${row.attack}`,
      );
    }
  });

  it('names the code each refusal row expects', () => {
    for (const row of [...REFUSALS, ...IMAGE_ATTACKS]) {
      const line = readme.split('\n').find((l) => l.startsWith(`| ${row.id} |`));
      assert.ok(line?.includes(row.code), `README.md row ${row.id} lacks ${row.code}`);
    }
  });
});
