import type { SiteImage, SiteIndex } from './export.js';

/**
 * The site image index as GLUE 2.0 LDIF, the way cloud-info-provider published images for
 * the BDII before GLUE 2.1: one GLUE2ApplicationEnvironment per image and backend location
 * (an image is an application environment a VM runs; its backend-local identifier is its
 * handle). What GLUE 2.0 has no attribute for travels as KEY=value GLUE2EntityOtherInfo
 * lines. Values that are not plain ASCII, or start with a space, colon or `<`, are base64
 * (`attr:: ...`) as RFC 2849 requires; lines are folded at 76 characters.
 */

export const GLUE2_BASE_DN = 'GLUE2GroupID=resource,o=glue';

/** RFC 2849 SAFE-STRING: ASCII without NUL, LF, CR; not starting with space, colon or `<`. */
function isSafeString(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13 || c > 127) return false;
  }
  return !/^[ :<]/.test(value) && !value.endsWith(' ');
}

function fold(line: string): string {
  if (line.length <= 76) return line;
  const parts = [line.slice(0, 76)];
  for (let i = 76; i < line.length; i += 75) parts.push(` ${line.slice(i, i + 75)}`);
  return parts.join('\n');
}

export function ldifLine(attribute: string, value: string): string {
  return fold(
    isSafeString(value)
      ? `${attribute}: ${value}`
      : `${attribute}:: ${Buffer.from(value, 'utf8').toString('base64')}`,
  );
}

/** An RDN value escaped as RFC 4514 says. */
export function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ');
}

function environmentId(image: SiteImage, backend: string, index: number, disks: number): string {
  return `urn:vmicast:image:${backend}:${image.id}${disks > 1 ? `:disk${index}` : ''}`;
}

function record(
  index: SiteIndex,
  image: SiteImage,
  backend: { backend: string; type: string },
  ref: string,
  id: string,
): string {
  const lines = [
    ldifLine('dn', `GLUE2ApplicationEnvironmentID=${escapeDnValue(id)},${GLUE2_BASE_DN}`),
    'objectClass: GLUE2Entity',
    'objectClass: GLUE2ApplicationEnvironment',
    ldifLine('GLUE2ApplicationEnvironmentID', id),
    ldifLine('GLUE2EntityName', image.title),
    ldifLine('GLUE2EntityCreationTime', index.generatedAt.replace(/\.\d{3}Z$/, 'Z')),
    ldifLine('GLUE2ApplicationEnvironmentAppName', image.title),
    ldifLine('GLUE2ApplicationEnvironmentAppVersion', image.version),
    ldifLine('GLUE2ApplicationEnvironmentState', 'installedverified'),
    ldifLine('GLUE2ApplicationEnvironmentComputingManagerForeignKey', `urn:vmicast:site:${index.site}`),
  ];
  if (image.marketplaceUri !== null)
    lines.push(ldifLine('GLUE2ApplicationEnvironmentRepository', image.marketplaceUri));
  if (image.description !== '')
    lines.push(ldifLine('GLUE2ApplicationEnvironmentDescription', image.description));
  const info: [string, string | null][] = [
    ['IMAGE_REF', ref],
    ['BACKEND', backend.backend],
    ['BACKEND_TYPE', backend.type],
    ['IMAGE_ID', image.id],
    ['IMAGE_LIST_ID', image.subscription],
    ['VO', image.vo],
    ['OS', image.os],
    ['OS_VERSION', image.osVersion],
    ['ARCH', image.arch],
    ['HYPERVISOR', image.hypervisor],
    ['FORMAT', image.format],
    ['SIZE', String(image.size)],
    ['SHA512', image.sha512],
    ['BASE_MPURI', image.baseMarketplaceUri],
    ['APPLIANCE_ID', image.appliance?.id ?? null],
    ['APPLIANCE_TITLE', image.appliance?.title ?? null],
    ['APPLIANCE_VERSION', image.appliance?.version ?? null],
    ['APPLIANCE_ROLE', image.appliance?.role ?? null],
    ['SUPERSEDES', image.supersedes.length > 0 ? image.supersedes.join(' ') : null],
    ['SUPERSEDED_BY', image.supersededBy],
  ];
  for (const [key, value] of info)
    if (value !== null) lines.push(ldifLine('GLUE2EntityOtherInfo', `${key}=${value}`));
  return lines.join('\n');
}

export function renderGlue2Ldif(index: SiteIndex): string {
  const records: string[] = [];
  for (const image of index.images) {
    for (const location of image.locations) {
      location.refs.forEach((ref, i) => {
        records.push(
          record(
            index,
            image,
            location,
            ref,
            environmentId(image, location.backend, i, location.refs.length),
          ),
        );
      });
    }
  }
  const header = [
    'version: 1',
    `# Site image index of ${index.site}: GLUE 2.0 ApplicationEnvironment records`,
    `# generated ${index.generatedAt} by ${index.generator}; ${records.length} record(s)`,
  ];
  return `${[header.join('\n'), ...records].join('\n\n')}\n`;
}
