// The console's pages. Everything shown is built with textContent (never
// HTML from data), every call goes to /api with the session's CSRF token,
// and every rule is the server's: a page the role may not use is refused
// by the gateway, not only hidden here.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  let csrf = sessionStorage.getItem('dx.csrf') || '';
  let me = null;

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

  const micros = (input) => (input.value
    ? String(Date.parse(input.value + 'Z') * 1000) : undefined);
  const timeOf = (us) => (us ? new Date(Number(BigInt(us) / 1000n))
    .toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
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
      who ? 'claimed to be ' + who + ', not verified' : 'unknown caller, not verified');
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
      node.append(el('tr', {}, el('td', { colSpan: columns.length }, 'nothing found')));
    }
  }

  function decisionCell(d) {
    return el('span', { class: d === 'DECISION_ALLOW' ? 'allow' : 'deny' }, short(d));
  }

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
      $('ov-note').textContent = 'Node status: ' + e.message;
    }
    if (status) {
      dl($('ov-node'), [
        ['node', status.node_id],
        ['serving', status.serving ? 'yes' : 'NO: ' + (status.not_serving_reason || '')],
        ['policy revision', status.policy_revision || '0'],
        ['state', status.state || ''],
      ]);
      const ageS = status.tree_head_unix_millis
        ? Math.round((Date.now() - Number(status.tree_head_unix_millis)) / 1000) : null;
      dl($('ov-log'), [
        ['records', status.audit_records || '0'],
        ['last signed tree head', (status.tree_head_size || '0') + ' records, ' +
          (ageS === null ? 'none yet' : ageS + ' s ago')],
      ]);
      const now = Date.now() / 1000;
      table($('ov-certs'), [
        ['what', (x) => x.what], ['subject', (x) => x.subject],
        ['expires', (x) => new Date(Number(x.not_after_unix) * 1000).toISOString().slice(0, 10)],
        ['days left', (x) => String(Math.floor((Number(x.not_after_unix) - now) / 86400))],
      ], status.expiries || []);
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
      $('ov-note').textContent = 'Traffic of the last hour: ' + e.message;
      return;
    }
    const stored = (r.messages || []).filter((m) => m.record).map((m) => m.record)
      .filter((s) => s.record && (s.record.kind === 'RECORD_KIND_EXCHANGE' ||
        s.record.kind === 'RECORD_KIND_STREAM_END'));
    const records = stored.map((s) => s.record);
    const more = (r.messages || []).some((m) => m.next_page_token);
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
        bump(consumers, 'claimed to be ' + code(x.consumer_agency || x.tls_agency || '?') + ', not verified');
      } else {
        bump(consumers, code(x.consumer_agency || ''));
      }
      bump(datasets, x.dataset_id || '');
    }
    vtable($('ov-minutes'), [['minute (UTC)', (x) => x.minute], ['allowed', (x) => String(x.allowed)],
      ['refused', (x) => String(x.refused)], ['failed', (x) => String(x.failed)]],
    [...byMinute.values()].sort((a, b) => (a.minute < b.minute ? 1 : -1)).slice(0, 60));
    const top = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    vtable($('ov-reasons'), [['reason', (x) => x[0]], ['refusals', (x) => String(x[1])]], top(reasons));
    vtable($('ov-consumers'), [['agency', (x) => x[0]], ['exchanges', (x) => String(x[1])]],
      top(consumers), null, (x) => (x[0].startsWith('claimed to be ') ? 'claimed' : ''));
    $('ov-claims').textContent = claims
      ? claims + ' refused request(s) whose agency could not be verified: they are counted ' +
        'under "claimed to be …", never as exchanges of the agency they name.' : '';
    vtable($('ov-datasets'), [['dataset', (x) => x[0]], ['exchanges', (x) => String(x[1])]], top(datasets));
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
    vtable($('ov-successions'), [
      ['old code', (s) => code(s.agency || '')],
      ['successors', (s) => (s.successors || []).map(code).join(', ')],
      ['effective', (s) => s.effective || ''],
      ['grace until', (s) => s.grace_until || ''],
      ['now', (s) => {
        const state = nowMs < Date.parse(s.effective) ? 'not yet'
          : (s.grace_until && nowMs < Date.parse(s.grace_until) ? 'in grace: served, marked'
            : 'refused');
        return el('span', { class: state === 'refused' ? 'deny' : 'allow' }, state);
      }],
      ['legal basis', (s) => s.legal_basis || ''],
    ], successions);
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
    vtable($('ov-adapters'), [
      ['dataset', (r) => r.d.id], ['provider', (r) => r.d.provider_agency || ''],
      ['adapter', (r) => (r.d.adapter || {}).address || ''],
      ['state', (r) => {
        const state = r.failed === 0 ? (r.served ? 'answering' : 'no exchange')
          : (r.lastOk && r.lastFail && r.lastOk > timeOf(r.lastFail.time_unix_micros)
            ? 'answering again' : 'FAILING');
        return el('span', { class: state === 'FAILING' ? 'deny' : 'allow' }, state);
      }],
      ['served', (r) => String(r.served)], ['failed', (r) => String(r.failed)],
      ['last failure', (r) => (r.lastFail ? timeOf(r.lastFail.time_unix_micros) + ' ' +
        short(r.lastFail.reason) + ': ' + (r.lastFail.message || '') : '')],
    ], adapterRows);
    if (more) {
      $('ov-note').textContent = 'More than 10,000 exchanges in the hour: the tables count the first 10,000.';
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
    vtable($('audit-results'), [
      ['#', (s) => s.sequence_number || '0'],
      ['time (UTC)', (s) => timeOf((s.record || {}).time_unix_micros)],
      ['kind', (s) => short((s.record || {}).kind)],
      ['consumer / actor', (s) => whoCell(s, false)],
      ['dataset', (s) => (s.record || {}).dataset_id || ''],
      ['request id', (s) => (s.record || {}).request_id || ''],
      ['purpose', (s) => (s.record || {}).purpose_code || ''],
      ['decision', (s) => decisionCell((s.record || {}).decision)],
      ['reason', (s) => short((s.record || {}).reason)],
    ], rows, showRecord, (s) => (claimed(s) ? 'claimed' : ''));
  }

  function showRecord(stored) {
    shownRecord = stored;
    const x = stored.record || {};
    $('record').hidden = false;
    $('rec-seq').textContent = '#' + (stored.sequence_number || '0');
    const pairs = [
      ['kind', short(x.kind)], ['time (UTC)', timeOf(x.time_unix_micros)],
      ['node', x.node_id],
      [x.kind === 'RECORD_KIND_ADMIN' ? 'actor' : 'TLS identity', x.tls_agency],
      ['consumer agency', x.consumer_agency],
      ['consumer system', x.consumer_system], ['provider agency', x.provider_agency],
      ['dataset', x.dataset_id], ['operation', short(x.operation)],
      ['request id', x.request_id], ['purpose', x.purpose_code],
      ['legal basis', x.legal_basis], ['consent reference', x.consent_reference],
      ['decision', short(x.decision)], ['reason', short(x.reason)],
      ['message', x.message], ['policy rule', x.policy_rule_id],
      ['policy revision', x.policy_version], ['requested fields', list(x.requested_fields)],
      ['returned fields', list(x.returned_fields)], ['masked fields', list(x.masked_fields)],
      ['row filter', x.row_filter], ['records returned', x.record_count || '0'],
      ['admin action', x.admin_action], ['identity verified', x.identity_verified ? 'yes' : 'no'],
      ['peer', x.peer],
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
    banner.textContent = isClaim ? 'Identity NOT verified: the gateway refused this request ' +
      'before it could prove who sent it. The agency, system, request id, purpose, legal basis ' +
      'and data subject below are only what the request claimed; this is not an action of ' +
      'the agency it names.' : '';
    const dl = $('rec-fields');
    clear(dl);
    for (const [k, v] of pairs) {
      if (!v) continue;
      const label = k + (x.kind === 'RECORD_KIND_ADMIN' ? '' : isClaim && sent.has(k)
        ? ' (claimed, not verified)' : declared.has(k) ? ' (declared by the consumer)' : '');
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
    $('pin-state').textContent = pin ? 'pinned' : 'no key pinned';
  }

  async function verifyShown() {
    const stored = shownRecord;
    const out = $('proof-result');
    out.hidden = false;
    out.className = 'proof';
    out.removeAttribute('data-result');
    out.textContent = 'verifying…';
    clear($('proof-steps'));
    let result;
    try {
      const proof = await rpc('dx.v1.Audit/GetInclusionProof',
        { sequence_number: stored.sequence_number || '0' });
      result = await window.DxVerify.verifyInclusion(stored, proof,
        localStorage.getItem('dx.logKeyPin') || '');
    } catch (e) {
      out.className = 'proof bad';
      out.textContent = 'FAILED: ' + e.message;
      out.setAttribute('data-result', 'failed');
      return;
    }
    for (const s of result.steps) {
      $('proof-steps').append(el('li', { class: s.ok ? 'allow' : 'deny' },
        (s.ok ? '✔ ' : '✘ ') + s.text));
    }
    if (!result.ok) {
      out.className = 'proof bad';
      out.textContent = 'FAILED: this record is not proven by the signed tree head';
    } else if (result.pin !== 'match') {
      out.className = 'proof warn';
      out.textContent = 'VALID BUT UNPINNED: the proof and signature check out, ' +
        'but no log key is pinned, so this proves only that the server agrees with itself';
    } else {
      out.className = 'proof ok';
      out.textContent = 'VERIFIED in this browser against the pinned log key';
    }
    out.setAttribute('data-result', result.ok ? (result.pin === 'match' ? 'verified' : 'unpinned') : 'failed');
  }

  async function exportRange() {
    const from = micros($('q-from')), to = micros($('q-to'));
    if (!from || !to) throw new Error('choose From and To for the export');
    const first = await rpc('dx.v1.Audit/Query', { from_unix_micros: from, page_size: 1 });
    const after = await rpc('dx.v1.Audit/Query', { from_unix_micros: to, page_size: 1 });
    const seqOf = (r) => ((r.messages || []).find((m) => m.record) || {}).record;
    const a = seqOf(first), b = seqOf(after);
    if (!a) throw new Error('no record in that time range');
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
    if (!id) throw new Error('enter the data subject id');
    const req = { data_subject_id: id };
    const f = micros($('s-from')), t = micros($('s-to'));
    if (f) req.from_unix_micros = f;
    if (t) req.to_unix_micros = t;
    const r = await rpc('dx.v1.Audit/SubjectReport', req);
    const all = (r.messages || []).filter((s) => s.record);
    // Requests whose agency the gateway verified, apart from attempts that
    // only claimed one: a claim is never an access by the agency it names.
    const verified = all.filter((s) => !claimed(s));
    const claims = all.filter((s) => claimed(s));
    const served = verified.filter((s) => s.record.decision === 'DECISION_ALLOW').length;
    vtable($('subject-results'), [
      ['time (UTC)', (s) => timeOf(s.record.time_unix_micros)],
      ['agency', (s) => code(s.record.consumer_agency || '')],
      ['system', (s) => code(s.record.consumer_system || '')],
      ['dataset', (s) => s.record.dataset_id || ''],
      ['declared purpose', (s) => s.record.purpose_code || ''],
      ['declared legal basis', (s) => s.record.legal_basis || ''],
      ['decision', (s) => decisionCell(s.record.decision)],
      ['fields returned', (s) => list(s.record.returned_fields)],
      ['request id', (s) => s.record.request_id || ''],
    ], verified);
    vtable($('subject-claims'), [
      ['time (UTC)', (s) => timeOf(s.record.time_unix_micros)],
      ['who', (s) => whoCell(s, true)],
      // Who really connected, as far as the gateway saw: the agency the TLS
      // client certificate names (checked or not: see the record).
      ['TLS certificate names', (s) => code(s.record.tls_agency || '')],
      ['dataset asked', (s) => s.record.dataset_id || ''],
      ['claimed purpose', (s) => s.record.purpose_code || ''],
      ['claimed legal basis', (s) => s.record.legal_basis || ''],
      ['decision', (s) => decisionCell(s.record.decision)],
      ['reason', (s) => short(s.record.reason)],
      ['claimed request id', (s) => s.record.request_id || ''],
    ], claims, null, () => 'claimed');
    const day = new Date().toISOString().slice(0, 10);
    $('s-summary').textContent = served + ' accesses to the data of this person, ' +
      (verified.length - served) + ' refused or failed requests by verified agencies, and ' +
      claims.length + ' unverified attempts that named this person, as recorded in the audit ' +
      'log on ' + day + '.';
  }

  // Policies.
  loaders.policies = async function () {
    const isAdmin = me && me.role === 'policy-admin';
    $('apply-form').hidden = !isAdmin;
    const l = await rpc('dx.v1.PolicyAdmin/List', {});
    $('pol-revision').textContent = (l.revision || '0') +
      (l.pending_changes ? ', ' + l.pending_changes + ' change(s) waiting for approval' : '');
    const box = $('pol-datasets');
    clear(box);
    for (const d of l.datasets || []) {
      box.append(el('h2', {}, d.dataset + ' (' + (d.provider_agency || '') + ', ' +
        (d.category || '') + ')' + (d.two_person_rule ? ': two-person rule' : '')));
      const g = await rpc('dx.v1.PolicyAdmin/Get', { dataset: d.dataset });
      const ds = ((g.document || {}).datasets || []).find((x) => x.dataset === d.dataset) || {};
      const grants = el('table', { class: 'data' });
      table(grants, [
        ['grant', (x) => x.id || ''], ['consumers', (x) => list(x.consumers)],
        ['purposes', (x) => list(x.purposes)], ['legal basis', (x) => x.legal_basis || ''],
        ['operations', (x) => (x.operations || []).map(short).join(', ')],
        ['fields', (x) => list(x.fields)],
        ['masks', (x) => (x.masks || []).map((m) => m.field + ': ' + short(m.kind)).join(', ')],
        ['row filter', (x) => x.row_filter || ''],
        ['valid', (x) => (x.valid_from || x.valid_until
          ? (x.valid_from || '…') + ' to ' + (x.valid_until || '…') : 'always')],
        ['quota', (x) => (x.quota ? (x.quota.requests_per_minute || '-') + '/min, ' +
          (x.quota.records_per_day || '-') + ' records/day' : '')],
      ], ds.grants || []);
      box.append(grants);
      if ((ds.forbids || []).length) {
        const forbids = el('table', { class: 'data' });
        table(forbids, [['forbid', (x) => x.id || ''], ['consumers', (x) => list(x.consumers)],
          ['purposes', (x) => list(x.purposes)], ['fields', (x) => list(x.fields)],
          ['reason', (x) => x.reason || '']], ds.forbids);
        box.append(forbids);
      }
    }
    const p = await rpc('dx.v1.PolicyAdmin/ListPending', {});
    const pending = $('pol-pending');
    table(pending, [
      ['id', (c) => c.id], ['proposed by', (c) => c.proposer],
      ['when (UTC)', (c) => timeOf(c.time_unix_micros)], ['comment', (c) => c.comment || ''],
      ['datasets', (c) => list(c.protected_datasets)],
      ['decide', (c) => {
        const comment = el('input', { size: 24, placeholder: 'comment', 'data-pending': c.id });
        const decide = (method) => async () => {
          try {
            await rpc('dx.v1.PolicyAdmin/' + method, { pending_id: c.id, comment: comment.value });
            await loaders.policies();
          } catch (e) { showError(e.message); }
        };
        return el('span', {}, comment,
          el('button', { type: 'button', class: 'approve', 'data-pending': c.id, onclick: decide('Approve') }, 'Approve'),
          el('button', { type: 'button', class: 'reject', 'data-pending': c.id, onclick: decide('Reject') }, 'Reject'));
      }],
    ], p.changes || []);
    const h = await rpc('dx.v1.PolicyAdmin/History', { limit: 20 });
    table($('pol-history'), [
      ['revision', (r) => r.revision], ['when (UTC)', (r) => timeOf(r.time_unix_micros)],
      ['author', (r) => r.author || ''], ['approved by', (r) => r.approved_by || ''],
      ['action', (r) => r.action || ''], ['changed', (r) => list(r.changed)],
      ['comment', (r) => r.comment || ''],
    ], h.revisions || []);
  };

  function showProblems(messages) {
    const ul = $('apply-problems');
    clear(ul);
    for (const m of messages || []) {
      ul.append(el('li', { class: m.severity === 'error' ? 'deny' : '' },
        m.severity + ': ' + m.text));
    }
  }

  async function validatePolicy() {
    const r = await rpc('dx.v1.PolicyAdmin/Validate',
      { yaml: $('apply-yaml').value, source_name: 'console' });
    showProblems(r.messages);
    if (r.ok && !(r.messages || []).length) {
      $('apply-problems').append(el('li', { class: 'allow' }, 'valid'));
    }
    return r.ok;
  }

  async function applyPolicy() {
    const comment = $('apply-comment').value.trim();
    if (!comment) throw new Error('a comment is required: say why the policy changes');
    if (!(await validatePolicy())) throw new Error('the document has errors: fix them first');
    const r = await rpc('dx.v1.PolicyAdmin/Apply',
      { yaml: $('apply-yaml').value, source_name: 'console', comment });
    showProblems(r.messages);
    $('apply-problems').append(el('li', { class: 'allow', id: 'apply-result' },
      r.pending_id ? 'waiting for a second administrator: change ' + r.pending_id
        : 'in force as revision ' + r.revision));
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
    pre.textContent = (r.allowed ? 'ALLOWED' : 'REFUSED') + ' (revision ' + (r.revision || '0') + ')\n' +
      (!r.allowed && r.reason ? 'reason: ' + r.reason + '\n' : '') +
      (r.rule_id ? 'rule: ' + r.rule_id + '\n' : '') +
      (r.legal_basis ? 'legal basis: ' + r.legal_basis + '\n' : '') +
      (r.fields ? 'fields: ' + list(r.fields) + '\n' : '') +
      (r.message ? r.message + '\n' : '') + (r.trace || []).join('\n');
  }

  async function diff() {
    const r = await rpc('dx.v1.PolicyAdmin/Diff', {
      from_revision: $('diff-from').value.trim() || '0', to_revision: $('diff-to').value.trim() || '0',
    });
    $('pol-diff').hidden = false;
    $('pol-diff').textContent = r.diff || '(no difference)';
  }

  // ---- sign-in -------------------------------------------------------

  async function startSession(path, body) {
    const r = await fetch(path, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(j.message || 'sign-in refused');
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
        } else if (window.confirm(`This browser is signed in as ${e.actor}. `
            + `Sign ${e.actor} out and sign in with the link you opened?`)) {
          try { await startSession('/api/session', { code: m[1], replace: true }); } catch (e2) {
            showError(e2.message);
          }
        } else {
          showError(`Still signed in as ${e.actor}: the sign-in link was not used.`);
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

  document.addEventListener('DOMContentLoaded', () => {
    window.addEventListener('hashchange', route);
    $('audit-form').addEventListener('submit', guard(() => search(false)));
    $('q-more').addEventListener('click', guard(() => search(true)));
    $('q-export').addEventListener('click', guard(exportRange));
    $('verify-proof').addEventListener('click', guard(verifyShown));
    $('pin-save').addEventListener('click', guard(async () => {
      const pin = window.DxVerify.normalizePin($('pin-input').value);
      if (pin && pin.length !== 64) throw new Error('a pin is 64 hex digits (SHA-256)');
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
