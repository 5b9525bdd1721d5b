import type { Command } from 'commander';
import { action, printJson } from '../../shared/cli.js';
import type { PushFlags } from '../registry/push.js';
import { collect, NAME } from './names.js';

/**
 * OCI registries (docs/registry.md): `registry push` publishes an image as EGI's build
 * scripts do with oras; `image add --from-registry` (options below) lists a pushed one.
 * Passwords come from a file or VMICASTER_REGISTRY_PASSWORD, never from an argument.
 */

export function addRegistryCommands(program: Command): void {
  const registry = program.command('registry').description('OCI registries (EGI publishes VM images there)');

  registry
    .command('push')
    .description(
      'push a local image as an oras-compatible artefact with EGI annotations under a dated and a moving tag',
    )
    .argument('<file>', 'the image file (streamed, never held in memory)')
    .argument('<ref>', 'host[:port]/repository[:moving-tag], e.g. registry.egi.eu/egi_vm_images/ubuntu:22.04')
    .option('--tag <tag>', 'a further tag for the same manifest (repeatable)', collect)
    .option(
      '--egi-tag <tag>',
      'eu.egi.cloud.tag (default YYYY-MM-DD-<first 8 hex of --revision or of the layer sha256>)',
    )
    .option('--description <text>', 'eu.egi.cloud.description')
    .option('--os-distro <name>', 'org.openstack.glance.os_distro, e.g. ubuntu')
    .option('--os-version <version>', 'org.openstack.glance.os_version, e.g. 22.04')
    .option('--os-type <type>', 'org.openstack.glance.os_type, e.g. linux')
    .option('--os-admin-user <user>', 'org.openstack.glance.os_admin_user')
    .option('--arch <arch>', 'org.openstack.glance.architecture, e.g. x86_64')
    .option('--disk-format <format>', 'org.openstack.glance.disk_format (default: detected from the content)')
    .option('--revision <commit>', 'org.opencontainers.image.revision (the build commit)')
    .option('--source <url>', 'org.opencontainers.image.source (where the build recipe lives)')
    .option(
      '--annotation <key=value>',
      'a further layer annotation (repeatable; wins over the above)',
      collect,
    )
    .option('--manifest-annotation <key=value>', 'a further manifest annotation (repeatable)', collect)
    .option('--user <name>', 'registry user (default $VMICASTER_REGISTRY_USER)')
    .option(
      '--password-file <file>',
      'file holding the registry password (default $VMICASTER_REGISTRY_PASSWORD)',
    )
    .option('--ca-file <file>', 'extra CA certificates (PEM) for the registry')
    .option('--json', 'print the result as JSON')
    .action(
      action(NAME, async (file: string, ref: string, flags: PushFlags & { json?: boolean }) => {
        const { pushImage } = await import('../registry/push.js');
        const result = await pushImage(file, ref, flags);
        if (flags.json === true) printJson(result);
        else process.stdout.write(`${result.reference}\n`);
      }),
    );
}

/** The registry source of `image add`. */
export function addRegistrySourceOptions(cmd: Command): Command {
  return cmd
    .option(
      '--from-registry <ref>',
      'measure the disk layer of a registry artefact (host/repository:tag or @sha256:...); its blob URL becomes hv:uri',
    )
    .option('--registry-user <name>', 'registry user (default $VMICASTER_REGISTRY_USER)')
    .option(
      '--registry-password-file <file>',
      'file holding the registry password (default $VMICASTER_REGISTRY_PASSWORD)',
    )
    .option('--registry-ca-file <file>', 'extra CA certificates (PEM) for the registry');
}
