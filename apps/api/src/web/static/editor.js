// Template editor: plain browser JavaScript, no framework, no build step.
// Talks to /v1/templates with the API key given on the page (Authorization: Bearer); the service
// takes the acting user from the key's name (see /v1/auth/whoami), never from the page.
/* global document, window, sessionStorage, fetch, setTimeout, clearTimeout, URL, Blob, structuredClone */
(() => {
  'use strict';

  const $ = (sel) => document.querySelector(sel);
  const PARTS = {
    sms: [['sms', 'SMS text']],
    email: [
      ['subject', 'Email subject'],
      ['html', 'Email HTML'],
      ['text', 'Email plain text'],
    ],
    letter: [
      ['letterTitle', 'Letter title'],
      ['letter', 'Letter body (Markdown)'],
    ],
  };

  const state = {
    list: [],
    key: null,
    locale: null,
    latest: null,
    draft: null,
    definition: null,
    previewTimer: null,
    previewSeq: 0,
    pdfUrl: null,
  };

  // ------------------------------------------------------------------ http

  function headers(json) {
    const h = {};
    if (json) h['content-type'] = 'application/json';
    const key = $('#apikey').value.trim();
    if (key) h.authorization = `Bearer ${key}`;
    return h;
  }

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const type = res.headers.get('content-type') || '';
    const data = type.includes('json') ? await res.json() : await res.text();
    if (!res.ok) {
      const err = new Error((data && data.detail) || `${res.status} ${res.statusText}`);
      err.status = res.status;
      err.problem = data;
      throw err;
    }
    return data;
  }

  function say(text, ok) {
    const box = $('#messages');
    box.className = ok ? 'ok' : '';
    box.textContent = text;
  }

  function showError(err) {
    const p = err.problem;
    const lines = [err.message];
    if (p && Array.isArray(p.errors)) for (const e of p.errors) lines.push(`• ${e.path}: ${e.message}`);
    say(lines.join('\n'));
    if (p && Array.isArray(p.findings)) renderFindings(p.findings);
  }

  async function run(label, fn) {
    try {
      await fn();
    } catch (err) {
      showError(err);
      return false;
    }
    if (label) say(label, true);
    return true;
  }

  // ------------------------------------------------------------------ list

  /** Every item of a paged list (follows `next`; docs/api.md, "Pagination"). */
  async function all(path) {
    const items = [];
    let cursor = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await api(
        'GET',
        `${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      items.push(...page.items);
      cursor = page.next ?? null;
    } while (cursor);
    return items;
  }

  async function loadList() {
    const items = await all('/v1/templates');
    state.list = items;
    const body = $('#template-list tbody');
    body.replaceChildren();
    for (const t of items) {
      const tr = document.createElement('tr');
      if (t.key === state.key && t.locale === state.locale) tr.setAttribute('aria-current', 'true');
      const name = document.createElement('td');
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'link';
      btn.textContent = `${t.key} (${t.locale})`;
      btn.setAttribute('data-key', t.key);
      btn.setAttribute('data-locale', t.locale);
      btn.addEventListener('click', () => run(null, () => select(t.key, t.locale)));
      name.append(btn);
      const version = document.createElement('td');
      version.textContent = t.latestVersion === null ? '–' : `v${t.latestVersion}`;
      const draft = document.createElement('td');
      draft.textContent = t.openDraft ? t.openDraft.status.replace('_', ' ') : '';
      tr.append(name, version, draft);
      body.append(tr);
    }
  }

  // ------------------------------------------------------------------ editor

  async function select(key, locale) {
    state.key = key;
    state.locale = locale;
    const t = await api('GET', `/v1/templates/${encodeURIComponent(key)}/${locale}`);
    state.latest = t.latest;
    state.draft = t.openDraft;
    state.definition = structuredClone((t.openDraft || t.latest).definition);
    $('#editor').hidden = false;
    $('#editor-title').textContent = `${key} · ${locale}`;
    fillForm();
    updateStatus();
    await Promise.all([loadVersions(), loadList()]);
    schedulePreview(0);
  }

  function editable() {
    return Boolean(state.draft && state.draft.status === 'draft');
  }

  function fillForm() {
    const def = state.definition;
    const parts = $('#parts');
    parts.replaceChildren();
    for (const [name, label] of PARTS[def.channel])
      parts.append(partField(name, label, def.parts[name] || ''));
    (def.parts.attachments || []).forEach((a, i) => {
      parts.append(partField(`attachments.${i}.title`, `Attachment ${i + 1} title`, a.title));
      parts.append(partField(`attachments.${i}.letter`, `Attachment ${i + 1} body (Markdown)`, a.letter));
    });
    $('#f-description').value = def.description || '';
    $('#f-schema').value = JSON.stringify(def.schema, null, 2);
    $('#f-example').value = JSON.stringify(def.exampleData, null, 2);
    for (const el of document.querySelectorAll('#draft-form textarea, #draft-form input')) {
      el.readOnly = !editable();
    }
  }

  function partField(name, label, value) {
    const id = `p-${name.replace(/\./g, '-')}`;
    const wrap = document.createElement('label');
    wrap.className = 'field';
    wrap.htmlFor = id;
    wrap.textContent = label;
    const single = name === 'letterTitle' || name === 'subject' || name.endsWith('.title');
    const el = document.createElement(single ? 'input' : 'textarea');
    el.id = id;
    el.name = name;
    el.value = value;
    el.spellcheck = false;
    if (!single && (name === 'html' || name === 'letter' || name.endsWith('.letter'))) el.className = 'tall';
    el.addEventListener('input', () => schedulePreview());
    wrap.append(el);
    return wrap;
  }

  /** The definition as currently shown in the form (null with a message when the JSON does not parse). */
  function formDefinition() {
    const def = structuredClone(state.definition);
    const parts = { ...def.parts };
    for (const el of document.querySelectorAll('#parts textarea, #parts input')) {
      const path = el.name.split('.');
      if (path[0] === 'attachments') {
        parts.attachments = parts.attachments.map((a) => ({ ...a }));
        parts.attachments[Number(path[1])][path[2]] = el.value;
      } else {
        parts[path[0]] = el.value;
      }
    }
    def.parts = parts;
    def.description = $('#f-description').value;
    try {
      def.schema = JSON.parse($('#f-schema').value);
      def.exampleData = JSON.parse($('#f-example').value);
    } catch (err) {
      renderFindings([
        {
          ruleId: 'json',
          severity: 'error',
          message: `schema or example data is not valid JSON: ${err.message}`,
          location: { part: 'schema' },
        },
      ]);
      return null;
    }
    return def;
  }

  function updateStatus() {
    const d = state.draft;
    const latest = state.latest ? `published v${state.latest.version}` : 'not published yet';
    $('#draft-status').textContent = d
      ? `Draft ${d.status.replace('_', ' ')} (revision ${d.revision}, by ${d.authors.join(', ')}) · ${latest}`
      : `No open draft · ${latest}`;
    const s = d ? d.status : null;
    $('#btn-new').disabled = Boolean(d);
    $('#btn-save').disabled = s !== 'draft';
    $('#btn-submit').disabled = s !== 'draft';
    $('#btn-approve').disabled = s !== 'in_review';
    $('#btn-reject').disabled = s !== 'in_review' && s !== 'approved';
    $('#btn-publish').disabled = s !== 'approved';
    $('#btn-withdraw').disabled = !d;
  }

  // ------------------------------------------------------------------ preview and lint

  function schedulePreview(delay = 300) {
    clearTimeout(state.previewTimer);
    state.previewTimer = setTimeout(() => {
      preview().catch(showError);
    }, delay);
  }

  async function preview() {
    const def = formDefinition();
    if (!def) return;
    const seq = ++state.previewSeq;
    let p;
    try {
      p = await api('POST', '/v1/templates/preview', { definition: def });
    } catch (err) {
      if (seq !== state.previewSeq) return;
      const out = $('#preview');
      out.replaceChildren(text('p', `Cannot render: ${err.message}`, 'error'));
      if (err.problem && Array.isArray(err.problem.errors)) {
        const ul = document.createElement('ul');
        for (const e of err.problem.errors) ul.append(text('li', `${e.path}: ${e.message}`, 'error'));
        out.append(ul);
      }
      renderFindings((err.problem && err.problem.findings) || []);
      return;
    }
    if (seq !== state.previewSeq) return;
    renderPreview(p, def);
    renderFindings(p.findings);
  }

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  function renderPreview(p, def) {
    const out = $('#preview');
    out.replaceChildren();
    if (p.sms) {
      const pre = text('pre', p.sms.text);
      pre.id = 'preview-sms';
      pre.setAttribute('aria-label', 'Rendered SMS');
      out.append(pre);
      const meta = text(
        'p',
        `Encoding ${p.sms.encoding} · ${p.sms.segments} segment${p.sms.segments === 1 ? '' : 's'} · ${p.sms.length} characters`,
      );
      meta.id = 'preview-sms-meta';
      out.append(meta);
    }
    if (p.email) {
      out.append(text('p', `Subject: ${p.email.subject}`));
      const frame = document.createElement('iframe');
      frame.title = 'Email HTML preview';
      frame.setAttribute('sandbox', '');
      frame.srcdoc = p.email.html;
      out.append(frame, text('h4', 'Plain text'), text('pre', p.email.text));
    }
    if (p.letter) {
      out.append(text('p', `Title: ${p.letter.title}`));
      const pre = text('pre', p.letter.markdown);
      pre.setAttribute('aria-label', 'Rendered letter');
      out.append(pre);
      for (const a of p.letter.attachments) out.append(text('h4', a.title), text('pre', a.markdown));
      const btn = text('button', 'Show the letter as PDF');
      btn.type = 'button';
      btn.addEventListener('click', () => run(null, () => showPdf(def)));
      out.append(btn);
    }
  }

  async function showPdf(def) {
    const res = await fetch('/v1/templates/preview/pdf', {
      method: 'POST',
      headers: headers(true),
      body: JSON.stringify({ definition: def }),
    });
    if (!res.ok) {
      const p = await res.json();
      const err = new Error(p.detail || 'PDF preview failed');
      err.problem = p;
      throw err;
    }
    if (state.pdfUrl) URL.revokeObjectURL(state.pdfUrl);
    state.pdfUrl = URL.createObjectURL(new Blob([await res.arrayBuffer()], { type: 'application/pdf' }));
    const frame = document.createElement('iframe');
    frame.title = 'Letter PDF preview';
    frame.src = state.pdfUrl;
    $('#preview').append(frame);
  }

  function renderFindings(findings) {
    const ul = $('#lint');
    ul.replaceChildren();
    if (!findings.length) {
      ul.append(text('li', 'No findings.'));
      return;
    }
    for (const f of findings) {
      const loc = [f.location.part, f.location.line, f.location.column]
        .filter((x) => x !== undefined)
        .join(':');
      ul.append(text('li', `${f.severity} ${f.ruleId} at ${loc}: ${f.message}`, f.severity));
    }
  }

  // ------------------------------------------------------------------ history

  async function loadVersions() {
    const body = $('#versions tbody');
    body.replaceChildren();
    $('#diff').textContent = '';
    if (!state.latest) return;
    const items = await all(`/v1/templates/${encodeURIComponent(state.key)}/${state.locale}/versions`);
    for (const v of items) {
      const tr = document.createElement('tr');
      tr.append(
        text('td', `v${v.version}`),
        text('td', new Date(v.publishedAt).toLocaleString()),
        text('td', v.publishedBy),
        text('td', v.approvedBy || '–'),
        text('td', v.source + (v.source === 'rollback' ? ` of v${v.basedOnVersion}` : '')),
      );
      const actions = document.createElement('td');
      if (v.version > 1) {
        const diff = text('button', `Diff v${v.version - 1} → v${v.version}`);
        diff.type = 'button';
        diff.addEventListener('click', () => run(null, () => showDiff(v.version - 1, v.version)));
        actions.append(diff, ' ');
      }
      if (v.version !== state.latest.version) {
        const back = text('button', `Roll back to v${v.version}`);
        back.type = 'button';
        back.addEventListener('click', () =>
          run(`Published v${v.version}'s content again as a new version.`, async () => {
            await api('POST', `/v1/templates/${encodeURIComponent(state.key)}/${state.locale}/rollback`, {
              version: v.version,
            });
            await select(state.key, state.locale);
          }),
        );
        actions.append(back);
      }
      tr.append(actions);
      body.append(tr);
    }
  }

  function renderDiff(changes) {
    const pre = $('#diff');
    pre.replaceChildren();
    if (!changes.length) pre.textContent = 'No differences.';
    for (const c of changes) {
      pre.append(text('strong', `${c.field} (${c.change})\n`));
      for (const l of c.lines) {
        if (l.op === ' ') continue;
        pre.append(text('span', `${l.op} ${l.text}`, l.op === '+' ? 'diff-add' : 'diff-del'));
      }
    }
  }

  async function showDiff(from, to) {
    const d = await api(
      'GET',
      `/v1/templates/${encodeURIComponent(state.key)}/${state.locale}/diff?from=${from}&to=${to}`,
    );
    renderDiff(d.changes);
  }

  // ------------------------------------------------------------------ workflow

  async function refreshDraft(draft) {
    state.draft = draft && ['draft', 'in_review', 'approved'].includes(draft.status) ? draft : null;
    if (state.draft) state.definition = structuredClone(state.draft.definition);
    fillForm();
    updateStatus();
    await loadList();
  }

  function bind(id, label, fn) {
    $(id).addEventListener('click', () => run(label, fn));
  }

  bind('#btn-new', 'Draft started.', async () => {
    const d = await api('POST', '/v1/templates/drafts', { key: state.key, locale: state.locale });
    await refreshDraft(d);
  });
  bind('#btn-save', 'Draft saved.', async () => {
    const def = formDefinition();
    if (!def) throw new Error('Fix the JSON first');
    const d = await api('PUT', `/v1/templates/drafts/${state.draft.id}`, {
      revision: state.draft.revision,
      description: def.description,
      parts: def.parts,
      schema: def.schema,
      exampleData: def.exampleData,
    });
    await refreshDraft(d);
    const diff = await api('GET', `/v1/templates/drafts/${d.id}/diff`);
    renderDiff(diff.changes);
  });
  bind('#btn-submit', 'Submitted for review.', async () => {
    const d = await api('POST', `/v1/templates/drafts/${state.draft.id}/submit`);
    await refreshDraft(d);
  });
  bind('#btn-approve', 'Approved.', async () => {
    const d = await api('POST', `/v1/templates/drafts/${state.draft.id}/approve`);
    await refreshDraft(d);
  });
  bind('#btn-reject', 'Sent back to draft.', async () => {
    const reason = window.prompt('Why is it sent back?') || '';
    const d = await api('POST', `/v1/templates/drafts/${state.draft.id}/reject`, { reason });
    await refreshDraft(d);
  });
  bind('#btn-withdraw', 'Draft withdrawn.', async () => {
    await api('POST', `/v1/templates/drafts/${state.draft.id}/withdraw`);
    await select(state.key, state.locale);
  });
  bind('#btn-publish', null, async () => {
    const v = await api('POST', `/v1/templates/drafts/${state.draft.id}/publish`);
    await select(state.key, state.locale);
    say(`Published version ${v.version}.`, true);
    if (v.version > 1) await showDiff(v.version - 1, v.version);
  });

  // ------------------------------------------------------------------ start

  const KEY_STORE = 'cns.editor.apikey';

  /** Shows whose key is in use (its name is the acting user for every change). */
  async function signIn() {
    const who = $('#whoami');
    if (!$('#apikey').value.trim()) {
      who.textContent = 'Not signed in';
      return;
    }
    try {
      const me = await api('GET', '/v1/auth/whoami');
      who.textContent = `Signed in as ${me.name} (${me.scopes.join(', ')})`;
    } catch (err) {
      who.textContent = 'Not signed in';
      throw err;
    }
    say('', true);
    await loadList();
  }

  const key = $('#apikey');
  key.value = sessionStorage.getItem(KEY_STORE) || '';
  key.addEventListener('change', () => {
    sessionStorage.setItem(KEY_STORE, key.value.trim());
    run(null, async () => {
      await signIn();
      if (state.key) await select(state.key, state.locale);
    });
  });
  $('#btn-forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORE);
    key.value = '';
    $('#whoami').textContent = 'Not signed in';
    key.focus();
  });
  for (const id of ['#f-description', '#f-schema', '#f-example']) {
    $(id).addEventListener('input', () => schedulePreview());
  }
  if (key.value) run(null, signIn);
  else say('Enter your API key to start.', true);
})();
