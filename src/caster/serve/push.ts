import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { VmiError, type ErrorCode } from '../../shared/errors.js';
import { serializeImageList } from '../../shared/imagelist/serialize.js';
import type { Logger } from '../../shared/log.js';
import type { ChainPolicy } from '../../shared/pki/chain.js';
import type { TrustStore } from '../../shared/pki/truststore.js';
import type { ImageFacts } from '../imagefile.js';
import { publishLocked } from '../publish.js';
import type { SigningSetup } from '../signing.js';
import { clientAuthorizations, findTokenByHash } from '../store/access.js';
import { findAppliance } from '../store/appliances.js';
import type { Db, WriteLock } from '../store/db.js';
import { findList, requireList, type ListRecord } from '../store/lists.js';
import { checkIdentifier } from '../entries.js';
import { hashToken } from '../tokens.js';
import { presentedCertificates, validateClient } from './clientauth.js';
import { applyPush } from './pushapply.js';
import { isNewImage, parsePushBody, type PushBody } from './pushschema.js';

/**
 * `PUT /api/v1/lists/{list}/appliances/{appliance}` (CONTRACT.md): authenticate (bearer
 * token scoped to a list, or a TLS client certificate authorized for the list's VO),
 * validate, optionally check the images by downloading them, then apply, re-sign and
 * publish in one transaction before answering with the new list version.
 */

export interface PushDeps {
  db: Db;
  lock: WriteLock;
  logger: Logger;
  root: string;
  maxBodyBytes: number;
  lifetimeDays: number;
  signing(list: ListRecord, now: Date): Promise<SigningSetup>;
  measure(url: string): Promise<ImageFacts>;
  now(): Date;
  /** Trust material for TLS client certificates (`--client-ca`), when they are accepted. */
  clientTrust?: (() => Promise<{ store: TrustStore; policy: ChainPolicy }>) | undefined;
}

type Principal =
  | { kind: 'token'; name: string; listId: string; verify: boolean }
  | { kind: 'client'; dn: string; ca: string; vos: Map<string, boolean> };

export { DEFAULT_MAX_BODY_BYTES } from '../defaults.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  LIST_MALFORMED: 400,
  LIST_TOO_LARGE: 413,
  USAGE: 404,
  ENDORSER_UNAUTHORIZED: 403,
  VO_MISMATCH: 403,
  LIST_CONFLICT: 409,
  LIST_ROLLBACK: 409,
  IMAGE_SIZE_MISMATCH: 422,
  IMAGE_DIGEST_MISMATCH: 422,
  FETCH_FAILED: 502,
  HTTP_STATUS: 502,
  TIMEOUT: 504,
};

export function statusOf(err: VmiError): number {
  const explicit = err.details?.['status'];
  return typeof explicit === 'number' ? explicit : (STATUS[err.code] ?? 500);
}

function withStatus(err: unknown, status: number): unknown {
  return err instanceof VmiError
    ? new VmiError(err.code, err.message, { cause: err, details: { status } })
    : err;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

function unauthorized(message: string): VmiError {
  return new VmiError('ENDORSER_UNAUTHORIZED', message, { details: { status: 401 } });
}

async function authenticate(req: IncomingMessage, deps: PushDeps): Promise<Principal> {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) throw unauthorized('the Authorization header must be "Bearer <token>"');
    const token = findTokenByHash(deps.db, hashToken(match[1] ?? ''));
    if (token === undefined) throw unauthorized('unknown or revoked token');
    return { kind: 'token', name: token.name, listId: token.listId, verify: token.verify };
  }
  const presented = presentedCertificates(req.socket as Partial<TLSSocket>);
  if (presented !== undefined) {
    if (deps.clientTrust === undefined) throw unauthorized('this server accepts no client certificates');
    const { store, policy } = await deps.clientTrust();
    const client = validateClient(presented, store, policy, deps.now());
    // Several registrations of one client (other DN spellings): downloading wins.
    const vos = new Map<string, boolean>();
    for (const c of clientAuthorizations(deps.db, client.eec.subject, client.eec.issuer)) {
      vos.set(c.vo, (vos.get(c.vo) ?? false) || c.verify);
    }
    return { kind: 'client', dn: client.dn, ca: client.ca, vos };
  }
  throw unauthorized('authenticate with a bearer token or a client certificate');
}

/** May this principal change this list? Returns whether pushed images must be downloaded. */
function authorize(principal: Principal, list: ListRecord): boolean {
  if (principal.kind === 'token') {
    if (principal.listId !== list.id) {
      throw new VmiError('ENDORSER_UNAUTHORIZED', `token ${principal.name} is for another list`);
    }
    return principal.verify;
  }
  if (principal.vos.size === 0) {
    throw new VmiError('ENDORSER_UNAUTHORIZED', `client ${principal.dn} (CA ${principal.ca}) may not push`);
  }
  const verify = list.vo === null ? undefined : principal.vos.get(list.vo);
  if (verify === undefined) {
    throw new VmiError(
      'VO_MISMATCH',
      `client ${principal.dn} may push for ${[...principal.vos.keys()].join(', ')}, not for ${list.vo ?? 'a list without VO'}`,
    );
  }
  return verify;
}

/** Reads the body up to `limit` bytes; the stream is left open so that a refusal can be answered. */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new VmiError('LIST_TOO_LARGE', `the body exceeds ${limit} bytes`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => resolve(new Uint8Array(Buffer.concat(chunks)));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

/** With verification on, every pushed image is downloaded and must match its size and digest. */
async function verifyImages(body: PushBody, deps: PushDeps): Promise<void> {
  for (const image of body.images) {
    if (!isNewImage(image)) continue;
    const facts = await deps.measure(image.uri);
    if (facts.size !== image.size) {
      throw new VmiError(
        'IMAGE_SIZE_MISMATCH',
        `${image.uri} has ${facts.size} bytes, the push says ${image.size}`,
      );
    }
    if (facts.sha512 !== image.sha512) {
      throw new VmiError('IMAGE_DIGEST_MISMATCH', `${image.uri} does not have the SHA-512 the push gives`);
    }
  }
}

export async function handlePush(
  req: IncomingMessage,
  res: ServerResponse,
  listId: string,
  applianceId: string,
  deps: PushDeps,
): Promise<void> {
  const now = deps.now();
  const principal = await authenticate(req, deps);
  const list = requireList(deps.db, listId);
  const mustVerify = authorize(principal, list);
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new VmiError('LIST_MALFORMED', 'the body must be application/json', { details: { status: 415 } });
  }
  checkIdentifier(applianceId, 'appliance identifier', 'LIST_MALFORMED');
  const body = parsePushBody(await readBody(req, deps.maxBodyBytes));
  const bodySha256 = createHash('sha256').update(serializeImageList(body)).digest('hex');
  const current = findAppliance(deps.db, listId, applianceId);
  const repeated = current?.state === 'listed' && current.bodySha256 === bodySha256;
  if (!repeated && (mustVerify || body.verify === true)) await verifyImages(body, deps);
  const setup = repeated
    ? undefined
    : await deps.signing(list, now).catch((err: unknown) => {
        throw withStatus(err, 503);
      });

  const result = await deps.lock.run(async () => {
    // Dates from when the lock was obtained: concurrent pushes publish in order.
    const at = deps.now();
    const outcome = applyPush(
      { db: deps.db, now: at.toISOString(), code: 'LIST_MALFORMED' },
      listId,
      applianceId,
      body,
      bodySha256,
    );
    if (!outcome.changed) {
      return { changed: false, version: findList(deps.db, listId)?.version ?? null, members: undefined };
    }
    if (setup === undefined) {
      // Another push changed the appliance since this one looked: roll back, let the client retry.
      throw new VmiError('LIST_CONFLICT', `appliance ${applianceId} changed meanwhile; repeat the request`);
    }
    const published = await publishLocked(deps.db, setup, {
      listId,
      outPath: list.publishPath === null ? join(deps.root, `${listId}.smime`) : undefined,
      kind: 'push',
      lifetimeDays: deps.lifetimeDays,
      now: at,
    });
    return { changed: true, version: published.version, members: outcome.members };
  });
  deps.logger.info(
    {
      list: listId,
      appliance: applianceId,
      by: principal.kind === 'token' ? principal.name : principal.dn,
      ...result,
    },
    'push applied',
  );
  sendJson(res, 200, { ok: true, list: listId, appliance: applianceId, ...result });
}
