import { VmiError } from '../errors.js';
import { localName, tokenizeXml, type XmlEvent } from './xml.js';

/**
 * Reads the disks of an OVF descriptor (DMTF DSP0243) in the order the virtual machine uses
 * them. Pure: takes the descriptor text, returns the disk files to take from the archive.
 *
 * Order: the disk drive items (ResourceType 17) of the VirtualSystems, sorted by the
 * position of their controller item and then by AddressOnParent, so the boot disk on the
 * first controller's first slot comes first; disks of the DiskSection that no item uses
 * follow in DiskSection order.
 */

/** One disk of the descriptor, resolved to the archive entry that holds its data. */
export interface OvfDisk {
  /** `ovf:href` of the File: the archive entry name. */
  href: string;
  diskId: string;
  fileId: string;
  /** `ovf:format` URI, informational (the content is detected). */
  format: string | undefined;
}

interface OvfFile {
  id: string;
  href: string;
  chunked: boolean;
}

interface DiskEntry {
  diskId: string;
  fileRef: string | undefined;
  format: string | undefined;
}

/** One hardware item: collected text of the children that decide disk order. */
interface HardwareItem {
  /** Which VirtualHardwareSection: InstanceIDs are only unique within one. */
  section: number;
  position: number;
  fields: Map<string, string>;
}

const ITEM_ELEMENTS = new Set(['Item', 'StorageItem']);
const ITEM_FIELDS = new Set(['ResourceType', 'HostResource', 'InstanceID', 'Parent', 'AddressOnParent']);
const DISK_DRIVE = '17';

function attribute(attributes: ReadonlyMap<string, string>, name: string): string | undefined {
  for (const [key, value] of attributes) {
    if (localName(key) === name) return value;
  }
  return undefined;
}

function unsupported(message: string): VmiError {
  return new VmiError('FORMAT_UNSUPPORTED', `OVF descriptor: ${message}`);
}

/** Collects References/File, DiskSection/Disk and hardware items in one pass over the events. */
function collect(events: readonly XmlEvent[]): {
  files: OvfFile[];
  disks: DiskEntry[];
  items: HardwareItem[];
} {
  const files: OvfFile[] = [];
  const disks: DiskEntry[] = [];
  const items: HardwareItem[] = [];
  const path: string[] = [];
  let item: HardwareItem | undefined;
  let field: string | undefined;
  let section = 0;
  for (const event of events) {
    if (event.kind === 'open') {
      const name = localName(event.name);
      const parent = path.at(-1);
      path.push(name);
      if (name === 'File' && parent === 'References') {
        const id = attribute(event.attributes, 'id');
        const href = attribute(event.attributes, 'href');
        if (id === undefined || href === undefined) throw unsupported('a File without ovf:id or ovf:href');
        files.push({ id, href, chunked: attribute(event.attributes, 'chunkSize') !== undefined });
      } else if (name === 'Disk' && parent === 'DiskSection') {
        const diskId = attribute(event.attributes, 'diskId');
        if (diskId === undefined) throw unsupported('a Disk without ovf:diskId');
        disks.push({
          diskId,
          fileRef: attribute(event.attributes, 'fileRef'),
          format: attribute(event.attributes, 'format'),
        });
      } else if (name === 'VirtualHardwareSection') {
        section++;
      } else if (ITEM_ELEMENTS.has(name) && parent === 'VirtualHardwareSection') {
        item = { section, position: items.length, fields: new Map() };
        items.push(item);
      } else if (
        item !== undefined &&
        ITEM_FIELDS.has(name) &&
        parent !== undefined &&
        ITEM_ELEMENTS.has(parent)
      ) {
        field = name;
      }
    } else if (event.kind === 'close') {
      const name = path.pop();
      if (name === field) field = undefined;
      else if (name !== undefined && ITEM_ELEMENTS.has(name)) item = undefined;
    } else if (item !== undefined && field !== undefined) {
      item.fields.set(field, (item.fields.get(field) ?? '') + event.text);
    }
  }
  return { files, disks, items };
}

/** `ovf:/disk/<id>` (or `/disk/<id>`) -> the disk id; `ovf:/file/<id>` -> the file id. */
function hostResourceTarget(value: string): { kind: 'disk' | 'file'; id: string } | undefined {
  const match = /^(?:ovf:)?\/(disk|file)\/(.+)$/.exec(value.trim());
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { kind: match[1] === 'disk' ? 'disk' : 'file', id: match[2] };
}

/** Disk drive items sorted by controller position, then slot, then document order. */
function orderedDiskItems(items: readonly HardwareItem[]): HardwareItem[] {
  const positionOf = new Map<string, number>();
  for (const item of items) {
    const id = item.fields.get('InstanceID')?.trim();
    if (id !== undefined && !positionOf.has(`${item.section}:${id}`))
      positionOf.set(`${item.section}:${id}`, item.position);
  }
  const key = (item: HardwareItem): [number, number, number] => {
    const parent = item.fields.get('Parent')?.trim();
    const controller =
      (parent === undefined ? undefined : positionOf.get(`${item.section}:${parent}`)) ?? item.position;
    const slot = Number.parseInt(item.fields.get('AddressOnParent')?.trim() ?? '', 10);
    return [controller, Number.isNaN(slot) ? Number.MAX_SAFE_INTEGER : slot, item.position];
  };
  return items
    .filter((item) => item.fields.get('ResourceType')?.trim() === DISK_DRIVE)
    .map((item) => ({ item, key: key(item) }))
    .sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.key[2] - b.key[2])
    .map(({ item }) => item);
}

/**
 * The disks of an OVF descriptor in VM order. Refuses what cannot be taken from the archive
 * itself: a File in chunks, a File outside the archive (a URL), a Disk whose File is missing.
 */
export function parseOvfDisks(descriptor: string): OvfDisk[] {
  const events = tokenizeXml(descriptor);
  const root = events[0];
  if (root?.kind !== 'open' || localName(root.name) !== 'Envelope') {
    throw unsupported('the root element is not an OVF Envelope');
  }
  const { files, disks, items } = collect(events);
  const fileById = new Map(files.map((file) => [file.id, file]));
  const diskById = new Map(disks.map((disk) => [disk.diskId, disk]));

  const order: DiskEntry[] = [];
  const seen = new Set<string>();
  const take = (disk: DiskEntry): void => {
    if (seen.has(disk.diskId)) return;
    seen.add(disk.diskId);
    order.push(disk);
  };
  for (const item of orderedDiskItems(items)) {
    const target = hostResourceTarget(item.fields.get('HostResource') ?? '');
    if (target?.kind === 'disk') {
      const disk = diskById.get(target.id);
      if (disk === undefined)
        throw unsupported(`a disk drive uses disk ${JSON.stringify(target.id)}, which DiskSection lacks`);
      take(disk);
    } else if (target?.kind === 'file') {
      take({ diskId: `file:${target.id}`, fileRef: target.id, format: undefined });
    }
  }
  disks.forEach(take);

  // A Disk without fileRef is a blank disk to be created by the hypervisor: it has no data here.
  return order.flatMap((disk) => {
    if (disk.fileRef === undefined) return [];
    const file = fileById.get(disk.fileRef);
    if (file === undefined) throw unsupported(`disk ${JSON.stringify(disk.diskId)} refers to a missing File`);
    if (file.chunked)
      throw unsupported(`file ${JSON.stringify(file.href)} is split in chunks (ovf:chunkSize)`);
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(file.href)) {
      throw unsupported(`file ${JSON.stringify(file.href)} is outside the archive`);
    }
    return [{ href: file.href, diskId: disk.diskId, fileId: file.id, format: disk.format }];
  });
}
