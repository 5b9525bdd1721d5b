/** JSON values as they come out of JSON.parse. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** Endorser identity as written in `hv:endorser/hv:x509`. DNs in OpenSSL oneline form. */
export interface Endorser {
  dn: string;
  ca: string;
  email: string;
  creator: string;
}

/** Typed view of one accepted image entry; `entry` is the original object, unknown keys kept. */
export interface ImageEntry {
  identifier: string;
  title: string;
  description: string;
  uri: string;
  size: number;
  sha512: string;
  version: string;
  format: string | undefined;
  arch: string;
  os: string;
  osVersion: string;
  hypervisor: string;
  comments: string;
  /** Image-level `dc:date:expires`, when present. */
  expires: Date | undefined;
  /** `vmi:supersedes`: nearest ancestor first. */
  supersedes: string[];
  /** `vmi:appliance`, when the image belongs to one. */
  appliance: string | undefined;
  entry: JsonObject;
}

export interface ApplianceMember {
  role: string;
  identifier: string;
}

export interface Appliance {
  identifier: string;
  title: string;
  version: string;
  supersedes: string[];
  images: ApplianceMember[];
}

/** A parsed image list: typed fields for decisions, the document for passing on. */
export interface ImageList {
  identifier: string;
  title: string;
  description: string;
  source: string;
  created: Date;
  expires: Date;
  version: string;
  uri: string;
  vo: string | undefined;
  endorser: Endorser;
  images: ImageEntry[];
  appliances: Appliance[];
  /** The whole document (wrapper included), minus images that were dropped. */
  document: JsonObject;
  /** Why images were dropped or tolerated, for the log. */
  warnings: string[];
}

export const LIST_WRAPPER = 'hv:imagelist';
