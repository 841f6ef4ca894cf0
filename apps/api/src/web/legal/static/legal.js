// The /legal page: vanilla JS, no framework, no build. Every API call carries the API key the
// user entered (kept in sessionStorage: this tab only). Untrusted text goes in with textContent.
/* global document, sessionStorage, Headers, fetch, history, URL, location */
(() => {
  'use strict';
  const KEY = 'cns.legal.apiKey';
  const $ = (id) => document.getElementById(id);
  let current = null;
  let downloadUrl = null;

  function apiKey() {
    return sessionStorage.getItem(KEY) || '';
  }

  async function api(path, init = {}) {
    const headers = new Headers(init.headers || {});
    const key = apiKey();
    if (key) headers.set('authorization', `Bearer ${key}`);
    const res = await fetch(path, { ...init, headers });
    if (!res.ok) {
      let detail = `HTTP ${res.status}`;
      try {
        const p = await res.json();
        if (p && p.detail) detail = `${p.detail} (HTTP ${res.status})`;
      } catch {
        /* not JSON */
      }
      throw new Error(detail);
    }
    return res;
  }

  function setStatus(el, text, kind) {
    el.textContent = text;
    el.className = kind || '';
  }

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text === null || text === undefined || text === '' ? '—' : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function showKeyState() {
    const has = apiKey() !== '';
    setStatus(
      $('key-status'),
      has ? 'A key is set for this tab.' : 'No key yet: it is kept in this tab only (sessionStorage).',
      has ? 'ok' : 'muted',
    );
  }

  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('api-key').value.trim();
    if (v) sessionStorage.setItem(KEY, v);
    $('api-key').value = '';
    showKeyState();
  });
  $('forget-key').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    showKeyState();
  });

  $('find-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = $('case-query').value.trim();
    const list = $('results');
    list.replaceChildren();
    setStatus($('find-status'), 'Searching…', 'muted');
    try {
      const res = await api(`/v1/evidence/cases?prefix=${encodeURIComponent(q)}&limit=50`);
      const { cases } = await res.json();
      setStatus(
        $('find-status'),
        cases.length ? `${cases.length} case(s) found.` : 'No case matches.',
        'muted',
      );
      for (const c of cases) {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'secondary';
        b.textContent = `${c.caseId} · ${c.events} events · last ${c.updatedAt}`;
        b.setAttribute('aria-label', `Open case ${c.caseId}`);
        b.addEventListener('click', () => openCase(c.caseId));
        li.appendChild(b);
        list.appendChild(li);
      }
      if (cases.length === 1) await openCase(cases[0].caseId);
    } catch (err) {
      setStatus($('find-status'), `Search failed: ${err.message}`, 'bad');
    }
  });

  async function openCase(caseId) {
    current = caseId;
    $('case').hidden = false;
    $('case-heading').textContent = `Case ${caseId}`;
    setStatus($('verify-status'), '', '');
    setStatus($('download-status'), '', '');
    $('download-link').hidden = true;
    history.replaceState(null, '', `#case=${encodeURIComponent(caseId)}`);
    await Promise.all([loadTimeline(caseId), loadEligibility(caseId), verify()]);
  }

  async function loadTimeline(caseId) {
    const body = $('timeline').querySelector('tbody');
    body.replaceChildren();
    try {
      const { rows } = await (await api(`/v1/cases/${encodeURIComponent(caseId)}/timeline`)).json();
      for (const r of rows) {
        const tr = document.createElement('tr');
        cell(tr, r.seq);
        cell(tr, r.time.replace('T', ' ').replace('Z', ''));
        cell(tr, r.channel);
        cell(tr, r.event);
        cell(tr, r.providerId, 'mono');
        cell(tr, r.receipt || r.detail);
        body.appendChild(tr);
      }
    } catch (err) {
      const tr = document.createElement('tr');
      const td = cell(tr, `Timeline unavailable: ${err.message}`, 'bad');
      td.colSpan = 6;
      body.appendChild(tr);
    }
  }

  const CRITERIA = {
    outstanding_principal: 'Outstanding principal',
    delivered_notices: 'Notices with proof of delivery',
    months_without_payment: 'Months without payment',
  };

  async function loadEligibility(caseId) {
    const body = $('eligibility').querySelector('tbody');
    body.replaceChildren();
    try {
      const rep = await (await api(`/v1/cases/${encodeURIComponent(caseId)}/legal-eligibility`)).json();
      for (const c of rep.criteria) {
        const tr = document.createElement('tr');
        cell(tr, CRITERIA[c.id] || c.id);
        cell(tr, c.met ? 'yes' : 'no', c.met ? 'ok' : 'bad');
        cell(tr, c.value === null ? 'unknown' : `${c.value} ${c.unit}`);
        cell(tr, `${c.threshold} ${c.unit}`);
        cell(tr, c.evidenceSeqs.join(', '));
        cell(tr, c.reason);
        body.appendChild(tr);
      }
      setStatus(
        $('eligibility-summary'),
        rep.eligible ? 'All criteria are met.' : 'Not eligible: at least one criterion is not met.',
        rep.eligible ? 'ok' : 'bad',
      );
    } catch (err) {
      setStatus($('eligibility-summary'), `Eligibility unavailable: ${err.message}`, 'bad');
    }
  }

  async function verify() {
    if (!current) return;
    const el = $('verify-status');
    setStatus(el, 'Checking the chain…', 'muted');
    try {
      const v = await (
        await api('/v1/evidence/verify', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ caseId: current }),
        })
      ).json();
      if (v.ok) setStatus(el, `Chain verifies: ${v.events} events, head ${v.headHash.slice(0, 16)}…`, 'ok');
      else setStatus(el, `Chain BROKEN at seq ${v.brokenSeq}: ${v.failure} (${v.detail || ''})`, 'bad');
    } catch (err) {
      setStatus(el, `Verification failed: ${err.message}`, 'bad');
    }
  }

  $('verify').addEventListener('click', verify);

  $('download').addEventListener('click', async () => {
    if (!current) return;
    const el = $('download-status');
    const btn = $('download');
    btn.disabled = true;
    setStatus(el, 'Preparing the bundle…', 'muted');
    try {
      const res = await api(`/v1/cases/${encodeURIComponent(current)}/evidence.zip`);
      const blob = await res.blob();
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
      downloadUrl = URL.createObjectURL(blob);
      const a = $('download-link');
      a.href = downloadUrl;
      a.download = `evidence-${current}.zip`;
      a.textContent = `Save evidence-${current}.zip`;
      a.hidden = false;
      a.click();
      setStatus(
        el,
        `Bundle ready: ${blob.size} bytes, events 1–${res.headers.get('x-evidence-head-seq')}, checkpoint ${res.headers.get('x-checkpoint-id')}. Check it offline with npm run evidence:verify.`,
        'ok',
      );
    } catch (err) {
      setStatus(el, `Download failed: ${err.message}`, 'bad');
    } finally {
      btn.disabled = false;
    }
  });

  showKeyState();
  const m = /^#case=(.+)$/.exec(location.hash);
  if (m && apiKey()) {
    $('case-query').value = decodeURIComponent(m[1]);
    openCase(decodeURIComponent(m[1]));
  }
})();
