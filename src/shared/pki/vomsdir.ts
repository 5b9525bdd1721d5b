import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLsc, type VomsDir } from './voms.js';

/** Reads `<dir>/<vo>/*.lsc`; a missing directory is an empty vomsdir. */
export async function loadVomsDir(dir: string): Promise<VomsDir> {
  const entries = new Map<string, { file: string; chain: string[] }[]>();
  const vos = await readdir(dir).catch(() => [] as string[]);
  for (const vo of vos) {
    const voDir = join(dir, vo);
    if (!(await stat(voDir).catch(() => undefined))?.isDirectory()) continue;
    for (const name of await readdir(voDir)) {
      if (!name.endsWith('.lsc')) continue;
      const text = await readFile(join(voDir, name), 'utf8').catch(() => '');
      const chains = parseLsc(text).map((chain) => ({ file: join(vo, name), chain }));
      entries.set(vo, [...(entries.get(vo) ?? []), ...chains]);
    }
  }
  return entries;
}
