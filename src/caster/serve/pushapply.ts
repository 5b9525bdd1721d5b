import { VmiError } from '../../shared/errors.js';
import type { JsonObject } from '../../shared/imagelist/model.js';
import { serializeImageList } from '../../shared/imagelist/serialize.js';
import { compareVersions } from '../../shared/imagelist/version.js';
import { createAppliance } from '../appliances.js';
import { addImage, updateImage, type Edit } from '../catalog.js';
import { makeImageEntry, type ImageContent, type ImageMetadata } from '../entries.js';
import {
  findAppliance,
  membershipOf,
  recordApplianceVersion,
  removeMember,
  setApplianceVersion,
  setMember,
  type ApplianceRecord,
} from '../store/appliances.js';
import { findImage, setImageState, type ImageRecord } from '../store/images.js';
import { isNewImage, type PushBody, type PushNewImage } from './pushschema.js';

/**
 * Applies one push (CONTRACT.md push API) to the state, inside the caller's transaction:
 * the appliance `{appliance}` gets the pushed version. A new appliance may supersede an
 * older one; an existing one is updated in place. Per role, an image with the same bytes
 * is kept (partial update), a changed one is replaced by a new image that supersedes it,
 * and roles no longer pushed leave the list. The same body twice changes nothing.
 */

export type PushOutcome = { changed: false } | { changed: true; members: { role: string; image: string }[] };

function unprocessable(
  code: 'LIST_MALFORMED' | 'LIST_CONFLICT' | 'LIST_ROLLBACK',
  message: string,
): VmiError {
  return new VmiError(code, message, { details: { status: code === 'LIST_MALFORMED' ? 422 : 409 } });
}

function metadataOf(image: PushNewImage): ImageMetadata {
  return {
    title: image.title,
    description: image.description,
    os: image.os,
    osName: image.osname,
    osVersion: image.osversion,
    arch: image.arch,
    hypervisor: image.hypervisor,
    format: image.format,
    version: image.version,
    comments: image.comments,
    expires: image.expires,
    attributes: image.attributes,
  };
}

function contentOf(image: PushNewImage): ImageContent {
  return { uri: image.uri, size: image.size, sha512: image.sha512 };
}

function sameBytes(image: ImageRecord, pushed: PushNewImage): boolean {
  return image.sha512 === pushed.sha512 && image.size === pushed.size && image.uri === pushed.uri;
}

/** Same bytes and the same entry once written: nothing to change for this image. */
function unchanged(edit: Edit, image: ImageRecord, pushed: PushNewImage): boolean {
  if (!sameBytes(image, pushed)) return false;
  const meta = { ...metadataOf(pushed), version: pushed.version ?? image.version };
  const entry = makeImageEntry(image.id, meta, contentOf(pushed), image.entry, edit.code);
  const text = (e: JsonObject): string => Buffer.from(serializeImageList({ e })).toString('latin1');
  return text(entry) === text(image.entry);
}

/** Checks what can be checked before any write; returns the appliance being updated in place. */
function precheck(
  edit: Edit,
  listId: string,
  applianceId: string,
  body: PushBody,
): ApplianceRecord | undefined {
  const existing = findAppliance(edit.db, listId, applianceId);
  if (existing !== undefined) {
    if (existing.state !== 'listed') {
      throw unprocessable(
        'LIST_CONFLICT',
        `appliance ${applianceId} is ${existing.state}; push a new appliance`,
      );
    }
    if (body.supersedes !== undefined) {
      throw unprocessable(
        'LIST_MALFORMED',
        `appliance ${applianceId} exists; supersedes is only for a new appliance`,
      );
    }
    const order = compareVersions(body.version, existing.version);
    if (order === 0) {
      throw unprocessable(
        'LIST_CONFLICT',
        `appliance ${applianceId} version ${body.version} exists with other content`,
      );
    }
    if (order < 0) {
      throw unprocessable(
        'LIST_ROLLBACK',
        `version ${body.version} is older than the appliance's ${existing.version}`,
      );
    }
  } else if (body.supersedes !== undefined) {
    if (body.supersedes === applianceId)
      throw unprocessable('LIST_MALFORMED', 'an appliance cannot supersede itself');
    if (findAppliance(edit.db, listId, body.supersedes)?.state !== 'listed') {
      throw unprocessable('LIST_MALFORMED', `appliance ${body.supersedes} is not in list ${listId}`);
    }
  }
  const lineage = new Set([applianceId, ...(body.supersedes === undefined ? [] : [body.supersedes])]);
  for (const pushed of body.images) {
    if (isNewImage(pushed) && pushed.identifier === undefined) continue;
    const id = pushed.identifier ?? '';
    const image = findImage(edit.db, listId, id);
    if (image?.state !== 'listed') {
      if (!isNewImage(pushed))
        throw unprocessable('LIST_MALFORMED', `appliance member ${id} is not an image of list ${listId}`);
      if (image !== undefined)
        throw unprocessable('LIST_CONFLICT', `image ${id} is ${image.state} in list ${listId}`);
      continue;
    }
    const owner = membershipOf(edit.db, listId, id)?.applianceId;
    if (owner !== undefined && !lineage.has(owner)) {
      throw unprocessable('LIST_MALFORMED', `image ${id} belongs to appliance ${owner}`);
    }
  }
  return existing;
}

export function applyPush(
  edit: Edit,
  listId: string,
  applianceId: string,
  body: PushBody,
  bodySha256: string,
): PushOutcome {
  const existing = findAppliance(edit.db, listId, applianceId);
  if (existing?.state === 'listed' && existing.bodySha256 === bodySha256) return { changed: false };
  precheck(edit, listId, applianceId, body);
  if (existing === undefined) {
    createAppliance(edit, {
      listId,
      id: applianceId,
      title: body.title,
      version: body.version,
      supersedes: body.supersedes,
    });
  }
  // The new version first, so member changes below do not bump it again.
  setApplianceVersion(
    edit.db,
    listId,
    applianceId,
    { title: body.title, version: body.version, bodySha256 },
    edit.now,
  );

  const before = findAppliance(edit.db, listId, applianceId)?.members ?? [];
  const kept = new Set<string>();
  for (const pushed of body.images) {
    const holder = before.find((m) => m.role === pushed.role);
    if (!isNewImage(pushed)) {
      setMember(edit.db, listId, applianceId, pushed.role, pushed.identifier);
      kept.add(pushed.identifier);
      continue;
    }
    // An image named by the push is that image; otherwise the role's holder, when its bytes are the same.
    const candidate =
      pushed.identifier !== undefined
        ? findImage(edit.db, listId, pushed.identifier)
        : holder === undefined
          ? undefined
          : findImage(edit.db, listId, holder.imageId);
    if (candidate !== undefined && (pushed.identifier !== undefined || sameBytes(candidate, pushed))) {
      if (!unchanged(edit, candidate, pushed)) {
        updateImage(edit, listId, candidate.id, metadataOf(pushed), contentOf(pushed));
      }
      setMember(edit.db, listId, applianceId, pushed.role, candidate.id);
      kept.add(candidate.id);
      continue;
    }
    const id = addImage(edit, {
      listId,
      id: pushed.identifier,
      meta: metadataOf(pushed),
      content: contentOf(pushed),
      appliance: { id: applianceId, role: pushed.role },
    });
    kept.add(id);
  }
  // Images of roles the push no longer fills leave the list (replaced ones are already superseded).
  for (const member of before) {
    if (kept.has(member.imageId) || findImage(edit.db, listId, member.imageId)?.state !== 'listed') continue;
    removeMember(edit.db, listId, member.imageId);
    setImageState(edit.db, listId, member.imageId, 'removed', edit.now);
  }
  setApplianceVersion(
    edit.db,
    listId,
    applianceId,
    { title: body.title, version: body.version, bodySha256 },
    edit.now,
  );
  recordApplianceVersion(edit.db, listId, applianceId, edit.now);
  const members = (findAppliance(edit.db, listId, applianceId)?.members ?? []).map((m) => ({
    role: m.role,
    image: m.imageId,
  }));
  return { changed: true, members };
}
