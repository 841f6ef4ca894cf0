// The /legal page: vanilla JS, no framework, no build. Every API call carries the API key the
// user entered (kept in sessionStorage: this tab only). Untrusted text goes in with textContent.
// Labels (event names, channels, statuses, receipt sources) come from the API (?lang=zh-CN), the
// same words the 送达证明 prints; times are shown in Beijing time unless the user switches.
/* global document, sessionStorage, Headers, fetch, history, URL, location, Node */
(() => {
  'use strict';
  const KEY = 'cns.legal.apiKey';
  const TZ_KEY = 'cns.legal.tz';
  const $ = (id) => document.getElementById(id);
  let current = null;
  let downloadUrl = null;
  /** The last loaded case (timeline + eligibility), re-rendered when the time zone changes. */
  let loaded = { timeline: null, eligibility: null };

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
        if (p && Array.isArray(p.errors) && p.errors.length)
          detail += `: ${p.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`;
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

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function cell(tr, value, cls) {
    const td = document.createElement('td');
    if (value instanceof Node) td.appendChild(value);
    else td.textContent = value === null || value === undefined || value === '' ? '—' : String(value);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  // ---------------------------------------------------------------- time

  function zone() {
    const v = document.querySelector('input[name="tz"]:checked');
    return v ? v.value : 'beijing';
  }

  const formats = new Map();
  function formatter(timeZone) {
    const k = timeZone || 'local';
    if (!formats.has(k)) {
      formats.set(
        k,
        new Intl.DateTimeFormat('en-CA', {
          ...(timeZone ? { timeZone } : {}),
          year: 'numeric',
          month: '2-digit',
          day: '2-digit',
          hour: '2-digit',
          minute: '2-digit',
          second: '2-digit',
          hourCycle: 'h23',
          timeZoneName: 'longOffset',
        }),
      );
    }
    return formats.get(k);
  }

  /** `2026-11-24 10:00:00 +08:00` of an ISO instant in the chosen zone. */
  function fmtTime(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return iso || '—';
    const z = zone();
    const f = formatter(z === 'beijing' ? 'Asia/Shanghai' : z === 'utc' ? 'UTC' : undefined);
    const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
    const off = (p.timeZoneName || 'GMT').replace(/^GMT/, '') || '+00:00';
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${off}`;
  }

  function timeEl(iso) {
    if (!iso) return el('span', '—');
    const t = el('time', fmtTime(iso));
    t.dateTime = iso;
    t.title = iso;
    return t;
  }

  function zoneName() {
    const z = zone();
    return z === 'beijing' ? '北京时间' : z === 'utc' ? 'UTC' : '本机时区';
  }

  // ---------------------------------------------------------------- key and search

  function showKeyState() {
    const has = apiKey() !== '';
    setStatus(
      $('key-status'),
      has ? '本标签页已设置密钥。' : '尚未输入密钥：密钥只保存在本标签页（sessionStorage）。',
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
    setStatus($('find-status'), '查找中…', 'muted');
    try {
      const res = await api(`/v1/evidence/cases?prefix=${encodeURIComponent(q)}&limit=50`);
      const { cases } = await res.json();
      setStatus(
        $('find-status'),
        cases.length ? `找到 ${cases.length} 个案件。` : '没有匹配的案件。',
        'muted',
      );
      for (const c of cases) {
        const li = document.createElement('li');
        const b = el(
          'button',
          `${c.caseId} · ${c.events} 条证据 · 最近 ${fmtTime(c.updatedAt)}`,
          'secondary',
        );
        b.type = 'button';
        b.setAttribute('aria-label', `打开案件 ${c.caseId}`);
        b.addEventListener('click', () => openCase(c.caseId));
        li.appendChild(b);
        list.appendChild(li);
      }
      if (cases.length === 1) await openCase(cases[0].caseId);
    } catch (err) {
      setStatus($('find-status'), `查找失败：${err.message}`, 'bad');
    }
  });

  async function openCase(caseId) {
    current = caseId;
    loaded = { timeline: null, eligibility: null };
    $('case').hidden = false;
    $('case-heading').textContent = `案件 ${caseId}`;
    setStatus($('verify-status'), '', '');
    setStatus($('download-status'), '', '');
    setStatus($('facts-status'), '', '');
    $('bundle-details').hidden = true;
    $('download-link').hidden = true;
    history.replaceState(null, '', `#case=${encodeURIComponent(caseId)}`);
    await Promise.all([loadCase(caseId), verify()]);
  }

  async function loadCase(caseId) {
    const id = encodeURIComponent(caseId);
    const [t, e] = await Promise.allSettled([
      api(`/v1/cases/${id}/timeline?lang=zh-CN`).then((r) => r.json()),
      api(`/v1/cases/${id}/legal-eligibility`).then((r) => r.json()),
    ]);
    loaded = {
      timeline: t.status === 'fulfilled' ? t.value : { error: t.reason.message },
      eligibility: e.status === 'fulfilled' ? e.value : { error: e.reason.message },
    };
    render();
  }

  function render() {
    if (loaded.timeline) renderNotices(loaded.timeline);
    if (loaded.eligibility) renderEligibility(loaded.eligibility, loaded.timeline);
  }

  // ---------------------------------------------------------------- notices and their events

  function eventTable(rows, caption) {
    const table = document.createElement('table');
    table.className = 'events';
    table.appendChild(el('caption', caption));
    const head = document.createElement('thead');
    const hr = document.createElement('tr');
    for (const h of ['证据序号', `时间（${zoneName()}）`, '事件', '详情', '原始类型']) {
      const th = el('th', h);
      th.scope = 'col';
      hr.appendChild(th);
    }
    head.appendChild(hr);
    table.appendChild(head);
    const body = document.createElement('tbody');
    for (const r of rows) {
      const tr = document.createElement('tr');
      tr.id = `ev-${r.seq}`;
      cell(tr, `#${r.seq}`);
      cell(tr, timeEl(r.time));
      cell(tr, r.label);
      cell(tr, r.receipt || r.detail);
      cell(tr, r.event, 'mono');
      body.appendChild(tr);
    }
    table.appendChild(body);
    return table;
  }

  function facts(pairs) {
    const dl = el('dl', null, 'facts');
    for (const [k, v] of pairs) {
      dl.appendChild(el('dt', k));
      const dd = document.createElement('dd');
      if (v instanceof Node) dd.appendChild(v);
      else dd.textContent = v === null || v === undefined || v === '' ? '—' : String(v);
      dl.appendChild(dd);
    }
    return dl;
  }

  function renderNotices(t) {
    const list = $('notice-list');
    list.replaceChildren();
    if (t.error) {
      list.appendChild(el('p', `记录不可用：${t.error}`, 'bad'));
      return;
    }
    const byNotice = new Map();
    const caseRows = [];
    for (const r of t.rows) {
      if (!r.notificationId) caseRows.push(r);
      else {
        if (!byNotice.has(r.notificationId)) byNotice.set(r.notificationId, []);
        byNotice.get(r.notificationId).push(r);
      }
    }
    t.notices.forEach((n, i) => {
      const sec = document.createElement('section');
      sec.className = `notice ${n.proof}`;
      sec.id = `notice-${n.notificationId}`;
      sec.setAttribute('aria-labelledby', `notice-h-${i}`);
      const h = el(
        'h4',
        `通知 ${i + 1}：${n.labels.channel || '—'} · ${n.labels.role || '—'} · ${n.labels.status || '—'}`,
      );
      h.id = `notice-h-${i}`;
      sec.appendChild(h);
      const template =
        n.templateKey && n.templateVersion !== null
          ? `${n.templateKey} 第 ${n.templateVersion} 版`
          : n.templateKey;
      sec.appendChild(
        facts([
          ['通知编号', n.notificationId],
          ['渠道', n.labels.channel],
          ['收件地址（已遮蔽）', n.maskedAddress],
          ['模板及版本', template],
          ['受理时间', timeEl(n.acceptedAt)],
          ['发出时间', timeEl(n.sentAt)],
          ['送达时间', timeEl(n.deliveredAt)],
          ['最终状态', n.labels.status],
          ['服务商 / 消息编号', [n.provider, n.providerMessageId].filter(Boolean).join(' / ')],
          ['证明效力', n.labels.proof],
        ]),
      );
      const rt = document.createElement('table');
      rt.className = 'receipts';
      rt.appendChild(el('caption', `回执（${n.receipts.length} 份）`));
      const rh = document.createElement('tr');
      for (const x of ['证据序号', `时间（${zoneName()}）`, '结果', '服务商状态', '来源']) {
        const th = el('th', x);
        th.scope = 'col';
        rh.appendChild(th);
      }
      const rthead = document.createElement('thead');
      rthead.appendChild(rh);
      rt.appendChild(rthead);
      const rb = document.createElement('tbody');
      for (const r of n.receipts) {
        const tr = document.createElement('tr');
        const link = el('a', `#${r.seq}`);
        link.href = `#ev-${r.seq}`;
        cell(tr, link);
        cell(tr, timeEl(r.time));
        cell(tr, r.outcomeLabel);
        cell(tr, r.providerStatus);
        const src = el('span', r.sourceLabel || r.source || '—');
        const td = cell(tr, src);
        if (r.sandbox) td.appendChild(el('span', ' 沙箱，不作证明', 'tag sandbox'));
        rb.appendChild(tr);
      }
      if (!n.receipts.length) {
        const tr = document.createElement('tr');
        cell(tr, '尚无回执').colSpan = 5;
        rb.appendChild(tr);
      }
      rt.appendChild(rb);
      sec.appendChild(rt);
      sec.appendChild(eventTable(byNotice.get(n.notificationId) || [], '证据事件'));
      list.appendChild(sec);
    });
    if (!t.notices.length) list.appendChild(el('p', '本案没有通知。', 'muted'));
    $('case-events').hidden = caseRows.length === 0;
    $('case-event-table').replaceChildren(eventTable(caseRows, '案件事件'));
  }

  // ---------------------------------------------------------------- eligibility

  const CRITERIA = {
    outstanding_principal: {
      name: '未偿本金',
      unit: '元',
      explain: (c) =>
        `未偿本金不低于 ${c.threshold} 元。取本案最新的本金：任一模板的通知数据（outstandingPrincipal，其次 principal，再次 amountDue），或通过接口登记的案件事实，以证据序号最后者为准。`,
    },
    delivered_notices: {
      name: '有送达证明的通知',
      unit: '件',
      explain: (c) =>
        `至少 ${c.threshold} 件发给债务人本人的通知有服务商的真实送达回执。沙箱回执不作证明；经联系人转达的通知不计。`,
    },
    months_without_payment: {
      name: '未还款月数',
      unit: '个月',
      explain: (c) =>
        `自最后还款日起已满 ${c.threshold} 个月（按北京时间的日历月计算）。最后还款日取自本案最新的通知数据或登记的案件事实。`,
    },
  };

  function sourceWords(src) {
    if (!src) return '无';
    if (src.startsWith('facts.')) return `登记的案件事实（${src.slice(6)}）`;
    if (src.startsWith('data.')) return `通知数据（${src.slice(5)}）`;
    if (src.startsWith('receipt.received')) return '服务商真实送达回执（不含沙箱）';
    return src;
  }

  function renderEligibility(rep, timeline) {
    const box = $('criteria');
    box.replaceChildren();
    if (rep.error) {
      setStatus($('eligibility-summary'), `起诉条件不可用：${rep.error}`, 'bad');
      return;
    }
    const rows = new Map(((timeline && timeline.rows) || []).map((r) => [r.seq, r]));
    for (const c of rep.criteria) {
      const d = CRITERIA[c.id] || { name: c.id, unit: c.unit, explain: () => '' };
      const div = document.createElement('div');
      div.className = `criterion ${c.met ? 'met' : 'unmet'}`;
      div.dataset.criterion = c.id;
      const h = el('h4', `${d.name}：`);
      h.appendChild(el('span', c.met ? '已满足' : '未满足', c.met ? 'ok' : 'bad'));
      div.appendChild(h);
      div.appendChild(el('p', d.explain(c), 'muted'));
      div.appendChild(
        facts([
          ['查得的值', c.value === null ? '不明' : `${c.value} ${d.unit}`],
          ['要求', `≥ ${c.threshold} ${d.unit}`],
          ['取值来源', sourceWords(c.source)],
          ...(c.lastPaymentDate ? [['最后还款日', c.lastPaymentDate]] : []),
          ...(c.sandboxOnly ? [['仅沙箱送达（不计）', `${c.sandboxOnly} 件`]] : []),
          ['计算说明', c.reason],
        ]),
      );
      const ul = el('ul', null, 'proofs');
      ul.setAttribute('aria-label', `${d.name}的证据`);
      for (const seq of c.evidenceSeqs) {
        const li = document.createElement('li');
        const a = el('a', `证据 #${seq}`);
        a.href = `#ev-${seq}`;
        a.addEventListener('click', () => flash(seq));
        li.appendChild(a);
        const r = rows.get(seq);
        if (r)
          li.appendChild(
            document.createTextNode(` ${r.label} · ${fmtTime(r.time)}${r.detail ? ` · ${r.detail}` : ''}`),
          );
        ul.appendChild(li);
      }
      if (!c.evidenceSeqs.length) ul.appendChild(el('li', '没有证明它的证据事件。', 'muted'));
      div.appendChild(ul);
      box.appendChild(div);
    }
    setStatus(
      $('eligibility-summary'),
      rep.eligible
        ? `各项条件均已满足（截至 ${fmtTime(rep.asOf)}）。`
        : `不符合起诉条件：至少一项未满足（截至 ${fmtTime(rep.asOf)}）。`,
      rep.eligible ? 'ok' : 'bad',
    );
  }

  function flash(seq) {
    for (const r of document.querySelectorAll('tr.flash')) r.classList.remove('flash');
    const tr = $(`ev-${seq}`);
    if (tr) tr.classList.add('flash');
  }

  // ---------------------------------------------------------------- chain, bundle, facts

  async function verify() {
    if (!current) return;
    const s = $('verify-status');
    setStatus(s, '正在校验哈希链…', 'muted');
    try {
      const v = await (
        await api('/v1/evidence/verify', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ caseId: current }),
        })
      ).json();
      if (v.ok)
        setStatus(s, `哈希链校验通过：${v.events} 条证据，链末哈希 ${v.headHash.slice(0, 16)}…`, 'ok');
      else setStatus(s, `哈希链在序号 ${v.brokenSeq} 处断裂：${v.failure}（${v.detail || ''}）`, 'bad');
    } catch (err) {
      setStatus(s, `校验失败：${err.message}`, 'bad');
    }
  }

  $('verify').addEventListener('click', verify);

  const CHECK_WORDS = { ok: '通过', bad: '不通过' };

  $('download').addEventListener('click', async () => {
    if (!current) return;
    const s = $('download-status');
    const btn = $('download');
    const checks = $('bundle-checks');
    btn.disabled = true;
    $('bundle-details').hidden = true;
    setStatus(s, '正在生成证据包…', 'muted');
    try {
      const res = await api(`/v1/cases/${encodeURIComponent(current)}/evidence.zip`);
      const blob = await res.blob();
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
      downloadUrl = URL.createObjectURL(blob);
      const a = $('download-link');
      a.href = downloadUrl;
      a.download = `evidence-${current}.zip`;
      a.textContent = `保存 evidence-${current}.zip`;
      a.hidden = false;
      a.click();
      const head = res.headers.get('x-evidence-head-seq');
      const cp = res.headers.get('x-checkpoint-id');
      setStatus(s, `证据包已下载（${blob.size} 字节，证据 1–${head}，检查点 ${cp}），正在核验…`, 'muted');
      // The very bytes saved are sent back and checked against the service's published key.
      const v = await (
        await api('/v1/evidence/bundles/verify', {
          method: 'POST',
          headers: { 'content-type': 'application/zip' },
          body: blob,
        })
      ).json();
      checks.replaceChildren(
        ...v.checks.map((c) =>
          el('li', `${c.element}：${CHECK_WORDS[c.ok ? 'ok' : 'bad']}（${c.detail}）`, c.ok ? '' : 'bad'),
        ),
      );
      const bad = v.checks.filter((c) => !c.ok).length;
      $('bundle-summary').textContent = `核验明细：${v.checks.length} 项，${bad} 项不通过`;
      $('bundle-details').hidden = false;
      $('bundle-details').open = bad > 0;
      setStatus(
        s,
        v.ok
          ? `证据包核验通过：签名、文件哈希、哈希链（${v.events} 条）、检查点${v.timestamp ? '与时间戳' : ''}均一致（${blob.size} 字节，检查点 ${cp}）。离线核验：npm run evidence:verify。`
          : `证据包核验不通过：${v.firstError ? `${v.firstError.element}：${v.firstError.detail}` : '未知错误'}`,
        v.ok ? 'ok' : 'bad',
      );
    } catch (err) {
      setStatus(s, `下载或核验失败：${err.message}`, 'bad');
    } finally {
      btn.disabled = false;
    }
  });

  $('facts-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!current) return;
    const s = $('facts-status');
    const body = {};
    if ($('fact-date').value) body.lastPaymentDate = $('fact-date').value;
    if ($('fact-principal').value.trim()) body.principal = $('fact-principal').value.trim();
    if ($('fact-note').value.trim()) body.note = $('fact-note').value.trim();
    try {
      const r = await (
        await api(`/v1/cases/${encodeURIComponent(current)}/facts`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json();
      setStatus(s, `已登记为证据 #${r.seq}（${r.actor}）。`, 'ok');
      await loadCase(current);
    } catch (err) {
      setStatus(s, `登记失败：${err.message}`, 'bad');
    }
  });

  // ---------------------------------------------------------------- start

  const saved = sessionStorage.getItem(TZ_KEY);
  if (saved) {
    const r = document.querySelector(`input[name="tz"][value="${saved}"]`);
    if (r) r.checked = true;
  }
  for (const r of document.querySelectorAll('input[name="tz"]')) {
    r.addEventListener('change', () => {
      sessionStorage.setItem(TZ_KEY, zone());
      render();
    });
  }

  showKeyState();
  const m = /^#case=(.+)$/.exec(location.hash);
  if (m && apiKey()) {
    $('case-query').value = decodeURIComponent(m[1]);
    openCase(decodeURIComponent(m[1]));
  }
})();
