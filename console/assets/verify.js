// In-browser verification of an audit record's inclusion proof, so that an
// auditor need not take the server's word (docs/CONSOLE.md):
//   1. the leaf hash is SHA-256(0x00 || the record's stored bytes),
//      computed here from the bytes, not taken from the server;
//   2. the RFC 9162 (2.1.3.2) path from that leaf gives the root;
//   3. the root equals the signed tree head's;
//   4. the tree head's 50 signed bytes are rebuilt here (RFC 6962
//      TreeHeadSignature) and its ECDSA P-256 / SHA-256 signature checked
//      with the public key of the log signing certificate;
//   5. that certificate's SHA-256 fingerprint equals the one the auditor
//      pinned out of band; without a pin, a valid proof proves only that
//      the server agrees with itself, and the page says so.
// The fields the page shows are read again from the same bytes (a small
// protobuf reader), so what is shown is what the proof covers.
'use strict';

(function () {
  const subtle = window.crypto && window.crypto.subtle;

  function b64ToBytes(b64) {
    const s = atob(b64 || '');
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function concat(...parts) {
    const n = parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  async function sha256(bytes) {
    return new Uint8Array(await subtle.digest('SHA-256', bytes));
  }

  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

  // RFC 9162 2.1.3.2: the root implied by a leaf, its index, the tree size
  // and the path; null when the path has the wrong length.
  async function rootFromInclusion(index, size, leaf, path) {
    if (index >= size) return null;
    let fn = index, sn = size - 1n, r = leaf;
    for (const p of path) {
      if (sn === 0n) return null;
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    return sn === 0n ? r : null;
  }

  function be64(v) {
    const out = new Uint8Array(8);
    let x = BigInt(v);
    for (let i = 7; i >= 0; i--) { out[i] = Number(x & 0xffn); x >>= 8n; }
    return out;
  }

  // DER reading, just enough for a certificate's SubjectPublicKeyInfo and an
  // ECDSA signature.
  function derItem(buf, pos) {
    const tag = buf[pos];
    let len = buf[pos + 1], off = pos + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n < 1 || n > 4) throw new Error('bad DER length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[off + i];
      off += n;
    }
    if (off + len > buf.length) throw new Error('truncated DER');
    return { tag, start: pos, body: off, end: off + len };
  }

  function spkiOf(certDer) {
    const cert = derItem(certDer, 0);
    const tbs = derItem(certDer, cert.body);
    let p = tbs.body;
    let item = derItem(certDer, p);
    if (item.tag === 0xa0) { p = item.end; }  // [0] version
    // serialNumber, signature, issuer, validity, subject, then the key.
    for (let i = 0; i < 5; i++) p = derItem(certDer, p).end;
    item = derItem(certDer, p);
    return certDer.slice(item.start, item.end);
  }

  // DER SEQUENCE { INTEGER r, INTEGER s } -> r || s, 32 bytes each.
  function rawSignature(der) {
    const seq = derItem(der, 0);
    const r = derItem(der, seq.body), s = derItem(der, r.end);
    const fixed = (it) => {
      let v = der.slice(it.body, it.end);
      while (v.length > 32 && v[0] === 0) v = v.slice(1);
      if (v.length > 32) throw new Error('bad ECDSA integer');
      return concat(new Uint8Array(32 - v.length), v);
    };
    return concat(fixed(r), fixed(s));
  }

  // The top-level fields of a protobuf message: number -> last value
  // (strings for length-delimited fields, BigInt for varints).
  function protoFields(buf) {
    const out = {};
    let p = 0;
    const varint = () => {
      let x = 0n, shift = 0n;
      for (;;) {
        if (p >= buf.length) throw new Error('truncated varint');
        const b = buf[p++];
        x |= BigInt(b & 0x7f) << shift;
        if (!(b & 0x80)) return x;
        shift += 7n;
      }
    };
    const text = new TextDecoder('utf-8', { fatal: false });
    while (p < buf.length) {
      const key = varint();
      const field = Number(key >> 3n), type = Number(key & 7n);
      if (type === 0) out[field] = varint();
      else if (type === 2) {
        const n = Number(varint());
        out[field] = text.decode(buf.slice(p, p + n));
        p += n;
      } else if (type === 1) p += 8;
      else if (type === 5) p += 4;
      else throw new Error('unknown wire type ' + type);
    }
    return out;
  }

  const DECISIONS = ['DECISION_UNSPECIFIED', 'DECISION_ALLOW', 'DECISION_DENY',
    'DECISION_ERROR'];

  async function fingerprint(der) { return hex(await sha256(der)); }

  function normalizePin(pin) {
    return (pin || '').toLowerCase().replace(/^sha256 fingerprint=/, '')
      .replace(/[^0-9a-f]/g, '');
  }

  // Checks a StoredRecord against an InclusionProof (both as the console's
  // JSON gives them). Returns {ok, pin: 'match'|'none'|'differs', steps}.
  async function verifyInclusion(stored, proof, pinnedHex) {
    // The steps' words from the console's catalogue (app.js sets DxT).
    const T = (key, args) => (window.DxT ? window.DxT(key, args) : key);
    const steps = [];
    const step = (ok, text) => { steps.push({ ok, text }); return ok; };
    let ok = true;
    const bytes = b64ToBytes(stored.record_bytes);
    const leaf = await leafHash(bytes);
    ok = step(bytes.length > 0, T('console.verify.leaf',
      { bytes: bytes.length, hash: hex(leaf) })) && ok;
    const fields = protoFields(bytes);
    const shown = stored.record || {};
    const same = (n, v) => (fields[n] === undefined ? '' : fields[n]) === (v || '');
    const decision = fields[20] === undefined ? 'DECISION_UNSPECIFIED'
      : DECISIONS[Number(fields[20])];
    ok = step(same(9, shown.request_id) && same(6, shown.consumer_agency) &&
      same(10, shown.dataset_id) && same(17, shown.purpose_code) &&
      same(18, shown.legal_basis) &&
      decision === (shown.decision || 'DECISION_UNSPECIFIED'),
      T('console.verify.fields')) && ok;
    const head = proof.tree_head || {};
    const index = BigInt(proof.leaf_index || 0);
    const size = BigInt(proof.tree_size || 0);
    ok = step(index === BigInt(stored.sequence_number || 0),
      T('console.verify.position', { index })) && ok;
    const path = (proof.path || []).map(b64ToBytes);
    const root = await rootFromInclusion(index, size, leaf, path);
    const headRoot = b64ToBytes(head.root_hash);
    ok = step(root !== null && equal(root, headRoot),
      T('console.verify.path', { hashes: path.length, size,
        root: root ? hex(root) : T('console.verify.no_root') })) && ok;
    ok = step(BigInt(head.tree_size || 0) === size,
      T('console.verify.covers', { size: head.tree_size || 0 })) && ok;
    const certDer = b64ToBytes(head.signer_certificate);
    let sigOk = false;
    try {
      const key = await subtle.importKey('spki', spkiOf(certDer),
        { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
      const tbs = concat(Uint8Array.of(0, 1), be64(head.timestamp_ms || 0),
        be64(head.tree_size || 0), headRoot);
      sigOk = await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key,
        rawSignature(b64ToBytes(head.signature)), tbs);
    } catch (e) {
      sigOk = false;
    }
    ok = step(sigOk, T('console.verify.signature')) && ok;
    const fp = await fingerprint(certDer);
    const pin = normalizePin(pinnedHex);
    let pinState = 'none';
    if (pin) pinState = pin === fp ? 'match' : 'differs';
    step(pinState === 'match', pinState === 'match'
      ? T('console.verify.pin_match', { fingerprint: fp })
      : pinState === 'none'
        ? T('console.verify.pin_none', { fingerprint: fp })
        : T('console.verify.pin_differs', { fingerprint: fp }));
    return { ok: ok && pinState !== 'differs', pin: pinState, steps };
  }

  window.DxVerify = { verifyInclusion, fingerprint, b64ToBytes, hex,
    normalizePin };
})();
