import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import type { PostalAddress } from '#libs/core';
import type { OutboundMessage } from '../provider.js';
import { BATCH_FILE, MANIFEST_FILE, PrintRoomProvider } from './print-room.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const CN: PostalAddress = {
  country: 'CN',
  province: '浙江省',
  city: '杭州市',
  district: '西湖区',
  street: '文三路100号',
  postcode: '310012',
};
const US: PostalAddress = {
  country: 'US',
  province: 'NY',
  city: 'New York',
  street: '350 5th Ave, Floor 2',
  postcode: '10118',
};

function message(
  i: number,
  over: { address?: PostalAddress; documentId?: string; service?: 'registered' | 'ordinary' } = {},
): OutboundMessage {
  const pdf = Buffer.from(`%PDF-1.7\n% letter ${i}\n${'x'.repeat(i % 97)}\n%%EOF\n`);
  return {
    notificationId: `notif-${i}`,
    channel: 'letter',
    to: 'k',
    webhookBaseUrl: '',
    letter: {
      documentId: over.documentId ?? `DOC-${String(i).padStart(6, '0')}`,
      pdf,
      pdfSha256: sha(pdf),
      recipientName: i % 2 ? `收件人${i}` : `Name, "Nick" ${i}`,
      address: over.address ?? (i % 3 === 0 ? US : { ...CN, street: `文三路${i}号` }),
      service: over.service ?? 'registered',
    },
  };
}

let root: string;
let batchNo = 0;
const opts = () => ({
  root,
  newBatchId: () => `B${String(++batchNo).padStart(3, '0')}`,
  now: () => new Date('2026-03-01T08:00:00Z'),
});

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'print-room-'));
  batchNo = 0;
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function manifestRows(batchId: string): Promise<Record<string, string>[]> {
  const text = await readFile(path.join(root, batchId, MANIFEST_FILE), 'utf8');
  return parse(text, { bom: true, columns: true }) as Record<string, string>[];
}

describe('PrintRoomProvider export', () => {
  it('exports 1,000 letters with a manifest whose rows and hashes match the files', async () => {
    const room = new PrintRoomProvider({ ...opts(), durable: false });
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => room.send(message(i))));
    const closed = await room.closeBatch();
    const ms = performance.now() - started;
    const batchId = closed!.batchId;
    expect(closed).toMatchObject({ count: 1000 });
    expect(new Set(results.map((r) => r.providerMessageId)).size).toBe(1000);

    const rows = await manifestRows(batchId);
    expect(rows).toHaveLength(1000);
    const files = (await readdir(path.join(root, batchId))).filter((f) => f.endsWith('.pdf'));
    expect(files).toHaveLength(1000);
    const byDoc = new Map(rows.map((r) => [r.document_id, r]));
    for (let i = 0; i < 1000; i++) {
      const m = message(i);
      const row = byDoc.get(m.letter!.documentId)!;
      const onDisk = await readFile(path.join(root, batchId, row.file!));
      expect([row.notification_id, row.sha256, sha(onDisk), row.bytes]).toEqual([
        m.notificationId,
        m.letter!.pdfSha256,
        m.letter!.pdfSha256,
        String(m.letter!.pdf.length),
      ]);
      expect(row.name).toBe(m.letter!.recipientName);
    }
    const cn = byDoc.get('DOC-000001')!;
    expect([cn.address_line_1, cn.address_line_2, cn.address_line_3, cn.address_line_4, cn.postcode]).toEqual(
      ['310012', '浙江省杭州市西湖区', '文三路1号', '收件人1', '310012'],
    );
    const us = byDoc.get('DOC-000003')!;
    expect([us.address_line_2, us.address_line_3, us.address_line_4, us.country]).toEqual([
      '350 5th Ave, Floor 2',
      'NEW YORK NY 10118',
      'UNITED STATES',
      'US',
    ]);
    const batch = JSON.parse(await readFile(path.join(root, batchId, BATCH_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    const manifest = await readFile(path.join(root, batchId, MANIFEST_FILE));
    expect(batch).toMatchObject({ batchId, count: 1000, manifestSha256: sha(manifest) });
    console.log(`print room: 1000 letters exported in ${Math.round(ms)} ms (durable=false)`);
  }, 60_000);

  it('a repeated send is the same letter; a reused document id is refused', async () => {
    const room = new PrintRoomProvider(opts());
    const a = await room.send(message(1));
    const b = await room.send(message(1));
    expect(b.providerMessageId).toBe(a.providerMessageId);
    expect(b.raw).toMatchObject({ repeated: true });
    await expect(room.send(message(2, { documentId: 'DOC-000001' }))).rejects.toMatchObject({
      retryable: false,
      extra: { providerCode: 'document_id_conflict' },
    });
    expect(await manifestRows(room.openBatchId!)).toHaveLength(1);
  });

  it('finds letters after a restart, resumes the open batch and drops a torn last row', async () => {
    const first = new PrintRoomProvider(opts());
    const sent = await first.send(message(1));
    const batchId = first.openBatchId!;
    // A crash in the middle of an append leaves half a row without a newline.
    await appendFile(path.join(root, batchId, MANIFEST_FILE), 'DOC-000002,notif-2,DOC-0');

    const second = new PrintRoomProvider(opts());
    expect(await second.findSent(message(1), new Date())).toMatchObject({
      providerMessageId: sent.providerMessageId,
    });
    expect(await second.findSent(message(2), new Date())).toBeNull();
    expect((await second.send(message(1))).raw).toMatchObject({ repeated: true });
    const third = await second.send(message(2));
    expect(third.providerMessageId).toBe(`${batchId}/DOC-000002`);
    // The torn fragment was dropped: the manifest parses strictly and holds both real rows.
    const rows = await manifestRows(batchId);
    expect(rows.map((r) => r.document_id)).toEqual(['DOC-000001', 'DOC-000002']);
    const third2 = new PrintRoomProvider(opts());
    expect(await third2.findSent(message(2), new Date())).not.toBeNull();
  });

  it('closeBatch seals the batch and the next letter opens a new one; maxBatchSize closes automatically', async () => {
    const room = new PrintRoomProvider({ ...opts(), maxBatchSize: 2 });
    expect(await room.closeBatch()).toBeNull();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await room.send(message(i))).providerMessageId.split('/')[0]);
    expect(ids).toEqual(['B001', 'B001', 'B002', 'B002', 'B003']);
    expect(existsSync(path.join(root, 'B002', BATCH_FILE))).toBe(true);
    expect(existsSync(path.join(root, 'B003', BATCH_FILE))).toBe(false);
    expect(await room.closeBatch()).toMatchObject({ batchId: 'B003', count: 1 });
    expect(await room.poll('B003/DOC-000004')).toMatchObject({
      outcome: 'queued',
      providerStatus: 'batch_closed',
    });
  });

  it('turns file-system failures into retryable provider errors', async () => {
    const blocker = path.join(root, 'not-a-dir');
    await appendFile(blocker, 'x');
    const room = new PrintRoomProvider({ ...opts(), root: blocker });
    await expect(room.send(message(1))).rejects.toMatchObject({
      retryable: true,
      extra: { httpStatus: null },
    });
  });

  it('refuses invalid letters without writing anything', async () => {
    const room = new PrintRoomProvider(opts());
    await expect(room.send(message(1, { address: { ...CN, postcode: '100000' } }))).rejects.toMatchObject({
      retryable: false,
      extra: { providerCode: 'invalid_address' },
    });
    expect(await readdir(root)).toEqual([]);
  });
});

describe('PrintRoomProvider.importTrackingCsv', () => {
  it('applies the good rows and reports the bad ones by line number', async () => {
    const room = new PrintRoomProvider({ ...opts(), now: () => new Date('2026-03-10T00:00:00Z') });
    for (let i = 1; i <= 6; i++)
      await room.send(message(i, { service: i === 6 ? 'ordinary' : 'registered' }));
    const csv = [
      '\uFEFFdocument_id,event,occurred_at,tracking_no,signer,return_reason', // 1
      'DOC-000001,printed,2026-03-02T09:00:00+08:00,,,', // 2 ok
      'DOC-000001,delivered,2026-03-04 10:30:00,RR123456785CN,"张,三",', // 3 ok (naive -> Asia/Shanghai)
      'DOC-000002,returned,2026-03-05T10:00:00Z,RR123456799CN,,拒收', // 4 ok refused
      'DOC-000003,returned,2026-03-05T10:00:00Z,,,unclaimed', // 5 ok unclaimed
      'DOC-999999,mailed,2026-03-02T10:00:00Z,,,', // 6 unknown doc
      'DOC-000004,teleported,2026-03-02T10:00:00Z,,,', // 7 unknown event
      'DOC-000004,mailed,not a date,,,', // 8 bad date
      'DOC-000004,delivered,2026-03-04T10:00:00Z,,,', // 9 registered without signer
      '', // 10 blank: skipped
      'DOC-000005,returned,2026-03-05T10:00:00Z,,,lost', // 11 unknown reason
      'DOC-000005,"mailed,2026-03-02T10:00:00Z,,,', // 12 broken quote
      'DOC-000005,mailed,2026-03-02T10:00:00Z', // 13 too few fields
      'DOC-000001,printed,2026-03-02T01:00:00Z,,,', // 14 duplicate of line 2 (same instant)
      'DOC-000005,mailed,2026-04-01T00:00:00Z,,,', // 15 future
      'DOC-000006,delivered,2026/3/6 9:05,,,', // 16 ok (ordinary: no signer needed)
      'DOC-000005,In-Transit,2026-03-03T10:00:00Z,RR 1,,', // 17 bad tracking number
      'DOC-000005,In-Transit,2026-03-03T10:00:00Z,,,', // 18 ok
    ].join('\r\n');
    const { receipts, errors } = room.importTrackingCsv(csv);
    expect(errors.map((e) => e.line)).toEqual([6, 7, 8, 9, 11, 12, 13, 14, 15, 17]);
    expect(errors.find((e) => e.line === 14)?.message).toBe('duplicate of line 2');
    expect(errors.find((e) => e.line === 9)?.message).toMatch(/signer/);
    expect(
      receipts.map((r) => [r.raw && (r.raw as { line: number }).line, r.outcome, r.postEvent ?? null]),
    ).toEqual([
      [2, 'queued', 'printed'],
      [3, 'delivered', null],
      [4, 'undelivered', 'returned'],
      [5, 'undelivered', 'returned'],
      [16, 'delivered', null],
      [18, 'sent', 'in_transit'],
    ]);
    expect(receipts[1]).toMatchObject({
      signer: '张,三',
      notificationId: 'notif-1',
      providerMessageId: 'B001/DOC-000001',
    });
    expect(receipts[1]?.occurredAt.toISOString()).toBe('2026-03-04T02:30:00.000Z');
    expect(receipts[5]?.occurredAt.toISOString()).toBe('2026-03-03T10:00:00.000Z');
    expect([receipts[2]?.returnReason, receipts[3]?.returnReason]).toEqual(['refused', 'unclaimed']);
    expect(receipts[4]?.occurredAt.toISOString()).toBe('2026-03-06T01:05:00.000Z');
    expect(receipts.every((r) => r.sandbox === false && r.provider === 'print-room')).toBe(true);
    // poll reflects the latest imported event
    expect(await room.poll('B001/DOC-000001')).toMatchObject({ outcome: 'delivered', signer: '张,三' });
  });

  it('reports a missing required column on the header line and applies nothing', () => {
    const room = new PrintRoomProvider(opts());
    expect(room.importTrackingCsv('document_id,occurred_at\nDOC-1,2026-03-01T00:00:00Z\n')).toEqual({
      receipts: [],
      errors: [{ line: 1, message: 'missing column(s): event' }],
    });
    expect(room.importTrackingCsv('\n\n')).toEqual({
      receipts: [],
      errors: [{ line: 1, message: 'empty file' }],
    });
  });
});
