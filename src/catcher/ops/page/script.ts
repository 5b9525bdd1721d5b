/**
 * The status page's script, run by the browser as an inline module: renders the site status
 * JSON (embedded in the page, then fetched again every few seconds) with DOM calls. Every
 * string from a list or the database goes through text nodes, never through HTML parsing, so
 * a title such as `<img onerror=...>` shows as text. The build compiles it to ES2020 for any
 * current browser (scripts/build-page.mjs); page.ts inlines that text and hashes it for the CSP.
 */
import type { PageAppliance, PageError, PageImage, PageStatus, PageSubscription } from './model.js';

type Child = Node | string | number | null | undefined | false | Child[];
type Images = ReadonlyMap<string, PageImage>;

const params = new URLSearchParams(window.location.search);
const asked = Number(params.get('refresh'));
const REFRESH_MS =
  1000 * (asked >= 1 && asked <= 3600 ? asked : Number(document.body.dataset['refresh'] || 10));
const STATE_WORDS: Readonly<Record<string, string | undefined>> = {
  known: 'listed, not selected',
  selected: 'selected, waiting for download',
  downloading: 'downloading',
  cached: 'verified, in the cache',
  delivered: 'delivered',
  deprecated: 'deprecated',
  retired: 'retired',
};

function h(tag: string, props: Record<string, string> | null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') el.className = v;
      else if (k === 'title') el.title = v;
      else el.setAttribute(k, v);
    }
  }
  for (const child of children) append(el, child);
  return el;
}

function append(el: Element, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) child.forEach((c) => append(el, c));
  else if (typeof child === 'string' || typeof child === 'number')
    el.appendChild(document.createTextNode(String(child)));
  else el.appendChild(child);
}

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el;
}

function duration(seconds: number): string {
  const s = Math.abs(seconds);
  if (s < 10) return `${Math.round(s * 10) / 10} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

function relative(iso: string | null, now: string): string {
  if (!iso) return 'never';
  const delta = (new Date(iso).getTime() - new Date(now).getTime()) / 1000;
  return delta >= 0 ? `in ${duration(delta)}` : `${duration(delta)} ago`;
}

function when(iso: string | null, now: string): HTMLElement {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: iso, title: iso }, relative(iso, now));
}

function bytes(size: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = size;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i] ?? ''}`;
}

function badge(state: string, text?: string): HTMLElement {
  return h('span', { class: `badge state-${state}`, title: STATE_WORDS[state] ?? state }, text || state);
}

function errorBox(err: PageError | null, prefix?: string): HTMLElement | null {
  if (!err) return null;
  return h(
    'div',
    { class: 'error', role: 'note' },
    h('strong', null, (prefix ? `${prefix}: ` : '') + err.explanation),
    h('div', { class: 'detail' }, h('code', null, err.code), ' ', err.message),
  );
}

function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

function label(images: Images, id: string): HTMLElement {
  const img = images.get(id);
  if (!img) return h('span', { class: 'muted', title: id }, `${shortId(id)} (not at this site)`);
  return h('span', { title: id }, `${img.title || shortId(id)} v${img.version}`);
}

function joined(items: Child[]): Child[] {
  const out: Child[] = [];
  items.forEach((item, i) => {
    if (i > 0) out.push(', ');
    out.push(item);
  });
  return out;
}

function table(headers: string[], rows: Child[], cls?: string): HTMLElement {
  return h(
    'table',
    { class: cls || '' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((t) => h('th', null, t)),
      ),
    ),
    h('tbody', null, rows),
  );
}

function card(title: string, value: string, note: string, cls: string): HTMLElement {
  return h(
    'div',
    { class: `card ${cls}` },
    h('div', { class: 'card-title' }, title),
    h('div', { class: 'card-value' }, value),
    h('div', { class: 'card-note' }, note),
  );
}

function overview(s: PageStatus): HTMLElement {
  const t = s.totals;
  const last = s.lastCycle;
  const expiry = t.earliestExpiry;
  return h(
    'section',
    { class: 'cards', 'aria-label': 'overview' },
    card(
      'Subscriptions',
      String(t.subscriptions),
      t.failingSubscriptions ? `${t.failingSubscriptions} failing` : 'all updating',
      t.failingSubscriptions ? 'bad' : '',
    ),
    card(
      'Images available',
      String(t.images.delivered + t.images.cached),
      `${t.images.downloading} downloading, ${t.downloads.failing} failing downloads`,
      t.downloads.failing ? 'warn' : '',
    ),
    card(
      'Earliest list expiry',
      expiry ? relative(expiry.at, s.now) : '—',
      expiry ? expiry.subscription : 'no list accepted yet',
      expiry && expiry.inSeconds < 86400 * 3 ? 'warn' : '',
    ),
    card(
      'Last cycle',
      last ? relative(last.finishedAt, s.now) : '—',
      last ? `${last.result}, took ${duration(last.durationMs / 1000)} (${last.trigger})` : 'none yet',
      last && last.result !== 'ok' && last.result !== 'skipped' ? 'warn' : '',
    ),
  );
}

function problems(s: PageStatus): HTMLElement | null {
  if (!s.health.problems.length) return null;
  return h(
    'section',
    { class: 'problems', 'aria-label': 'problems' },
    h('h2', null, 'Needs attention'),
    h(
      'ul',
      null,
      s.health.problems.map((p) =>
        h('li', { class: `sev-${p.severity}` }, h('span', { class: 'sev' }, p.severity), ' ', p.text),
      ),
    ),
  );
}

function imageRow(img: PageImage, images: Images, backendNames: string[]): HTMLElement {
  const lineage: Child[] = [];
  if (img.supersedes.length)
    lineage.push(h('div', null, 'replaces ', joined(img.supersedes.map((id) => label(images, id)))));
  if (img.supersededBy) lineage.push(h('div', null, 'replaced by ', label(images, img.supersededBy)));
  const backends = backendNames.map((name) => {
    const d = img.backends[name];
    if (!d) return h('div', null, `${name}: —`);
    return h(
      'div',
      null,
      `${name}: `,
      badge(d.state),
      d.refs.length ? h('code', { class: 'ref' }, ` ${d.refs.join(' ')}`) : null,
      errorBox(d.lastError),
    );
  });
  return h(
    'tr',
    { 'data-image': img.id },
    h(
      'td',
      null,
      h('div', { class: 'title' }, img.title || img.id),
      h('div', { class: 'muted id' }, img.id),
      errorBox(img.lastError),
    ),
    h('td', null, img.version),
    h(
      'td',
      null,
      badge(img.state),
      img.unwantedReason ? h('div', { class: 'muted' }, img.unwantedReason) : null,
    ),
    h('td', { class: 'num' }, bytes(img.size)),
    h('td', null, lineage.length ? lineage : h('span', { class: 'muted' }, '—')),
    h('td', null, backends.length ? backends : h('span', { class: 'muted' }, 'no delivery backend')),
  );
}

function appliance(a: PageAppliance, images: Images, now: string): HTMLElement {
  const members = a.members.map((m) => {
    const img = images.get(m.image);
    return h('span', null, `${m.role} = `, label(images, m.image), img ? [' ', badge(img.state)] : null);
  });
  return h(
    'div',
    { class: `appliance${a.listed ? '' : ' unlisted'}` },
    h('div', null, h('strong', null, a.title), ` v${a.version}`, a.listed ? '' : ' (no longer listed)'),
    h('div', null, 'images: ', joined(members)),
    h(
      'div',
      null,
      a.availableOn.length
        ? [
            'available on ',
            joined(a.availableOn.map((v) => h('span', null, `${v.backend} `, when(v.availableAt, now)))),
          ]
        : h('span', { class: 'muted' }, 'not available yet: waiting until every image is delivered'),
    ),
    a.supersedes.length
      ? h('div', { class: 'muted' }, `replaces appliance ${a.supersedes.map(shortId).join(', ')}`)
      : null,
  );
}

function appliances(sub: PageSubscription, images: Images, now: string): HTMLElement | null {
  if (!sub.appliances.length) return null;
  return h(
    'div',
    { class: 'appliances' },
    h('h4', null, 'Appliances'),
    sub.appliances.map((a) => appliance(a, images, now)),
  );
}

function subscription(
  sub: PageSubscription,
  s: PageStatus,
  images: Images,
  backendNames: string[],
): HTMLElement {
  const imgs = s.images.filter((i) => i.subscription === sub.id);
  const counts = Object.entries(sub.images).filter(([, n]) => n > 0);
  return h(
    'article',
    { class: `subscription${sub.lastError ? ' failing' : ''}`, 'data-subscription': sub.id },
    h(
      'h3',
      null,
      h('code', null, sub.id),
      sub.state === 'removing' ? h('span', { class: 'badge state-retired' }, 'being removed') : null,
    ),
    h(
      'dl',
      null,
      h('dt', null, 'URL'),
      h('dd', null, h('code', null, sub.url)),
      h('dt', null, 'VO'),
      h('dd', null, sub.vo || '—'),
      h('dt', null, 'List version'),
      h('dd', null, sub.version || '—'),
      h('dt', null, 'Expires'),
      h('dd', null, sub.expires ? when(sub.expires, s.now) : '—'),
      h('dt', null, 'Last successful update'),
      h('dd', null, when(sub.lastSuccess, s.now)),
      h('dt', null, 'Endorsers'),
      h(
        'dd',
        null,
        sub.endorsers.map((e) => h('div', null, h('code', null, e.dn))),
      ),
    ),
    sub.lastError
      ? errorBox(sub.lastError, 'The last update was refused')
      : h('div', { class: 'ok' }, 'The last update succeeded.'),
    sub.lapsedSince
      ? h(
          'div',
          { class: 'error' },
          h(
            'strong',
            null,
            `Its images are being withdrawn: the list lapsed ${relative(sub.lapsedSince, s.now)}.`,
          ),
        )
      : null,
    h(
      'div',
      { class: 'counts' },
      counts.map(([k, n]) => badge(k, `${n} ${k}`)),
    ),
    imgs.length
      ? table(
          ['Image', 'Version', 'State', 'Size', 'Successors', 'Backends'],
          imgs.map((i) => imageRow(i, images, backendNames)),
          'images',
        )
      : h('p', { class: 'muted' }, 'No images.'),
    appliances(sub, images, s.now),
  );
}

function backendsSection(s: PageStatus): HTMLElement | null {
  if (!s.backends.length) return null;
  const rows = s.backends.map((b) => {
    const state = b.outbox
      ? `${b.outbox.pending} events waiting, ${b.outbox.failed} given up, ${b.outbox.done} done`
      : Object.entries(b.deliveries ?? {})
          .map(([k, n]) => `${n} ${k}`)
          .join(', ') || 'nothing delivered yet';
    const problem: Child = b.outbox
      ? b.outbox.lastError
        ? [
            errorBox(b.outbox.lastError),
            h('div', { class: 'muted' }, 'failing since ', when(b.outbox.oldestFailingSince, s.now)),
          ]
        : 'none'
      : b.lastError
        ? [errorBox(b.lastError), h('div', { class: 'muted' }, `${b.failing} failing`)]
        : 'none';
    return h(
      'tr',
      null,
      h('td', null, b.name),
      h('td', null, b.type),
      h('td', null, state),
      h('td', null, problem),
    );
  });
  return h('section', null, h('h2', null, 'Backends'), table(['Backend', 'Type', 'State', 'Problems'], rows));
}

/** What each VO has at each cloud (issue 16), one row per backend and VO. */
function accountingSection(s: PageStatus): HTMLElement | null {
  if (!s.accounting.length) return null;
  const rows = s.accounting.map((a) =>
    h(
      'tr',
      null,
      h('td', null, a.backend),
      h('td', null, a.vo ?? h('span', { class: 'muted' }, 'no VO')),
      h('td', null, String(a.images)),
      h('td', null, bytes(a.bytesHeld)),
      h('td', null, bytes(a.bytesDelivered)),
      h('td', null, when(a.lastUpdate, s.now)),
    ),
  );
  const headers = ['Backend', 'VO', 'Images', 'Held', 'Delivered in all', 'Last change'];
  return h('section', null, h('h2', null, 'Per VO and cloud'), table(headers, rows));
}

function trustSection(s: PageStatus): HTMLElement {
  const t = s.trust;
  const sum = t.summary;
  if (t.error || !sum) return h('section', null, h('h2', null, 'Trust store'), errorBox(t.error, t.location));
  const stale = sum.crls.filter((c) => c.stale);
  return h(
    'section',
    null,
    h('h2', null, 'Trust store'),
    h(
      'p',
      null,
      h('code', null, sum.location),
      `: ${sum.anchors} certificates, ${sum.crls.length} CRLs, ${stale.length} stale, ${sum.expiredAnchors.length} expired certificates`,
    ),
    stale.length
      ? h(
          'div',
          { class: 'error' },
          h(
            'strong',
            null,
            'Stale revocation lists: lists signed under these authorities are refused until fetch-crl renews them.',
          ),
          h(
            'ul',
            null,
            stale.map((c) =>
              h('li', null, h('code', null, c.issuer), ' stale since ', when(c.nextUpdate, s.now)),
            ),
          ),
        )
      : h('div', { class: 'ok' }, 'All revocation lists are current.'),
    sum.warnings.length
      ? h(
          'details',
          null,
          h('summary', null, `${sum.warnings.length} unreadable files`),
          h(
            'ul',
            null,
            sum.warnings.map((w) => h('li', null, w)),
          ),
        )
      : null,
  );
}

function render(s: PageStatus): void {
  const images: Images = new Map(s.images.map((i) => [i.id, i]));
  const backendNames = s.backends.filter((b) => b.deliveries).map((b) => b.name);
  document.title = `vmicatcher: ${s.health.status}`;
  byId('banner').className = `health-${s.health.status}`;
  byId('health-status').textContent = s.health.status;
  byId('health-summary').textContent = s.health.summary;
  const d = s.daemon;
  const meta = byId('meta');
  meta.replaceChildren();
  append(meta, [
    `vmicatcher ${s.version} · ${s.home} · `,
    d?.running
      ? [
          `daemon pid ${d.pid}, schedule `,
          h('code', null, d.schedule),
          d.nextCycleAt ? [', next cycle ', when(d.nextCycleAt, s.now)] : null,
          d.cycleRunning ? h('strong', null, ' · a cycle is running') : null,
        ]
      : 'daemon not running',
  ]);
  byId('content').replaceChildren(
    overview(s),
    problems(s) ?? '',
    h(
      'section',
      null,
      h('h2', null, 'Subscriptions'),
      s.subscriptions.length
        ? s.subscriptions.map((sub) => subscription(sub, s, images, backendNames))
        : h('p', null, 'No subscriptions yet: add one with vmicatcher subscribe.'),
    ),
    backendsSection(s) ?? '',
    accountingSection(s) ?? '',
    trustSection(s),
  );
  byId('updated').textContent = new Date().toLocaleTimeString();
}

function setConnection(text: string, bad: boolean): void {
  const el = byId('connection');
  el.textContent = text;
  el.className = bad ? 'bad' : '';
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));

function refresh(): void {
  void fetch('api/v1/status', { cache: 'no-store', headers: { accept: 'application/json' } })
    .then((r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return r.json() as Promise<PageStatus>;
    })
    .then(
      (s) => {
        render(s);
        setConnection(`live, every ${REFRESH_MS / 1000} s`, false);
      },
      (e: unknown) => {
        setConnection(`cannot reach the daemon (${reason(e)}); retrying`, true);
      },
    )
    .catch((e: unknown) => {
      setConnection(`cannot show the status (${reason(e)})`, true);
      throw e;
    })
    .finally(() => window.setTimeout(refresh, REFRESH_MS));
}

render(JSON.parse(byId('initial-status').textContent) as PageStatus);
setConnection(`live, every ${REFRESH_MS / 1000} s`, false);
window.setTimeout(refresh, REFRESH_MS);
