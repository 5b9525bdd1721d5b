import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { EXIT_STATUS, type ErrorCode } from '../../src/shared/errors.js';
import { caster, ensureBuilt, runCaster } from '../helpers/caster-cli.js';
import { makeCasterWorld, sha256File, writeImage, type CasterWorld } from '../helpers/caster-grid.js';
import { stateFingerprint } from '../helpers/caster-state.js';

const VO = 'vo.example.org';

describe('bad command-line input leaves the state and the published list unchanged', () => {
  let world: CasterWorld;
  let list: string;
  let published: string;

  before(async () => {
    ensureBuilt();
    world = await makeCasterWorld();
    const env = world.env;
    await caster(['credential', 'add', '--vo', VO, '--cert', world.certPath, '--key', world.keyPath], {
      env,
    });
    list = await caster(
      ['list', 'create', '--title', 'L', '--uri', 'https://example.org/l.smime', '--vo', VO],
      { env },
    );
    const other = await caster(
      ['list', 'create', '--title', 'M', '--uri', 'https://example.org/m.smime', '--vo', VO],
      { env },
    );
    const file = await writeImage(world, 'base.img');
    await caster(
      [
        'image',
        'add',
        list,
        '--file',
        file.path,
        '--uri',
        'https://images.example.org/base.img',
        '--title',
        'Base',
      ],
      { env },
    );
    await caster(['appliance', 'create', list, '--title', 'Base', '--identifier', 'base-app'], { env });
    published = join(world.root, 'list.smime');
    await caster(['publish', list, '--out', published], { env });
    await caster(['publish', other, '--out', join(world.root, 'other.smime')], { env });
  });

  async function fingerprint(): Promise<string> {
    return stateFingerprint(world.home, published);
  }

  it('refuses bad command-line input with a coded error and an exit status by area', async () => {
    const env = world.env;
    const file = await writeImage(world, 'bad.img');
    const add = [
      'image',
      'add',
      list,
      '--file',
      file.path,
      '--uri',
      'https://images.example.org/bad.img',
      '--title',
      'Bad',
    ];
    const config = join(world.dir, 'bad-config.yaml');
    await writeFile(config, 'lifetimeDays: -3\nunknownKey: 1\n');
    const foreign = join(world.root, 'other.smime');
    const foreignBefore = await sha256File(foreign);
    const cases: [string, string[], ErrorCode][] = [
      [
        'unknown list',
        [
          'image',
          'add',
          randomUUID(),
          '--file',
          file.path,
          '--uri',
          'https://i.example.org/x',
          '--title',
          'x',
        ],
        'USAGE',
      ],
      [
        'missing field',
        ['image', 'add', list, '--file', file.path, '--uri', 'https://i.example.org/x'],
        'USAGE',
      ],
      ['malformed size', [...add, '--size', '12x'], 'USAGE'],
      ['malformed sha512', [...add, '--sha512', 'xyz'], 'USAGE'],
      ['wrong sha512', [...add, '--sha512', 'ab'.repeat(64)], 'IMAGE_DIGEST_MISMATCH'],
      ['supersedes unknown image', [...add, '--supersedes', randomUUID()], 'USAGE'],
      [
        'appliance member of a missing appliance',
        [...add, '--appliance', 'no-such-app', '--role', 'head'],
        'USAGE',
      ],
      ['appliance without role', [...add, '--appliance', 'base-app'], 'USAGE'],
      [
        'image URI not http',
        ['image', 'add', list, '--file', file.path, '--uri', 'ftp://i.example.org/x', '--title', 'x'],
        'USAGE',
      ],
      [
        'missing image file',
        [
          'image',
          'add',
          list,
          '--file',
          join(world.dir, 'nope'),
          '--uri',
          'https://i.example.org/x',
          '--title',
          'x',
        ],
        'USAGE',
      ],
      ['remove unknown image', ['image', 'remove', list, randomUUID()], 'USAGE'],
      ['publish unknown list', ['publish', randomUUID(), '--out', published], 'USAGE'],
      ['publish over another list', ['publish', list, '--out', foreign], 'CONFIG_INVALID'],
      ['lifetime not a number', ['publish', list, '--lifetime-days', 'ten'], 'USAGE'],
      ['bad configuration', ['--config', config, 'show', list], 'CONFIG_INVALID'],
      ['token for unknown list', ['token', 'create', '--list', randomUUID(), '--name', 'x'], 'USAGE'],
      [
        'appliance supersedes unknown',
        ['appliance', 'create', list, '--title', 'x', '--supersedes', randomUUID()],
        'USAGE',
      ],
    ];
    const before = await fingerprint();
    for (const [name, args, code] of cases) {
      const result = await runCaster([...args, '--json'], { env });
      const reply = JSON.parse(result.stdout) as { ok: boolean; code: string; message: string };
      assert.equal(reply.ok, false, name);
      assert.equal(reply.code, code, `${name}: ${reply.message}`);
      assert.ok(reply.message.length > 0, name);
      assert.equal(
        result.status,
        code === 'USAGE' || code === 'CONFIG_INVALID' ? EXIT_STATUS.configuration : EXIT_STATUS.images,
        name,
      );
      assert.equal(await fingerprint(), before, `${name} changed the list`);
    }
    assert.equal(await sha256File(foreign), foreignBefore);
  });
});
