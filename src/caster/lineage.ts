/**
 * Successor chains (SPEC.md section 2.2): an image or appliance carries **all** known
 * ancestors in `vmi:supersedes`, nearest first, capped at 64 entries, so a subscriber that
 * missed intermediate versions still knows what to retire. Links are stored one hop at a
 * time; the chain is their breadth-first closure, so nearer ancestors always come first.
 */

export const MAX_CHAIN = 64;

export function ancestorChain(
  id: string,
  links: ReadonlyMap<string, readonly string[]>,
  cap: number = MAX_CHAIN,
): string[] {
  const chain: string[] = [];
  const seen = new Set<string>([id]);
  const queue: string[] = [...(links.get(id) ?? [])];
  while (queue.length > 0 && chain.length < cap) {
    const next = queue.shift() as string;
    if (seen.has(next)) continue;
    seen.add(next);
    chain.push(next);
    queue.push(...(links.get(next) ?? []));
  }
  return chain;
}
