import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { action, printJson } from '../../shared/cli.js';
import { VmiError } from '../../shared/errors.js';
import type { JsonObject } from '../../shared/imagelist/model.js';
import type { Edit } from '../catalog.js';
import type { CasterContext } from '../context.js';
import type { ImageContent, ImageMetadata } from '../entries.js';
import { sniffFormat, sniffOsName } from '../format.js';
import type { ImageFacts } from '../imagefile.js';
import { progressBar } from '../progress.js';
import { findAppliance } from '../store/appliances.js';
import { findImage } from '../store/images.js';
import { requireList } from '../store/lists.js';
import { collect, NAME } from './names.js';
import { addRegistrySourceOptions } from './registry.js';

interface SourceFlags {
  file?: string;
  uri?: string;
  url?: string;
  sha512?: string;
  size?: string;
  detectFormat: boolean;
}

interface MetadataFlags {
  title?: string;
  description?: string;
  os?: string;
  osname?: string;
  osversion?: string;
  arch?: string;
  hypervisor?: string;
  format?: string;
  version?: string;
  comments?: string;
  expires?: string;
  attribute?: string[];
  json?: boolean;
}

interface AddFlags extends SourceFlags, MetadataFlags {
  identifier?: string;
  supersedes?: string[];
  appliance?: string;
  role?: string;
  fromRegistry?: string;
  registryUser?: string;
  registryPasswordFile?: string;
  registryCaFile?: string;
}

function addSourceOptions(cmd: Command): Command {
  return cmd
    .option('--file <path>', 'local image file to measure (with --uri)')
    .option('--uri <url>', 'hv:uri: where subscribers download the file given with --file')
    .option('--url <url>', 'measure the image by downloading it from this URL, which becomes hv:uri')
    .option('--sha512 <hex>', 'expected SHA-512: refuse the image when the content differs')
    .option('--size <bytes>', 'expected size: refuse the image when the content differs')
    .option('--no-detect-format', 'do not detect hv:format from the content');
}

function addMetadataOptions(cmd: Command, titleRequired: boolean): Command {
  const withTitle = titleRequired
    ? cmd.requiredOption('--title <title>', 'dc:title')
    : cmd.option('--title <title>', 'dc:title');
  return withTitle
    .option('--description <text>', 'dc:description (default: the title)')
    .option('--os <os>', 'sl:os (default Linux)')
    .option('--osname <name>', 'sl:osname, the distribution (default: from an ISO label, else sl:os)')
    .option('--osversion <version>', 'sl:osversion')
    .option('--arch <arch>', 'sl:arch (default x86_64)')
    .option('--hypervisor <name>', 'hv:hypervisor (default QEMU,KVM)')
    .option('--format <format>', 'hv:format (default: detected from the content)')
    .option('--version <version>', 'hv:version of the image (default 1, or the next after the one replaced)')
    .option('--comments <text>', 'sl:comments')
    .option('--expires <date>', 'image-level dc:date:expires (YYYY-MM-DDTHH:MM:SSZ)')
    .option(
      '--attribute <key=value>',
      'a further key for the entry, e.g. ad:mpuri=https://... (repeatable)',
      collect,
    )
    .option('--json', 'print the result as JSON');
}

function parseAttributes(pairs: string[] | undefined): JsonObject | undefined {
  if (pairs === undefined) return undefined;
  const out: JsonObject = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new VmiError('USAGE', `--attribute needs key=value, not ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function metadataFrom(flags: MetadataFlags): ImageMetadata {
  return {
    title: flags.title,
    description: flags.description,
    os: flags.os,
    osName: flags.osname,
    osVersion: flags.osversion,
    arch: flags.arch,
    hypervisor: flags.hypervisor,
    format: flags.format,
    version: flags.version,
    comments: flags.comments,
    expires: flags.expires,
    attributes: parseAttributes(flags.attribute),
  };
}

/** Streams the image once (file or URL) and checks it against any expected size/digest. */
async function measure(flags: SourceFlags): Promise<{ content: ImageContent; facts: ImageFacts }> {
  if ((flags.file === undefined) === (flags.url === undefined)) {
    throw new VmiError('USAGE', 'give either --file PATH --uri URL or --url URL');
  }
  if (flags.file !== undefined && flags.uri === undefined) throw new VmiError('USAGE', '--file needs --uri');
  if (flags.url !== undefined && flags.uri !== undefined)
    throw new VmiError('USAGE', '--url and --uri exclude each other');
  if (flags.sha512 !== undefined && !/^[0-9a-fA-F]{128}$/.test(flags.sha512)) {
    throw new VmiError('USAGE', '--sha512 must be 128 hexadecimal digits');
  }
  if (flags.size !== undefined && !/^[0-9]{1,16}$/.test(flags.size)) {
    throw new VmiError('USAGE', '--size must be a number of bytes');
  }
  const uri = flags.url ?? flags.uri ?? '';
  const { checkImageUrl, measureFile, measureUrl } = await import('../imagefile.js');
  checkImageUrl(uri, flags.url === undefined ? '--uri' : '--url');
  const total = flags.file === undefined ? undefined : (await stat(flags.file).catch(() => undefined))?.size;
  const bar = progressBar(basename(flags.file ?? new URL(uri).pathname), total);
  const onProgress = (bytes: number): void => bar.update(bytes);
  const facts =
    flags.file === undefined ? await measureUrl(uri, onProgress) : await measureFile(flags.file, onProgress);
  bar.done();
  if (flags.size !== undefined && Number(flags.size) !== facts.size) {
    throw new VmiError('IMAGE_SIZE_MISMATCH', `the image has ${facts.size} bytes, not ${flags.size}`);
  }
  if (flags.sha512 !== undefined && flags.sha512.toLowerCase() !== facts.sha512) {
    throw new VmiError('IMAGE_DIGEST_MISMATCH', `the image's SHA-512 is ${facts.sha512}, not the one given`);
  }
  return { content: { uri, size: facts.size, sha512: facts.sha512 }, facts };
}

/**
 * `hv:format` and `sl:osname` from the content where the flags leave them open. Without
 * detection and `--format`, readers get `raw` (compat.ts); compressed or packed content has no
 * format readers could use, so it needs `--format` (checked before anything is written).
 */
function detected(flags: SourceFlags & MetadataFlags, facts: ImageFacts): Partial<ImageMetadata> {
  const osName = flags.osname ?? sniffOsName(facts.header);
  if (flags.format !== undefined || !flags.detectFormat) return { format: flags.format, osName };
  const sniffed = sniffFormat(facts.header, facts.tail);
  if (sniffed.format === undefined) {
    throw new VmiError(
      'USAGE',
      `the content is ${sniffed.seen}, which readers cannot use as hv:format: give --format`,
    );
  }
  return { format: sniffed.format, osName };
}

/** Cheap checks before streaming a large image: the names given must exist. */
async function precheck(ctx: CasterContext, listId: string, flags: AddFlags): Promise<void> {
  const [{ isoNow }, { supersedable }] = await Promise.all([
    import('../context.js'),
    import('../catalog.js'),
  ]);
  const edit: Edit = { db: ctx.db, now: isoNow(), code: 'USAGE' };
  requireList(ctx.db, listId);
  for (const old of flags.supersedes ?? []) supersedable(edit, listId, old);
  if (flags.appliance !== undefined && findAppliance(ctx.db, listId, flags.appliance)?.state !== 'listed') {
    throw new VmiError('USAGE', `no appliance ${JSON.stringify(flags.appliance)} in list ${listId}`);
  }
}

export function addImageCommands(program: Command): void {
  const image = program.command('image').description('images of a list');

  // The title may come from the artefact's annotations with --from-registry (checked below).
  addRegistrySourceOptions(addMetadataOptions(addSourceOptions(image.command('add')), false))
    .description('add an image; size and SHA-512 come from streaming the file or URL; prints its identifier')
    .argument('<list>', 'list identifier')
    .option('--identifier <id>', 'dc:identifier (default: a new UUID)')
    .option('--supersedes <uuid>', 'an image this one replaces (repeatable); it leaves the list', collect)
    .option('--appliance <id>', 'put the image into this appliance (with --role)')
    .option('--role <role>', 'the role of the image in the appliance')
    .action(
      action(NAME, async (listId: string, flags: AddFlags, cmd: Command) => {
        const [{ isoNow, withContext }, { addImage }] = await Promise.all([
          import('../context.js'),
          import('../catalog.js'),
        ]);
        if ((flags.appliance === undefined) !== (flags.role === undefined)) {
          throw new VmiError('USAGE', '--appliance and --role go together');
        }
        const { fromRegistry } = flags;
        if (fromRegistry === undefined && flags.title === undefined) {
          throw new VmiError('USAGE', "required option '--title <title>' not specified");
        }
        if (fromRegistry !== undefined && [flags.file, flags.uri, flags.url].some((v) => v !== undefined)) {
          throw new VmiError('USAGE', '--from-registry excludes --file, --uri and --url');
        }
        let registry: unknown;
        const id = await withContext(cmd, async (ctx) => {
          await precheck(ctx, listId, flags);
          let content: ImageContent;
          let meta: ImageMetadata;
          if (fromRegistry === undefined) {
            const measured = await measure(flags);
            content = measured.content;
            meta = { ...metadataFrom(flags), ...detected(flags, measured.facts) };
          } else {
            const { measureFromRegistry } = await import('../registry/add.js');
            const pulled = await measureFromRegistry({ ...flags, fromRegistry }, metadataFrom(flags));
            ({ content, meta, source: registry } = pulled);
          }
          return ctx.lock.run(() =>
            addImage(
              { db: ctx.db, now: isoNow(), code: 'USAGE' },
              {
                listId,
                id: flags.identifier,
                meta,
                content,
                supersedes: flags.supersedes,
                appliance:
                  flags.appliance === undefined ? undefined : { id: flags.appliance, role: flags.role ?? '' },
              },
            ),
          );
        });
        if (flags.json === true) printJson({ ok: true, id, ...(registry === undefined ? {} : { registry }) });
        else process.stdout.write(`${id}\n`);
      }),
    );

  addMetadataOptions(addSourceOptions(image.command('update')), false)
    .description(
      'update an image in place (same identifier, new bytes), as vmcaster did; prints the new version',
    )
    .argument('<list>', 'list identifier')
    .argument('<uuid>', 'image identifier')
    .action(
      action(
        NAME,
        async (listId: string, imageId: string, flags: SourceFlags & MetadataFlags, cmd: Command) => {
          const [{ isoNow, withContext }, { updateImage }] = await Promise.all([
            import('../context.js'),
            import('../catalog.js'),
          ]);
          const version = await withContext(cmd, async (ctx) => {
            requireList(ctx.db, listId);
            if (findImage(ctx.db, listId, imageId)?.state !== 'listed') {
              throw new VmiError('USAGE', `no image ${JSON.stringify(imageId)} in list ${listId}`);
            }
            const { content, facts } = await measure(flags);
            const meta = { ...metadataFrom(flags), ...detected(flags, facts) };
            return ctx.lock.run(() =>
              updateImage({ db: ctx.db, now: isoNow(), code: 'USAGE' }, listId, imageId, meta, content),
            );
          });
          if (flags.json === true) printJson({ ok: true, id: imageId, version });
          else process.stdout.write(`${version}\n`);
        },
      ),
    );

  image
    .command('remove')
    .description('drop an image from the list (it stays in the history)')
    .argument('<list>', 'list identifier')
    .argument('<uuid>', 'image identifier')
    .option('--json', 'print the result as JSON')
    .action(
      action(NAME, async (listId: string, imageId: string, flags: { json?: boolean }, cmd: Command) => {
        const [{ isoNow, withContext }, { removeImage }] = await Promise.all([
          import('../context.js'),
          import('../catalog.js'),
        ]);
        await withContext(cmd, (ctx) =>
          ctx.lock.run(() => removeImage({ db: ctx.db, now: isoNow(), code: 'USAGE' }, listId, imageId)),
        );
        if (flags.json === true) printJson({ ok: true, id: imageId });
      }),
    );
}
