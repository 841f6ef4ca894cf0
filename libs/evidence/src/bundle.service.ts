import { type EventRow, toEvent } from './evidence.service.js';
import type { Writable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CLOCK, type Clock } from '#libs/core';
import { renderLetterPdf } from '#libs/letters';
import { Db } from '#libs/persistence';
import type { ChainedEvent, JsonValue } from './chain.js';
import { type BundleArtifact, type EvidenceBundleResult, writeEvidenceBundle } from './bundle.js';
import { CheckpointService, type StoredCheckpoint } from './checkpoint.service.js';
import { EvidenceSigningKeys } from './signer.js';
import { TimelineBuilder, type TimelineRow } from './eligibility.js';
import type { CaseInclusionProof } from './merkle.js';

/**
 * Builds a case's evidence bundle from the database as a stream: events are read in pages of
 * seq, artifacts one at a time, the zip is piped into the caller's stream (the HTTP response).
 * The bundle covers the case's chain up to the head in a checkpoint (a fresh one when the latest
 * does not cover the case's current head), so the inclusion proof is for the bundle's last event.
 */

/** A file the case's events reference: name inside `artifacts/`, declared hash and type. */
export interface ArtifactRef {
  name: string;
  sha256: string;
  mediaType: string;
  notificationId: string | null;
  seq: number;
}

export function artifactExtension(mediaType: string): string {
  const t = mediaType.split(';')[0].trim().toLowerCase();
  if (t === 'text/plain') return '.txt';
  if (t === 'message/rfc822') return '.eml';
  if (t === 'application/pdf') return '.pdf';
  if (t === 'text/html') return '.html';
  return '.bin';
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Collects the artifacts `message.rendered` events reference (the message itself and any
 * `attachments`), named by notification id: `<id>.txt|.eml|.pdf`, `<id>-attachment-1.pdf`, …
 */
export class ArtifactCollector {
  readonly refs: ArtifactRef[] = [];
  private readonly names = new Set<string>();
  private readonly seen = new Set<string>();

  add(ev: ChainedEvent): void {
    if (ev.type !== 'message.rendered') return;
    const p = ev.payload;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return;
    const base = ev.notificationId ?? `seq-${ev.seq}`;
    this.push(base, p.sha256, p.mediaType, ev);
    const atts = p.attachments;
    if (Array.isArray(atts)) {
      atts.forEach((a, i) => {
        if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
          this.push(`${base}-attachment-${i + 1}`, a.sha256, a.mediaType, ev);
        }
      });
    }
  }

  private push(
    base: string,
    sha: JsonValue | undefined,
    type: JsonValue | undefined,
    ev: ChainedEvent,
  ): void {
    if (typeof sha !== 'string' || !HEX64.test(sha)) return;
    const mediaType = typeof type === 'string' ? type : 'application/octet-stream';
    const key = `${base}|${sha}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const ext = artifactExtension(mediaType);
    let name = `${base}${ext}`;
    for (let n = 2; this.names.has(name); n++) name = `${base}-${n}${ext}`;
    this.names.add(name);
    this.refs.push({ name, sha256: sha, mediaType, notificationId: ev.notificationId, seq: ev.seq });
  }
}

const CHANNEL_ZH: Record<string, string> = { sms: '短信', email: '电子邮件', letter: '信函' };
const EVENT_ZH: Record<string, string> = {
  'notification.accepted': '受理通知',
  'message.rendered': '生成文书',
  'provider.response': '服务商已接收',
  'provider.error': '发送出错',
  'receipt.received': '收到回执',
  'status.changed': '状态变更',
};

/** Beijing time `YYYY-MM-DD HH:mm:ss` of an ISO instant. */
export function beijingTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}

function cell(s: string | null | undefined): string {
  return (s ?? '—').replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim() || '—';
}

/** A long hex string in groups, so the PDF can break it across lines. */
function grouped(hex: string): string {
  return hex.replace(/(.{16})(?=.)/g, '$1 ');
}

export interface CertificateInput {
  caseId: string;
  debtorName: string | null;
  head: { seq: number; hash: string };
  checkpoint: StoredCheckpoint;
  rows: TimelineRow[];
  /** Rows left out of the table (the full timeline is events.jsonl). */
  omitted: number;
  artifacts: number;
  keyId: string;
  createdAt: Date;
}

/** The Markdown body of the 送达证明 (delivery certificate). */
export function certificateMarkdown(c: CertificateInput, bankName: string): string {
  const cp = c.checkpoint.signed.checkpoint;
  const lines = [
    `案件编号：**${c.caseId}**${c.debtorName ? `\u3000\u3000持卡人：**${c.debtorName}**` : ''}`,
    '',
    `本证明由${bankName}催收通知服务依据其证据账本自动生成，载明本案截至证据序号 ${c.head.seq} 的各项通知的发送与送达记录。每一条记录都写入本案的哈希链（SHA-256，逐条串联），链末条由服务以 Ed25519 密钥签名的检查点（全部案件链末条的 Merkle 根）覆盖${c.checkpoint.tsaGenTime ? '，检查点另有可信时间戳' : ''}。`,
    '',
    '| 项目 | 内容 |',
    '|---|---|',
    `| 证据链末条序号 | ${c.head.seq} |`,
    `| 证据链末条哈希 | ${grouped(c.head.hash)} |`,
    `| 检查点 | 第 ${c.checkpoint.id} 号，覆盖 ${cp.treeSize} 个案件 |`,
    `| 检查点根哈希 | ${grouped(cp.rootHash)} |`,
    `| 检查点时间 | ${beijingTime(cp.createdAt)}（北京时间） |`,
    `| 可信时间戳 | ${c.checkpoint.tsaGenTime ? `${beijingTime(c.checkpoint.tsaGenTime)}（北京时间，见 timestamp.tsr）` : '未配置时间戳服务'} |`,
    `| 签名密钥标识 | ${grouped(c.keyId)} |`,
    `| 随附文书 | ${c.artifacts} 份（artifacts 目录） |`,
    `| 生成时间 | ${beijingTime(c.createdAt.toISOString())}（北京时间） |`,
    '',
    '## 通知时间线',
    '',
    '| 时间（北京时间） | 渠道 | 事件 | 服务商编号 | 回执 |',
    '|---|---|---|---|---|',
    ...c.rows.map((r) => {
      const event = `${EVENT_ZH[r.event] ?? r.event}${r.event === 'status.changed' ? ` ${r.detail}` : ''}`;
      const receipt = r.receipt ? r.receipt.replace(/ sandbox$/, '（沙箱，不作证明）') : null;
      return `| ${beijingTime(r.time)} | ${cell(r.channel ? (CHANNEL_ZH[r.channel] ?? r.channel) : null)} | ${cell(event)} | ${cell(r.providerId)} | ${cell(receipt)} |`;
    }),
    '',
    ...(c.omitted > 0 ? [`另有 ${c.omitted} 条记录未列入上表，完整记录见 events.jsonl。`, ''] : []),
    '## 核验方法',
    '',
    '证据包内 manifest.json 列出每个文件的 SHA-256 与大小，manifest.sig 是对 manifest.json 的 Ed25519 签名。核验者可向本行索取公布的公钥，使用 openssl 与 sha256sum 独立核验签名与哈希，步骤见 README.txt。标注“沙箱”的回执仅为测试模拟，不构成送达证明。',
  ];
  return lines.join('\n');
}

export interface CaseBundlePlan {
  caseId: string;
  checkpoint: StoredCheckpoint;
  proof: CaseInclusionProof;
  /** The bundle covers seq 1..head.seq (the head in the checkpoint). */
  head: { seq: number; hash: string };
}

@Injectable()
export class EvidenceBundleService {
  private readonly log = new Logger('EvidenceBundle');
  /** Timeline rows printed in the certificate; the rest are counted. */
  static readonly CERTIFICATE_MAX_ROWS = 300;

  constructor(
    private readonly db: Db,
    private readonly checkpoints: CheckpointService,
    private readonly keys: EvidenceSigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** A case's events with `seq <= upToSeq`, read from the database `pageSize` at a time. */
  async *events(caseId: string, upToSeq = 2_147_483_647, pageSize = 1000): AsyncGenerator<ChainedEvent> {
    let after = 0;
    for (;;) {
      const rows = await this.db.rows<EventRow>(
        'SELECT case_id, seq, notification_id, type, occurred_at, recorded_at, payload, prev_hash, hash FROM evidence_events WHERE case_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
        [caseId, after, upToSeq, pageSize],
      );
      for (const r of rows) yield toEvent(r);
      if (rows.length < pageSize) return;
      after = Number(rows[rows.length - 1].seq);
    }
  }

  /** Artifacts read one at a time (the content of one is in memory while it is written). */
  async *artifacts(refs: readonly ArtifactRef[]): AsyncGenerator<BundleArtifact> {
    for (const ref of refs) {
      const [row] = await this.db.rows<{ content: Buffer; media_type: string }>(
        'SELECT content, media_type FROM artifacts WHERE sha256 = ?',
        [ref.sha256],
      );
      if (!row) {
        this.log.warn(
          `artifact ${ref.sha256} (${ref.name}, seq ${ref.seq}) is missing from the artifacts table`,
        );
        continue;
      }
      yield {
        name: ref.name,
        sha256: ref.sha256,
        mediaType: ref.mediaType,
        content: Buffer.from(row.content),
      };
    }
  }

  /** Picks (or takes) the checkpoint that covers the case; 404 for an unknown case. */
  async plan(caseId: string): Promise<CaseBundlePlan> {
    const { checkpoint, proof } = await this.checkpoints.covering(caseId);
    return { caseId, checkpoint, proof, head: { seq: proof.head.seq, hash: proof.head.hash } };
  }

  /**
   * Streams the bundle of a planned case into `out` (ended when done; destroyed on failure).
   * Two passes over the events: the first gathers the timeline and artifact references for the
   * certificate, the second writes events.jsonl.
   */
  async write(plan: CaseBundlePlan, out: Writable): Promise<EvidenceBundleResult> {
    const key = this.keys.get();
    const createdAt = this.clock.now();
    const timeline = new TimelineBuilder();
    const collector = new ArtifactCollector();
    const rows: TimelineRow[] = [];
    let omitted = 0;
    let debtorName: string | null = null;
    for await (const ev of this.events(plan.caseId, plan.head.seq)) {
      collector.add(ev);
      const row = timeline.add(ev);
      if (row) {
        if (rows.length < EvidenceBundleService.CERTIFICATE_MAX_ROWS) rows.push(row);
        else omitted += 1;
      }
      if (ev.type === 'notification.accepted') {
        const req = (ev.payload as { request?: { recipient?: { role?: unknown; name?: unknown } } }).request;
        if (req?.recipient?.role === 'debtor' && typeof req.recipient.name === 'string') {
          debtorName = req.recipient.name;
        }
      }
    }
    const certificatePdf = await this.certificate({
      caseId: plan.caseId,
      debtorName,
      head: plan.head,
      checkpoint: plan.checkpoint,
      rows,
      omitted,
      artifacts: collector.refs.length,
      keyId: key.keyId,
      createdAt,
    });
    return writeEvidenceBundle(out, {
      caseId: plan.caseId,
      events: this.events(plan.caseId, plan.head.seq),
      artifacts: this.artifacts(collector.refs),
      checkpoint: {
        signed: plan.checkpoint.signed,
        inclusionProof: plan.proof,
        tsaToken: plan.checkpoint.tsaToken,
      },
      certificatePdf,
      signingKey: key,
      createdAt,
    });
  }

  /** The certificate PDF (送达证明), rendered with the letters library. */
  async certificate(c: CertificateInput): Promise<Buffer> {
    const bank = this.config.bank;
    const date = new Date(c.createdAt.getTime() + 8 * 3_600_000).toISOString().slice(0, 10);
    return renderLetterPdf({
      documentId: `EVC-${c.caseId}-${c.head.seq}`,
      caseId: c.caseId,
      date,
      locale: 'zh-CN',
      recipient: { name: c.debtorName ?? '（案件当事人）', addressLines: ['随证据包提供，不邮寄'] },
      title: '送达证明',
      bodyMarkdown: certificateMarkdown(c, bank.name),
      bank: { name: bank.name, addressLines: [bank.address], phone: bank.phone, website: bank.website },
      verifyUrl: `${this.config.http.publicBaseUrl}/legal#case=${encodeURIComponent(c.caseId)}`,
    });
  }
}
