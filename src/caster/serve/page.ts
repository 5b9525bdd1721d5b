import type { Appliance, ImageEntry, ImageList } from '../../shared/imagelist/model.js';
import type { SignerIdentity } from '../../shared/verify.js';
import { formatBytes } from '../progress.js';

/**
 * The published list browser: one page per list for people, rendered from the verified
 * published file (the same data `/lists/<id>.json` returns). Everything taken from a list
 * is escaped; only http(s) URLs become links.
 */

export interface ListView {
  listId: string;
  /** URL path of the signed file inside the web root, when it is served from there. */
  fileUrl: string | undefined;
  verified?: { signer: SignerIdentity; list: ImageList } | undefined;
  error?: { code: string; message: string } | undefined;
}

export interface IndexEntry {
  id: string;
  title: string;
  vo: string | null;
  version: string | null;
}

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function link(url: string, label: string): string {
  return /^https?:\/\//i.test(url)
    ? `<a href="${escapeHtml(url)}" rel="nofollow noopener">${escapeHtml(label)}</a>`
    : escapeHtml(label);
}

function anchor(id: string): string {
  return `image-${encodeURIComponent(id)}`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{font-size:.85em;word-break:break-all}.error{background:#fee;border:1px solid #c00;padding:1em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>
`;
}

function daysUntil(date: Date, now: Date): string {
  const days = (date.getTime() - now.getTime()) / 86_400_000;
  return days >= 0 ? `in ${days.toFixed(1)} days` : `${(-days).toFixed(1)} days ago`;
}

function imageRow(image: ImageEntry): string {
  const chain = image.supersedes.map((id) => `<code>${escapeHtml(id)}</code>`).join(' → ');
  return `<tr id="${anchor(image.identifier)}">
<td>${escapeHtml(image.title)}<br><code>${escapeHtml(image.identifier)}</code></td>
<td>${escapeHtml(image.version)}</td>
<td>${escapeHtml(`${image.os} ${image.osVersion}`.trim())} (${escapeHtml(image.arch)})</td>
<td>${escapeHtml(image.format ?? '')}</td>
<td>${escapeHtml(formatBytes(image.size))}<br>${image.size} bytes</td>
<td><code title="${escapeHtml(image.sha512)}">${escapeHtml(image.sha512.slice(0, 16))}…</code></td>
<td>${link(image.uri, 'download')}</td>
<td>${image.appliance === undefined ? '' : `<code>${escapeHtml(image.appliance)}</code>`}</td>
<td>${chain}</td></tr>`;
}

function applianceSection(appliance: Appliance): string {
  const members = appliance.images
    .map(
      (m) =>
        `<li>${escapeHtml(m.role)}: <a href="#${anchor(m.identifier)}"><code>${escapeHtml(m.identifier)}</code></a></li>`,
    )
    .join('');
  const supersedes = appliance.supersedes.map((id) => `<code>${escapeHtml(id)}</code>`).join(' → ');
  return `<tr><td>${escapeHtml(appliance.title)}<br><code>${escapeHtml(appliance.identifier)}</code></td>
<td>${escapeHtml(appliance.version)}</td><td><ul>${members}</ul></td><td>${supersedes}</td></tr>`;
}

export function renderListPage(view: ListView, now: Date = new Date()): string {
  const download =
    view.fileUrl === undefined ? '' : `<p><a href="${escapeHtml(view.fileUrl)}">Signed list (S/MIME)</a></p>`;
  if (view.verified === undefined) {
    const error = view.error ?? { code: 'LIST_MALFORMED', message: 'not published' };
    return page(
      `List ${view.listId}`,
      `<h1>List <code>${escapeHtml(view.listId)}</code></h1>
<div class="error"><strong>${escapeHtml(error.code)}</strong>: ${escapeHtml(error.message)}</div>${download}`,
    );
  }
  const { signer, list } = view.verified;
  const images = list.images.map(imageRow).join('\n');
  const appliances = list.appliances.map(applianceSection).join('\n');
  return page(
    list.title,
    `<h1>${escapeHtml(list.title)}</h1>
<p>${escapeHtml(list.description)}</p>
<dl>
<dt>Identifier</dt><dd><code>${escapeHtml(list.identifier)}</code></dd>
<dt>Version</dt><dd>${escapeHtml(list.version)}</dd>
<dt>VO</dt><dd>${escapeHtml(list.vo ?? '(none)')}</dd>
<dt>Signer</dt><dd>${escapeHtml(signer.dn)}</dd>
<dt>Signer CA</dt><dd>${escapeHtml(signer.ca)}</dd>
<dt>VOMS</dt><dd>${escapeHtml(signer.vo === null ? '(none)' : `${signer.vo} ${signer.fqans.join(' ')}`)}</dd>
<dt>Created</dt><dd>${escapeHtml(list.created.toISOString())}</dd>
<dt>Expires</dt><dd>${escapeHtml(list.expires.toISOString())} (${daysUntil(list.expires, now)})</dd>
<dt>Public URL</dt><dd>${link(list.uri, list.uri)}</dd>
</dl>
${download}
<h2>Images (${list.images.length})</h2>
<table><thead><tr><th>Image</th><th>Version</th><th>OS</th><th>Format</th><th>Size</th><th>SHA-512</th><th>Download</th><th>Appliance</th><th>Supersedes</th></tr></thead>
<tbody>
${images}
</tbody></table>
<h2>Appliances (${list.appliances.length})</h2>
<table><thead><tr><th>Appliance</th><th>Version</th><th>Images</th><th>Supersedes</th></tr></thead>
<tbody>
${appliances}
</tbody></table>`,
  );
}

export function renderIndexPage(entries: IndexEntry[]): string {
  const rows = entries
    .map(
      (e) => `<tr><td><a href="/lists/${encodeURIComponent(e.id)}">${escapeHtml(e.title)}</a></td>
<td><code>${escapeHtml(e.id)}</code></td><td>${escapeHtml(e.vo ?? '')}</td><td>${escapeHtml(e.version ?? '')}</td></tr>`,
    )
    .join('\n');
  return page(
    'Published image lists',
    `<h1>Published image lists</h1>
<table><thead><tr><th>Title</th><th>Identifier</th><th>VO</th><th>Version</th></tr></thead><tbody>
${rows}
</tbody></table>`,
  );
}
