import type { LetterLocale, LetterService } from './types.js';

/** Fixed wording printed by the layout itself (everything else comes from the caller's Markdown). */
export interface LetterLabels {
  caseNo: string;
  documentNo: string;
  date: string;
  /** Endorsement printed in the address window for each postal service class. */
  service: Readonly<Record<LetterService, string>>;
  recipientLine: (name: string) => string;
  page: (n: number, total: number) => string;
  bodyDigest: string;
  verify: (url: string) => string;
  attachment: (n: number) => string;
  phone: string;
  sealNote: string;
  signedFor: string;
  formatDate: (isoDate: string) => string;
  /** Separator used between a label and its value. */
  colon: string;
}

const EN_MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function parts(isoDate: string): [number, number, number] {
  const [y, m, d] = isoDate.split('-').map(Number);
  return [y, m, d];
}

const ZH: LetterLabels = {
  caseNo: '案件编号',
  documentNo: '文书编号',
  date: '日期',
  service: { registered: '挂号信', ordinary: '平信' },
  recipientLine: (name) => `${name} 收`,
  page: (n, total) => `第 ${n} 页 共 ${total} 页`,
  bodyDigest: '正文 SHA-256',
  verify: (url) => `扫描二维码或访问 ${url} 核验本文书`,
  attachment: (n) => `附件${n}`,
  phone: '客服电话',
  sealNote: '（盖章）',
  signedFor: '',
  formatDate: (iso) => {
    const [y, m, d] = parts(iso);
    return `${y}年${m}月${d}日`;
  },
  colon: '：',
};

const EN: LetterLabels = {
  caseNo: 'Case No.',
  documentNo: 'Document No.',
  date: 'Date',
  service: { registered: 'REGISTERED MAIL', ordinary: 'ORDINARY MAIL' },
  recipientLine: (name) => name,
  page: (n, total) => `Page ${n} of ${total}`,
  bodyDigest: 'Body SHA-256',
  verify: (url) => `Scan the QR code or visit ${url} to verify this document`,
  attachment: (n) => `Attachment ${n}`,
  phone: 'Phone',
  sealNote: '(seal)',
  signedFor: 'For and on behalf of',
  formatDate: (iso) => {
    const [y, m, d] = parts(iso);
    return `${d} ${EN_MONTHS[m - 1]} ${y}`;
  },
  colon: ': ',
};

export function labelsFor(locale: LetterLocale): LetterLabels {
  return locale === 'zh-CN' ? ZH : EN;
}
