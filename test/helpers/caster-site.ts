/**
 * The set-up the vmicaster command-line tests share: a caster home whose credential signs
 * for VO, and list helpers bound to its environment.
 */
import type { JsonObject } from '../../src/shared/imagelist/model.js';
import { caster, ensureBuilt } from './caster-cli.js';
import { makeCasterWorld, type CasterWorld } from './caster-grid.js';

export const VO = 'vo.example.org';

export type Doc = { 'hv:imagelist': JsonObject };

export function images(doc: Doc): JsonObject[] {
  return (doc['hv:imagelist']['hv:images'] as JsonObject[]).map((w) => w['hv:image'] as JsonObject);
}

export interface CasterSite {
  world: CasterWorld;
  env: NodeJS.ProcessEnv;
  /** Creates a list for `vo` (none with null) and returns its identifier. */
  newList: (vo?: string | null) => Promise<string>;
  /** The list as `vmicaster show --json` prints it. */
  show: (list: string) => Promise<Doc>;
}

export async function makeCasterSite(): Promise<CasterSite> {
  ensureBuilt();
  const world = await makeCasterWorld();
  const env = world.env;
  await caster(['credential', 'add', '--vo', VO, '--cert', world.certPath, '--key', world.keyPath], { env });
  return {
    world,
    env,
    newList: (vo = VO) => {
      const args = ['list', 'create', '--title', 'Test list', '--uri', 'https://example.org/list.smime'];
      return caster(vo === null ? args : [...args, '--vo', vo], { env });
    },
    show: async (list) => JSON.parse(await caster(['show', list, '--json'], { env })) as Doc,
  };
}
