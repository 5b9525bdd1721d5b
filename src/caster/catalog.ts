import { randomUUID } from 'node:crypto';
import { VmiError, type ErrorCode } from '../shared/errors.js';
import { bumpVersion, compareVersions } from '../shared/imagelist/version.js';
import { checkIdentifier, makeImageEntry, type ImageContent, type ImageMetadata } from './entries.js';
import {
  findAppliance,
  membershipOf,
  recordApplianceVersion,
  removeMember,
  setApplianceVersion,
  setMember,
} from './store/appliances.js';
import type { Db } from './store/db.js';
import {
  addImageSuccessors,
  findImage,
  putImageVersion,
  setImageState,
  successorOf,
  type ImageRecord,
} from './store/images.js';
import { findList, insertList, requireList } from './store/lists.js';
import { checkImageUrl } from './imagefile.js';

/**
 * Changes to images: add (maybe superseding others, maybe into an appliance role), update
 * in place, remove. Callers hold the write lock; every check happens before the first
 * write, so a refused change leaves the state as it was.
 */

export interface Edit {
  db: Db;
  /** ISO time of the change. */
  now: string;
  /** Code for bad input: USAGE on the command line, LIST_MALFORMED in a push. */
  code: ErrorCode;
}

export interface AddImage {
  listId: string;
  id?: string | undefined;
  meta: ImageMetadata;
  content: ImageContent;
  supersedes?: readonly string[] | undefined;
  appliance?: { id: string; role: string } | undefined;
}

/** The image to be superseded: it must exist and not already have a successor. */
export function supersedable(edit: Edit, listId: string, id: string): ImageRecord {
  const image = findImage(edit.db, listId, id);
  if (image === undefined) throw new VmiError(edit.code, `no image ${JSON.stringify(id)} in list ${listId}`);
  if (image.state === 'superseded') {
    const by = successorOf(edit.db, listId, id) ?? 'another image';
    throw new VmiError(edit.code, `image ${id} is already superseded by ${by}; supersede that one instead`);
  }
  return image;
}

/**
 * An appliance changed outside a push: once a version was published, any change makes a new
 * version; and it is no longer what the last push body said, so a repeat of that push is
 * not answered as "unchanged".
 */
export function touchAppliance(edit: Edit, listId: string, applianceId: string): void {
  const appliance = findAppliance(edit.db, listId, applianceId);
  if (appliance === undefined) return;
  const version = appliance.published ? bumpVersion(appliance.version) : appliance.version;
  setApplianceVersion(
    edit.db,
    listId,
    applianceId,
    { title: appliance.title, version, bodySha256: null },
    edit.now,
  );
  recordApplianceVersion(edit.db, listId, applianceId, edit.now);
}

function listedAppliance(edit: Edit, listId: string, id: string): void {
  const appliance = findAppliance(edit.db, listId, id);
  if (appliance?.state !== 'listed') {
    throw new VmiError(edit.code, `no appliance ${JSON.stringify(id)} in list ${listId}`);
  }
}

/** Adds a new image; returns its identifier. */
export function addImage(edit: Edit, add: AddImage): string {
  const { db, now } = edit;
  requireList(db, add.listId);
  const id = add.id === undefined ? randomUUID() : checkIdentifier(add.id, 'image identifier', edit.code);
  if (findImage(db, add.listId, id) !== undefined) {
    throw new VmiError(edit.code, `image ${id} already exists in list ${add.listId} (use image update)`);
  }
  const superseded = (add.supersedes ?? []).map((old) => supersedable(edit, add.listId, old));
  // A superseding image takes its predecessor's place in an appliance unless told otherwise.
  let target = add.appliance;
  for (const old of superseded) target ??= toTarget(membershipOf(db, add.listId, old.id));
  if (target !== undefined) listedAppliance(edit, add.listId, target.id);
  // Whatever held the role is replaced by the new image, so the new image supersedes it.
  const roleHolder =
    target === undefined
      ? undefined
      : findAppliance(db, add.listId, target.id)?.members.find((m) => m.role === target.role)?.imageId;
  const ancestors = [...superseded];
  if (roleHolder !== undefined && !ancestors.some((a) => a.id === roleHolder)) {
    ancestors.push(supersedable(edit, add.listId, roleHolder));
  }
  const nearest = ancestors[0];
  const meta: ImageMetadata = {
    ...add.meta,
    version: add.meta.version ?? (nearest === undefined ? undefined : bumpVersion(nearest.version)),
  };
  const entry = makeImageEntry(id, meta, add.content, nearest?.entry, edit.code);

  putImageVersion(db, add.listId, id, entry, now);
  if (ancestors.length > 0)
    addImageSuccessors(
      db,
      add.listId,
      id,
      ancestors.map((a) => a.id),
    );
  const touched = new Set<string>();
  for (const { id: old } of ancestors) {
    const membership = membershipOf(db, add.listId, old);
    if (membership !== undefined) touched.add(membership.applianceId);
    removeMember(db, add.listId, old);
    setImageState(db, add.listId, old, 'superseded', now);
  }
  if (target !== undefined) {
    setMember(db, add.listId, target.id, target.role, id);
    touched.add(target.id);
  }
  for (const applianceId of touched) touchAppliance(edit, add.listId, applianceId);
  return id;
}

function toTarget(
  m: { applianceId: string; role: string } | undefined,
): { id: string; role: string } | undefined {
  return m === undefined ? undefined : { id: m.applianceId, role: m.role };
}

/** An in-place update (same identifier, new bytes), as the existing format does it. */
export function updateImage(
  edit: Edit,
  listId: string,
  id: string,
  meta: ImageMetadata,
  content: ImageContent,
): string {
  requireList(edit.db, listId);
  const image = findImage(edit.db, listId, id);
  if (image?.state !== 'listed')
    throw new VmiError(edit.code, `no image ${JSON.stringify(id)} in list ${listId}`);
  const version = meta.version ?? bumpVersion(image.version);
  if (compareVersions(version, image.version) <= 0) {
    throw new VmiError(edit.code, `version ${version} is not newer than the image's ${image.version}`);
  }
  const entry = makeImageEntry(id, { ...meta, version }, content, image.entry, edit.code);
  putImageVersion(edit.db, listId, id, entry, edit.now);
  const membership = membershipOf(edit.db, listId, id);
  if (membership !== undefined) touchAppliance(edit, listId, membership.applianceId);
  return version;
}

export function removeImage(edit: Edit, listId: string, id: string): void {
  requireList(edit.db, listId);
  const image = findImage(edit.db, listId, id);
  if (image?.state !== 'listed')
    throw new VmiError(edit.code, `no image ${JSON.stringify(id)} in list ${listId}`);
  const membership = membershipOf(edit.db, listId, id);
  removeMember(edit.db, listId, id);
  setImageState(edit.db, listId, id, 'removed', edit.now);
  if (membership !== undefined) touchAppliance(edit, listId, membership.applianceId);
}

export interface CreateList {
  id?: string | undefined;
  title: string;
  description: string;
  uri: string;
  vo?: string | undefined;
  source?: string | undefined;
  email?: string | undefined;
  creator?: string | undefined;
}

/** Creates an empty list; returns its identifier (the subscribers' pin, kept forever). */
export function createList(edit: Edit, create: CreateList): string {
  const id =
    create.id === undefined ? randomUUID() : checkIdentifier(create.id, 'list identifier', edit.code);
  if (findList(edit.db, id) !== undefined) throw new VmiError(edit.code, `list ${id} already exists`);
  checkImageUrl(create.uri, 'the list URI');
  if (create.title === '') throw new VmiError(edit.code, 'a list needs a title');
  if (create.vo === '') throw new VmiError(edit.code, 'the VO name cannot be empty');
  insertList(edit.db, {
    id,
    title: create.title,
    description: create.description,
    source: create.source ?? create.uri,
    uri: create.uri,
    vo: create.vo ?? null,
    email: create.email ?? '',
    creator: create.creator ?? '',
    extra: {},
    version: null,
    endorserDn: null,
    endorserCa: null,
    publishPath: null,
    createdAt: edit.now,
  });
  return id;
}
