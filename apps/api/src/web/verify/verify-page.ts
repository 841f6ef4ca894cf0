import type { CheckResult, DocumentView, VerifyLang } from '#libs/evidence';

/**
 * Server-rendered HTML of `/verify/:documentId` (no script: works on any phone that scanned the
 * QR code, and the CSP allows none). zh-CN first, English with `?lang=en`.
 */

export type PageOutcome =
  | { kind: 'view' }
  | { kind: 'checked'; check: CheckResult; sha256: string; method: 'upload' | 'hash' }
  | { kind: 'invalid_hash' }
  | { kind: 'no_input' }
  | { kind: 'too_large'; maxBytes: number }
  | { kind: 'unsupported_type' }
  | { kind: 'rate_limited'; retryAfter: number };

export interface PageInput {
  documentId: string;
  lang: VerifyLang;
  view: DocumentView;
  outcome: PageOutcome;
  bankPhone: string;
  bankWebsite?: string;
  maxBytes: number;
}

const T = {
  'zh-CN': {
    title: '文书真伪核验',
    switchTo: 'English',
    genuineRecord: '真实文书：本行出具',
    genuineRecordText:
      '此编号对应本行出具并存档的文书。请核对下列信息与您手中的文书一致，并可上传文件逐字节核对。',
    notIssued: '并非本行出具',
    notIssuedText:
      '本行没有出具与此相符的文书。请勿按该文书上的电话、账户或二维码付款或联系，请拨打本行官方客服电话核实。',
    genuine: '与本行存档一致',
    genuineText: '您提供的文件与本行出具并存档的文书逐字节一致（SHA-256 相同）。',
    mismatch: '您提供的文件与本行存档不一致：文件可能被改动或伪造。',
    invalidHash: '哈希格式不正确：请粘贴 64 位十六进制的 SHA-256 值。',
    noInput: '请选择要上传的 PDF 文件，或粘贴其 SHA-256 值。',
    tooLarge: (mb: number) => `文件过大（上限 ${mb} MB）。`,
    unsupported: '请上传 PDF 文件（application/pdf）或粘贴 SHA-256 值。',
    rateLimited: (s: number) => `查询过于频繁，请 ${s} 秒后再试。`,
    state: {
      current: '当前有效',
      cancelled: '已撤销（本行已撤回此文书，无需据此办理）',
      superseded: (d: string) => `已被本行 ${d} 出具的新通知取代`,
    },
    record: '本行存档记录',
    fields: {
      bank: '出具机构',
      type: '文书类型',
      date: '文书日期',
      recipient: '收件人',
      id: '文书编号',
      sha: '存档文件 SHA-256',
      attachment: '附件 SHA-256',
      status: '状态',
    },
    checkTitle: '核对您手中的文书',
    upload: '上传 PDF 文件',
    uploadButton: '上传并核对',
    paste: '或粘贴文件的 SHA-256',
    pasteButton: '核对哈希',
    checked: '已核对的 SHA-256',
    advice: (phone: string) =>
      `如有疑问，请拨打本行官方客服电话 ${phone}（请以本行官网或银行卡背面公布的号码为准），不要使用可疑文书上提供的联系方式。本页不显示金额、电话号码或完整姓名地址。`,
    privacy: '每次核验都会记入本案证据记录（不保存您的 IP 地址明文）。',
  },
  en: {
    title: 'Document verification',
    switchTo: '中文',
    genuineRecord: 'Genuine: issued by us',
    genuineRecordText:
      'This number belongs to a document we issued and keep on file. Compare the details below with the document you hold, or upload the file to check it byte for byte.',
    notIssued: 'Not issued by us',
    notIssuedText:
      'We issued no document matching this. Do not pay or call using the phone numbers, accounts or QR codes on it; call our official customer service to check.',
    genuine: 'Genuine: matches our records',
    genuineText: 'The file you gave is byte for byte the document we issued and keep on file (same SHA-256).',
    mismatch: 'The file you gave differs from our records: it may have been altered or forged.',
    invalidHash: 'That is not a SHA-256: paste 64 hexadecimal digits.',
    noInput: 'Choose the PDF file to upload, or paste its SHA-256.',
    tooLarge: (mb: number) => `The file is too large (at most ${mb} MB).`,
    unsupported: 'Upload a PDF file (application/pdf) or paste a SHA-256.',
    rateLimited: (s: number) => `Too many checks; try again in ${s} s.`,
    state: {
      current: 'Current',
      cancelled: 'Cancelled (we withdrew this document; no action is needed on it)',
      superseded: (d: string) => `Superseded by a newer notice we issued on ${d}`,
    },
    record: 'Our record of this document number',
    fields: {
      bank: 'Issued by',
      type: 'Document type',
      date: 'Document date',
      recipient: 'Recipient',
      id: 'Document number',
      sha: 'SHA-256 of the file on record',
      attachment: 'Attachment SHA-256',
      status: 'Status',
    },
    checkTitle: 'Check the document you hold',
    upload: 'Upload the PDF file',
    uploadButton: 'Upload and check',
    paste: "or paste the file's SHA-256",
    pasteButton: 'Check hash',
    checked: 'SHA-256 checked',
    advice: (phone: string) =>
      `If in doubt, call our official customer service on ${phone} (as published on our website or on the back of your card), never a number given on a doubtful document. This page never shows amounts, phone numbers or full names and addresses.`,
    privacy: "Every check is recorded in the case's evidence (your IP address is not stored in clear).",
  },
} as const;

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A hex hash in groups of 8 so it wraps on a phone. */
function groupedHex(hex: string): string {
  return hex.replace(/(.{8})(?=.)/g, '$1 ');
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font-family:"Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;background:#f4f5f7;color:#1d2330;line-height:1.55}
header{background:#7a1f1f;color:#fff;padding:14px 20px;display:flex;justify-content:space-between;align-items:center;gap:12px}
header h1{font-size:18px;margin:0;font-weight:600}
header a{color:#fff;font-size:14px;white-space:nowrap}
html:lang(en) body{font-family:system-ui,"Noto Sans","DejaVu Sans",sans-serif}
main{max-width:760px;margin:20px auto;padding:0 16px}
.verdict{border-radius:8px;padding:16px 18px;margin-bottom:18px;border:2px solid}
.verdict h2{margin:0 0 6px;font-size:22px}
.verdict p{margin:0}
.ok{background:#e9f7ee;border-color:#2e8b57;color:#14502f}
.bad{background:#fdecec;border-color:#c0392b;color:#7b1d14}
.warn{background:#fff6e0;border-color:#c98a00;color:#6b4a00}
.note{background:#eef2f7;border-color:#8896ab;color:#2c3747}
section{background:#fff;border-radius:8px;padding:16px 18px;margin-bottom:18px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
section h3{margin:0 0 10px;font-size:16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 6px;border-bottom:1px solid #e6e8eb;vertical-align:top;font-size:14px}
th{width:34%;color:#58606e;font-weight:500}
code{font-family:"DejaVu Sans Mono",ui-monospace,monospace;font-size:13px;word-break:break-all}
form{margin:8px 0 14px}
label{display:block;font-size:14px;margin-bottom:6px;color:#3a4250}
input[type=text]{width:100%;padding:8px;font-family:ui-monospace,monospace;font-size:13px;border:1px solid #b9bfc8;border-radius:4px}
button{margin-top:8px;padding:8px 16px;border:0;border-radius:4px;background:#7a1f1f;color:#fff;font-size:14px;cursor:pointer}
.small{font-size:13px;color:#58606e}
`;

export function renderVerifyPage(p: PageInput): string {
  const L = T[p.lang];
  const e = escapeHtml;
  const q = p.lang === 'en' ? '?lang=en' : '';
  const self = `/verify/${encodeURIComponent(p.documentId)}`;
  const other = p.lang === 'en' ? self : `${self}?lang=en`;
  const v = p.view;
  const o = p.outcome;

  let verdict: string;
  let result: string;
  if (o.kind === 'checked') {
    if (o.check.result === 'genuine') {
      result = 'genuine';
      verdict = box('ok', L.genuine, L.genuineText);
    } else {
      result = 'not_issued';
      verdict = box('bad', L.notIssued, `${L.mismatch} ${L.notIssuedText}`);
    }
  } else if (o.kind === 'view') {
    result = v.issued ? 'issued' : 'not_issued';
    verdict = v.issued
      ? box('ok', L.genuineRecord, L.genuineRecordText)
      : box('bad', L.notIssued, L.notIssuedText);
  } else if (o.kind === 'rate_limited') {
    result = 'rate_limited';
    verdict = box('warn', L.rateLimited(o.retryAfter), '');
  } else {
    result = 'invalid';
    const msg =
      o.kind === 'invalid_hash'
        ? L.invalidHash
        : o.kind === 'too_large'
          ? L.tooLarge(Math.round(o.maxBytes / 1048576))
          : o.kind === 'unsupported_type'
            ? L.unsupported
            : L.noInput;
    verdict = box('warn', msg, '');
  }

  const checkedRow =
    o.kind === 'checked'
      ? `<p class="small">${e(L.checked)}${p.lang === 'en' ? ': ' : '：'}<code>${e(groupedHex(o.sha256))}</code></p>`
      : '';

  // Details only for a document we issued: what its holder already reads on it, masked.
  let details = '';
  if (v.issued && o.kind !== 'rate_limited') {
    const stateText =
      v.state === 'current'
        ? L.state.current
        : v.state === 'cancelled'
          ? L.state.cancelled
          : L.state.superseded(v.supersededOn ?? '');
    const rows: [string, string][] = [
      [L.fields.bank, e(v.bankName)],
      [L.fields.type, e(v.documentType)],
      [L.fields.date, e(v.date)],
      [L.fields.recipient, e(v.maskedRecipient)],
      [L.fields.id, `<code>${e(v.documentId)}</code>`],
      [L.fields.sha, `<code data-sha256="${e(v.sha256)}">${e(groupedHex(v.sha256))}</code>`],
      ...v.attachments.map((a): [string, string] => [
        L.fields.attachment,
        `<code>${e(groupedHex(a.sha256))}</code>`,
      ]),
      [L.fields.status, `<span data-state="${e(v.state)}">${e(stateText)}</span>`],
    ];
    details = `<section><h3>${e(L.record)}</h3><table>${rows.map(([k, val]) => `<tr><th>${e(k)}</th><td>${val}</td></tr>`).join('')}</table></section>`;
  }

  const forms =
    o.kind === 'rate_limited'
      ? ''
      : `<section><h3>${e(L.checkTitle)}</h3>
<form method="post" action="${e(self + q)}" enctype="multipart/form-data">
<label for="file">${e(L.upload)}</label>
<input id="file" type="file" name="file" accept="application/pdf,.pdf">
<button type="submit">${e(L.uploadButton)}</button>
</form>
<form method="post" action="${e(self + q)}">
<label for="sha256">${e(L.paste)}</label>
<input id="sha256" type="text" name="sha256" maxlength="200" autocomplete="off" spellcheck="false" placeholder="e3b0c442 98fc1c14 …">
<button type="submit">${e(L.pasteButton)}</button>
</form></section>`;

  return `<!doctype html>
<html lang="${p.lang === 'en' ? 'en' : 'zh-CN'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<link rel="icon" href="data:,">
<title>${e(L.title)} · ${e(v.bankName)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${e(v.bankName)} · ${e(L.title)}</h1><a href="${e(other)}" hreflang="${p.lang === 'en' ? 'zh-CN' : 'en'}">${e(L.switchTo)}</a></header>
<main data-result="${result}"${v.issued ? ` data-state="${v.state}"` : ''}>
${verdict}
${checkedRow}
${details}
${forms}
<section class="small"><p>${e(L.advice(p.bankPhone))}</p><p>${e(L.privacy)}</p></section>
</main>
</body>
</html>
`;
}

function box(cls: string, title: string, text: string): string {
  return `<div class="verdict ${cls}" role="status"><h2>${escapeHtml(title)}</h2>${text ? `<p>${escapeHtml(text)}</p>` : ''}</div>`;
}
