/**
 * Which images a delivery backend takes (issue 16): one service feeds many clouds, and each
 * cloud receives only what its agreements say. A backend may name the subscriptions (by id
 * or URL) and the VOs it serves (default: all); a Glance backend with a `projects` map takes
 * only images of a mapped VO, unless `defaultProject` says where the others go. An image a
 * backend does not take is held back there, with the reason shown in status.
 */

/** The routing keys shared by the delivery backends' configuration blocks. */
export const routingProperties = {
  /** Subscriptions served (ids or URLs); absent: all. */
  subscriptions: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
  /** VOs served; absent: all (images without a VO included). */
  vos: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
} as const;

export interface Routing {
  subscriptions?: readonly string[] | undefined;
  vos?: readonly string[] | undefined;
  /** Glance: VO -> project. When present, a VO it does not name is held back ... */
  projects?: Readonly<Record<string, string>> | undefined;
  /** ... unless this project takes the images of unmapped VOs. */
  defaultProject?: string | undefined;
}

/** The routing a delivery backend's configuration block gives; undefined: it takes every image. */
export function routingOf(config: Routing): Routing | undefined {
  const { subscriptions, vos, projects, defaultProject } = config;
  if ([subscriptions, vos, projects, defaultProject].every((key) => key === undefined)) return undefined;
  return { subscriptions, vos, projects, defaultProject };
}

/** The VO's mapped project, else `defaultProject` (routing holds other images back). */
export function voProject(
  config: Pick<Routing, 'projects' | 'defaultProject'>,
  vo: string | undefined,
): string | undefined {
  const projects = config.projects;
  // Own keys only: a VO a list names `__proto__` or `constructor` maps to nothing.
  const mapped =
    vo !== undefined && projects !== undefined && Object.hasOwn(projects, vo) ? projects[vo] : undefined;
  return mapped ?? config.defaultProject;
}

/** What routing needs to know of an image. */
export interface RoutedImage {
  vo: string | undefined;
  subscription: { id: string; url: string };
}

/** Why `backend` does not take the image, or undefined when it does. */
export function heldBackReason(
  backend: string,
  routing: Routing | undefined,
  image: RoutedImage,
): string | undefined {
  if (routing === undefined) return undefined;
  const { vo, subscription } = image;
  const subs = routing.subscriptions;
  if (subs !== undefined && !subs.includes(subscription.id) && !subs.includes(subscription.url))
    return `backend ${backend} does not serve subscription ${subscription.id}`;
  if (routing.vos !== undefined && (vo === undefined || !routing.vos.includes(vo)))
    return vo === undefined
      ? `backend ${backend} serves VOs ${routing.vos.join(', ')}; the image has no VO`
      : `backend ${backend} does not serve VO ${vo}`;
  if (routing.projects !== undefined && voProject(routing, vo) === undefined)
    return vo === undefined
      ? `the image has no VO, and backend ${backend} has no defaultProject`
      : `VO ${vo} has no project on backend ${backend} (projects), and it has no defaultProject`;
  return undefined;
}
