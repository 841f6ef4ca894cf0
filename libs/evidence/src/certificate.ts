import { channelDefinition, channelLabels } from '#libs/channels';
import type { ChainedEvent, JsonValue } from './chain.js';

/**
 * The 送达证明 (delivery certificate) of an evidence bundle, as a court clerk reads it: one section
 * per notice (channel, recipient role, masked address, template and version, sent and delivered
 * times in the recipient's zone and in Beijing time, provider and its message id, where the
 * receipt came from, whether it counts as proof), then the checkpoint, time stamp and how to
 * verify. Pure: the notices are folded from the case's events; the Markdown goes to the letter
 * renderer (bundle.service.ts). Chinese by default, English on request.
 */

export type CertificateLang = 'zh-CN' | 'en';

type Obj = { [k: string]: JsonValue };

function obj(v: JsonValue | undefined): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

function str(v: JsonValue | undefined): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

export interface NoticeReceipt {
  seq: number;
  time: string;
  outcome: string;
  providerStatus: string | null;
  /** How it reached the service: `webhook`, `vendor-webhook`, `print-room-tracking`, `sandbox`, … */
  source: string | null;
  sandbox: boolean;
}

/** What the certificate prints about one notice. */
export interface NoticeSummary {
  notificationId: string;
  channel: string | null;
  role: string | null;
  /** Masked destination: phone `138****8000`, email `z***@…`, postal `上海市****`. */
  maskedAddress: string | null;
  timeZone: string;
  templateKey: string | null;
  templateVersion: number | null;
  acceptedAt: string | null;
  sentAt: string | null;
  deliveredAt: string | null;
  /** The last status the events recorded. */
  status: string | null;
  provider: string | null;
  providerMessageId: string | null;
  receipts: NoticeReceipt[];
  artifactSha256: string | null;
  /** `legal`: delivered with a real receipt; `sandbox`: delivered only in the sandbox; `none`: not delivered. */
  proof: 'legal' | 'sandbox' | 'none';
  /** First and last evidence seq of the notice's delivery record (public lookups not included). */
  seqs: [number, number];
  /** Lookups on the public verification page (`document.verified`). */
  verifications: number;
}

function maskedDestination(channel: string | null, recipient: Obj | undefined): string | null {
  if (!recipient) return null;
  if (!channel) return null;
  const address = obj(recipient.address);
  return channelDefinition(channel).maskedAddress({
    phone: str(recipient.phone) ?? undefined,
    email: str(recipient.email) ?? undefined,
    address: address ? { province: str(address.province) ?? '', city: str(address.city) ?? '' } : undefined,
  });
}

/** Folds a case's events (in seq order) into one summary per notice, in order of acceptance. */
export class NoticeSummaryBuilder {
  private readonly byId = new Map<string, NoticeSummary>();
  /** Notices accepted after the first `max` (counted, not summarised: memory stays bounded). */
  omitted = 0;

  constructor(private readonly max = Number.POSITIVE_INFINITY) {}

  add(ev: ChainedEvent): void {
    const nid = ev.notificationId;
    if (!nid) return;
    const p = obj(ev.payload);
    let n = this.byId.get(nid);
    if (!n) {
      if (ev.type !== 'notification.accepted') return;
      if (this.byId.size >= this.max) {
        this.omitted += 1;
        return;
      }
      n = {
        notificationId: nid,
        channel: null,
        role: null,
        maskedAddress: null,
        timeZone: 'Asia/Shanghai',
        templateKey: null,
        templateVersion: null,
        acceptedAt: null,
        sentAt: null,
        deliveredAt: null,
        status: null,
        provider: null,
        providerMessageId: null,
        receipts: [],
        artifactSha256: null,
        proof: 'none',
        seqs: [ev.seq, ev.seq],
        verifications: 0,
      };
      this.byId.set(nid, n);
    }
    if (ev.type === 'document.verified') {
      n.verifications += 1;
      return;
    }
    n.seqs[1] = ev.seq;
    switch (ev.type) {
      case 'notification.accepted': {
        const req = obj(p?.request);
        const recipient = obj(req?.recipient);
        n.acceptedAt = ev.occurredAt;
        n.channel = str(req?.channel);
        n.templateKey = str(req?.templateKey);
        n.role = str(recipient?.role);
        n.timeZone = str(recipient?.timeZone) ?? 'Asia/Shanghai';
        n.maskedAddress = maskedDestination(n.channel, recipient);
        if (!n.maskedAddress && recipient) this.pendingRecipient.set(nid, recipient);
        break;
      }
      case 'template.pinned': {
        n.templateKey = str(p?.key) ?? n.templateKey;
        n.templateVersion = typeof p?.version === 'number' ? p.version : n.templateVersion;
        // Automatic requests name no channel: the template key does (`<stage>.<channel>.<name>`).
        if (!n.channel && n.templateKey) n.channel = n.templateKey.split('.')[1] ?? null;
        const pending = this.pendingRecipient.get(nid);
        if (!n.maskedAddress && pending) n.maskedAddress = maskedDestination(n.channel, pending);
        break;
      }
      case 'message.rendered':
        n.artifactSha256 = str(p?.sha256);
        break;
      case 'provider.request':
        n.provider = str(p?.provider) ?? n.provider;
        break;
      case 'provider.response':
        n.provider = str(p?.provider) ?? n.provider;
        n.providerMessageId = str(p?.providerMessageId) ?? n.providerMessageId;
        n.sentAt ??= ev.occurredAt;
        break;
      case 'receipt.received': {
        const verification = obj(p?.verification);
        const raw = obj(p?.raw);
        const via = str(verification?.via);
        const rawSource = str(raw?.source);
        const sandbox = p?.sandbox === true;
        const outcome = str(p?.outcome) ?? 'unknown';
        n.receipts.push({
          seq: ev.seq,
          time: ev.occurredAt,
          outcome,
          providerStatus: str(p?.providerStatus),
          source: via && rawSource && rawSource !== via ? `${via}/${rawSource}` : (via ?? rawSource),
          sandbox,
        });
        n.providerMessageId ??= str(p?.providerMessageId);
        if (outcome === 'delivered') {
          n.deliveredAt ??= ev.occurredAt;
          if (!sandbox) n.proof = 'legal';
          else if (n.proof === 'none') n.proof = 'sandbox';
        }
        break;
      }
      case 'status.changed': {
        const to = str(p?.to);
        if (to) n.status = to;
        // The service's own record of the send wins over the provider's clock (provider.response).
        if (to === 'sent' && !this.sentByStatus.has(nid)) {
          this.sentByStatus.add(nid);
          n.sentAt = ev.occurredAt;
        }
        break;
      }
      default:
        break;
    }
  }

  private readonly pendingRecipient = new Map<string, Obj>();
  private readonly sentByStatus = new Set<string>();

  notices(): NoticeSummary[] {
    return [...this.byId.values()];
  }
}

export function summariseNotices(events: Iterable<ChainedEvent>): NoticeSummary[] {
  const b = new NoticeSummaryBuilder();
  for (const ev of events) b.add(ev);
  return b.notices();
}

/* Time in a zone. */

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = zoneFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
    zoneFormats.set(timeZone, f);
  }
  return f;
}

/** `2026-11-24 10:00:00 +08:00` of an ISO instant in an IANA zone (Beijing for an unknown zone). */
export function zonedTime(iso: string, timeZone: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  let f: Intl.DateTimeFormat;
  try {
    f = formatterFor(timeZone);
  } catch {
    f = formatterFor('Asia/Shanghai');
  }
  const parts = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  const off = (parts.timeZoneName ?? 'GMT').replace(/^GMT/, '') || '+00:00';
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${off}`;
}

export const BEIJING = 'Asia/Shanghai';

/* Wording. */

/**
 * The certificate's wording: channel, recipient role, status, receipt outcome and source, proof
 * labels and field names, per language. Exported so the /legal page shows the same words.
 */
export const CERTIFICATE_WORDS = {
  'zh-CN': {
    channel: channelLabels('zh-CN'),
    role: { debtor: '本人', contact: '联系人', guarantor: '担保人' } as Record<string, string>,
    status: {
      accepted: '已受理',
      scheduled: '已排期',
      sending: '发送中',
      sent: '已发出',
      delivered: '已送达',
      undelivered: '未送达',
      failed: '发送失败',
      suppressed: '已拦截（合规规则）',
      cancelled: '已撤销',
    } as Record<string, string>,
    outcome: {
      queued: '排队中',
      sent: '已发出',
      delivered: '已送达',
      undelivered: '未送达',
      failed: '失败',
      unknown: '状态不明',
    } as Record<string, string>,
    source: {
      webhook: '服务商签名回调',
      'vendor-webhook': '印刷邮寄服务商签名回调',
      'print-room-tracking': '邮件跟踪文件导入',
      sandbox: '沙箱模拟',
    } as Record<string, string>,
    proof: {
      legal: '可作送达证明（服务商真实回执）',
      sandbox: '沙箱，不作证明（测试模拟回执）',
      none: '无送达回执，不作送达证明',
    },
    beijing: '北京时间',
    local: '收件人当地时间',
    notice: (i: number) => `通知 ${i}`,
    f: {
      id: '通知编号',
      channel: '渠道',
      role: '收件人身份',
      address: '收件地址（已遮蔽）',
      template: '模板及版本',
      version: (v: number) => `第 ${v} 版`,
      accepted: '受理时间',
      sent: '发出时间',
      delivered: '送达时间',
      status: '最终状态',
      provider: '服务商',
      providerId: '服务商消息编号',
      receipt: '回执来源',
      proof: '证明效力',
      sha: '文书 SHA-256',
      seqs: '证据序号',
      verifications: '公开核验',
      times: (k: number) => `${k} 次（document.verified）`,
    },
  },
  en: {
    channel: channelLabels('en'),
    role: { debtor: 'cardholder', contact: 'contact', guarantor: 'guarantor' } as Record<string, string>,
    status: {
      accepted: 'accepted',
      scheduled: 'scheduled',
      sending: 'sending',
      sent: 'sent',
      delivered: 'delivered',
      undelivered: 'undelivered',
      failed: 'failed',
      suppressed: 'suppressed (compliance rule)',
      cancelled: 'cancelled',
    } as Record<string, string>,
    outcome: {
      queued: 'queued',
      sent: 'sent',
      delivered: 'delivered',
      undelivered: 'undelivered',
      failed: 'failed',
      unknown: 'unknown',
    } as Record<string, string>,
    source: {
      webhook: 'signed provider callback',
      'vendor-webhook': 'signed print-vendor callback',
      'print-room-tracking': 'tracking file import',
      sandbox: 'sandbox simulation',
    } as Record<string, string>,
    proof: {
      legal: 'proof of delivery (real provider receipt)',
      sandbox: 'sandbox receipt, not proof',
      none: 'no delivery receipt, not proof of delivery',
    },
    beijing: 'Beijing time',
    local: "recipient's local time",
    notice: (i: number) => `Notice ${i}`,
    f: {
      id: 'Notice id',
      channel: 'Channel',
      role: 'Recipient',
      address: 'Address (masked)',
      template: 'Template and version',
      version: (v: number) => `version ${v}`,
      accepted: 'Accepted',
      sent: 'Sent',
      delivered: 'Delivered',
      status: 'Final status',
      provider: 'Provider',
      providerId: 'Provider message id',
      receipt: 'Receipt source',
      proof: 'Evidential value',
      sha: 'Document SHA-256',
      seqs: 'Evidence seqs',
      verifications: 'Public verifications',
      times: (k: number) => `${k} (document.verified)`,
    },
  },
} as const;

const W = CERTIFICATE_WORDS;

function cell(s: string | null | undefined): string {
  return (
    (s ?? '—')
      .replace(/\\/g, '\\\\')
      .replace(/\|/g, '\\|')
      .replace(/\*/g, '\\*')
      .replace(/\s+/g, ' ')
      .trim() || '—'
  );
}

/** Escapes a value printed inline (names, ids) for the letters' Markdown subset: `\\` and `*`. */
function inline(s: string): string {
  return s.replace(/([\\*])/g, '\\$1');
}

/** A long hex string in groups, so the PDF can break it across lines. */
export function groupedHex(hex: string): string {
  return hex.replace(/(.{16})(?=.)/g, '$1 ');
}

/** A time in Beijing time, and in the recipient's zone when that differs. */
export function bothTimes(iso: string | null, timeZone: string, lang: CertificateLang): string | null {
  if (!iso) return null;
  const L = W[lang];
  const bj = `${zonedTime(iso, BEIJING)}（${L.beijing}）`;
  if (timeZone === BEIJING) return lang === 'zh-CN' ? bj : `${zonedTime(iso, BEIJING)} (${L.beijing})`;
  const local = `${zonedTime(iso, timeZone)} ${timeZone}`;
  return lang === 'zh-CN'
    ? `${local}（${L.local}）；${bj}`
    : `${local} (${L.local}); ${zonedTime(iso, BEIJING)} (${L.beijing})`;
}

/** Where a notice's deciding receipt came from, in words (`服务商签名回调（已送达）`). */
export function receiptSource(n: NoticeSummary, lang: CertificateLang): string | null {
  const L = W[lang];
  const last = n.receipts.find((r) => r.outcome === 'delivered') ?? n.receipts[n.receipts.length - 1];
  if (!last) return null;
  const base = last.source ? last.source.split('/')[0] : null;
  const word = base ? (L.source[base] ?? last.source) : null;
  const outcome = L.outcome[last.outcome] ?? last.outcome;
  const status = last.providerStatus
    ? lang === 'zh-CN'
      ? `；服务商状态 ${last.providerStatus}`
      : `; provider status ${last.providerStatus}`
    : '';
  const sandbox = last.sandbox && base !== 'sandbox' ? (lang === 'zh-CN' ? '，沙箱' : ', sandbox') : '';
  return lang === 'zh-CN'
    ? `${word ?? '未知来源'}（${outcome}${status}${sandbox}）`
    : `${word ?? 'unknown source'} (${outcome}${status}${sandbox})`;
}

/** One notice as a Markdown section (a heading and a two-column table). */
export function noticeSection(n: NoticeSummary, index: number, lang: CertificateLang): string[] {
  const L = W[lang];
  const f = L.f;
  const channel = n.channel ? (L.channel[n.channel] ?? n.channel) : null;
  const role = n.role ? (L.role[n.role] ?? n.role) : null;
  const template =
    n.templateKey && n.templateVersion !== null
      ? `${n.templateKey} ${f.version(n.templateVersion)}`
      : (n.templateKey ?? null);
  const heading =
    lang === 'zh-CN'
      ? `**${L.notice(index)}：${channel ?? '—'} · ${role ?? '—'}**`
      : `**${L.notice(index)}: ${channel ?? '—'} · ${role ?? '—'}**`;
  const rows: [string, string | null][] = [
    [f.id, n.notificationId],
    [f.channel, channel],
    [f.role, role],
    [f.address, n.maskedAddress],
    [f.template, template],
    [f.accepted, bothTimes(n.acceptedAt, n.timeZone, lang)],
    [f.sent, bothTimes(n.sentAt, n.timeZone, lang)],
    [f.delivered, bothTimes(n.deliveredAt, n.timeZone, lang)],
    [f.status, n.status ? (L.status[n.status] ?? n.status) : null],
    [f.provider, n.provider],
    [f.providerId, n.providerMessageId],
    [f.receipt, receiptSource(n, lang)],
    [f.proof, L.proof[n.proof]],
    [f.sha, n.artifactSha256 ? groupedHex(n.artifactSha256) : null],
    [f.seqs, `${n.seqs[0]}–${n.seqs[1]}`],
    ...(n.verifications > 0 ? [[f.verifications, f.times(n.verifications)] as [string, string]] : []),
  ];
  return [
    heading,
    '',
    lang === 'zh-CN' ? '| 项目 | 内容 |' : '| Item | Value |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`),
    '',
  ];
}

export interface CertificateCheckpoint {
  id: number;
  treeSize: number;
  rootHash: string;
  createdAt: string;
  tsaGenTime: string | null;
}

export interface CertificateContent {
  caseId: string;
  debtorName: string | null;
  head: { seq: number; hash: string };
  checkpoint: CertificateCheckpoint;
  notices: NoticeSummary[];
  /** Notices left out (the full record is events.jsonl). */
  omittedNotices: number;
  artifacts: number;
  keyId: string;
  createdAt: Date;
  bankName: string;
  bankPhone: string;
  publicKeyUrl: string;
}

/** The Markdown body of the 送达证明. */
export function certificateBody(c: CertificateContent, lang: CertificateLang): string {
  const cp = c.checkpoint;
  const L = W[lang];
  const bj = (iso: string) =>
    lang === 'zh-CN'
      ? `${zonedTime(iso, BEIJING)}（${L.beijing}）`
      : `${zonedTime(iso, BEIJING)} (${L.beijing})`;
  const delivered = c.notices.filter((n) => n.proof === 'legal').length;
  const sandboxOnly = c.notices.filter((n) => n.proof === 'sandbox').length;
  const sections = c.notices.flatMap((n, i) => noticeSection(n, i + 1, lang));
  if (lang === 'en') {
    return [
      `Case number: **${inline(c.caseId)}**${c.debtorName ? ` · Cardholder: **${inline(c.debtorName)}**` : ''}`,
      '',
      `This certificate was generated by the collection-notice service of ${c.bankName} from its evidence ledger. It records the sending and delivery of each notice of the case up to evidence seq ${c.head.seq}. Every record is written into the case's hash chain (SHA-256, each entry linked to the previous one); the chain's last entry is covered by a checkpoint signed with the service's Ed25519 key (a Merkle root over the last entries of all cases)${cp.tsaGenTime ? ', which also carries a trusted time stamp' : ''}. Times are given in Beijing time (UTC+08:00) and, where it differs, in the recipient's local time.`,
      '',
      `## Summary`,
      '',
      '| Item | Value |',
      '|---|---|',
      `| Notices | ${c.notices.length + c.omittedNotices} |`,
      `| Delivered with a real receipt | ${delivered} |`,
      `| Delivered in the sandbox only (not proof) | ${sandboxOnly} |`,
      `| Documents enclosed | ${c.artifacts} (artifacts folder) |`,
      '',
      '## Notices',
      '',
      ...sections,
      ...(c.omittedNotices > 0
        ? [`${c.omittedNotices} further notices are not listed here; the full record is events.jsonl.`, '']
        : []),
      '## Checkpoint and time stamp',
      '',
      '| Item | Value |',
      '|---|---|',
      `| Last evidence seq | ${c.head.seq} |`,
      `| Last evidence hash | ${groupedHex(c.head.hash)} |`,
      `| Checkpoint | no. ${cp.id}, covering ${cp.treeSize} cases |`,
      `| Checkpoint root hash | ${groupedHex(cp.rootHash)} |`,
      `| Checkpoint time | ${bj(cp.createdAt)} |`,
      `| Trusted time stamp | ${cp.tsaGenTime ? `${bj(cp.tsaGenTime)}, see timestamp.tsr` : 'no time-stamp authority configured'} |`,
      `| Signing key id | ${groupedHex(c.keyId)} |`,
      `| Generated | ${bj(c.createdAt.toISOString())} |`,
      '',
      '## How to verify',
      '',
      `1. Obtain the bank's published public key (${c.publicKeyUrl}, or from ${c.bankName}, ${c.bankPhone}) and compare it with public-key.pem in the bundle.`,
      '2. In the unzipped bundle, check every file: sha256sum -c SHA256SUMS.',
      '3. Check the signature of the manifest: openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile manifest.sig; the same for checkpoint.json and checkpoint.sig.',
      cp.tsaGenTime
        ? '4. Check the time stamp: openssl ts -verify -data checkpoint.json -in timestamp.tsr -CAfile <the TSA certificate>.'
        : '4. (No time stamp in this bundle.)',
      '5. Or run the verifier: npm run evidence:verify -- <bundle.zip>; it recomputes the chain and names the first broken seq.',
      '',
      'Receipts marked sandbox are simulations for testing and are not proof of delivery.',
    ].join('\n');
  }
  return [
    `案件编号：**${inline(c.caseId)}**${c.debtorName ? `\u3000\u3000持卡人：**${inline(c.debtorName)}**` : ''}`,
    '',
    `本证明由${c.bankName}催收通知服务依据其证据账本自动生成，载明本案截至证据序号 ${c.head.seq} 的各项通知的发送与送达记录。每一条记录都写入本案的哈希链（SHA-256，逐条串联），链末条由服务以 Ed25519 密钥签名的检查点（全部案件链末条的 Merkle 根）覆盖${cp.tsaGenTime ? '，检查点另有可信时间戳' : ''}。时间均以北京时间（UTC+08:00）表示；收件人所在时区不同的，另注收件人当地时间。`,
    '',
    '## 概要',
    '',
    '| 项目 | 内容 |',
    '|---|---|',
    `| 通知总数 | ${c.notices.length + c.omittedNotices} 件 |`,
    `| 有真实回执的送达 | ${delivered} 件 |`,
    `| 仅沙箱模拟送达（不作证明） | ${sandboxOnly} 件 |`,
    `| 随附文书 | ${c.artifacts} 份（artifacts 目录） |`,
    '',
    '## 逐件通知',
    '',
    ...sections,
    ...(c.omittedNotices > 0 ? [`另有 ${c.omittedNotices} 件通知未列入，完整记录见 events.jsonl。`, ''] : []),
    '## 检查点与时间戳',
    '',
    '| 项目 | 内容 |',
    '|---|---|',
    `| 证据链末条序号 | ${c.head.seq} |`,
    `| 证据链末条哈希 | ${groupedHex(c.head.hash)} |`,
    `| 检查点 | 第 ${cp.id} 号，覆盖 ${cp.treeSize} 个案件 |`,
    `| 检查点根哈希 | ${groupedHex(cp.rootHash)} |`,
    `| 检查点时间 | ${bj(cp.createdAt)} |`,
    `| 可信时间戳 | ${cp.tsaGenTime ? `${bj(cp.tsaGenTime)}，见 timestamp.tsr` : '未配置时间戳服务'} |`,
    `| 签名密钥标识 | ${groupedHex(c.keyId)} |`,
    `| 生成时间 | ${bj(c.createdAt.toISOString())} |`,
    '',
    '## 核验方法',
    '',
    `1. 取得本行公布的公钥（${c.publicKeyUrl}，或向${c.bankName}索取，电话 ${c.bankPhone}），与证据包内 public-key.pem 比对一致。`,
    '2. 在解压后的证据包目录中核对每个文件的哈希：sha256sum -c SHA256SUMS。',
    '3. 核验清单签名：openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile manifest.sig；checkpoint.json 与 checkpoint.sig 同法核验。',
    cp.tsaGenTime
      ? '4. 核验时间戳：openssl ts -verify -data checkpoint.json -in timestamp.tsr -CAfile <时间戳服务证书>。'
      : '4. （本证据包无时间戳。）',
    '5. 或运行核验程序：npm run evidence:verify -- <证据包.zip>，程序重算哈希链并指出第一处不一致的序号。',
    '',
    '标注“沙箱”的回执仅为测试模拟，不构成送达证明。',
  ].join('\n');
}
