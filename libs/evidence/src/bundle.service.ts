import { toEvent } from './evidence.service.js';
import { EvidenceRepository } from './evidence.repository.js';
import type { Writable } from 'node:stream';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CLOCK, type Clock } from '#libs/core';
import { renderLetterPdf } from '#libs/letters';
import { Db } from '#libs/persistence';
import type { ChainedEvent, JsonValue } from './chain.js';
import { type BundleArtifact, type EvidenceBundleResult, writeEvidenceBundle } from './bundle.js';
import { CheckpointService, type StoredCheckpoint } from './checkpoint.service.js';
import { EvidenceSigningKeys } from './signer.js';
import {
  type CertificateLang,
  certificateBody,
  type NoticeSummary,
  NoticeSummaryBuilder,
} from './certificate.js';
import type { CaseInclusionProof } from './merkle.js';
import type { BundleLog, InclusionLine } from './bundle-log.js';
import { LogRepository, WitnessRepository } from './transparency/log.repository.js';
import { WitnessPublisher } from './transparency/witnesses.js';

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

/** Beijing time `YYYY-MM-DD HH:mm:ss` of an ISO instant. */
export function beijingTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}

export interface CertificateInput {
  caseId: string;
  debtorName: string | null;
  head: { seq: number; hash: string };
  checkpoint: StoredCheckpoint;
  notices: NoticeSummary[];
  /** Notices left out of the certificate (the full record is events.jsonl). */
  omittedNotices: number;
  artifacts: number;
  keyId: string;
  createdAt: Date;
}

/** The Markdown body of the 送达证明 (delivery certificate), see certificate.ts. */
export function certificateMarkdown(
  c: CertificateInput,
  bank: { name: string; phone: string },
  publicBaseUrl: string,
  lang: CertificateLang = 'zh-CN',
): string {
  const cp = c.checkpoint.signed.checkpoint;
  return certificateBody(
    {
      caseId: c.caseId,
      debtorName: c.debtorName,
      head: c.head,
      checkpoint: {
        id: c.checkpoint.id,
        treeSize: cp.treeSize,
        rootHash: cp.rootHash,
        createdAt: cp.createdAt,
        tsaGenTime: c.checkpoint.tsaGenTime ?? null,
      },
      notices: c.notices,
      omittedNotices: c.omittedNotices,
      artifacts: c.artifacts,
      keyId: c.keyId,
      createdAt: c.createdAt,
      bankName: bank.name,
      bankPhone: bank.phone,
      publicKeyUrl: `${publicBaseUrl}/v1/evidence/public-key`,
    },
    lang,
  );
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
  /** Notices summarised in the certificate; the rest are counted. */
  static readonly CERTIFICATE_MAX_NOTICES = 200;

  /** Injected by Nest; code that builds the service by hand gets them over `db`. */
  private readonly repo: { evidence: EvidenceRepository; logs: LogRepository; notes: WitnessRepository };

  constructor(
    db: Db,
    private readonly checkpoints: CheckpointService,
    private readonly keys: EvidenceSigningKeys,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly witnesses?: WitnessPublisher,
    @Optional() evidence?: EvidenceRepository,
    @Optional() logs?: LogRepository,
    @Optional() notes?: WitnessRepository,
  ) {
    this.repo = {
      evidence: evidence ?? new EvidenceRepository(db),
      logs: logs ?? new LogRepository(db),
      notes: notes ?? new WitnessRepository(db),
    };
  }

  /**
   * The global log's part of the bundle for checkpoint `checkpointId` (bundle-log.ts), or undefined
   * when that checkpoint has no log note (made before witnesses existed).
   */
  async logPart(checkpointId: number, caseId: string, upToSeq: number): Promise<BundleLog | undefined> {
    const cosigned = await this.witnesses?.cosignedNote(checkpointId);
    if (!cosigned) return undefined;
    const size = cosigned.size;
    // The tree the checkpoint was just made with when there is one: the log is not read again.
    const tree = await this.checkpoints.logTree(size);
    const earlier = await this.repo.notes.earlierNoteSizes(checkpointId, size);
    const b64 = (p: Buffer[]) => p.map((x) => x.toString('base64'));
    const { evidence, logs } = this.repo;
    // Streamed a page at a time: a case of a million events never holds its proofs in memory.
    async function* inclusion(): AsyncGenerator<InclusionLine> {
      let after = 0;
      for (;;) {
        const rows = await logs.caseLeaves(caseId, after, upToSeq, size);
        for (const m of rows) {
          yield {
            seq: Number(m.seq),
            index: Number(m.idx),
            proof: b64(tree.inclusionProof(Number(m.idx), size)),
          };
        }
        if (rows.length < 1000) return;
        after = Number(rows[rows.length - 1].seq);
      }
    }
    async function* sets(): AsyncGenerator<{ body: string; signature: string }> {
      let after = 0;
      for (;;) {
        const rows = await evidence.bundleSets(after, caseId, upToSeq);
        for (const r of rows) yield { body: r.body, signature: r.signature };
        if (rows.length < 500) return;
        after = Number(rows[rows.length - 1].id);
      }
    }
    return {
      note: cosigned.note,
      sets: sets(),
      inclusion: inclusion(),
      consistency: earlier
        .filter((from) => from > 0)
        .map((from) => ({ from, proof: b64(tree.consistencyProof(from, size)) })),
    };
  }

  /** A case's events with `seq <= upToSeq`, read from the database `pageSize` at a time. */
  async *events(caseId: string, upToSeq = 2_147_483_647, pageSize = 1000): AsyncGenerator<ChainedEvent> {
    let after = 0;
    for (;;) {
      const rows = await this.repo.evidence.caseEventsUpTo(caseId, after, upToSeq, pageSize);
      for (const r of rows) yield toEvent(r);
      if (rows.length < pageSize) return;
      after = Number(rows[rows.length - 1].seq);
    }
  }

  /** Artifacts read one at a time (the content of one is in memory while it is written). */
  async *artifacts(refs: readonly ArtifactRef[]): AsyncGenerator<BundleArtifact> {
    for (const ref of refs) {
      const row = await this.repo.evidence.artifact(ref.sha256);
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
  async write(
    plan: CaseBundlePlan,
    out: Writable,
    opts: { lang?: CertificateLang } = {},
  ): Promise<EvidenceBundleResult> {
    const key = this.keys.get();
    const createdAt = this.clock.now();
    const notices = new NoticeSummaryBuilder(EvidenceBundleService.CERTIFICATE_MAX_NOTICES);
    const collector = new ArtifactCollector();
    let debtorName: string | null = null;
    for await (const ev of this.events(plan.caseId, plan.head.seq)) {
      collector.add(ev);
      notices.add(ev);
      if (ev.type === 'notification.accepted') {
        const req = (ev.payload as { request?: { recipient?: { role?: unknown; name?: unknown } } }).request;
        if (req?.recipient?.role === 'debtor' && typeof req.recipient.name === 'string') {
          debtorName = req.recipient.name;
        }
      }
    }
    const certificatePdf = await this.certificate(
      {
        caseId: plan.caseId,
        debtorName,
        head: plan.head,
        checkpoint: plan.checkpoint,
        notices: notices.notices(),
        omittedNotices: notices.omitted,
        artifacts: collector.refs.length,
        keyId: key.keyId,
        createdAt,
      },
      opts.lang ?? 'zh-CN',
    );
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
      log: await this.logPart(plan.checkpoint.id, plan.caseId, plan.head.seq),
      signingKey: key,
      signer: this.keys.signer(),
      createdAt,
    });
  }

  /**
   * The certificate PDF (送达证明), rendered with the letters library, with the bank's seal when one
   * is configured. It is not posted: the address window names the case party and says so, with no
   * postal endorsement.
   */
  async certificate(c: CertificateInput, lang: CertificateLang = 'zh-CN'): Promise<Buffer> {
    const bank = this.config.bank;
    const en = lang === 'en';
    const date = new Date(c.createdAt.getTime() + 8 * 3_600_000).toISOString().slice(0, 10);
    const bankName = en ? bank.nameEn : bank.name;
    return renderLetterPdf({
      documentId: `EVC-${c.caseId}-${c.head.seq}`,
      caseId: c.caseId,
      date,
      locale: en ? 'en' : 'zh-CN',
      recipient: {
        name: c.debtorName ?? (en ? '(party to the case)' : '（案件当事人）'),
        addressLines: [en ? 'Enclosed with the evidence bundle; not posted' : '随证据包提供，不邮寄'],
      },
      title: en ? 'Certificate of Delivery' : '送达证明',
      bodyMarkdown: certificateMarkdown(
        c,
        { name: bankName, phone: bank.phone },
        this.config.http.publicBaseUrl,
        lang,
      ),
      bank: {
        name: bankName,
        addressLines: [en ? bank.addressEn : bank.address],
        phone: bank.phone,
        website: bank.website,
      },
      verifyUrl: `${this.config.http.publicBaseUrl}/legal#case=${encodeURIComponent(c.caseId)}`,
      sealImagePath: this.config.letter.sealImagePath,
    });
  }
}
