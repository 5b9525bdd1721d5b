import type { GlanceClient, GlanceImage } from './client.js';
import type { ResolvedGlanceConfig } from './config.js';
import { voProject } from '../routing.js';
import { patchTowards, PROP } from './properties.js';
import type { BackendContextWithoutWork, ImageRecord } from '../types.js';

export { voProject } from '../routing.js';

/**
 * Who may use an image: a VO maps to a Keystone project. `private` and `public` images
 * are owned by that project (setting another project as owner needs admin credentials);
 * `shared` images stay with the backend's own project and get the VO project as an
 * accepted member. Withdrawing an image that cannot be deleted yet removes every member,
 * makes it private and deactivates it.
 */
export class GlanceSharing {
  constructor(
    private readonly config: ResolvedGlanceConfig,
    private readonly client: GlanceClient,
  ) {}

  projectFor(vo: string | undefined): string | undefined {
    return voProject(this.config, vo);
  }

  /** Base fields that place an image: visibility, and the owner where the VO has a project. */
  placement(image: ImageRecord): Record<string, string> {
    const project = this.projectFor(image.vo);
    if (this.config.visibility === 'shared' || project === undefined) {
      return { visibility: this.config.visibility };
    }
    return { visibility: this.config.visibility, owner: project };
  }

  /** With `shared` visibility: the VO project becomes a member and the membership is accepted. */
  async share(id: string, image: ImageRecord, ctx: BackendContextWithoutWork): Promise<void> {
    const project = this.projectFor(image.vo);
    if (this.config.visibility !== 'shared' || project === undefined) return;
    await this.client.addMember(id, project, ctx.signal);
    if (await this.client.setMemberStatus(id, project, 'accepted', ctx.signal)) return;
    // Glance lets only the member project (or an admin) accept. A non-admin password user
    // with a role in the VO project accepts as that project; otherwise the VO accepts itself.
    let why = 'the credential cannot act for the VO project (application credential or no Keystone)';
    const member = this.client.asProject(project);
    if (member !== undefined) {
      try {
        if (await member.setMemberStatus(id, project, 'accepted', ctx.signal)) return;
        why = 'Glance refused the acceptance made as the VO project';
      } catch (err) {
        why = (err as Error).message;
      }
    }
    ctx.log.warn(
      { ref: id, project, why },
      'the membership stays pending: the VO project must accept the image itself',
    );
  }

  /** Makes an image nobody else can use: no members, private, hidden, deactivated. */
  async withdraw(target: GlanceImage, signal: AbortSignal): Promise<void> {
    for (const member of await this.client.listMembers(target.id, signal)) {
      await this.client.removeMember(target.id, member.member_id, signal);
    }
    const desired: Record<string, unknown> = {
      visibility: 'private',
      [PROP.deprecated]: 'true',
      [PROP.retirePending]: 'true',
    };
    if ('os_hidden' in target) desired['os_hidden'] = true;
    const ops = patchTowards(target, desired);
    if (ops.length > 0) await this.client.patchImage(target.id, ops, signal);
    if (target.status === 'active') await this.client.deactivate(target.id, signal);
  }
}
