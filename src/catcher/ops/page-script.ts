/**
 * The status page's script, run by the browser: renders the site status JSON (embedded in
 * the page, then fetched again every few seconds) with DOM calls. Every string from a list
 * or the database goes through text nodes, never through HTML parsing, so a title such as
 * `<img onerror=...>` shows as text. Kept as plain ES2020 for any current browser.
 */
export const STATUS_PAGE_SCRIPT = String.raw`
'use strict';
(function () {
  var params = new URLSearchParams(window.location.search);
  var asked = Number(params.get('refresh'));
  var REFRESH_MS = 1000 * (asked >= 1 && asked <= 3600 ? asked : Number(document.body.dataset.refresh || 10));
  var STATE_WORDS = {
    known: 'listed, not selected',
    selected: 'selected, waiting for download',
    downloading: 'downloading',
    cached: 'verified, in the cache',
    delivered: 'delivered',
    deprecated: 'deprecated',
    retired: 'retired'
  };

  function h(tag, props) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === 'class') el.className = props[k];
        else if (k === 'title') el.title = props[k];
        else el.setAttribute(k, props[k]);
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(el, c); });
    else if (typeof child === 'string' || typeof child === 'number') el.appendChild(document.createTextNode(String(child)));
    else el.appendChild(child);
  }
  function duration(seconds) {
    var s = Math.abs(seconds);
    if (s < 10) return (Math.round(s * 10) / 10) + ' s';
    if (s < 90) return Math.round(s) + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' days';
  }
  function relative(iso, now) {
    if (!iso) return 'never';
    var delta = (new Date(iso).getTime() - new Date(now).getTime()) / 1000;
    return delta >= 0 ? 'in ' + duration(delta) : duration(delta) + ' ago';
  }
  function when(iso, now) {
    if (!iso) return h('span', { class: 'muted' }, 'never');
    return h('time', { datetime: iso, title: iso }, relative(iso, now));
  }
  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }
  function badge(state, text) {
    return h('span', { class: 'badge state-' + state, title: STATE_WORDS[state] || state }, text || state);
  }
  function errorBox(err, prefix) {
    if (!err) return null;
    return h('div', { class: 'error', role: 'note' },
      h('strong', null, (prefix ? prefix + ': ' : '') + err.explanation),
      h('div', { class: 'detail' }, h('code', null, err.code), ' ', err.message));
  }
  function shortId(id) { return id.length > 13 ? id.slice(0, 8) + '…' : id; }
  function label(images, id) {
    var img = images[id];
    if (!img) return h('span', { class: 'muted', title: id }, shortId(id) + ' (not at this site)');
    return h('span', { title: id }, (img.title || shortId(id)) + ' v' + img.version);
  }
  function joined(items) {
    var out = [];
    items.forEach(function (item, i) { if (i > 0) out.push(', '); out.push(item); });
    return out;
  }
  function table(headers, rows, cls) {
    return h('table', { class: cls || '' },
      h('thead', null, h('tr', null, headers.map(function (t) { return h('th', null, t); }))),
      h('tbody', null, rows));
  }

  function overview(s) {
    var t = s.totals;
    var last = s.lastCycle;
    function card(title, value, note, cls) {
      return h('div', { class: 'card ' + (cls || '') }, h('div', { class: 'card-title' }, title),
        h('div', { class: 'card-value' }, value), h('div', { class: 'card-note' }, note));
    }
    return h('section', { class: 'cards', 'aria-label': 'overview' },
      card('Subscriptions', String(t.subscriptions),
        t.failingSubscriptions ? t.failingSubscriptions + ' failing' : 'all updating', t.failingSubscriptions ? 'bad' : ''),
      card('Images available', String(t.images.delivered + t.images.cached),
        t.images.downloading + ' downloading, ' + t.downloads.failing + ' failing downloads', t.downloads.failing ? 'warn' : ''),
      card('Earliest list expiry', t.earliestExpiry ? relative(t.earliestExpiry.at, s.now) : '—',
        t.earliestExpiry ? t.earliestExpiry.subscription : 'no list accepted yet',
        t.earliestExpiry && t.earliestExpiry.inSeconds < 86400 * 3 ? 'warn' : ''),
      card('Last cycle', last ? relative(last.finishedAt, s.now) : '—',
        last ? last.result + ', took ' + duration(last.durationMs / 1000) + ' (' + last.trigger + ')' : 'none yet',
        last && last.result !== 'ok' && last.result !== 'skipped' ? 'warn' : ''));
  }

  function problems(s) {
    if (!s.health.problems.length) return null;
    return h('section', { class: 'problems', 'aria-label': 'problems' }, h('h2', null, 'Needs attention'),
      h('ul', null, s.health.problems.map(function (p) {
        return h('li', { class: 'sev-' + p.severity }, h('span', { class: 'sev' }, p.severity), ' ', p.text);
      })));
  }

  function imageRow(img, byId, backendNames) {
    var lineage = [];
    if (img.supersedes.length) lineage.push(h('div', null, 'replaces ', joined(img.supersedes.map(function (id) { return label(byId, id); }))));
    if (img.supersededBy) lineage.push(h('div', null, 'replaced by ', label(byId, img.supersededBy)));
    var backends = backendNames.map(function (name) {
      var d = img.backends[name];
      if (!d) return h('div', null, name + ': —');
      return h('div', null, name + ': ', badge(d.state), d.refs.length ? h('code', { class: 'ref' }, ' ' + d.refs.join(' ')) : null,
        errorBox(d.lastError));
    });
    return h('tr', { 'data-image': img.id },
      h('td', null, h('div', { class: 'title' }, img.title || img.id), h('div', { class: 'muted id' }, img.id), errorBox(img.lastError)),
      h('td', null, img.version),
      h('td', null, badge(img.state), img.unwantedReason ? h('div', { class: 'muted' }, img.unwantedReason) : null),
      h('td', { class: 'num' }, bytes(img.size)),
      h('td', null, lineage.length ? lineage : h('span', { class: 'muted' }, '—')),
      h('td', null, backends.length ? backends : h('span', { class: 'muted' }, 'no delivery backend')));
  }

  function appliances(sub, byId, now) {
    if (!sub.appliances.length) return null;
    return h('div', { class: 'appliances' }, h('h4', null, 'Appliances'),
      sub.appliances.map(function (a) {
        return h('div', { class: 'appliance' + (a.listed ? '' : ' unlisted') },
          h('div', null, h('strong', null, a.title), ' v' + a.version, a.listed ? '' : ' (no longer listed)'),
          h('div', null, 'images: ', joined(a.members.map(function (m) {
            var img = byId[m.image];
            return h('span', null, m.role + ' = ', label(byId, m.image), img ? [' ', badge(img.state)] : null);
          }))),
          h('div', null, a.availableOn.length
            ? ['available on ', joined(a.availableOn.map(function (v) { return h('span', null, v.backend + ' ', when(v.availableAt, now)); }))]
            : h('span', { class: 'muted' }, 'not available yet: waiting until every image is delivered')),
          a.supersedes.length ? h('div', { class: 'muted' }, 'replaces appliance ' + a.supersedes.map(shortId).join(', ')) : null);
      }));
  }

  function subscription(sub, s, byId, backendNames) {
    var imgs = s.images.filter(function (i) { return i.subscription === sub.id; });
    var counts = Object.keys(sub.images).filter(function (k) { return sub.images[k] > 0; });
    return h('article', { class: 'subscription' + (sub.lastError ? ' failing' : ''), 'data-subscription': sub.id },
      h('h3', null, h('code', null, sub.id), sub.state === 'removing' ? h('span', { class: 'badge state-retired' }, 'being removed') : null),
      h('dl', null,
        h('dt', null, 'URL'), h('dd', null, h('code', null, sub.url)),
        h('dt', null, 'VO'), h('dd', null, sub.vo || '—'),
        h('dt', null, 'List version'), h('dd', null, sub.version || '—'),
        h('dt', null, 'Expires'), h('dd', null, sub.expires ? when(sub.expires, s.now) : '—'),
        h('dt', null, 'Last successful update'), h('dd', null, when(sub.lastSuccess, s.now)),
        h('dt', null, 'Endorsers'), h('dd', null, sub.endorsers.map(function (e) { return h('div', null, h('code', null, e.dn)); }))),
      sub.lastError ? errorBox(sub.lastError, 'The last update was refused') : h('div', { class: 'ok' }, 'The last update succeeded.'),
      sub.lapsedSince ? h('div', { class: 'error' }, h('strong', null, 'Its images are being withdrawn: the list lapsed ' + relative(sub.lapsedSince, s.now) + '.')) : null,
      h('div', { class: 'counts' }, counts.map(function (k) { return badge(k, sub.images[k] + ' ' + k); })),
      imgs.length
        ? table(['Image', 'Version', 'State', 'Size', 'Successors', 'Backends'],
          imgs.map(function (i) { return imageRow(i, byId, backendNames); }), 'images')
        : h('p', { class: 'muted' }, 'No images.'),
      appliances(sub, byId, s.now));
  }

  function backendsSection(s) {
    if (!s.backends.length) return null;
    return h('section', null, h('h2', null, 'Backends'),
      table(['Backend', 'Type', 'State', 'Problems'], s.backends.map(function (b) {
        var state = b.outbox
          ? b.outbox.pending + ' events waiting, ' + b.outbox.failed + ' given up, ' + b.outbox.done + ' done'
          : Object.keys(b.deliveries).map(function (k) { return b.deliveries[k] + ' ' + k; }).join(', ') || 'nothing delivered yet';
        var problem = b.outbox
          ? (b.outbox.lastError ? [errorBox(b.outbox.lastError), h('div', { class: 'muted' }, 'failing since ', when(b.outbox.oldestFailingSince, s.now))] : 'none')
          : (b.lastError ? [errorBox(b.lastError), h('div', { class: 'muted' }, b.failing + ' failing')] : 'none');
        return h('tr', null, h('td', null, b.name), h('td', null, b.type), h('td', null, state), h('td', null, problem));
      })));
  }

  function trustSection(s) {
    var t = s.trust;
    if (t.error) return h('section', null, h('h2', null, 'Trust store'), errorBox(t.error, t.location));
    var sum = t.summary;
    var stale = sum.crls.filter(function (c) { return c.stale; });
    return h('section', null, h('h2', null, 'Trust store'),
      h('p', null, h('code', null, sum.location), ': ' + sum.anchors + ' certificates, ' + sum.crls.length + ' CRLs, ' +
        stale.length + ' stale, ' + sum.expiredAnchors.length + ' expired certificates'),
      stale.length
        ? h('div', { class: 'error' }, h('strong', null, 'Stale revocation lists: lists signed under these authorities are refused until fetch-crl renews them.'),
          h('ul', null, stale.map(function (c) { return h('li', null, h('code', null, c.issuer), ' stale since ', when(c.nextUpdate, s.now)); })))
        : h('div', { class: 'ok' }, 'All revocation lists are current.'),
      sum.warnings.length ? h('details', null, h('summary', null, sum.warnings.length + ' unreadable files'),
        h('ul', null, sum.warnings.map(function (w) { return h('li', null, w); }))) : null);
  }

  function render(s) {
    var byId = {};
    s.images.forEach(function (i) { byId[i.id] = i; });
    var backendNames = s.backends.filter(function (b) { return b.deliveries; }).map(function (b) { return b.name; });
    document.title = 'vmicatcher: ' + s.health.status;
    var banner = document.getElementById('banner');
    banner.className = 'health-' + s.health.status;
    document.getElementById('health-status').textContent = s.health.status;
    document.getElementById('health-summary').textContent = s.health.summary;
    var d = s.daemon;
    var meta = document.getElementById('meta');
    meta.replaceChildren();
    append(meta, [
      'vmicatcher ' + s.version + ' · ' + s.home + ' · ',
      d && d.running
        ? ['daemon pid ' + d.pid + ', schedule ', h('code', null, d.schedule), d.nextCycleAt ? [', next cycle ', when(d.nextCycleAt, s.now)] : null,
          d.cycleRunning ? h('strong', null, ' · a cycle is running') : null]
        : 'daemon not running']);
    document.getElementById('content').replaceChildren(
      overview(s), problems(s) || '',
      h('section', null, h('h2', null, 'Subscriptions'),
        s.subscriptions.length ? s.subscriptions.map(function (sub) { return subscription(sub, s, byId, backendNames); })
          : h('p', null, 'No subscriptions yet: add one with vmicatcher subscribe.')),
      backendsSection(s) || '', trustSection(s));
    document.getElementById('updated').textContent = new Date().toLocaleTimeString();
  }

  function setConnection(text, bad) {
    var el = document.getElementById('connection');
    el.textContent = text;
    el.className = bad ? 'bad' : '';
  }

  function refresh() {
    fetch('api/v1/status', { cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (s) {
        render(s);
        setConnection('live, every ' + REFRESH_MS / 1000 + ' s', false);
      }, function (e) {
        setConnection('cannot reach the daemon (' + e.message + '); retrying', true);
      })
      .catch(function (e) {
        setConnection('cannot show the status (' + e.message + ')', true);
        throw e;
      })
      .finally(function () { window.setTimeout(refresh, REFRESH_MS); });
  }

  render(JSON.parse(document.getElementById('initial-status').textContent));
  setConnection('live, every ' + REFRESH_MS / 1000 + ' s', false);
  window.setTimeout(refresh, REFRESH_MS);
})();
`;
