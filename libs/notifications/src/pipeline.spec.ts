/**
 * The orchestration lib on real SQLite, without HTTP: accept, dispatch, receipts (provenance,
 * parking, replays), holds and suppression, through the repositories and the state machine.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type NormalisedReceipt, SandboxSmsProvider } from '#libs/channels';
import { type AppConfig, loadConfig } from '#libs/config';
import type { CreateNotificationInput } from '#libs/contracts';
import { ManualClock } from '#libs/core';
import { EvidenceService } from '#libs/evidence';
import { Db } from '#libs/persistence';
import { DispatchProcessor } from './dispatch.processor.js';
import { HoldsService } from './holds.service.js';
import { NotificationRepository } from './notification.repository.js';
import { NotificationsService } from './notifications.service.js';
import { pipelineImports } from './pipeline.imports.js';
import { ReceiptsService } from './receipts.service.js';
import { OptOutRepository, ReceiptRepository } from './repositories.js';

@Module({})
class PipelineUnderTest {}

describe('notifications pipeline on SQLite (no HTTP)', () => {
  let dir: string;
  let app: INestApplicationContext;
  let notices: NotificationsService;
  let dispatch: DispatchProcessor;
  let receipts: ReceiptsService;
  let repo: NotificationRepository;
  let evidence: EvidenceService;
  let config: AppConfig;
  const clock = new ManualClock(new Date('2026-11-24T02:00:00.000Z')); // 10:00 in Beijing
  let phone = 0;

  const sms = (caseId: string): CreateNotificationInput => {
    phone += 1;
    return {
      caseId,
      channel: 'sms',
      templateKey: 'early.sms.reminder',
      locale: 'zh-CN',
      recipient: {
        role: 'debtor',
        name: '张三',
        phone: `+86138${String(20_000_000 + phone)}`,
        timeZone: 'Asia/Shanghai',
      },
      data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
    };
  };

  const receipt = (over: Partial<NormalisedReceipt>): NormalisedReceipt => ({
    provider: 'sandbox-sms',
    providerMessageId: null,
    notificationId: null,
    outcome: 'delivered',
    providerStatus: 'delivered',
    occurredAt: clock.now(),
    sandbox: true,
    raw: {},
    ...over,
  });

  const statuses = async (id: string) =>
    (await evidence.notificationEvents(id))
      .filter((e) => e.type === 'status.changed')
      .map((e) => {
        const p = e.payload as { from: string | null; to: string; cause: string };
        return `${p.from ?? '-'}>${p.to}:${p.cause}`;
      });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pipeline-spec-'));
    config = loadConfig({
      NODE_ENV: 'test',
      SQLITE_PATH: join(dir, 'notices.db'),
      LOG_LEVEL: 'silent',
      SANDBOX_RECEIPT_DELAY_MS: '60000',
    });
    app = await NestFactory.createApplicationContext(
      { module: PipelineUnderTest, imports: pipelineImports({ config, clock }) },
      { logger: false },
    );
    await app.init();
    notices = app.get(NotificationsService);
    dispatch = app.get(DispatchProcessor);
    receipts = app.get(ReceiptsService);
    repo = app.get(NotificationRepository);
    evidence = app.get(EvidenceService);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts, sends and applies a receipt: every status change with its cause, once', async () => {
    const { notification } = await notices.accept(sms('P-1'), null);
    await dispatch.handle(notification.id);
    const sent = await repo.get(notification.id);
    expect(sent).toMatchObject({ status: 'sent', provider: 'sandbox-sms', attempts: 1 });
    const r = receipt({ providerMessageId: sent?.providerMessageId ?? null, dedupKey: 'P-1-delivered' });
    expect(await receipts.ingest(r)).toMatchObject({
      matched: true,
      statusChanged: true,
      status: 'delivered',
    });
    const replay = await receipts.ingest(r);
    expect(replay).toMatchObject({ replay: true, statusChanged: false });
    expect(await statuses(notification.id)).toEqual([
      '->accepted:accept',
      'accepted>sending:claim',
      'sending>sent:provider',
      'sent>delivered:receipt',
    ]);
    const types = (await evidence.notificationEvents(notification.id)).map((e) => e.type);
    expect(types.filter((t) => t === 'receipt.received')).toHaveLength(1);
    expect((await evidence.verifyCase('P-1')).ok).toBe(true);
  });

  it('refuses a receipt that names our id from another provider, and changes nothing', async () => {
    const { notification } = await notices.accept(sms('P-2'), null);
    await dispatch.handle(notification.id);
    const forged = receipt({
      provider: 'sandbox-email',
      notificationId: notification.id,
      dedupKey: 'P-2-forged',
    });
    const res = await receipts.ingest(forged);
    expect(res.refused).toMatch(/provider/);
    expect((await repo.get(notification.id))?.status).toBe('sent');
    const types = (await evidence.notificationEvents(notification.id)).map((e) => e.type);
    expect(types).toContain('receipt.refused');
    const [row] = await app
      .get(Db)
      .rows<{ refused_reason: string | null; applied: number }>(
        'SELECT refused_reason, applied FROM receipts WHERE dedup_key = ?',
        ['P-2-forged'],
      );
    expect(row.refused_reason).toBe(res.refused);
    expect(Number(row.applied)).toBe(0);
  });

  it('parks a receipt that comes before the provider id and applies it when the send is recorded', async () => {
    const { notification } = await notices.accept(sms('P-3'), null);
    // The sandbox's provider id is derived from our id, so the receipt can arrive "early".
    const early = receipt({
      providerMessageId: SandboxSmsProvider.providerId(notification.id),
      notificationId: notification.id,
      dedupKey: 'P-3-early',
    });
    const parked = await receipts.ingest(early);
    expect(parked).toMatchObject({ matched: false, statusChanged: false });
    const before = await app.get(ReceiptRepository).firstProviderId(notification.id);
    expect(before?.provider).toBe('sandbox-sms');
    await dispatch.handle(notification.id);
    const n = await repo.get(notification.id);
    expect(n).toMatchObject({ status: 'delivered', providerMessageId: early.providerMessageId });
    expect((await statuses(notification.id)).slice(-2)).toEqual([
      'sending>sent:provider',
      'sent>delivered:receipt',
    ]);
    const [row] = await app
      .get(Db)
      .rows<{ applied: number }>('SELECT applied FROM receipts WHERE dedup_key = ?', ['P-3-early']);
    expect(Number(row.applied)).toBe(1);
  });

  it('finds parked receipts through indexes only (no scan of receipts as the table grows)', async () => {
    const plan = await app
      .get(Db)
      .rows<{ detail: string }>(
        "EXPLAIN QUERY PLAN SELECT id, body, received_at FROM receipts WHERE applied = 0 AND refused_reason IS NULL AND ((provider = 'p' AND provider_message_id = 'x') OR notification_id = 'n') ORDER BY received_at, id",
      );
    const steps = plan.map((p) => p.detail);
    expect(steps.some((d) => d.includes('MULTI-INDEX OR'))).toBe(true);
    expect(
      steps.filter((d) => d.includes('SEARCH receipts USING INDEX')).map((d) => d.split(' ')[4]),
    ).toEqual(['ix_receipts_pending', 'ix_receipts_notification']);
    expect(steps.some((d) => /^SCAN receipts/.test(d))).toBe(false);
  });

  it('a hold cancels a pending notice, its release resumes it, and a hard bounce suppresses the address', async () => {
    const holds = app.get(HoldsService);
    const { notification } = await notices.accept(sms('P-4'), null);
    const placed = await holds.place('P-4', { kind: 'dispute' }, 'tester');
    expect(placed.notifications).toEqual([notification.id]);
    const released = await holds.release('P-4', 'dispute', 'tester');
    expect(released[0].notifications).toEqual([notification.id]);
    expect(await statuses(notification.id)).toEqual([
      '->accepted:accept',
      'accepted>cancelled:hold',
      'cancelled>scheduled:hold.released',
    ]);
    expect((await repo.get(notification.id))?.statusReason).toBeNull();

    await dispatch.handle(notification.id);
    const sent = await repo.get(notification.id);
    await receipts.ingest(
      receipt({
        providerMessageId: sent?.providerMessageId ?? null,
        outcome: 'undelivered',
        bounce: 'hard',
        dedupKey: 'P-4-bounce',
      }),
    );
    const optOuts = await app.get(OptOutRepository).ofAddress(sent?.recipientAddress ?? '');
    expect(optOuts.map((o) => [o.channel, o.reason])).toEqual([['sms', 'hard_bounce']]);
    const again = await notices.accept({ ...sms('P-4b'), recipient: sent!.recipient }, null);
    expect(again.notification.status).toBe('suppressed');
  });
  it('refuses at send an SMS whose registration no longer fits the configured gateway (fails, not retried)', async () => {
    const { notification } = await notices.accept(sms('P-reg'), null);
    // Restarted with a mainland gateway whose account allows 2-character variables.
    config.smsMainland.push({
      kind: 'aliyun',
      accessKeyId: 'k',
      accessKeySecret: 'x'.repeat(16),
      protocol: 'https',
      callbackToken: 't'.repeat(16),
      timeoutMs: 1000,
      maxVariableLength: 2,
    });
    try {
      await dispatch.handle(notification.id);
    } finally {
      config.smsMainland.pop();
    }
    const row = await repo.get(notification.id);
    expect(row).toMatchObject({ status: 'failed', provider: null });
    expect(row?.statusReason).toContain('aliyun');
    expect(await statuses(notification.id)).toEqual([
      '->accepted:accept',
      'accepted>sending:claim',
      'sending>failed:provider.error',
    ]);
  });
});
