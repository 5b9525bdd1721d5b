import { createHash } from 'node:crypto';
import type { PageStatus } from './page/model.js';
import { loadPageScript } from './pagescript.js';
import type { SiteStatus } from './sitestatus.js';

/**
 * The status page for people: one self-contained HTML document (no external assets), with
 * the status JSON embedded for the first paint and a script that renders it and refreshes
 * it without reloading. A Content-Security-Policy admits only this page's own script and
 * style (by hash), so nothing a list says can run in the operator's browser.
 */

const STYLE = `
:root { color-scheme: light; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: #1f2328; background: #f6f8fa; }
header { padding: 16px 24px; color: #fff; background: #59636e; }
header.health-OK { background: var(--ok); } header.health-WARNING { background: var(--warn); }
header.health-CRITICAL { background: var(--bad); }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
#health-status { display: inline-block; margin-left: 10px; padding: 1px 10px; border-radius: 12px; background: rgba(255,255,255,.2); font-size: 14px; vertical-align: middle; }
#health-summary { margin: 6px 0 2px; font-size: 15px; }
#meta { margin: 0; opacity: .9; font-size: 12px; }
#meta code { color: inherit; }
main { padding: 16px 24px; max-width: 1400px; }
h2 { font-size: 17px; margin: 24px 0 8px; } h3 { font-size: 15px; margin: 0 0 8px; } h4 { margin: 12px 0 4px; font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--ok); border-radius: 6px; padding: 10px 14px; }
.card.warn { border-left-color: var(--warn); } .card.bad { border-left-color: var(--bad); }
.card-title { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card-value { font-size: 22px; font-weight: 600; } .card-note { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.problems ul { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px 8px 28px; margin: 0; }
.sev { font-weight: 600; font-size: 11px; padding: 0 6px; border-radius: 8px; color: #fff; background: var(--warn); }
.sev-CRITICAL .sev { background: var(--bad); }
article.subscription { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px; margin-bottom: 14px; }
article.subscription.failing { border-left: 4px solid var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 8px; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
.error { background: #ffebe9; border: 1px solid #ffcecb; border-radius: 6px; padding: 8px 10px; margin: 6px 0; }
.error .detail { color: var(--muted); font-size: 12px; margin-top: 2px; overflow-wrap: anywhere; }
.ok { color: var(--ok); margin: 6px 0; }
.counts { margin: 8px 0; display: flex; flex-wrap: wrap; gap: 6px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eaeef2; color: #1f2328; white-space: nowrap; }
.state-delivered { background: #dafbe1; color: #116329; } .state-cached { background: #ddf4ff; color: #0550ae; }
.state-downloading { background: #fff8c5; color: #7d4e00; } .state-selected { background: #eaeef2; }
.state-deprecated { background: #ffe7c2; color: #8a4600; } .state-retired { background: #eaeef2; color: var(--muted); text-decoration: line-through; }
.state-pending { background: #fff8c5; color: #7d4e00; }
table { width: 100%; border-collapse: collapse; background: #fff; margin: 8px 0; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
.title { font-weight: 600; overflow-wrap: anywhere; } .id, .ref { font-size: 11px; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.appliance { border-top: 1px dashed var(--line); padding: 6px 0; } .appliance.unlisted { opacity: .6; }
footer { padding: 8px 24px 24px; color: var(--muted); font-size: 12px; }
#connection.bad { color: var(--bad); font-weight: 600; }
`;

const STATUS_PAGE_SCRIPT = loadPageScript();

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only the page's own script and style run; the script may fetch from this origin. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(STATUS_PAGE_SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside <script type="application/json">: no `<` may close the element early. */
function embedJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function renderStatusPage(status: SiteStatus, refreshSeconds = 10): string {
  const health = escapeHtml(status.health.status);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vmicatcher: ${health}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-refresh="${refreshSeconds}">
<header id="banner" class="health-${health}">
<h1>vmicatcher site status <span id="health-status">${health}</span></h1>
<p id="health-summary">${escapeHtml(status.health.summary)}</p>
<p id="meta"></p>
</header>
<main id="content"><noscript>This page needs JavaScript to show details; the same data is at <a href="api/v1/status">api/v1/status</a>.</noscript></main>
<footer>Updated <span id="updated">${escapeHtml(status.now)}</span> · <span id="connection"></span> · data: <a href="api/v1/status">api/v1/status</a>, <a href="metrics">metrics</a></footer>
<script type="application/json" id="initial-status">${embedJson(status satisfies PageStatus)}</script>
<script type="module">${STATUS_PAGE_SCRIPT}</script>
</body>
</html>
`;
}
