// Template editor: plain browser JavaScript, no framework, no build step.
// Talks to /v1/templates with the API key given on the page (Authorization: Bearer); the service
// takes the acting user from the key's name (see /v1/auth/whoami), never from the page.
// Letter previews are PDFs rendered by the service and drawn page by page with pdf.js
// (/editor/pdfjs/, served from the npm package). Interface in Chinese (default) or English.
/* global document, window, sessionStorage, fetch, setTimeout, clearTimeout, structuredClone, Event, CSS */
(() => {
  'use strict';

  const $ = (sel) => document.querySelector(sel);

  // ------------------------------------------------------------------ interface language

  const I18N = {
    en: {
      title: 'Template editor',
      apiKey: 'API key',
      forgetKey: 'Forget key',
      templates: 'Templates',
      listCaption: 'Published templates and open drafts',
      colTemplate: 'Template',
      colVersion: 'Version',
      colDraft: 'Draft',
      btnNew: 'Start a draft',
      btnSave: 'Save draft',
      btnSubmit: 'Submit for review',
      btnApprove: 'Approve',
      btnReject: 'Send back to draft',
      btnPublish: 'Publish',
      btnWithdraw: 'Withdraw draft',
      variables: 'Variables',
      variablesHint: 'From the data schema, with the example values. Click to insert at the cursor.',
      noVariables: 'The schema declares no variables.',
      content: 'Content',
      description: 'Description',
      schema: 'Data schema (JSON)',
      example: 'Example data (JSON, used by the preview and lint)',
      preview: 'Preview',
      lint: 'Lint findings',
      history: 'Version history',
      colPublished: 'Published',
      colBy: 'By',
      colApprovedBy: 'Approved by',
      colSource: 'Source',
      colActions: 'Actions',
      diff: 'Diff',
      part_sms: 'SMS text',
      part_voice: 'Voice call text',
      renderedSms: 'Rendered SMS',
      spokenText: 'What the call says',
      registrationsTitle: 'Gateway registrations (mainland SMS)',
      registrationCols: ['Gateway', 'Template code', 'Sign name', 'Status'],
      registrationOk: 'matches the text',
      registrationMissing: 'missing: this gateway will refuse the notice',
      registrationUnused: 'not checked: gateway not in use (SMS_CN_PROVIDERS)',
      part_subject: 'Email subject',
      part_html: 'Email HTML',
      part_text: 'Email plain text',
      part_letterTitle: 'Letter title',
      part_letter: 'Letter body (Markdown)',
      attachmentTitle: (i) => `Attachment ${i} title`,
      attachmentBody: (i) => `Attachment ${i} body (Markdown)`,
      notSignedIn: 'Not signed in',
      signedIn: (name, scopes) => `Signed in as ${name} (${scopes})`,
      enterKey: 'Enter your API key to start.',
      draftStatus: (status, rev, authors, latest) =>
        `Draft ${status} (revision ${rev}, by ${authors}) · ${latest}`,
      noDraft: (latest) => `No open draft · ${latest}`,
      publishedV: (v) => `published v${v}`,
      notPublished: 'not published yet',
      status: {
        draft: 'draft',
        in_review: 'in review',
        approved: 'approved',
        published: 'published',
        withdrawn: 'withdrawn',
      },
      draftStarted: 'Draft started.',
      draftSaved: 'Draft saved.',
      submitted: 'Submitted for review.',
      approved: 'Approved.',
      sentBack: 'Sent back to draft.',
      withdrawn: 'Draft withdrawn.',
      whyBack: 'Why is it sent back?',
      publishedVersion: (v) => `Published version ${v}.`,
      rolledBack: (v) => `Published v${v}'s content again as a new version.`,
      fixJson: 'Fix the JSON first',
      badJson: (m) => `schema or example data is not valid JSON: ${m}`,
      cannotRender: (m) => `Cannot render: ${m}`,
      smsMeta: (enc, n, len) => `Encoding ${enc} · ${n} segment${n === 1 ? '' : 's'} · ${len} characters`,
      smsRule: (enc) =>
        enc === 'GSM-7'
          ? 'GSM-7: 160 characters in one segment, 153 each when split'
          : 'UCS-2: 70 characters in one segment, 67 each when split',
      subject: (s) => `Subject: ${s}`,
      plainText: 'Plain text',
      emailFrame: 'Email HTML preview',
      letterTitle: (t) => `Title: ${t}`,
      pages: (n) => `${n} page${n === 1 ? '' : 's'} (PDF rendered by the service)`,
      rendering: 'Rendering the letter…',
      pageAlt: (i, n) => `Letter page ${i} of ${n}`,
      noFindings: 'No findings.',
      finding: (sev, rule, loc, msg) => `${sev} ${rule} at ${loc}: ${msg}`,
      noDifferences: 'No differences.',
      diffBtn: (a, b) => `Diff v${a} → v${b}`,
      rollbackBtn: (v) => `Roll back to v${v}`,
      rollbackOf: (v) => ` of v${v}`,
      unchanged: (n) => `… ${n} unchanged line${n === 1 ? '' : 's'} …`,
      change: { added: 'added', removed: 'removed', changed: 'changed' },
      versionLabel: (v) => `Version ${v}`,
      draftLabel: 'Draft',
      insert: (name) => `Insert {{${name}}}`,
      testTo: "Test address (sandbox; empty: the sandbox's own)",
      btnTestSend: 'Test send (sandbox)',
      testSent: (r) =>
        `Sent to ${r.provider} (sandbox, nothing leaves the service): ${r.to}, message id ${r.providerMessageId}. Recorded in the template audit.`,
    },
    'zh-CN': {
      title: '模板编辑器',
      apiKey: 'API 密钥',
      forgetKey: '清除密钥',
      templates: '模板',
      listCaption: '已发布的模板和未完成的草稿',
      colTemplate: '模板',
      colVersion: '版本',
      colDraft: '草稿',
      btnNew: '新建草稿',
      btnSave: '保存草稿',
      btnSubmit: '提交审核',
      btnApprove: '审核通过',
      btnReject: '退回修改',
      btnPublish: '发布',
      btnWithdraw: '撤回草稿',
      variables: '变量',
      variablesHint: '取自数据结构（schema），附示例值。点击即在光标处插入。',
      noVariables: '数据结构中没有声明变量。',
      content: '内容',
      description: '说明',
      schema: '数据结构（JSON Schema）',
      example: '示例数据（JSON，用于预览和检查）',
      preview: '预览',
      lint: '检查结果',
      history: '版本历史',
      colPublished: '发布时间',
      colBy: '发布人',
      colApprovedBy: '审核人',
      colSource: '来源',
      colActions: '操作',
      diff: '版本对比',
      part_sms: '短信正文',
      part_voice: '语音电话文本',
      renderedSms: '短信预览',
      spokenText: '语音电话内容',
      registrationsTitle: '短信网关模板登记',
      registrationCols: ['网关', '模板编号', '签名', '状态'],
      registrationOk: '与正文一致',
      registrationMissing: '未登记：该网关将拒发',
      registrationUnused: '未校验：未启用该网关（SMS_CN_PROVIDERS）',
      part_subject: '邮件主题',
      part_html: '邮件 HTML',
      part_text: '邮件纯文本',
      part_letterTitle: '信函标题',
      part_letter: '信函正文（Markdown）',
      attachmentTitle: (i) => `附件 ${i} 标题`,
      attachmentBody: (i) => `附件 ${i} 正文（Markdown）`,
      notSignedIn: '未登录',
      signedIn: (name, scopes) => `已登录：${name}（${scopes}）`,
      enterKey: '请输入 API 密钥开始。',
      draftStatus: (status, rev, authors, latest) =>
        `草稿${status}（第 ${rev} 次修改，作者 ${authors}）· ${latest}`,
      noDraft: (latest) => `没有未完成的草稿 · ${latest}`,
      publishedV: (v) => `已发布 v${v}`,
      notPublished: '尚未发布',
      status: {
        draft: '编辑中',
        in_review: '审核中',
        approved: '已通过',
        published: '已发布',
        withdrawn: '已撤回',
      },
      draftStarted: '草稿已创建。',
      draftSaved: '草稿已保存。',
      submitted: '已提交审核。',
      approved: '已审核通过。',
      sentBack: '已退回修改。',
      withdrawn: '草稿已撤回。',
      whyBack: '退回原因？',
      publishedVersion: (v) => `已发布第 ${v} 版。`,
      rolledBack: (v) => `已将 v${v} 的内容重新发布为新版本。`,
      fixJson: '请先修正 JSON',
      badJson: (m) => `数据结构或示例数据不是有效的 JSON：${m}`,
      cannotRender: (m) => `无法渲染：${m}`,
      smsMeta: (enc, n, len) => `编码 ${enc} · ${n} 条 · ${len} 个字符`,
      smsRule: (enc) =>
        enc === 'GSM-7'
          ? 'GSM-7：单条 160 字符，长短信每条 153 字符'
          : 'UCS-2：单条 70 字符，长短信每条 67 字符',
      subject: (s) => `主题：${s}`,
      plainText: '纯文本',
      emailFrame: '邮件 HTML 预览',
      letterTitle: (t) => `标题：${t}`,
      pages: (n) => `共 ${n} 页（由服务端生成的 PDF）`,
      rendering: '正在生成信函…',
      pageAlt: (i, n) => `信函第 ${i} 页，共 ${n} 页`,
      noFindings: '没有发现问题。',
      finding: (sev, rule, loc, msg) =>
        `${sev === 'error' ? '错误' : sev === 'warning' ? '警告' : sev} ${rule}（${loc}）：${msg}`,
      noDifferences: '没有差异。',
      diffBtn: (a, b) => `对比 v${a} → v${b}`,
      rollbackBtn: (v) => `回滚到 v${v}`,
      rollbackOf: (v) => `（回滚自 v${v}）`,
      unchanged: (n) => `… ${n} 行未改动 …`,
      change: { added: '新增', removed: '删除', changed: '修改' },
      versionLabel: (v) => `第 ${v} 版`,
      draftLabel: '草稿',
      insert: (name) => `插入 {{${name}}}`,
      testTo: '测试地址（沙箱；留空则用沙箱自带地址）',
      btnTestSend: '测试发送（沙箱）',
      testSent: (r) =>
        `已发送到 ${r.provider}（沙箱，不会真正发出）：${r.to}，消息编号 ${r.providerMessageId}。已记入模板审计日志。`,
    },
  };
  const LANG_STORE = 'cns.editor.lang';
  let lang = sessionStorage.getItem(LANG_STORE) === 'en' ? 'en' : 'zh-CN';
  const t = (k, ...args) => {
    const v = I18N[lang][k];
    return typeof v === 'function' ? v(...args) : v;
  };

  /** Each channel's template parts, as the service's channel registry says (GET /v1/channels). */
  const PARTS = {};

  const state = {
    key: null,
    locale: null,
    latest: null,
    draft: null,
    definition: null,
    previewTimer: null,
    previewSeq: 0,
    pdfSeq: 0,
    lastField: null,
    findings: [],
    lastPreview: null,
    diff: null,
    whoami: null,
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

  /** A letter preview PDF's bytes (same body as /preview). */
  async function pdfBytes(body) {
    const res = await fetch('/v1/templates/preview/pdf', {
      method: 'POST',
      headers: headers(true),
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      const p = await res.json();
      const err = new Error(p.detail || 'PDF preview failed');
      err.problem = p;
      throw err;
    }
    return new Uint8Array(await res.arrayBuffer());
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
    if (label) say(t(label), true);
    return true;
  }

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  // ------------------------------------------------------------------ pdf.js

  let pdfjs = null;
  async function pdfLib() {
    if (!pdfjs) {
      pdfjs = await import('/editor/pdfjs/pdf.min.mjs');
      pdfjs.GlobalWorkerOptions.workerSrc = '/editor/pdfjs/pdf.worker.min.mjs';
    }
    return pdfjs;
  }

  /**
   * Draws every page of a PDF into `box` as canvases `width` CSS pixels wide; returns the page
   * count. `stale()` true stops early (a newer render started).
   */
  async function drawPdf(bytes, box, width, stale = () => false) {
    const lib = await pdfLib();
    const doc = await lib.getDocument({ data: bytes, isEvalSupported: false }).promise;
    const canvases = [];
    try {
      for (let i = 1; i <= doc.numPages; i++) {
        const page = await doc.getPage(i);
        const base = page.getViewport({ scale: 1 });
        const ratio = window.devicePixelRatio || 1;
        const viewport = page.getViewport({ scale: (width / base.width) * ratio });
        const canvas = document.createElement('canvas');
        canvas.width = Math.floor(viewport.width);
        canvas.height = Math.floor(viewport.height);
        canvas.style.width = `${width}px`;
        canvas.dataset.page = String(i);
        canvas.setAttribute('role', 'img');
        canvas.setAttribute('aria-label', t('pageAlt', i, doc.numPages));
        await page.render({ canvasContext: canvas.getContext('2d'), viewport }).promise;
        if (stale()) return doc.numPages;
        canvases.push(canvas);
      }
      box.replaceChildren(...canvases);
      return doc.numPages;
    } finally {
      await doc.destroy();
    }
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
    if (!Object.keys(PARTS).length) {
      for (const c of (await api('GET', '/v1/channels')).items) PARTS[c.channel] = c.parts;
    }
    const items = await all('/v1/templates');
    const body = $('#template-list tbody');
    body.replaceChildren();
    for (const tpl of items) {
      const tr = document.createElement('tr');
      if (tpl.key === state.key && tpl.locale === state.locale) tr.setAttribute('aria-current', 'true');
      const name = document.createElement('td');
      const btn = text('button', `${tpl.key} (${tpl.locale})`, 'link');
      btn.type = 'button';
      btn.addEventListener('click', () => run(null, () => select(tpl.key, tpl.locale)));
      name.append(btn);
      const draft = text(
        'td',
        tpl.openDraft ? t('status')[tpl.openDraft.status] || tpl.openDraft.status : '',
      );
      tr.append(name, text('td', tpl.latestVersion === null ? '–' : `v${tpl.latestVersion}`), draft);
      body.append(tr);
    }
  }

  // ------------------------------------------------------------------ editor

  async function select(key, locale) {
    state.key = key;
    state.locale = locale;
    const tpl = await api('GET', `/v1/templates/${encodeURIComponent(key)}/${locale}`);
    state.latest = tpl.latest;
    state.draft = tpl.openDraft;
    state.definition = structuredClone((tpl.openDraft || tpl.latest).definition);
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
    for (const name of PARTS[def.channel])
      parts.append(partField(name, t(`part_${name}`), def.parts[name] || ''));
    (def.parts.attachments || []).forEach((a, i) => {
      parts.append(partField(`attachments.${i}.title`, t('attachmentTitle', i + 1), a.title));
      parts.append(partField(`attachments.${i}.letter`, t('attachmentBody', i + 1), a.letter));
    });
    $('#f-description').value = def.description || '';
    $('#f-schema').value = JSON.stringify(def.schema, null, 2);
    $('#f-example').value = JSON.stringify(def.exampleData, null, 2);
    for (const el of document.querySelectorAll('#draft-form textarea, #draft-form input')) {
      el.readOnly = !editable();
    }
    state.lastField = null;
    renderVariables(def.schema, def.exampleData);
  }

  function partField(name, label, value) {
    const id = `p-${name.replace(/\./g, '-')}`;
    const wrap = document.createElement('label');
    wrap.className = 'field';
    wrap.htmlFor = id;
    wrap.append(text('span', label));
    const single = name === 'letterTitle' || name === 'subject' || name.endsWith('.title');
    const el = document.createElement(single ? 'input' : 'textarea');
    el.id = id;
    el.name = name;
    el.value = value;
    el.spellcheck = false;
    if (!single && (name === 'html' || name === 'letter' || name.endsWith('.letter'))) el.className = 'tall';
    el.addEventListener('input', () => schedulePreview());
    el.addEventListener('focus', () => {
      state.lastField = el;
    });
    const lint = document.createElement('ul');
    lint.className = 'field-lint';
    lint.dataset.part = name;
    wrap.append(el, lint);
    return wrap;
  }

  // ------------------------------------------------------------------ variable picker

  /** Dotted paths of the schema's properties (nested objects flattened), with description. */
  function schemaVariables(schema, prefix = '', out = []) {
    const props = schema && typeof schema === 'object' ? schema.properties : null;
    if (!props || typeof props !== 'object') return out;
    for (const [name, sub] of Object.entries(props)) {
      const path = prefix ? `${prefix}.${name}` : name;
      if (sub && sub.type === 'object' && sub.properties) schemaVariables(sub, path, out);
      else
        out.push({
          path,
          description: (sub && sub.description) || '',
          required: (schema.required || []).includes(name),
        });
    }
    return out;
  }

  function exampleAt(data, path) {
    let v = data;
    for (const k of path.split('.')) v = v && typeof v === 'object' ? v[k] : undefined;
    return v;
  }

  function renderVariables(schema, example) {
    const list = $('#variable-list');
    list.replaceChildren();
    const vars = schemaVariables(schema);
    if (!vars.length) list.append(text('li', t('noVariables')));
    for (const v of vars) {
      const li = document.createElement('li');
      const btn = text('button', `{{${v.path}}}`);
      btn.type = 'button';
      btn.dataset.var = v.path;
      btn.title = t('insert', v.path);
      btn.setAttribute('aria-label', t('insert', v.path));
      // Keep the cursor in the field: no focus move on mousedown.
      btn.addEventListener('mousedown', (e) => e.preventDefault());
      btn.addEventListener('click', () => insertVariable(v.path));
      const ex = exampleAt(example, v.path);
      const info = document.createElement('span');
      info.append(text('span', ex === undefined ? '—' : JSON.stringify(ex), 'example'));
      if (v.description) info.append(document.createElement('br'), text('span', v.description));
      li.append(btn, info);
      list.append(li);
    }
  }

  function insertVariable(path) {
    const field =
      state.lastField && document.body.contains(state.lastField)
        ? state.lastField
        : document.querySelector('#parts textarea, #parts input');
    if (!field || field.readOnly) return;
    const snippet = `{{${path}}}`;
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    const top = field.scrollTop;
    field.setRangeText(snippet, start, end, 'end');
    field.focus({ preventScroll: true });
    field.scrollTop = top;
    field.dispatchEvent(new Event('input', { bubbles: true }));
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
          message: t('badJson', err.message),
          location: { part: 'schema' },
        },
      ]);
      return null;
    }
    return def;
  }

  function updateStatus() {
    const d = state.draft;
    const latest = state.latest ? t('publishedV', state.latest.version) : t('notPublished');
    $('#draft-status').textContent = d
      ? t('draftStatus', t('status')[d.status] || d.status, d.revision, d.authors.join(', '), latest)
      : t('noDraft', latest);
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
      out.replaceChildren(text('p', t('cannotRender', err.message), 'error'));
      if (err.problem && Array.isArray(err.problem.errors)) {
        const ul = document.createElement('ul');
        for (const e of err.problem.errors) ul.append(text('li', `${e.path}: ${e.message}`, 'error'));
        out.append(ul);
      }
      renderFindings((err.problem && err.problem.findings) || []);
      return;
    }
    if (seq !== state.previewSeq) return;
    state.lastPreview = p;
    renderPreview(p);
    renderFindings(p.findings);
    renderVariables(def.schema, def.exampleData);
    if (p.letter) await letterPages(def, seq);
    else {
      $('#letter-pages').replaceChildren();
      $('#letter-pages-meta').textContent = '';
    }
  }

  /** The letter as the service renders it (PDF), drawn page by page. */
  async function letterPages(def, seq) {
    const meta = $('#letter-pages-meta');
    meta.textContent = t('rendering');
    const box = $('#letter-pages');
    box.setAttribute('aria-busy', 'true');
    try {
      const bytes = await pdfBytes({ definition: def });
      if (seq !== state.previewSeq) return;
      const width = Math.min(560, Math.max(280, box.clientWidth - 4));
      const n = await drawPdf(bytes, box, width, () => seq !== state.previewSeq);
      if (seq !== state.previewSeq) return;
      box.dataset.pages = String(n);
      meta.textContent = t('pages', n);
    } finally {
      box.removeAttribute('aria-busy');
    }
  }

  function renderPreview(p) {
    const out = $('#preview');
    out.replaceChildren();
    if (p.sms) {
      const pre = text('pre', p.sms.text);
      pre.id = 'preview-sms';
      pre.setAttribute('aria-label', t('renderedSms'));
      out.append(pre);
      const over = (state.findings || []).some((f) => f.ruleId && f.ruleId.startsWith('sms-segment'));
      const meta = text(
        'p',
        t('smsMeta', p.sms.encoding, p.sms.segments, p.sms.length),
        over ? 'sms-meter over' : 'sms-meter',
      );
      meta.id = 'preview-sms-meta';
      meta.title = t('smsRule', p.sms.encoding);
      out.append(meta, text('p', t('smsRule', p.sms.encoding), 'hint'));
      if (p.registrations && p.registrations.length) out.append(registrationsTable(p.registrations));
    }
    if (p.email) {
      out.append(text('p', t('subject', p.email.subject)));
      const frame = document.createElement('iframe');
      frame.title = t('emailFrame');
      frame.setAttribute('sandbox', '');
      frame.srcdoc = p.email.html;
      out.append(frame, text('h4', t('plainText')), text('pre', p.email.text));
    }
    if (p.letter) out.append(text('p', t('letterTitle', p.letter.title)));
    if (p.voice) {
      const pre = text('pre', p.voice.text);
      pre.id = 'preview-voice';
      pre.setAttribute('aria-label', t('spokenText'));
      out.append(pre);
    }
  }

  /** Each gateway's registration of this SMS and whether it fits the body (from lint). */
  function registrationsTable(list) {
    const box = document.createElement('section');
    box.id = 'registrations';
    box.append(text('h4', t('registrationsTitle')));
    const table = document.createElement('table');
    const head = document.createElement('tr');
    for (const c of t('registrationCols')) head.append(text('th', c));
    table.append(head);
    for (const r of list) {
      const tr = document.createElement('tr');
      tr.dataset.kind = r.kind;
      const status = !r.configured
        ? t('registrationUnused')
        : r.templateCode === null
          ? t('registrationMissing')
          : r.problems.length
            ? r.problems.join('; ')
            : t('registrationOk');
      const bad = r.configured && (r.templateCode === null || r.problems.length > 0);
      tr.append(
        text('td', r.kind),
        text('td', r.templateCode ?? '—'),
        text('td', r.signName ?? '—'),
        text('td', status, bad ? 'error' : 'ok'),
      );
      table.append(tr);
    }
    box.append(table);
    return box;
  }

  function locationOf(f) {
    return [f.location.part, f.location.line, f.location.column].filter((x) => x !== undefined).join(':');
  }

  /** The findings as a list and, inline, under the field each one is about. */
  function renderFindings(findings) {
    state.findings = findings;
    const ul = $('#lint');
    ul.replaceChildren();
    for (const box of document.querySelectorAll('.field-lint')) box.replaceChildren();
    if (!findings.length) {
      ul.append(text('li', t('noFindings')));
      return;
    }
    for (const f of findings) {
      const line = t('finding', f.severity, f.ruleId, locationOf(f), f.message);
      ul.append(text('li', line, f.severity));
      const part = f.location && f.location.part;
      const box = part && document.querySelector(`.field-lint[data-part="${CSS.escape(part)}"]`);
      if (box) {
        const where = f.location.line !== undefined ? `${f.location.line}:${f.location.column ?? 1} ` : '';
        box.append(text('li', `${where}${f.ruleId}: ${f.message}`, f.severity));
      }
    }
    if (state.lastPreview && state.lastPreview.sms) renderPreview(state.lastPreview);
  }

  // ------------------------------------------------------------------ history and diff

  async function loadVersions(keepDiff = false) {
    const body = $('#versions tbody');
    if (!keepDiff) {
      $('#diff').replaceChildren();
      $('#diff-pages').hidden = true;
      state.diff = null;
    }
    if (!state.latest) {
      body.replaceChildren();
      return;
    }
    const items = await all(`/v1/templates/${encodeURIComponent(state.key)}/${state.locale}/versions`);
    body.replaceChildren();
    for (const v of items) {
      const tr = document.createElement('tr');
      tr.append(
        text('td', `v${v.version}`),
        text('td', new Date(v.publishedAt).toLocaleString(lang)),
        text('td', v.publishedBy),
        text('td', v.approvedBy || '–'),
        text('td', v.source + (v.source === 'rollback' ? t('rollbackOf', v.basedOnVersion) : '')),
      );
      const actions = document.createElement('td');
      if (v.version > 1) {
        const diff = text('button', t('diffBtn', v.version - 1, v.version));
        diff.type = 'button';
        diff.addEventListener('click', () => run(null, () => showDiff(v.version - 1, v.version)));
        actions.append(diff, ' ');
      }
      if (v.version !== state.latest.version) {
        const back = text('button', t('rollbackBtn', v.version));
        back.type = 'button';
        back.addEventListener('click', () =>
          run(null, async () => {
            await api('POST', `/v1/templates/${encodeURIComponent(state.key)}/${state.locale}/rollback`, {
              version: v.version,
            });
            await select(state.key, state.locale);
            say(t('rolledBack', v.version), true);
          }),
        );
        actions.append(back);
      }
      tr.append(actions);
      body.append(tr);
    }
  }

  const CONTEXT = 3;

  /**
   * Pairs a line diff into side-by-side rows: removed lines on the left, added ones on the
   * right, runs of unchanged lines beyond CONTEXT lines of a change folded into one gap row.
   */
  function sideBySide(lines) {
    const rows = [];
    let a = 0;
    let b = 0;
    for (let i = 0; i < lines.length;) {
      if (lines[i].op === ' ') {
        a += 1;
        b += 1;
        rows.push({ kind: 'same', left: lines[i].text, right: lines[i].text, la: a, lb: b });
        i += 1;
        continue;
      }
      const del = [];
      const add = [];
      while (i < lines.length && lines[i].op !== ' ') {
        (lines[i].op === '-' ? del : add).push(lines[i].text);
        i += 1;
      }
      for (let k = 0; k < Math.max(del.length, add.length); k++) {
        const row = { kind: 'change' };
        if (k < del.length) {
          a += 1;
          row.left = del[k];
          row.la = a;
        }
        if (k < add.length) {
          b += 1;
          row.right = add[k];
          row.lb = b;
        }
        rows.push(row);
      }
    }
    const near = rows.map(() => false);
    rows.forEach((r, i) => {
      if (r.kind !== 'change') return;
      for (let j = Math.max(0, i - CONTEXT); j <= Math.min(rows.length - 1, i + CONTEXT); j++) near[j] = true;
    });
    const out = [];
    for (let i = 0; i < rows.length; i++) {
      if (near[i]) out.push(rows[i]);
      else {
        let n = 0;
        while (i < rows.length && !near[i]) {
          n += 1;
          i += 1;
        }
        i -= 1;
        out.push({ kind: 'gap', n });
      }
    }
    return out;
  }

  function renderDiff(changes, from, to) {
    const box = $('#diff');
    box.replaceChildren();
    state.diff = { changes, from, to };
    if (!changes.length) {
      box.append(text('p', t('noDifferences')));
      return;
    }
    const left = from === null ? t('draftLabel') : t('versionLabel', from);
    const right = to === null ? t('draftLabel') : t('versionLabel', to);
    for (const c of changes) {
      const table = document.createElement('table');
      table.className = 'diff-table';
      table.dataset.field = c.field;
      table.append(text('caption', `${c.field} (${t('change')[c.change] || c.change})`));
      const head = document.createElement('tr');
      head.append(text('th', ''), text('th', left), text('th', ''), text('th', right));
      head.children[0].className = 'ln';
      head.children[2].className = 'ln';
      const thead = document.createElement('thead');
      thead.append(head);
      const colgroup = document.createElement('colgroup');
      for (const w of ['2.5rem', '', '2.5rem', '']) {
        const col = document.createElement('col');
        if (w) col.style.width = w;
        colgroup.append(col);
      }
      table.append(colgroup, thead);
      const body = document.createElement('tbody');
      for (const r of sideBySide(c.lines)) {
        const tr = document.createElement('tr');
        if (r.kind === 'gap') {
          tr.className = 'diff-gap';
          const td = text('td', t('unchanged', r.n));
          td.colSpan = 4;
          tr.append(td);
        } else {
          const del = r.kind === 'change' && r.left !== undefined;
          const add = r.kind === 'change' && r.right !== undefined;
          tr.append(
            text('td', r.la ?? '', 'ln'),
            text('td', r.left ?? '', del ? 'diff-del' : ''),
            text('td', r.lb ?? '', 'ln'),
            text('td', r.right ?? '', add ? 'diff-add' : ''),
          );
        }
        body.append(tr);
      }
      table.append(body);
      box.append(table);
    }
  }

  async function showDiff(from, to) {
    const d = await api(
      'GET',
      `/v1/templates/${encodeURIComponent(state.key)}/${state.locale}/diff?from=${from}&to=${to}`,
    );
    renderDiff(d.changes, from, to);
    await diffPages(from, to);
  }

  /** For letters: both versions rendered, page images side by side. */
  async function diffPages(from, to) {
    const box = $('#diff-pages');
    if (!state.definition || state.definition.channel !== 'letter') {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    $('#diff-pages-from').textContent = t('versionLabel', from);
    $('#diff-pages-to').textContent = t('versionLabel', to);
    const at = (version) => pdfBytes({ key: state.key, locale: state.locale, version });
    const [a, b] = await Promise.all([at(from), at(to)]);
    const width = Math.min(420, Math.max(240, $('#diff-pages-left').clientWidth - 4));
    await drawPdf(a, $('#diff-pages-left'), width);
    await drawPdf(b, $('#diff-pages-right'), width);
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

  bind('#btn-new', 'draftStarted', async () => {
    const d = await api('POST', '/v1/templates/drafts', { key: state.key, locale: state.locale });
    await refreshDraft(d);
  });
  bind('#btn-save', 'draftSaved', async () => {
    const def = formDefinition();
    if (!def) throw new Error(t('fixJson'));
    const d = await api('PUT', `/v1/templates/drafts/${state.draft.id}`, {
      revision: state.draft.revision,
      description: def.description,
      parts: def.parts,
      schema: def.schema,
      exampleData: def.exampleData,
    });
    await refreshDraft(d);
    const diff = await api('GET', `/v1/templates/drafts/${d.id}/diff`);
    renderDiff(diff.changes, state.latest ? state.latest.version : null, null);
  });
  bind('#btn-submit', 'submitted', async () => {
    const d = await api('POST', `/v1/templates/drafts/${state.draft.id}/submit`);
    await refreshDraft(d);
  });
  bind('#btn-approve', 'approved', async () => {
    const d = await api('POST', `/v1/templates/drafts/${state.draft.id}/approve`);
    await refreshDraft(d);
  });
  bind('#btn-reject', 'sentBack', async () => {
    const reason = window.prompt(t('whyBack')) || '';
    const d = await api('POST', `/v1/templates/drafts/${state.draft.id}/reject`, { reason });
    await refreshDraft(d);
  });
  bind('#btn-withdraw', 'withdrawn', async () => {
    await api('POST', `/v1/templates/drafts/${state.draft.id}/withdraw`);
    await select(state.key, state.locale);
  });
  bind('#btn-publish', null, async () => {
    const v = await api('POST', `/v1/templates/drafts/${state.draft.id}/publish`);
    await select(state.key, state.locale);
    say(t('publishedVersion', v.version), true);
    if (v.version > 1) await showDiff(v.version - 1, v.version);
  });

  $('#btn-test-send').addEventListener('click', () =>
    run(null, async () => {
      const def = formDefinition();
      if (!def) throw new Error(t('fixJson'));
      const to = $('#test-to').value.trim();
      const body = state.draft && !editable() ? { draftId: state.draft.id } : { definition: def };
      const r = await api('POST', '/v1/templates/test-send', { ...body, ...(to ? { to } : {}) });
      const status = $('#test-send-status');
      status.textContent = t('testSent', r);
      status.dataset.providerMessageId = r.providerMessageId;
    }),
  );

  // ------------------------------------------------------------------ language

  function whoamiText() {
    return state.whoami ? t('signedIn', state.whoami.name, state.whoami.scopes.join(', ')) : t('notSignedIn');
  }

  /** Applies the interface language to the static texts and re-renders what is on screen. */
  function applyLang() {
    document.documentElement.lang = lang;
    document.title = `${t('title')} · collection notices`;
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const b of document.querySelectorAll('[data-lang]'))
      b.setAttribute('aria-pressed', String(b.dataset.lang === lang));
    $('#whoami').textContent = whoamiText();
    $('#letter-pages').setAttribute('aria-label', lang === 'en' ? 'Letter pages' : '信函页面');
    if (state.definition) {
      // Keep what is being typed: re-label the fields in place.
      for (const wrap of document.querySelectorAll('#parts label.field')) {
        const name = wrap.htmlFor.replace(/^p-/, '').split('-');
        const span = wrap.querySelector('span');
        if (name[0] === 'attachments')
          span.textContent = t(
            name[2] === 'title' ? 'attachmentTitle' : 'attachmentBody',
            Number(name[1]) + 1,
          );
        else span.textContent = t(`part_${name[0]}`);
      }
      updateStatus();
      if (state.lastPreview) renderPreview(state.lastPreview);
      renderFindings(state.findings);
      const def = formDefinition();
      if (def) renderVariables(def.schema, def.exampleData);
      if (state.diff) renderDiff(state.diff.changes, state.diff.from, state.diff.to);
      run(null, loadList);
      run(null, () => loadVersions(true));
    }
  }

  for (const b of document.querySelectorAll('[data-lang]')) {
    b.addEventListener('click', () => {
      lang = b.dataset.lang;
      sessionStorage.setItem(LANG_STORE, lang);
      applyLang();
    });
  }

  // ------------------------------------------------------------------ start

  const KEY_STORE = 'cns.editor.apikey';

  /** Shows whose key is in use (its name is the acting user for every change). */
  async function signIn() {
    state.whoami = null;
    if (!$('#apikey').value.trim()) {
      $('#whoami').textContent = whoamiText();
      return;
    }
    try {
      state.whoami = await api('GET', '/v1/auth/whoami');
    } finally {
      $('#whoami').textContent = whoamiText();
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
    state.whoami = null;
    $('#whoami').textContent = whoamiText();
    key.focus();
  });
  for (const id of ['#f-description', '#f-schema', '#f-example']) {
    $(id).addEventListener('input', () => schedulePreview());
  }
  for (const id of ['#f-schema', '#f-example']) {
    $(id).addEventListener('focus', () => {
      state.lastField = null;
    });
  }
  applyLang();
  if (key.value) run(null, signIn);
  else say(t('enterKey'), true);
})();
