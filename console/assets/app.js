// The console's pages. Everything shown is built with textContent (never
// HTML from data), every call goes to /api with the session's CSRF token,
// and every rule is the server's: a page the role may not use is refused
// by the gateway, not only hidden here. Every word shown comes from the
// message catalogue of the chosen language (/assets/i18n/<lang>.json, the
// files in i18n/ that the C++ code reads too).
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  let csrf = sessionStorage.getItem('dx.csrf') || '';
  let me = null;

  // ---- language ------------------------------------------------------

  const LANGS = ['vi', 'en'];
  const catalogues = { vi: {}, en: {} };
  // The person's choice (remembered in this browser); else the first of the
  // browser's languages that the console speaks; else Vietnamese.
  function chooseLanguage() {
    const saved = localStorage.getItem('dx.lang');
    if (LANGS.includes(saved)) return saved;
    for (const tag of navigator.languages || [navigator.language || '']) {
      const primary = String(tag).toLowerCase().split('-')[0];
      if (LANGS.includes(primary)) return primary;
    }
    return 'vi';
  }
  let lang = chooseLanguage();

  // The text of `key` in `l`, its {name}s replaced by `args` (a value is
  // inserted as given, never read for placeholders itself); English when
  // the language lacks the key, the key itself when both do.
  function tr(l, key, args) {
    let text = catalogues[l][key];
    if (text === undefined) text = catalogues.en[key];
    if (text === undefined) return key;
    return args ? text.replace(/\{([a-z_]+)\}/g,
      (m, name) => (Object.prototype.hasOwnProperty.call(args, name) ? String(args[name]) : m))
      : text;
  }
  const t = (key, args) => tr(lang, key, args);
  window.DxT = t;

  async function loadCatalogues() {
    await Promise.all(LANGS.map(async (l) => {
      try {
        const r = await fetch('/assets/i18n/' + l + '.json');
        if (r.ok) catalogues[l] = await r.json();
      } catch (e) { /* the keys show; the page still works */ }
    }));
  }

  // The page's fixed words: each element naming a key in data-i18n.
  function applyTexts() {
    document.documentElement.lang = lang;
    for (const e of document.querySelectorAll('[data-i18n]')) {
      e.textContent = t(e.getAttribute('data-i18n'));
    }
    for (const e of document.querySelectorAll('[data-i18n-title]')) {
      e.title = t(e.getAttribute('data-i18n-title'));
    }
    $('lang').value = lang;
  }

  // Times as Vietnam's (UTC+07:00 all year, no daylight saving), with the
  // offset written: "2026-12-07 14:05:09 +07:00".
  const VN_OFFSET_MS = 7 * 3600e3;
  const vnTime = (ms) => new Date(ms + VN_OFFSET_MS).toISOString()
    .replace('T', ' ').replace(/\.\d+Z$/, ' +07:00');

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else if (k === 'onclick') e.addEventListener('click', v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function clear(node) { while (node.firstChild) node.firstChild.remove(); }

  function showError(message) {
    const p = $('error');
    p.textContent = message || '';
    p.hidden = !message;
  }

  async function api(path, init) {
    const headers = Object.assign({ 'X-DX-CSRF': csrf }, init && init.headers);
    const r = await fetch(path, Object.assign({}, init, { headers }));
    let body = {};
    try { body = await r.json(); } catch (e) { body = {}; }
    if (!r.ok) {
      const err = new Error(body.message || (r.status + ' ' + r.statusText));
      err.status = r.status;
      err.code = body.code;
      throw err;
    }
    return body;
  }

  // A method of the gateway's gRPC services, e.g. 'dx.v1.Audit/Query'.
  function rpc(method, request) {
    return api('/api/rpc/' + method, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request || {}),
    });
  }

  // A datetime-local field is read as Vietnam's time, as it is shown.
  const micros = (input) => (input.value
    ? String(Date.parse(input.value + '+07:00') * 1000) : undefined);
  const timeOf = (us) => (us ? vnTime(Number(BigInt(us) / 1000n)) : '');
  const short = (s) => (s || '').replace(/^(DECISION|REASON|RECORD_KIND|OPERATION)_/, '').toLowerCase();
  const list = (xs) => (xs || []).join(', ');

  // The log keeps what consumers sent. A bidirectional control (U+202E
  // turns "gpj.exe" into "exe.jpg"), a zero-width character (two agency
  // codes that look the same) or a control character would make a view
  // lie: each is shown as <U+XXXX> (as dxctl does; common/visible_text.h).
  const HIDDEN = /[\u0000-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u180E\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u2069\u3164\uFEFF\uFFA0\u{E0000}-\u{E007F}]/gu;
  const visible = (s) => (s === undefined || s === null ? '' : String(s)).replace(HIDDEN,
    (c) => '<U+' + c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + '>');

  // Agency codes (QCVN 102:2016: digits, dots and capital letters), system
  // and dataset ids are ASCII: a letter past ASCII in one is shown as
  // <U+XXXX> too, so that a claim of a look-alike code (Cyrillic "Н" for
  // "H") never reads as the agency itself (as dxctl does; VisibleCode).
  const code = (s) => visible(s).replace(/[^\u0000-\u007F]/gu,
    (c) => '<U+' + c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + '>');

  // True when the names in a stored record are only what a request that the
  // gateway could not verify claimed (StoredRecord.attribution). The
  // record decides; the gateway's field can only make it stricter (an older
  // gateway sets none).
  function claimed(stored) {
    const x = stored.record;
    if (!x || stored.attribution === 'ATTRIBUTION_CLAIMED') return true;
    return !(x.identity_verified || x.decision === 'DECISION_ALLOW');
  }

  // Who a record names; a claim says so, and is never shown as the agency.
  function whoCell(stored, withSystem) {
    const x = stored.record || {};
    const who = code(x.consumer_agency
      ? x.consumer_agency + (withSystem && x.consumer_system ? '/' + x.consumer_system : '')
      : (x.tls_agency || ''));
    if (!claimed(stored)) return who;
    return el('span', { class: 'claim', 'data-claimed': 'true' },
      who ? t('console.claim.claimed_to_be', { who }) : t('console.claim.unknown_caller'));
  }

  // A table whose text cells show hidden characters visibly (the log's
  // views); rowClass names a row's class (e.g. a claim).
  function vtable(node, columns, rows, onRow, rowClass) {
    table(node, columns.map(([name, f]) => [name, (row) => {
      const v = f(row);
      return v instanceof Node ? v : visible(v);
    }]), rows, onRow, rowClass);
  }

  function table(node, columns, rows, onRow, rowClass) {
    clear(node);
    node.append(el('tr', {}, ...columns.map((c) => el('th', {}, c[0]))));
    for (const row of rows) {
      const cls = [onRow ? 'clickable' : '', rowClass ? rowClass(row) : ''].filter(Boolean).join(' ');
      const tr = el('tr', cls ? { class: cls } : {},
        ...columns.map((c) => {
          const v = c[1](row);
          return v instanceof Node ? el('td', {}, v) : el('td', {}, v);
        }));
      if (onRow) tr.addEventListener('click', () => onRow(row));
      node.append(tr);
    }
    if (rows.length === 0) {
      node.append(el('tr', {}, el('td', { colSpan: columns.length }, t('console.nothing_found'))));
    }
  }

  function decisionCell(d) {
    return el('span', { class: d === 'DECISION_ALLOW' ? 'allow' : 'deny' }, decisionText(d));
  }

  // A decision in words; a value the catalogue does not know shows as its
  // short code.
  function decisionText(d) {
    const key = 'console.decision.' + (d || 'DECISION_UNSPECIFIED');
    const text = t(key);
    return text === key ? short(d) : text;
  }

  // A column's heading: [key, cell] becomes [words, cell].
  const cols = (columns) => columns.map(([key, f]) => [t(key), f]);

  // ---- pages ---------------------------------------------------------

  const pages = ['signin', 'overview', 'audit', 'subject', 'policies'];
  const loaders = {};

  function showPage(name) {
    for (const p of pages) $('page-' + p).hidden = p !== name;
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.getAttribute('data-page') === name);
    }
  }

  async function route() {
    showError('');
    let name = location.hash.slice(1) || 'overview';
    if (!loaders[name]) name = 'overview';
    showPage(name);
    try { await loaders[name](); } catch (e) { showError(e.message); }
  }

  // Overview: this node, its log, and the last hour of the log.
  loaders.overview = async function () {
    const dl = (node, pairs) => {
      clear(node);
      for (const [k, v] of pairs) node.append(el('dt', {}, k), el('dd', {}, v));
    };
    let status = null;
    try { status = await rpc('dx.v1.Node/Status', {}); } catch (e) {
      $('ov-note').textContent = t('console.overview.node_status_error', { error: e.message });
    }
    if (status) {
      dl($('ov-node'), [
        [t('console.overview.node_id'), status.node_id],
        [t('console.overview.serving'), status.serving ? t('console.yes')
          : t('console.overview.not_serving', { reason: status.not_serving_reason || '' })],
        [t('console.field.policy_revision'), status.policy_revision || '0'],
        [t('console.overview.state'), status.state || ''],
      ]);
      const ageS = status.tree_head_unix_millis
        ? Math.round((Date.now() - Number(status.tree_head_unix_millis)) / 1000) : null;
      dl($('ov-log'), [
        [t('console.overview.records'), status.audit_records || '0'],
        [t('console.overview.tree_head'), ageS === null
          ? t('console.overview.tree_head_none', { size: status.tree_head_size || '0' })
          : t('console.overview.tree_head_age', { size: status.tree_head_size || '0', age: ageS })],
      ]);
      const now = Date.now() / 1000;
      table($('ov-certs'), cols([
        ['console.certs.what', (x) => x.what], ['console.certs.subject', (x) => x.subject],
        ['console.certs.expires', (x) => vnTime(Number(x.not_after_unix) * 1000).slice(0, 10)],
        ['console.certs.days_left', (x) => String(Math.floor((Number(x.not_after_unix) - now) / 86400))],
      ]), status.expiries || []);
    }
    const to = Date.now() * 1000;
    const from = to - 3600e6;
    let r;
    try {
      r = await rpc('dx.v1.Audit/Query', {
        from_unix_micros: String(from), to_unix_micros: String(to), page_size: 10000,
      });
    } catch (e) {
      // Not every role reads the log (the gateway decides): say so here.
      $('ov-note').textContent = t('console.overview.traffic_error', { error: e.message });
      return;
    }
    const stored = (r.messages || []).filter((m) => m.record).map((m) => m.record)
      .filter((s) => s.record && (s.record.kind === 'RECORD_KIND_EXCHANGE' ||
        s.record.kind === 'RECORD_KIND_STREAM_END'));
    const records = stored.map((s) => s.record);
    const more = (r.messages || []).some((m) => m.next_page_token);
    // A claim's row is keyed apart from the agency's own (a prefix no code
    // holds), and shown as a claim.
    const CLAIM = '\u0000claim:';
    const byMinute = new Map();
    const reasons = new Map(), consumers = new Map(), datasets = new Map();
    const bump = (m, k) => m.set(k, (m.get(k) || 0) + 1);
    let claims = 0;
    for (const s of stored) {
      const x = s.record;
      const minute = timeOf(x.time_unix_micros).slice(0, 16);
      const cur = byMinute.get(minute) || { minute, allowed: 0, refused: 0, failed: 0 };
      if (x.decision === 'DECISION_ALLOW') cur.allowed++;
      else if (x.decision === 'DECISION_DENY') { cur.refused++; bump(reasons, short(x.reason)); }
      else cur.failed++;
      byMinute.set(minute, cur);
      // An agency is counted only for what it was proven to send; a claim
      // of its name is counted apart, marked.
      if (claimed(s)) {
        claims++;
        bump(consumers, CLAIM + code(x.consumer_agency || x.tls_agency || '?'));
      } else {
        bump(consumers, code(x.consumer_agency || ''));
      }
      bump(datasets, x.dataset_id || '');
    }
    vtable($('ov-minutes'), cols([['console.overview.minute', (x) => x.minute],
      ['console.overview.allowed', (x) => String(x.allowed)],
      ['console.overview.refused', (x) => String(x.refused)],
      ['console.overview.failed', (x) => String(x.failed)]]),
    [...byMinute.values()].sort((a, b) => (a.minute < b.minute ? 1 : -1)).slice(0, 60));
    const top = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    vtable($('ov-reasons'), cols([['console.field.reason', (x) => x[0]],
      ['console.overview.refusals', (x) => String(x[1])]]), top(reasons));
    const isClaim = (x) => x[0].startsWith(CLAIM);
    vtable($('ov-consumers'), cols([['console.overview.agency', (x) => (isClaim(x)
      ? t('console.claim.claimed_to_be', { who: x[0].slice(CLAIM.length) }) : x[0])],
    ['console.overview.exchanges', (x) => String(x[1])]]),
    top(consumers), null, (x) => (isClaim(x) ? 'claimed' : ''));
    $('ov-claims').textContent = claims ? t('console.overview.claims_note', { count: claims }) : '';
    vtable($('ov-datasets'), cols([['console.field.dataset', (x) => x[0]],
      ['console.overview.exchanges', (x) => String(x[1])]]), top(datasets));
    // Each provider's adapter: its address from the registry, and what the
    // hour's exchanges met there (an error is the gateway's verdict on the
    // adapter: unreachable, too slow, or a bad answer).
    let registered = [], successions = [];
    try {
      const reg = await rpc('dx.v1.RegistryAdmin/Get', {});
      registered = ((reg.registry || {}).datasets || []);
      successions = ((reg.registry || {}).successions || []);
    } catch (e) {
      registered = [];
    }
    // The lineage of merged agencies (registry successions), and where each
    // stands now: an old code is refused from its effective date, after
    // its grace period (POLICY.md#succession-of-agencies).
    const nowMs = Date.now();
    vtable($('ov-successions'), cols([
      ['console.succession.old_code', (s) => code(s.agency || '')],
      ['console.succession.successors', (s) => (s.successors || []).map(code).join(', ')],
      ['console.succession.effective', (s) => s.effective || ''],
      ['console.succession.grace_until', (s) => s.grace_until || ''],
      ['console.succession.now', (s) => {
        const refused = nowMs >= Date.parse(s.effective)
          && !(s.grace_until && nowMs < Date.parse(s.grace_until));
        const state = nowMs < Date.parse(s.effective) ? t('console.succession.state.not_yet')
          : (refused ? t('console.succession.state.refused')
            : t('console.succession.state.in_grace'));
        return el('span', { class: refused ? 'deny' : 'allow' }, state);
      }],
      ['console.field.legal_basis', (s) => s.legal_basis || ''],
    ]), successions);
    const seen = new Map();
    for (const x of records) {
      const k = x.dataset_id || '';
      const s = seen.get(k) || { served: 0, failed: 0, lastOk: '', lastFail: null };
      if (x.decision === 'DECISION_ALLOW') {
        s.served++;
        s.lastOk = timeOf(x.time_unix_micros);
      } else if (x.decision === 'DECISION_ERROR') {
        s.failed++;
        s.lastFail = x;
      }
      seen.set(k, s);
    }
    const adapterRows = registered.map((d) => Object.assign({ d }, seen.get(d.id) ||
      { served: 0, failed: 0, lastOk: '', lastFail: null }));
    vtable($('ov-adapters'), cols([
      ['console.field.dataset', (r) => r.d.id], ['console.adapters.provider', (r) => r.d.provider_agency || ''],
      ['console.adapters.adapter', (r) => (r.d.adapter || {}).address || ''],
      ['console.overview.state', (r) => {
        const state = r.failed === 0 ? (r.served ? 'answering' : 'idle')
          : (r.lastOk && r.lastFail && r.lastOk > timeOf(r.lastFail.time_unix_micros)
            ? 'answering_again' : 'failing');
        return el('span', { class: state === 'failing' ? 'deny' : 'allow', 'data-state': state },
          t('console.adapters.' + state));
      }],
      ['console.adapters.served', (r) => String(r.served)], ['console.adapters.failed', (r) => String(r.failed)],
      ['console.adapters.last_failure', (r) => (r.lastFail ? timeOf(r.lastFail.time_unix_micros) + ' ' +
        short(r.lastFail.reason) + ': ' + (r.lastFail.message || '') : '')],
    ]), adapterRows);
    if (more) {
      $('ov-note').textContent = t('console.overview.more_than_cap');
    }
  };

  // Audit search.
  let nextToken = '';
  let shownRecord = null;

  function auditQuery() {
    const q = { page_size: 50 };
    const put = (k, v) => { if (v) q[k] = v; };
    put('request_id', $('q-request-id').value.trim());
    put('consumer_agency', $('q-consumer').value.trim());
    if ($('q-lineage').checked && q.consumer_agency) q.consumer_lineage = true;
    put('provider_agency', $('q-provider').value.trim());
    put('dataset_id', $('q-dataset').value.trim());
    put('decision', $('q-decision').value);
    put('data_subject_id', $('q-subject').value.trim());
    put('from_unix_micros', micros($('q-from')));
    put('to_unix_micros', micros($('q-to')));
    return q;
  }

  let rows = [];
  // A search started later wins: an earlier one's answer, arriving after
  // it, is dropped instead of replacing the newer results.
  let searchesStarted = 0;
  async function search(more) {
    const mine = ++searchesStarted;
    const q = auditQuery();
    if (more) q.page_token = nextToken;
    const r = await rpc('dx.v1.Audit/Query', q);
    if (mine !== searchesStarted) return;
    if (!more) rows = [];
    nextToken = '';
    for (const m of r.messages || []) {
      if (m.record) rows.push(m.record);
      if (m.next_page_token) nextToken = m.next_page_token;
    }
    $('q-more').hidden = !nextToken;
    vtable($('audit-results'), cols([
      ['console.field.seq', (s) => s.sequence_number || '0'],
      ['console.field.time', (s) => timeOf((s.record || {}).time_unix_micros)],
      ['console.field.kind', (s) => short((s.record || {}).kind)],
      ['console.field.consumer_or_actor', (s) => whoCell(s, false)],
      ['console.field.dataset', (s) => (s.record || {}).dataset_id || ''],
      ['console.field.request_id', (s) => (s.record || {}).request_id || ''],
      ['console.field.purpose', (s) => (s.record || {}).purpose_code || ''],
      ['console.field.decision', (s) => decisionCell((s.record || {}).decision)],
      ['console.field.reason', (s) => short((s.record || {}).reason)],
    ]), rows, showRecord, (s) => (claimed(s) ? 'claimed' : ''));
  }

  function showRecord(stored) {
    shownRecord = stored;
    const x = stored.record || {};
    $('record').hidden = false;
    $('rec-seq').textContent = '#' + (stored.sequence_number || '0');
    // [the field's stable name (data-field, the same in every language),
    // its label's key, its value].
    const pairs = [
      ['kind', 'console.field.kind', short(x.kind)],
      ['time', 'console.field.time', timeOf(x.time_unix_micros)],
      ['node', 'console.field.node', x.node_id],
      x.kind === 'RECORD_KIND_ADMIN' ? ['actor', 'console.field.actor', x.tls_agency]
        : ['TLS identity', 'console.field.tls_identity', x.tls_agency],
      ['consumer agency', 'console.field.consumer_agency', x.consumer_agency],
      ['consumer system', 'console.field.consumer_system', x.consumer_system],
      ['provider agency', 'console.field.provider_agency', x.provider_agency],
      ['dataset', 'console.field.dataset', x.dataset_id],
      ['operation', 'console.field.operation', short(x.operation)],
      ['request id', 'console.field.request_id', x.request_id],
      ['purpose', 'console.field.purpose', x.purpose_code],
      ['legal basis', 'console.field.legal_basis', x.legal_basis],
      ['consent reference', 'console.field.consent_reference', x.consent_reference],
      ['decision', 'console.field.decision', x.decision ? decisionText(x.decision) : ''],
      ['reason', 'console.field.reason', short(x.reason)],
      ['message', 'console.field.message', x.message],
      ['policy rule', 'console.field.policy_rule', x.policy_rule_id],
      ['policy revision', 'console.field.policy_revision', x.policy_version],
      ['requested fields', 'console.field.requested_fields', list(x.requested_fields)],
      ['returned fields', 'console.field.returned_fields', list(x.returned_fields)],
      ['masked fields', 'console.field.masked_fields', list(x.masked_fields)],
      ['row filter', 'console.field.row_filter', x.row_filter],
      ['records returned', 'console.field.records_returned', x.record_count || '0'],
      ['admin action', 'console.field.admin_action', x.admin_action],
      ['identity verified', 'console.field.identity_verified',
        x.identity_verified ? t('console.yes') : t('console.no')],
      ['peer', 'console.field.peer', x.peer],
    ];
    // What the consumer sent: claims of an unknown caller when the record
    // is not verified, the agency's own declaration when it is.
    const isClaim = claimed(stored);
    const sent = new Set(['TLS identity', 'consumer agency', 'consumer system', 'dataset',
      'operation', 'request id', 'purpose', 'legal basis', 'consent reference',
      'requested fields']);
    const declared = new Set(['purpose', 'legal basis', 'consent reference']);
    const codes = new Set(['TLS identity', 'consumer agency', 'consumer system',
      'provider agency', 'dataset', 'node']);
    const banner = $('rec-claim');
    banner.hidden = !isClaim;
    banner.textContent = isClaim ? t('console.record.claim_banner') : '';
    const dl = $('rec-fields');
    clear(dl);
    for (const [k, key, v] of pairs) {
      if (!v) continue;
      const label = x.kind === 'RECORD_KIND_ADMIN' ? t(key) : isClaim && sent.has(k)
        ? t('console.record.claimed_label', { label: t(key) }) : declared.has(k)
          ? t('console.record.declared_label', { label: t(key) }) : t(key);
      dl.append(el('dt', {}, label),
        el('dd', Object.assign({ 'data-field': k }, isClaim && sent.has(k)
          ? { class: 'claim', 'data-claimed': 'true' } : {}), codes.has(k) ? code(v) : visible(v)));
    }
    $('proof-result').hidden = true;
    clear($('proof-steps'));
    $('record').scrollIntoView();
  }

  function showPin() {
    const pin = localStorage.getItem('dx.logKeyPin') || '';
    $('pin-input').value = pin;
    $('pin-state').textContent = pin ? t('console.proof.pinned') : t('console.proof.no_pin');
  }

  async function verifyShown() {
    const stored = shownRecord;
    const out = $('proof-result');
    out.hidden = false;
    out.className = 'proof';
    out.removeAttribute('data-result');
    out.textContent = t('console.proof.verifying');
    clear($('proof-steps'));
    let result;
    try {
      const proof = await rpc('dx.v1.Audit/GetInclusionProof',
        { sequence_number: stored.sequence_number || '0' });
      result = await window.DxVerify.verifyInclusion(stored, proof,
        localStorage.getItem('dx.logKeyPin') || '');
    } catch (e) {
      out.className = 'proof bad';
      out.textContent = t('console.proof.failed_error', { error: e.message });
      out.setAttribute('data-result', 'failed');
      return;
    }
    for (const s of result.steps) {
      $('proof-steps').append(el('li', { class: s.ok ? 'allow' : 'deny' },
        (s.ok ? '✔ ' : '✘ ') + s.text));
    }
    if (!result.ok) {
      out.className = 'proof bad';
      out.textContent = t('console.proof.failed');
    } else if (result.pin !== 'match') {
      out.className = 'proof warn';
      out.textContent = t('console.proof.unpinned');
    } else {
      out.className = 'proof ok';
      out.textContent = t('console.proof.verified');
    }
    out.setAttribute('data-result', result.ok ? (result.pin === 'match' ? 'verified' : 'unpinned') : 'failed');
  }

  async function exportRange() {
    const from = micros($('q-from')), to = micros($('q-to'));
    if (!from || !to) throw new Error(t('console.audit.export_needs_range'));
    const first = await rpc('dx.v1.Audit/Query', { from_unix_micros: from, page_size: 1 });
    const after = await rpc('dx.v1.Audit/Query', { from_unix_micros: to, page_size: 1 });
    const seqOf = (r) => ((r.messages || []).find((m) => m.record) || {}).record;
    const a = seqOf(first), b = seqOf(after);
    if (!a) throw new Error(t('console.audit.export_empty'));
    const chunks = await rpc('dx.v1.Audit/Export', {
      from_sequence: a.sequence_number || '0',
      to_sequence: b ? (b.sequence_number || '0') : '0',
    });
    const msgs = chunks.messages || [];
    const bundle = Object.assign({}, msgs[0] || {});
    bundle.entries = [].concat(...msgs.map((m) => m.entries || []));
    const blob = new Blob([JSON.stringify(bundle, null, 1)], { type: 'application/json' });
    const link = el('a', { href: URL.createObjectURL(blob), download: 'audit-bundle.json' });
    document.body.append(link);
    link.click();
    link.remove();
  }

  loaders.audit = async function () { showPin(); };

  // Subject report.
  loaders.subject = async function () {};
  async function subjectReport() {
    const id = $('s-subject').value.trim();
    if (!id) throw new Error(t('console.subject.needs_id'));
    const req = { data_subject_id: id };
    const f = micros($('s-from')), to = micros($('s-to'));
    if (f) req.from_unix_micros = f;
    if (to) req.to_unix_micros = to;
    const r = await rpc('dx.v1.Audit/SubjectReport', req);
    const isPush = (s) => s.record.kind === 'RECORD_KIND_SUBSCRIPTION_BATCH';
    // A subscription's batch names no one: it carried this person's record
    // among others' changes; listed apart from the requests.
    const pushed = (r.messages || []).filter((s) => s.record && isPush(s));
    const all = (r.messages || []).filter((s) => s.record && !isPush(s));
    // Requests whose agency the gateway verified, apart from attempts that
    // only claimed one: a claim is never an access by the agency it names.
    const verified = all.filter((s) => !claimed(s));
    const claims = all.filter((s) => claimed(s));
    const served = verified.filter((s) => s.record.decision === 'DECISION_ALLOW').length;
    vtable($('subject-results'), cols([
      ['console.field.time', (s) => timeOf(s.record.time_unix_micros)],
      ['console.overview.agency', (s) => code(s.record.consumer_agency || '')],
      ['console.subject.system', (s) => code(s.record.consumer_system || '')],
      ['console.field.dataset', (s) => s.record.dataset_id || ''],
      ['console.subject.declared_purpose', (s) => s.record.purpose_code || ''],
      ['console.subject.declared_legal_basis', (s) => s.record.legal_basis || ''],
      ['console.field.decision', (s) => decisionCell(s.record.decision)],
      ['console.subject.fields_returned', (s) => list(s.record.returned_fields)],
      ['console.field.request_id', (s) => s.record.request_id || ''],
    ]), verified);
    vtable($('subject-claims'), cols([
      ['console.field.time', (s) => timeOf(s.record.time_unix_micros)],
      ['console.subject.who', (s) => whoCell(s, true)],
      // Who really connected, as far as the gateway saw: the agency the TLS
      // client certificate names (checked or not: see the record).
      ['console.subject.tls_names', (s) => code(s.record.tls_agency || '')],
      ['console.subject.dataset_asked', (s) => s.record.dataset_id || ''],
      ['console.subject.claimed_purpose', (s) => s.record.purpose_code || ''],
      ['console.subject.claimed_legal_basis', (s) => s.record.legal_basis || ''],
      ['console.field.decision', (s) => decisionCell(s.record.decision)],
      ['console.field.reason', (s) => short(s.record.reason)],
      ['console.subject.claimed_request_id', (s) => s.record.request_id || ''],
    ]), claims, null, () => 'claimed');
    vtable($('subject-pushed'), cols([
      ['console.field.time', (s) => timeOf(s.record.time_unix_micros)],
      ['console.overview.agency', (s) => code(s.record.consumer_agency || '')],
      ['console.subject.system', (s) => code(s.record.consumer_system || '')],
      ['console.field.dataset', (s) => s.record.dataset_id || ''],
      ['console.subject.declared_purpose', (s) => s.record.purpose_code || ''],
      ['console.subject.fields_returned', (s) => list(s.record.returned_fields)],
      ['console.subject.subscription', (s) => code(s.record.subscription_id || '')],
    ]), pushed);
    const day = vnTime(Date.now()).slice(0, 10);
    $('s-summary').textContent = t('console.subject.summary', {
      served, refused: verified.length - served, claims: claims.length,
      pushed: pushed.length, day,
    });
  }

  // Policies.
  loaders.policies = async function () {
    const isAdmin = me && me.role === 'policy-admin';
    $('apply-form').hidden = !isAdmin;
    const l = await rpc('dx.v1.PolicyAdmin/List', {});
    $('pol-revision').textContent = (l.revision || '0') +
      (l.pending_changes ? t('console.policies.waiting', { count: l.pending_changes }) : '');
    const box = $('pol-datasets');
    clear(box);
    for (const d of l.datasets || []) {
      box.append(el('h2', {}, d.dataset + ' (' + (d.provider_agency || '') + ', ' +
        (d.category || '') + ')' + (d.two_person_rule ? t('console.policies.two_person') : '')));
      const g = await rpc('dx.v1.PolicyAdmin/Get', { dataset: d.dataset });
      const ds = ((g.document || {}).datasets || []).find((x) => x.dataset === d.dataset) || {};
      const grants = el('table', { class: 'data' });
      table(grants, cols([
        ['console.policies.grant', (x) => x.id || ''], ['console.policies.consumers', (x) => list(x.consumers)],
        ['console.policies.purposes', (x) => list(x.purposes)],
        ['console.field.legal_basis', (x) => x.legal_basis || ''],
        ['console.policies.operations', (x) => (x.operations || []).map(short).join(', ')],
        ['console.policies.fields', (x) => list(x.fields)],
        ['console.policies.masks', (x) => (x.masks || []).map((m) => m.field + ': ' + short(m.kind)).join(', ')],
        ['console.field.row_filter', (x) => x.row_filter || ''],
        ['console.policies.valid', (x) => (x.valid_from || x.valid_until
          ? t('console.policies.valid_range', { from: x.valid_from || '…', to: x.valid_until || '…' })
          : t('console.policies.always'))],
        ['console.policies.quota', (x) => (x.quota ? t('console.policies.quota_value', {
          per_minute: x.quota.requests_per_minute || '-', per_day: x.quota.records_per_day || '-',
        }) : '')],
      ]), ds.grants || []);
      box.append(grants);
      if ((ds.forbids || []).length) {
        const forbids = el('table', { class: 'data' });
        table(forbids, cols([['console.policies.forbid', (x) => x.id || ''],
          ['console.policies.consumers', (x) => list(x.consumers)],
          ['console.policies.purposes', (x) => list(x.purposes)],
          ['console.policies.fields', (x) => list(x.fields)],
          ['console.field.reason', (x) => x.reason || '']]), ds.forbids);
        box.append(forbids);
      }
    }
    const p = await rpc('dx.v1.PolicyAdmin/ListPending', {});
    const pending = $('pol-pending');
    table(pending, cols([
      ['console.policies.id', (c) => c.id], ['console.policies.proposed_by', (c) => c.proposer],
      ['console.field.time', (c) => timeOf(c.time_unix_micros)],
      ['console.policies.comment_column', (c) => c.comment || ''],
      ['console.policies.datasets', (c) => list(c.protected_datasets)],
      ['console.policies.decide', (c) => {
        const comment = el('input', { size: 24, placeholder: t('console.policies.comment_column'), 'data-pending': c.id });
        const decide = (method) => async () => {
          try {
            await rpc('dx.v1.PolicyAdmin/' + method, { pending_id: c.id, comment: comment.value });
            await loaders.policies();
          } catch (e) { showError(e.message); }
        };
        return el('span', {}, comment,
          el('button', { type: 'button', class: 'approve', 'data-pending': c.id, onclick: decide('Approve') },
            t('console.policies.approve')),
          el('button', { type: 'button', class: 'reject', 'data-pending': c.id, onclick: decide('Reject') },
            t('console.policies.reject')));
      }],
    ]), p.changes || []);
    const h = await rpc('dx.v1.PolicyAdmin/History', { limit: 20 });
    table($('pol-history'), cols([
      ['console.policies.revision_column', (r) => r.revision], ['console.field.time', (r) => timeOf(r.time_unix_micros)],
      ['console.policies.author', (r) => r.author || ''], ['console.policies.approved_by', (r) => r.approved_by || ''],
      ['console.policies.action', (r) => r.action || ''], ['console.policies.changed', (r) => list(r.changed)],
      ['console.policies.comment_column', (r) => r.comment || ''],
    ]), h.revisions || []);
  };

  function showProblems(messages) {
    const ul = $('apply-problems');
    clear(ul);
    for (const m of messages || []) {
      ul.append(el('li', { class: m.severity === 'error' ? 'deny' : '' },
        t('console.policies.severity.' + (m.severity === 'error' ? 'error' : 'warning')) + ': ' + m.text));
    }
  }

  async function validatePolicy() {
    const r = await rpc('dx.v1.PolicyAdmin/Validate',
      { yaml: $('apply-yaml').value, source_name: 'console' });
    showProblems(r.messages);
    if (r.ok && !(r.messages || []).length) {
      $('apply-problems').append(el('li', { class: 'allow' }, t('console.policies.valid_document')));
    }
    return r.ok;
  }

  async function applyPolicy() {
    const comment = $('apply-comment').value.trim();
    if (!comment) throw new Error(t('console.policies.comment_required'));
    if (!(await validatePolicy())) throw new Error(t('console.policies.has_errors'));
    const r = await rpc('dx.v1.PolicyAdmin/Apply',
      { yaml: $('apply-yaml').value, source_name: 'console', comment });
    showProblems(r.messages);
    $('apply-problems').append(el('li', { class: 'allow', id: 'apply-result' },
      r.pending_id ? t('console.policies.waiting_second', { id: r.pending_id })
        : t('console.policies.in_force', { revision: r.revision })));
    await loaders.policies();
  }

  async function explain() {
    const fields = $('x-fields').value.split(',').map((s) => s.trim()).filter(Boolean);
    // Key names as the request's query writes them; a value after '=' is ignored.
    const query_keys = $('x-query').value.split(',').map((s) => s.split('=')[0].trim())
      .filter(Boolean);
    const r = await rpc('dx.v1.PolicyAdmin/Explain', {
      consumer_agency: $('x-consumer').value.trim(), dataset: $('x-dataset').value.trim(),
      purpose_code: $('x-purpose').value.trim(), fields, query_keys,
    });
    const pre = $('x-result');
    pre.hidden = false;
    const line = (key, v) => t(key) + ': ' + v + '\n';
    pre.textContent = t(r.allowed ? 'console.explain.allowed' : 'console.explain.refused',
      { revision: r.revision || '0' }) + '\n' +
      (!r.allowed && r.reason ? line('console.explain.reason', r.reason) : '') +
      (r.rule_id ? line('console.explain.rule', r.rule_id) : '') +
      (r.legal_basis ? line('console.explain.legal_basis', r.legal_basis) : '') +
      (r.fields ? line('console.explain.fields_line', list(r.fields)) : '') +
      (r.message ? r.message + '\n' : '') + (r.trace || []).join('\n');
  }

  async function diff() {
    const r = await rpc('dx.v1.PolicyAdmin/Diff', {
      from_revision: $('diff-from').value.trim() || '0', to_revision: $('diff-to').value.trim() || '0',
    });
    $('pol-diff').hidden = false;
    $('pol-diff').textContent = r.diff || t('console.policies.no_difference');
  }

  // ---- sign-in -------------------------------------------------------

  async function startSession(path, body) {
    const r = await fetch(path, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(j.message || t('console.signin.refused'));
      err.code = j.code;
      err.actor = j.actor;
      throw err;
    }
    csrf = j.csrf_token;
    sessionStorage.setItem('dx.csrf', csrf);
  }

  const guard = (f) => async (ev) => {
    if (ev) ev.preventDefault();
    showError('');
    try { await f(); } catch (e) { showError(e.message); }
  };

  async function main() {
    $('origin').textContent = location.origin;
    $('cert-sign-in').addEventListener('click', guard(async () => {
      await startSession('/api/session/certificate');
      location.hash = '#overview';
      await main();
    }));
    const m = location.hash.match(/^#sign-in=([A-Za-z0-9_-]+)$/);
    if (m) {
      history.replaceState(null, '', '/#overview');
      try { await startSession('/api/session', { code: m[1] }); } catch (e) {
        // Someone is signed in in this browser: the link replaces them
        // only if the person says so.
        if (e.code !== 'SESSION_EXISTS') {
          showError(e.message);
        } else if (window.confirm(t('console.signin.replace_question', { actor: e.actor }))) {
          try { await startSession('/api/session', { code: m[1], replace: true }); } catch (e2) {
            showError(e2.message);
          }
        } else {
          showError(t('console.signin.kept', { actor: e.actor }));
        }
      }
    }
    try { me = await api('/api/me'); } catch (e) {
      me = null;
      showPage('signin');
      return;
    }
    $('who').textContent = me.actor;
    $('nav').hidden = false;
    $('sign-out').hidden = false;
    await route();
  }

  document.addEventListener('DOMContentLoaded', async () => {
    await loadCatalogues();
    applyTexts();
    // Switching reloads the page in the other language: the session and
    // the page (the hash) stay; what a page showed is fetched again.
    $('lang').addEventListener('change', () => {
      localStorage.setItem('dx.lang', $('lang').value);
      location.reload();
    });
    window.addEventListener('hashchange', route);
    $('audit-form').addEventListener('submit', guard(() => search(false)));
    $('q-more').addEventListener('click', guard(() => search(true)));
    $('q-export').addEventListener('click', guard(exportRange));
    $('verify-proof').addEventListener('click', guard(verifyShown));
    $('pin-save').addEventListener('click', guard(async () => {
      const pin = window.DxVerify.normalizePin($('pin-input').value);
      if (pin && pin.length !== 64) throw new Error(t('console.proof.pin_length'));
      if (pin) localStorage.setItem('dx.logKeyPin', pin);
      else localStorage.removeItem('dx.logKeyPin');
      showPin();
    }));
    $('subject-form').addEventListener('submit', guard(subjectReport));
    $('s-print').addEventListener('click', () => window.print());
    $('apply-form').addEventListener('submit', guard(applyPolicy));
    $('apply-validate').addEventListener('click', guard(validatePolicy));
    $('apply-file').addEventListener('change', guard(async () => {
      const file = $('apply-file').files[0];
      if (file) $('apply-yaml').value = await file.text();
    }));
    $('explain-form').addEventListener('submit', guard(explain));
    $('diff-form').addEventListener('submit', guard(diff));
    $('sign-out').addEventListener('click', guard(async () => {
      await api('/api/sign-out', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      sessionStorage.removeItem('dx.csrf');
      location.hash = '';
      location.reload();
    }));
    main();
  });
})();
