import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageEntry, ImageList } from '../../src/shared/imagelist/model.js';
import {
  reconcile,
  selectionReason,
  type NewImagePolicy,
  type StoredImage,
} from '../../src/catcher/sync/reconcile.js';

/** The reconcile plan carries why each listed image is unwanted; the store only records it. */

const NOW = new Date('2025-06-01T12:00:00Z');

function image(identifier: string, over: Partial<ImageEntry> = {}): ImageEntry {
  return {
    identifier,
    title: identifier,
    description: '',
    uri: `https://example.org/${identifier}.img`,
    size: 10,
    sha512: 'a'.repeat(128),
    version: '1',
    format: undefined,
    arch: 'x86_64',
    os: 'Linux',
    osVersion: '',
    hypervisor: 'QEMU-KVM',
    comments: '',
    expires: undefined,
    supersedes: [],
    appliance: undefined,
    entry: { 'dc:identifier': identifier },
    ...over,
  };
}

function list(images: ImageEntry[]): ImageList {
  return { images, appliances: [] } as unknown as ImageList;
}

function stored(identifier: string, selected: boolean): StoredImage {
  return { identifier, selected, listed: true, unwantedReason: null, unwantedSince: null, current: null };
}

function reasons(
  images: ImageEntry[],
  previous: StoredImage[] = [],
  newImages: NewImagePolicy = 'subscribe',
) {
  const plan = reconcile({ list: list(images), stored: previous, newImages, now: NOW, owners: new Map() });
  return Object.fromEntries(plan.images.map((p) => [p.image.identifier, p.unwantedReason]));
}

describe('reconcile: why an image is unwanted', () => {
  it('a selected, current image is wanted', () => {
    assert.deepEqual(reasons([image('a')]), { a: null });
  });

  it('an image another listed image supersedes is superseded', () => {
    assert.deepEqual(reasons([image('old'), image('new', { supersedes: ['old'] })]), {
      old: 'superseded',
      new: null,
    });
  });

  it('an image whose dc:date:expires passed is expired; one expiring later is wanted', () => {
    const past = image('past', { expires: new Date(NOW.getTime() - 1) });
    const future = image('future', { expires: new Date(NOW.getTime() + 1) });
    assert.deepEqual(reasons([past, future]), { past: 'expired', future: null });
  });

  it('an image not selected is deselected (the accept policy, or the operator)', () => {
    assert.deepEqual(reasons([image('new')], [], 'accept'), { new: 'deselected' });
    assert.deepEqual(reasons([image('kept')], [stored('kept', false)]), { kept: 'deselected' });
  });

  it('superseded outranks expired, which outranks deselected', () => {
    const both = image('old', { expires: new Date(NOW.getTime() - 1) });
    assert.deepEqual(reasons([both, image('new', { supersedes: ['old'] })], [stored('old', false)]), {
      old: 'superseded',
      new: null,
    });
    assert.deepEqual(reasons([both], [stored('old', false)]), { old: 'expired' });
  });

  it('an image the list no longer names is removed, or superseded when a listed image names it', () => {
    const plan = reconcile({
      list: list([image('new', { supersedes: ['gone-superseded'] })]),
      stored: [stored('gone', true), stored('gone-superseded', true)],
      newImages: 'subscribe',
      now: NOW,
      owners: new Map(),
    });
    assert.deepEqual(
      plan.unlisted.map((u) => [u.identifier, u.reason]),
      [
        ['gone', 'removed'],
        ['gone-superseded', 'superseded'],
      ],
    );
  });
});

describe('selectionReason', () => {
  const base = { listed: true, supersededBy: null, expires: undefined, now: NOW };

  it('selecting makes an image wanted, deselecting unwanted', () => {
    assert.equal(selectionReason({ ...base, selected: true }), null);
    assert.equal(selectionReason({ ...base, selected: false }), 'deselected');
  });

  it("the list's own reasons still hold after a selection", () => {
    assert.equal(selectionReason({ ...base, selected: true, supersededBy: 'next' }), 'superseded');
    const expires = new Date(NOW.getTime() - 1).toISOString();
    assert.equal(selectionReason({ ...base, selected: true, expires }), 'expired');
  });

  it('an unlisted image stays unwanted', () => {
    assert.equal(selectionReason({ ...base, listed: false, selected: true }), 'removed');
  });
});
