import type { ImageRecord } from '../backends/types.js';
import type { InstanceRow } from '../store/instances.js';

/** What a backend is told about an image: the verified list entry and where it came from. */
export function imageRecord(inst: InstanceRow, vo: string | undefined): ImageRecord {
  const text = (key: string) => {
    const value = inst.entry[key];
    return typeof value === 'string' ? value : '';
  };
  const supersedes = inst.entry['vmi:supersedes'];
  return {
    identifier: inst.identifier,
    listIdentifier: inst.subscriptionId,
    vo,
    title: text('dc:title'),
    description: text('dc:description'),
    version: inst.version,
    sha512: inst.sha512,
    size: inst.size,
    declaredFormat: text('hv:format') === '' ? undefined : text('hv:format'),
    appliance: inst.appliance ?? undefined,
    supersedes: Array.isArray(supersedes) ? supersedes.filter((s): s is string => typeof s === 'string') : [],
    entry: inst.entry,
  };
}
