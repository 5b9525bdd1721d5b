/**
 * Who is who in a test cloud (test/helpers/keystone.ts), made through the Identity API as the
 * bootstrap admin: projects, users, role assignments; tokens, application credentials and
 * Debian's OpenStack client as one of those users.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ADMIN_PASSWORD = 'admin-secret';
export const USER_PASSWORD = 'vmicast-secret';
export const PROJECTS = ['service', 'vo-a', 'vo-b'] as const;
export type ProjectName = (typeof PROJECTS)[number] | 'admin';

export interface Credentials {
  username: string;
  password: string;
  project: ProjectName;
}

export const ADMIN: Credentials = { username: 'admin', password: ADMIN_PASSWORD, project: 'admin' };
export const SERVICE_USER: Credentials = { username: 'vmicast', password: USER_PASSWORD, project: 'service' };
export const VO_A_USER: Credentials = { username: 'alice', password: USER_PASSWORD, project: 'vo-a' };

/** A running Keystone (and its Glance), as the tests use it. */
export interface CloudIdentity {
  /** Keystone v3 URL, e.g. http://127.0.0.1:41234/v3 */
  keystone: string;
  /** Glance Image API root (as in the catalog). */
  glance: string;
  dir: string;
  /** Project name -> Keystone project ID. */
  projectIds: Record<ProjectName, string>;
  userIds: Record<string, string>;
  roleIds: Record<string, string>;
  /** A project-scoped token. */
  token(who: Credentials): Promise<string>;
  /** An Image API or Keystone request with a token; JSON in and out. */
  request<T = unknown>(
    url: string,
    method: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
  /** A new application credential of `who`, scoped to its project. */
  applicationCredential(who: Credentials): Promise<{ id: string; secret: string }>;
  /** Debian's OpenStack client as `who`; stdout parsed as JSON (`-f json` is added). */
  openstack<T = unknown>(who: Credentials, args: string[]): Promise<T>;
  /** POST /v3/auth/tokens answered so far (from uwsgi's request log). */
  tokenRequests(): Promise<number>;
}

/** Projects, users and role assignments through the Identity API, as the bootstrap admin. */
export async function populate(keystone: string, glance: string, dir: string): Promise<CloudIdentity> {
  const request: CloudIdentity['request'] = async <T>(
    url: string,
    method: string,
    token: string,
    body?: unknown,
  ) => {
    const response = await fetch(url, {
      method,
      headers: {
        accept: 'application/json',
        'x-auth-token': token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed as T };
  };
  const token = async (who: Credentials): Promise<string> => {
    const response = await fetch(`${keystone}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: who.username, domain: { id: 'default' }, password: who.password } },
          },
          scope: { project: { name: who.project, domain: { id: 'default' } } },
        },
      }),
    });
    await response.arrayBuffer();
    const value = response.headers.get('x-subject-token');
    if (response.status !== 201 || value === null) {
      throw new Error(`token for ${who.username}@${who.project}: HTTP ${response.status}`);
    }
    return value;
  };
  const admin = await token(ADMIN);
  const create = async (path: string, key: string, body: unknown): Promise<string> => {
    const reply = await request<Record<string, { id: string }>>(`${keystone}${path}`, 'POST', admin, {
      [key]: body,
    });
    const id = reply.body[key]?.id;
    if (reply.status !== 201 || id === undefined) {
      throw new Error(`POST ${path}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
    }
    return id;
  };
  const roles = await request<{ roles: { id: string; name: string }[] }>(`${keystone}/roles`, 'GET', admin);
  const roleIds = Object.fromEntries(roles.body.roles.map((r) => [r.name, r.id]));
  const projects = await request<{ projects: { id: string; name: string }[] }>(
    `${keystone}/projects`,
    'GET',
    admin,
  );
  const projectIds = Object.fromEntries(projects.body.projects.map((p) => [p.name, p.id])) as Record<
    ProjectName,
    string
  >;
  for (const name of PROJECTS) {
    projectIds[name] = await create('/projects', 'project', { name, domain_id: 'default' });
  }
  const userIds: Record<string, string> = {};
  const grant = async (user: string, project: ProjectName, role: string): Promise<void> => {
    const path = `/projects/${projectIds[project]}/users/${userIds[user]}/roles/${roleIds[role]}`;
    const reply = await request(`${keystone}${path}`, 'PUT', admin);
    if (reply.status !== 204) throw new Error(`PUT ${path}: HTTP ${reply.status}`);
  };
  const users: [string, string, [ProjectName, string][]][] = [
    ['glance', 'glance-secret', [['service', 'admin']]],
    [
      'vmicast',
      USER_PASSWORD,
      [
        ['service', 'member'],
        ['vo-a', 'member'],
        ['vo-b', 'member'],
      ],
    ],
    ['alice', USER_PASSWORD, [['vo-a', 'member']]],
  ];
  for (const [name, password, grants] of users) {
    userIds[name] = await create('/users', 'user', { name, password, domain_id: 'default' });
    for (const [project, role] of grants) await grant(name, project, role);
  }
  return {
    keystone,
    glance,
    dir,
    projectIds,
    userIds,
    roleIds,
    token,
    request,
    applicationCredential: async (who) => {
      const own = await token(who);
      const reply = await request<{ application_credential?: { id: string; secret: string } }>(
        `${keystone}/users/${userIds[who.username]}/application_credentials`,
        'POST',
        own,
        { application_credential: { name: `vmicast-${randomUUID()}` } },
      );
      const credential = reply.body.application_credential;
      if (reply.status !== 201 || credential === undefined) {
        throw new Error(`application credential: HTTP ${reply.status}`);
      }
      return { id: credential.id, secret: credential.secret };
    },
    openstack: async <T>(who: Credentials, args: string[]) => {
      const { stdout } = await run('openstack', [...args, '-f', 'json'], {
        env: {
          PATH: process.env['PATH'],
          HOME: dir,
          OS_AUTH_URL: keystone,
          OS_IDENTITY_API_VERSION: '3',
          OS_USERNAME: who.username,
          OS_PASSWORD: who.password,
          OS_PROJECT_NAME: who.project,
          OS_USER_DOMAIN_NAME: 'Default',
          OS_PROJECT_DOMAIN_NAME: 'Default',
          OS_INTERFACE: 'public',
        },
        timeout: 60_000,
      });
      return JSON.parse(stdout) as T;
    },
    tokenRequests: async () => {
      const log = await readFile(join(dir, 'uwsgi.log'), 'utf8');
      return log.split('\n').filter((line) => line.includes('POST /v3/auth/tokens')).length;
    },
  };
}
