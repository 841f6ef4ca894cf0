import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, truncateSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { DateTime } from 'luxon';
import { ProviderError } from '#libs/core';
import type { ChannelProvider, Json, NormalisedReceipt, OutboundMessage, SendResult } from '../provider.js';
import { checkLetter, sha256Hex, type CheckedLetter } from './letter-request.js';
import { canonicalPostEvent, normaliseReturnReason, postEventOutcome } from './post-events.js';

/**
 * In-house print room (docs/post.md). Each letter's PDF goes into the open batch folder
 * `<root>/<batchId>/<documentId>.pdf` and gets a row in `<root>/<batchId>/manifest.csv`; `closeBatch()`
 * seals the batch with `batch.json` (row count, manifest SHA-256) so the print shop can take it. The
 * shop sends back a tracking CSV that `importTrackingCsv` turns into receipts.
 *
 * The manifest row is the commit point: a letter is "sent" once its row is written (after its PDF),
 * and `findSent` / a repeated `send` for the same notification find it there, also after a restart.
 */

export const MANIFEST_FILE = 'manifest.csv';
export const BATCH_FILE = 'batch.json';
export const ENVELOPE_LINE_COLUMNS = 7;
export const MANIFEST_COLUMNS = [
  'document_id',
  'notification_id',
  'file',
  'sha256',
  'bytes',
  'service',
  'name',
  'postcode',
  'country',
  ...Array.from({ length: ENVELOPE_LINE_COLUMNS }, (_, i) => `address_line_${i + 1}`),
  'added_at',
] as const;
export const TRACKING_COLUMNS = [
  'document_id',
  'event',
  'occurred_at',
  'tracking_no',
  'signer',
  'return_reason',
] as const;
const REQUIRED_TRACKING = ['document_id', 'event', 'occurred_at'];
const TRACKING_EVENTS = new Set(['printed', 'mailed', 'in_transit', 'delivered', 'returned']);

export interface PrintRoomOptions {
  /** Folder shared with the print shop. */
  root: string;
  /** Provider name in receipts and evidence. Default `print-room`. */
  name?: string;
  now?: () => Date;
  /** Batch id generator (folder name). Default `YYYYMMDD-HHmmss-<hex>`. */
  newBatchId?: (now: Date) => string;
  /** Close the open batch automatically when it reaches this many letters. */
  maxBatchSize?: number;
  /** Zone for tracking timestamps written without an offset. Default Asia/Shanghai. */
  trackingTimeZone?: string;
  /** fsync each PDF and manifest append (default true). */
  durable?: boolean;
}

export interface ManifestEntry {
  batchId: string;
  documentId: string;
  notificationId: string;
  file: string;
  sha256: string;
  bytes: number;
  service: 'registered' | 'ordinary';
  addedAt: string;
}

export interface ClosedBatch {
  batchId: string;
  dir: string;
  count: number;
  manifestSha256: string;
  closedAt: string;
}

export interface TrackingImport {
  receipts: NormalisedReceipt[];
  /** Rows that were not applied, by physical line number (the header is line 1). */
  errors: { line: number; message: string }[];
}

function defaultBatchId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export class PrintRoomProvider implements ChannelProvider {
  readonly name: string;
  readonly channel = 'letter' as const;
  readonly sandbox = false;
  private readonly root: string;
  private readonly now: () => Date;
  private readonly durable: boolean;
  private readonly zone: string;
  private byDocument = new Map<string, ManifestEntry>();
  private byNotification = new Map<string, ManifestEntry>();
  private closed = new Set<string>();
  private current: { batchId: string; dir: string; count: number } | null = null;
  private loaded = false;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly lastReceipt = new Map<string, NormalisedReceipt>();

  constructor(private readonly options: PrintRoomOptions) {
    this.name = options.name ?? 'print-room';
    this.root = path.resolve(options.root);
    this.now = options.now ?? (() => new Date());
    this.durable = options.durable ?? true;
    this.zone = options.trackingTimeZone ?? 'Asia/Shanghai';
  }

  /** Runs `fn` after every earlier mutation (one writer per provider instance). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const { letter, address } = checkLetter(this.name, message);
    const name = letter.recipientName.trim();
    const lines = address.lines;
    if (lines.length > ENVELOPE_LINE_COLUMNS) {
      throw new ProviderError(`${this.name}: address needs more than ${ENVELOPE_LINE_COLUMNS} lines`, false, {
        providerCode: 'invalid_address',
      });
    }
    const request: Json = {
      documentId: letter.documentId,
      service: letter.service,
      recipient: {
        name,
        addressLines: address.addressLines,
        postcode: address.postcode,
        country: address.country,
      },
      pdfSha256: letter.pdfSha256.toLowerCase(),
      pdfBytes: letter.pdf.length,
    };
    return this.exclusive(() => this.write(message, { letter, address }, request)).catch((err: unknown) => {
      if (err instanceof ProviderError) throw err;
      // Disk full, permissions, ...: may succeed later; the row may or may not be written (findSent knows).
      throw new ProviderError(`${this.name}: ${(err as Error).message}`, true, {
        httpStatus: null,
        providerCode: (err as { code?: string }).code ?? 'io',
        request,
      });
    });
  }

  private async write(message: OutboundMessage, checked: CheckedLetter, request: Json): Promise<SendResult> {
    const { letter, address } = checked;
    const name = letter.recipientName.trim();
    const lines = address.lines;
    this.loadIndex();
    const previous =
      this.byNotification.get(message.notificationId) ?? this.byDocument.get(letter.documentId);
    if (previous) {
      if (previous.notificationId !== message.notificationId) {
        throw new ProviderError(
          `${this.name}: document ${letter.documentId} already belongs to another notification`,
          false,
          { providerCode: 'document_id_conflict', request },
        );
      }
      return this.result(previous, request, true, letter.pdfSha256.toLowerCase());
    }
    const batch = await this.openBatch();
    const file = `${letter.documentId}.pdf`;
    const target = path.join(batch.dir, file);
    const tmp = `${target}.tmp`;
    await writeFile(tmp, letter.pdf, { flush: this.durable });
    await rename(tmp, target);
    const entry: ManifestEntry = {
      batchId: batch.batchId,
      documentId: letter.documentId,
      notificationId: message.notificationId,
      file,
      sha256: letter.pdfSha256.toLowerCase(),
      bytes: letter.pdf.length,
      service: letter.service,
      addedAt: this.now().toISOString(),
    };
    const envelope = Array.from({ length: ENVELOPE_LINE_COLUMNS }, (_, i) => lines[i] ?? '');
    const row = [
      entry.documentId,
      entry.notificationId,
      entry.file,
      entry.sha256,
      String(entry.bytes),
      entry.service,
      name,
      address.postcode,
      address.country,
      ...envelope,
      entry.addedAt,
    ];
    const manifestPath = path.join(batch.dir, MANIFEST_FILE);
    // escape_formulas: a name or address line starting with = + - @ tab or CR is prefixed with a
    // quote, so a spreadsheet in the print room shows it instead of running it as a formula.
    await appendFile(manifestPath, stringify([row], { escape_formulas: true }), { flush: this.durable });
    batch.count += 1;
    this.remember(entry);
    if (this.options.maxBatchSize && batch.count >= this.options.maxBatchSize) await this.closeCurrent();
    return this.result(entry, request, false, entry.sha256);
  }

  private result(entry: ManifestEntry, request: Json, repeated: boolean, sentSha256?: string): SendResult {
    return {
      providerMessageId: `${entry.batchId}/${entry.documentId}`,
      acceptedAt: new Date(entry.addedAt),
      request,
      raw: {
        batchId: entry.batchId,
        file: entry.file,
        sha256: entry.sha256,
        bytes: entry.bytes,
        repeated,
        // A repeat carried another PDF than the one already in the batch: the first one is printed.
        ...(sentSha256 !== undefined && sentSha256 !== entry.sha256 ? { pdfMismatch: true } : {}),
      },
    };
  }

  private remember(entry: ManifestEntry): void {
    this.byDocument.set(entry.documentId, entry);
    this.byNotification.set(entry.notificationId, entry);
  }

  private async openBatch(): Promise<{ batchId: string; dir: string; count: number }> {
    if (this.current) return this.current;
    const batchId = (this.options.newBatchId ?? defaultBatchId)(this.now());
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(batchId)) throw new Error(`bad batch id ${batchId}`);
    const dir = path.join(this.root, batchId);
    await mkdir(dir, { recursive: true });
    const manifest = path.join(dir, MANIFEST_FILE);
    if (!existsSync(manifest)) {
      // UTF-8 BOM so spreadsheet tools show the Chinese names and addresses correctly.
      await writeFile(manifest, stringify([[...MANIFEST_COLUMNS]], { bom: true }), { flush: this.durable });
    }
    this.current = { batchId, dir, count: 0 };
    return this.current;
  }

  /** Seals the open batch (`batch.json`); the next letter opens a new one. Null when nothing is open. */
  closeBatch(): Promise<ClosedBatch | null> {
    return this.exclusive(async () => {
      this.loadIndex();
      return this.closeCurrent();
    });
  }

  private async closeCurrent(): Promise<ClosedBatch | null> {
    const batch = this.current;
    if (!batch) return null;
    const manifest = await readFile(path.join(batch.dir, MANIFEST_FILE));
    const closedAt = this.now().toISOString();
    const info: ClosedBatch = {
      batchId: batch.batchId,
      dir: batch.dir,
      count: batch.count,
      manifestSha256: sha256Hex(manifest),
      closedAt,
    };
    const json = JSON.stringify(
      { batchId: info.batchId, count: info.count, manifestSha256: info.manifestSha256, closedAt },
      null,
      2,
    );
    await writeFile(path.join(batch.dir, `${BATCH_FILE}.tmp`), `${json}\n`, { flush: this.durable });
    await rename(path.join(batch.dir, `${BATCH_FILE}.tmp`), path.join(batch.dir, BATCH_FILE));
    this.closed.add(batch.batchId);
    this.current = null;
    return info;
  }

  /** Id of the open batch, if any. */
  get openBatchId(): string | null {
    this.loadIndex();
    return this.current?.batchId ?? null;
  }

  /** Manifest entry of a document (any batch), from the manifests on disk. */
  entry(documentId: string): ManifestEntry | undefined {
    this.loadIndex();
    return this.byDocument.get(documentId);
  }

  /** Reads every manifest under root once (after a restart the open batch is resumed). */
  private loadIndex(): void {
    if (this.loaded) return;
    this.loaded = true;
    if (!existsSync(this.root)) return;
    const open: { batchId: string; dir: string; count: number }[] = [];
    for (const d of readdirSync(this.root, { withFileTypes: true })) {
      if (!d.isDirectory()) continue;
      const dir = path.join(this.root, d.name);
      const manifestPath = path.join(dir, MANIFEST_FILE);
      if (!existsSync(manifestPath)) continue;
      const text = readFileSync(manifestPath, 'utf8');
      const rows = parse(text, {
        bom: true,
        columns: true,
        relax_column_count: true,
        skip_empty_lines: true,
        skip_records_with_error: true,
      }) as Record<string, string>[];
      let count = 0;
      for (const r of rows) {
        if (!r.document_id || !r.notification_id || !/^[0-9a-f]{64}$/.test(r.sha256 ?? '') || !r.added_at)
          continue;
        count += 1;
        this.remember({
          batchId: d.name,
          documentId: r.document_id,
          notificationId: r.notification_id,
          file: r.file ?? `${r.document_id}.pdf`,
          sha256: r.sha256 as string,
          bytes: Number(r.bytes),
          service: r.service === 'ordinary' ? 'ordinary' : 'registered',
          addedAt: r.added_at,
        });
      }
      if (existsSync(path.join(dir, BATCH_FILE))) this.closed.add(d.name);
      else {
        // A crash may have cut the last row short: that row was never committed, drop it so the
        // print shop's reader does not trip over it and the next row starts on its own line.
        if (text.length > 0 && !text.endsWith('\n')) {
          const keep = text.slice(0, text.lastIndexOf('\n') + 1);
          truncateSync(manifestPath, Buffer.byteLength(keep, 'utf8'));
        }
        open.push({ batchId: d.name, dir, count });
      }
    }
    open.sort((a, b) => a.batchId.localeCompare(b.batchId));
    this.current = open[open.length - 1] ?? null;
  }

  async poll(providerMessageId: string, message?: OutboundMessage): Promise<NormalisedReceipt | null> {
    this.loadIndex();
    const last = this.lastReceipt.get(providerMessageId);
    if (last) return { ...last, raw: { polled: true, receipt: last.raw } };
    const documentId = providerMessageId.split('/').pop() ?? '';
    const entry = this.byDocument.get(documentId);
    if (!entry) return null;
    const status = this.closed.has(entry.batchId) ? 'batch_closed' : 'in_batch';
    return {
      provider: this.name,
      providerMessageId,
      notificationId: entry.notificationId ?? message?.notificationId ?? null,
      outcome: 'queued',
      providerStatus: status,
      occurredAt: new Date(entry.addedAt),
      sandbox: false,
      raw: { polled: true, batchId: entry.batchId, status },
    };
  }

  async findSent(message: OutboundMessage, since: Date): Promise<SendResult | null> {
    void since; // notification ids are unique: no time window needed
    await this.lock;
    this.loadIndex();
    const entry = this.byNotification.get(message.notificationId);
    return entry ? this.result(entry, { reconciledBy: 'manifest', batchId: entry.batchId }, true) : null;
  }

  /**
   * Imports the print shop's tracking CSV (header `document_id,event,occurred_at,tracking_no,signer,
   * return_reason`, one record per line, UTF-8 with or without BOM). Good rows become receipts; each bad
   * row is reported with its line number and never stops the others. Rules per row: a known document,
   * an event of printed | mailed | in_transit | delivered | returned, a date-time (ISO 8601; without an
   * offset it is read in `trackingTimeZone`) not in the future, a signer for a delivered registered
   * letter, a known return reason for a returned one.
   */
  importTrackingCsv(csvText: string): TrackingImport {
    this.loadIndex();
    const receipts: NormalisedReceipt[] = [];
    const errors: { line: number; message: string }[] = [];
    const lines = csvText.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
    const headerIndex = lines.findIndex((l) => l.trim() !== '');
    if (headerIndex === -1) return { receipts, errors: [{ line: 1, message: 'empty file' }] };
    let header: string[];
    try {
      header =
        (parse(lines[headerIndex] as string, { trim: true }) as string[][])[0]?.map((h) => h.toLowerCase()) ??
        [];
    } catch (err) {
      return {
        receipts,
        errors: [{ line: headerIndex + 1, message: `bad header: ${(err as Error).message}` }],
      };
    }
    const missing = REQUIRED_TRACKING.filter((c) => !header.includes(c));
    if (missing.length > 0) {
      return {
        receipts,
        errors: [{ line: headerIndex + 1, message: `missing column(s): ${missing.join(', ')}` }],
      };
    }
    const seen = new Map<string, number>();
    const nowMs = this.now().getTime();
    for (let i = headerIndex + 1; i < lines.length; i++) {
      const text = lines[i] as string;
      if (text.trim() === '') continue;
      const line = i + 1;
      const fail = (message: string): void => {
        errors.push({ line, message });
      };
      let fields: string[];
      try {
        fields = (parse(text, { trim: true, relax_column_count: true }) as string[][])[0] ?? [];
      } catch (err) {
        fail(`unreadable CSV: ${(err as Error).message.split(':')[0]}`);
        continue;
      }
      if (fields.length !== header.length) {
        fail(`expected ${header.length} fields, got ${fields.length}`);
        continue;
      }
      const row: Record<string, string> = {};
      header.forEach((h, k) => (row[h] = fields[k] ?? ''));
      const documentId = row.document_id ?? '';
      const entry = this.byDocument.get(documentId);
      if (!documentId) {
        fail('document_id is empty');
        continue;
      }
      if (!entry) {
        fail(`unknown document_id ${documentId}`);
        continue;
      }
      const event = canonicalPostEvent(row.event ?? '');
      if (!event || !TRACKING_EVENTS.has(event)) {
        fail(`unknown event "${row.event ?? ''}"`);
        continue;
      }
      const occurredAt = this.parseTime(row.occurred_at ?? '');
      if (!occurredAt) {
        fail(`occurred_at "${row.occurred_at ?? ''}" is not a date-time`);
        continue;
      }
      if (occurredAt.getTime() > nowMs + 10 * 60_000) {
        fail('occurred_at is in the future');
        continue;
      }
      const trackingNo = row.tracking_no ?? '';
      if (trackingNo && !/^[A-Za-z0-9-]{4,40}$/.test(trackingNo)) {
        fail(`tracking_no "${trackingNo}" is malformed`);
        continue;
      }
      const signer = row.signer ?? '';
      if (event === 'delivered' && entry.service === 'registered' && !signer) {
        fail('delivered registered letter needs a signer');
        continue;
      }
      const reason = normaliseReturnReason(row.return_reason);
      if (event === 'returned' && !reason) {
        fail(`returned needs return_reason refused | unclaimed | bad_address | moved | other`);
        continue;
      }
      const key = `${documentId}|${event}|${occurredAt.toISOString()}`;
      const dup = seen.get(key);
      if (dup !== undefined) {
        fail(`duplicate of line ${dup}`);
        continue;
      }
      seen.set(key, line);
      const mapping = postEventOutcome(event);
      const providerMessageId = `${entry.batchId}/${entry.documentId}`;
      const raw: Json = { source: 'tracking_csv', line, ...row };
      const receipt: NormalisedReceipt = {
        provider: this.name,
        providerMessageId,
        notificationId: entry.notificationId,
        outcome: mapping.outcome,
        providerStatus: event,
        occurredAt,
        sandbox: false,
        raw,
      };
      if (mapping.postEvent) receipt.postEvent = mapping.postEvent;
      if (event === 'delivered' && signer) receipt.signer = signer;
      if (event === 'returned' && reason) {
        receipt.returnReason = reason;
        receipt.errorCode = row.return_reason;
      }
      receipts.push(receipt);
      const prev = this.lastReceipt.get(providerMessageId);
      if (!prev || prev.occurredAt.getTime() <= occurredAt.getTime())
        this.lastReceipt.set(providerMessageId, receipt);
    }
    return { receipts, errors };
  }

  private parseTime(text: string): Date | null {
    const t = text.trim();
    if (!t) return null;
    let dt = DateTime.fromISO(t, { zone: this.zone, setZone: true });
    if (!dt.isValid) dt = DateTime.fromSQL(t, { zone: this.zone });
    if (!dt.isValid) dt = DateTime.fromFormat(t, 'yyyy/M/d H:mm:ss', { zone: this.zone });
    if (!dt.isValid) dt = DateTime.fromFormat(t, 'yyyy/M/d H:mm', { zone: this.zone });
    return dt.isValid ? dt.toJSDate() : null;
  }
}
