import type { GlanceResponse, Method } from './http.js';
import { VmiError } from '../../../shared/errors.js';

/** How Glance's answers become BACKEND_FAILED errors: status and Glance's own words, never a token. */

export type Reply = GlanceResponse;

export function transportFailure(method: Method, url: string, err: unknown, signal?: AbortSignal): VmiError {
  const e = err as Error & { code?: string };
  const reason = signal?.aborted === true ? 'aborted' : `${e.code ?? 'error'}: ${e.message}`;
  return new VmiError('BACKEND_FAILED', `Glance ${method} ${new URL(url).pathname}: ${reason}`);
}

export function failure(method: Method, path: string, reply: Reply): VmiError {
  return new VmiError(
    'BACKEND_FAILED',
    `Glance ${method} ${path}: HTTP ${reply.status}: ${glanceMessage(reply.text)}${adminHint(reply)}`,
    {
      details: { status: reply.status },
    },
  );
}

/**
 * Glance's default policy keeps two things vmicast may be configured to do for the admin role
 * alone; its refusals do not say which setting asks for them, so the message does.
 */
function adminHint(reply: Reply): string {
  if (reply.status !== 403) return '';
  if (reply.text.includes('publicize_image')) {
    return ' (public images need the admin role in Glance: give the backend admin credentials, or use visibility shared)';
  }
  if (/owner can't be updated|permitted to create images owned by/i.test(reply.text)) {
    return " (making a VO's project the owner needs the admin role in Glance: map the VO to the credentials' own project, or use visibility shared)";
  }
  return '';
}

/** Glance's error text: JSON `message` (with HTML remnants) or an HTML page. */
export function glanceMessage(text: string): string {
  let message = text;
  try {
    const value = JSON.parse(text) as { message?: unknown };
    if (typeof value.message === 'string') message = value.message;
  } catch {
    // an HTML or plain body
  }
  const plain = message
    .replace(/<[^>]*>/g, ' ')
    .replace(/&#x27;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
  return plain === '' ? '(empty body)' : plain.slice(0, 300);
}
