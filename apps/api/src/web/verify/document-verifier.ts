import { createHash } from 'node:crypto';
import { type IssuedNoticeRow, IssuedNoticeRepository } from './document.repository.js';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import type { Locale, Recipient } from '#libs/core';
import {
  DOCUMENT_VERIFIED,
  EvidenceService,
  EvidenceSigningKeys,
  type IssuedDocument,
  type JsonValue,
  recordedArtifacts,
  type SiblingNotice,
  stageOfTemplateKey,
  supersedingNotice,
} from '#libs/evidence';
import { TemplateRegistry } from '#libs/notifications';
import { Db } from '#libs/persistence';

type Row = IssuedNoticeRow;

const dateFormats = new Map<string, Intl.DateTimeFormat>();

/** Calendar date of an instant in a zone, `YYYY-MM-DD` (as the letter prints it, artifact.renderer.ts). */
function localDate(ms: number, timeZone: string): string {
  let f = dateFormats.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    } catch {
      return localDate(ms, 'Asia/Shanghai');
    }
    dateFormats.set(timeZone, f);
  }
  return f.format(ms);
}

/** Document ids are notification ids (UUIDs); anything else is never looked up. */
export const DOCUMENT_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

/**
 * The adapter behind the public verification page: reads a notice and its recorded artifacts,
 * and appends each lookup to the case's evidence chain (`document.verified`). The decisions are
 * the pure functions of libs/evidence/src/document-check.ts.
 */
@Injectable()
export class DocumentVerifier {
  private readonly log = new Logger('DocumentVerifier');
  private clientKey?: Buffer;

  constructor(
    private readonly db: Db,
    private readonly notices: IssuedNoticeRepository,
    private readonly evidence: EvidenceService,
    private readonly keys: EvidenceSigningKeys,
    private readonly templates: TemplateRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * The key of client pseudonyms: derived from the unsubscribe secret (stable across processes and
   * restarts, secret, required outside development). Never from the evidence key, which may be in
   * an HSM and must only sign.
   */
  pseudonymKey(): Buffer {
    if (!this.clientKey) {
      const material = Buffer.from(this.config.email.unsubscribeSecret, 'utf8');
      this.clientKey = createHash('sha256').update('cns-verify-client-key|').update(material).digest();
    }
    return this.clientKey;
  }

  async load(documentId: string): Promise<IssuedDocument | null> {
    if (!DOCUMENT_ID.test(documentId)) return null;
    const row = await this.notices.byId(documentId);
    if (!row) return null;
    const recipient = JSON.parse(row.recipient) as Recipient;
    const tz = recipient.timeZone || 'Asia/Shanghai';
    const createdAt = Number(row.created_at);
    const siblings = await this.notices.laterOnSameAddress(row);
    const events = await this.evidence.notificationEvents(row.id);
    return {
      documentId: row.id,
      caseId: row.case_id,
      channel: row.channel,
      stage: await this.stageOf(row),
      templateKey: row.template_key,
      templateVersion: Number(row.template_version),
      status: row.status,
      issuedOn: localDate(createdAt, tz),
      recipient: {
        role: recipient.role,
        name: recipient.name,
        phone: recipient.phone,
        email: recipient.email,
        address: recipient.address,
      },
      artifacts: recordedArtifacts(events),
      supersededBy: supersedingNotice(
        { id: row.id, channel: row.channel, recipientAddress: row.recipient_address, createdAt },
        siblings.map((s): SiblingNotice => ({
          id: s.id,
          channel: s.channel,
          recipientAddress: s.recipient_address,
          status: s.status,
          createdAt: Number(s.created_at),
          issuedOn: localDate(Number(s.created_at), tz),
        })),
      ),
    };
  }

  private async stageOf(row: Row): Promise<string | null> {
    try {
      const def = await this.templates.resolve(
        row.template_key,
        row.locale as Locale,
        Number(row.template_version),
      );
      return def.stage ?? stageOfTemplateKey(row.template_key);
    } catch {
      return stageOfTemplateKey(row.template_key);
    }
  }

  /** Appends the lookup to the case's chain. A failure is logged, never shown to the visitor. */
  async record(doc: IssuedDocument, payload: JsonValue): Promise<void> {
    try {
      await this.db.transaction((tx) =>
        this.evidence.append(tx, doc.caseId, [
          { notificationId: doc.documentId, type: DOCUMENT_VERIFIED, payload },
        ]),
      );
    } catch (err) {
      this.log.error(`could not record the verification of ${doc.documentId}: ${(err as Error).message}`);
    }
  }
}
