/**
 * Listings: tags of a repository and the registry catalog (distribution spec, paginated
 * with `Link: <...>; rel="next"`), and a Harbor project's repositories (Harbor API v2.0,
 * `page`/`page_size`). Every name is checked against the grammar; one bad name refuses the
 * answer (a registry cannot store such a name, so the answer is not a registry's).
 */
import { VmiError } from '../errors.js';
import { CATALOG_SCOPE, repositoryScope } from './auth.js';
import { parseJson } from './manifest.js';
import { checkRepository, checkTag, isRepositoryName, shown } from './reference.js';
import type { RegistryCaller as RegistryClient } from './caller.js';
import { header, statusError, type Answer } from './transport.js';

const PAGE_SIZE = 100;
const MAX_PAGES = 1000;

function malformed(what: string): VmiError {
  return new VmiError('LIST_MALFORMED', what);
}

/** The `rel="next"` target of a Link header, on the registry's own origin only. */
export function nextLink(answer: Answer, current: URL): URL | undefined {
  const link = header(answer, 'link');
  if (link === undefined) return undefined;
  const target = /<([^>]*)>\s*;\s*rel="?next"?/.exec(link)?.[1];
  if (target === undefined) return undefined;
  const next = new URL(target, current);
  if (next.origin !== current.origin || next.pathname !== current.pathname) {
    throw malformed(`registry pagination link leaves ${current.pathname}: ${shown(target)}`);
  }
  return next;
}

async function paged(
  client: RegistryClient,
  first: URL,
  scope: string,
  read: (doc: Record<string, unknown>) => unknown,
  check: (name: unknown) => string,
  what: string,
): Promise<string[]> {
  const names: string[] = [];
  let url: URL | undefined = first;
  for (let page = 0; url !== undefined; page++) {
    if (page >= MAX_PAGES) throw malformed(`${what}: more than ${MAX_PAGES} pages`);
    const answer = await client.call(url, scope);
    if (answer.status !== 200) throw statusError(answer, what);
    const doc = parseJson(answer.body, what);
    if (typeof doc !== 'object' || doc === null) throw malformed(`${what}: not a JSON object`);
    const list = read(doc as Record<string, unknown>);
    // Distribution answers `"tags": null` for a repository whose tags were all deleted.
    if (list !== null && !Array.isArray(list)) throw malformed(`${what}: no list of names`);
    for (const name of list ?? []) names.push(check(name));
    url = nextLink(answer, url);
  }
  return names;
}

export function listTags(client: RegistryClient, repo: string): Promise<string[]> {
  const first = new URL(`/v2/${repo}/tags/list?n=${PAGE_SIZE}`, client.origin);
  const what = `tags of ${repo}`;
  return paged(
    client,
    first,
    repositoryScope(repo, ['pull']),
    (doc) => {
      if (doc['name'] !== repo) throw malformed(`${what}: the answer names another repository`);
      return doc['tags'];
    },
    (tag) => checkTag(tag, 'LIST_MALFORMED'),
    what,
  );
}

export function listCatalog(client: RegistryClient): Promise<string[]> {
  const first = new URL(`/v2/_catalog?n=${PAGE_SIZE}`, client.origin);
  return paged(
    client,
    first,
    CATALOG_SCOPE,
    (doc) => doc['repositories'],
    (name) => checkRepository(name, 'LIST_MALFORMED'),
    'registry catalog',
  );
}

export async function listHarborRepositories(
  client: RegistryClient,
  project: string,
): Promise<string[] | undefined> {
  if (!isRepositoryName(project) || project.includes('/')) {
    throw new VmiError('CONFIG_INVALID', `not a valid Harbor project name: ${shown(project)}`);
  }
  const names: string[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const url = new URL(`/api/v2.0/projects/${project}/repositories`, client.origin);
    url.searchParams.set('page', String(page));
    url.searchParams.set('page_size', String(PAGE_SIZE));
    // Harbor's API takes Basic credentials directly (it is not behind the token flow).
    const answer = await client.callPlain(url, { authorization: client.basicAuthorization() });
    if (page === 1 && (answer.status === 404 || answer.status === 405) && !harborError(answer))
      return undefined;
    if (answer.status !== 200) throw statusError(answer, `Harbor project ${project}`);
    const doc = parseJson(answer.body, `Harbor project ${project}`);
    if (!Array.isArray(doc)) throw malformed(`Harbor project ${project}: not a list of repositories`);
    for (const entry of doc) {
      const full = (entry as { name?: unknown } | null)?.name;
      if (typeof full !== 'string' || !full.startsWith(`${project}/`)) {
        throw malformed(
          `Harbor project ${project}: a repository outside the project: ${shown(String(full))}`,
        );
      }
      names.push(checkRepository(full.slice(project.length + 1), 'LIST_MALFORMED'));
    }
    if (doc.length < PAGE_SIZE) return names;
  }
  throw malformed(`Harbor project ${project}: more than ${MAX_PAGES} pages`);
}

/** Harbor answers its errors as `{"errors":[...]}` JSON; a plain registry's 404 is text. */
function harborError(answer: Answer): boolean {
  try {
    const doc = JSON.parse(answer.body.toString('utf8')) as { errors?: unknown };
    return Array.isArray(doc.errors);
  } catch {
    return false;
  }
}
