import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#libs/config';
import { canAdvance, ManualClock, type NotificationStatus, STATUSES } from '#libs/core';
import { EvidenceService } from '#libs/evidence';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import { CallbacksService } from './callbacks/callbacks.service.js';
import { NotificationRepository, type NotificationRow } from './notification.repository.js';
import {
  IllegalTransitionError,
  isAllowedTransition,
  NotificationStateMachine,
  type TransitionCause,
} from './state-machine.js';

describe('isAllowedTransition', () => {
  const causes: TransitionCause[] = [
    'accept',
    'gate',
    'claim',
    'provider',
    'provider.error',
    'reconcile',
    'receipt',
    'cancel',
    'hold',
    'hold.released',
  ];

  it('lets a new notice start only as accepted, scheduled or suppressed, and only by accept', () => {
    for (const to of STATUSES) {
      for (const cause of causes) {
        expect([to, cause, isAllowedTransition(null, to, cause)]).toEqual([
          to,
          cause,
          cause === 'accept' && ['accepted', 'scheduled', 'suppressed'].includes(to),
        ]);
      }
    }
  });

  it('moves forward only, except the three named requeue edges', () => {
    const backward: [NotificationStatus, NotificationStatus][] = [];
    for (const from of STATUSES) {
      for (const to of STATUSES) {
        for (const cause of causes) {
          if (cause === 'accept') {
            expect(isAllowedTransition(from, to, cause)).toBe(false);
            continue;
          }
          if (isAllowedTransition(from, to, cause) && !canAdvance(from, to)) backward.push([from, to]);
        }
      }
    }
    // Final statuses never move (delivered -> failed is refused), and nothing goes back a step.
    expect(isAllowedTransition('delivered', 'failed', 'receipt')).toBe(false);
    expect(isAllowedTransition('undelivered', 'delivered', 'receipt')).toBe(false);
    expect(isAllowedTransition('sent', 'sending', 'claim')).toBe(false);
    expect([...new Set(backward.map(([f, t]) => `${f}->${t}`))].sort()).toEqual([
      'cancelled->scheduled',
      'scheduled->scheduled',
      'sending->scheduled',
    ]);
    expect(isAllowedTransition('cancelled', 'scheduled', 'hold.released')).toBe(true);
    expect(isAllowedTransition('cancelled', 'scheduled', 'gate')).toBe(false);
    expect(isAllowedTransition('sending', 'scheduled', 'reconcile')).toBe(true);
    expect(isAllowedTransition('sending', 'scheduled', 'receipt')).toBe(false);
    expect(isAllowedTransition('failed', 'scheduled', 'provider.error')).toBe(false);
  });
});

describe('NotificationStateMachine on SQLite', () => {
  let dir: string;
  let ds: DataSource;
  let db: Db;
  let repo: NotificationRepository;
  let evidence: EvidenceService;
  let states: NotificationStateMachine;
  const clock = new ManualClock(new Date('2026-12-03T02:00:00.000Z'));
  let n = 0;

  const row = (caseId: string, status: NotificationStatus = 'accepted'): NotificationRow => {
    n += 1;
    const t = clock.now().getTime();
    return {
      id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      caseId,
      channel: 'sms',
      templateKey: 'early.sms.reminder',
      templateVersion: 1,
      locale: 'zh-CN',
      audience: 'debtor',
      recipient: { role: 'debtor', name: '张三', phone: '+8613800138000', timeZone: 'Asia/Shanghai' },
      recipientAddress: '+8613800138000',
      data: {},
      status,
      statusReason: null,
      provider: null,
      providerMessageId: null,
      idempotencyKey: null,
      requestHash: 'h',
      notBefore: null,
      attempts: 0,
      sendingAt: null,
      parentId: null,
      escalationStep: 0,
      createdAt: t,
      updatedAt: t,
    };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'state-machine-spec-'));
    const config = loadConfig({ NODE_ENV: 'test', SQLITE_PATH: join(dir, 'notices.db') });
    ds = createDataSource(config.database);
    await ds.initialize();
    await runMigrations(ds);
    db = new Db(ds);
    repo = new NotificationRepository(db);
    evidence = new EvidenceService(db, clock);
    states = new NotificationStateMachine(repo, evidence, new CallbacksService(db, config), clock);
  }, 30_000);

  afterAll(async () => {
    await ds?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores a new notice with its acceptance evidence and a status.changed from nothing', async () => {
    const r = row('SM-1');
    const events = await db.transaction((tx) =>
      states.create(tx, r, [{ notificationId: r.id, type: 'notification.accepted', payload: { x: 1 } }]),
    );
    expect(events.map((e) => [e.type, e.payload])).toEqual([
      ['notification.accepted', { x: 1 }],
      ['status.changed', { from: null, to: 'accepted', cause: 'accept' }],
    ]);
    expect((await repo.get(r.id))?.status).toBe('accepted');
    await expect(db.transaction((tx) => states.create(tx, row('SM-1', 'sent'), []))).rejects.toThrow(
      IllegalTransitionError,
    );
  });

  it('moves a row with its columns and writes the step evidence then status.changed in one batch', async () => {
    const r = row('SM-2');
    await db.transaction((tx) => states.create(tx, r, []));
    clock.advance(1000);
    const res = await db.transaction((tx) =>
      states.transition(tx, r, {
        to: 'sending',
        cause: 'claim',
        set: { sendingAt: clock.now().getTime(), incAttempts: true },
        evidence: [{ notificationId: r.id, type: 'compliance.decision', payload: { outcome: 'allow' } }],
      }),
    );
    expect(res.moved).toBe(true);
    expect(res.events.map((e) => e.type)).toEqual(['compliance.decision', 'status.changed']);
    expect(res.events[1].payload).toEqual({ from: 'accepted', to: 'sending', cause: 'claim' });
    expect(res.events[1].seq).toBe(res.events[0].seq + 1);
    const stored = await repo.get(r.id);
    expect(stored).toMatchObject({ status: 'sending', attempts: 1, sendingAt: clock.now().getTime() });
    expect(stored?.updatedAt).toBe(clock.now().getTime());
    expect((await evidence.verifyCase('SM-2')).ok).toBe(true);
  });

  it('loses a race cleanly: a stale "from" moves nothing and writes only what must be recorded', async () => {
    const r = row('SM-3');
    await db.transaction((tx) => states.create(tx, r, []));
    await db.transaction((tx) => states.transition(tx, r, { to: 'cancelled', cause: 'cancel' }));
    // A second process still believes the row is `accepted`.
    const lost = await db.transaction((tx) =>
      states.transition(tx, r, {
        to: 'sending',
        cause: 'claim',
        evidence: [{ notificationId: r.id, type: 'compliance.decision', payload: {} }],
      }),
    );
    expect(lost).toEqual({ moved: false, events: [] });
    const recorded = await db.transaction((tx) =>
      states.transition(tx, r, {
        to: 'sent',
        cause: 'provider',
        evidence: [{ notificationId: r.id, type: 'provider.response', payload: { id: 'SM1' } }],
        recordIfUnchanged: true,
      }),
    );
    expect(recorded.moved).toBe(false);
    expect(recorded.events.map((e) => e.type)).toEqual(['provider.response']);
    expect((await repo.get(r.id))?.status).toBe('cancelled');
    const types = (await evidence.caseEvents('SM-3')).map((e) => e.type);
    expect(types).toEqual(['status.changed', 'status.changed', 'provider.response']);
  });

  it('refuses an illegal edge before writing anything', async () => {
    const r = row('SM-4');
    await db.transaction((tx) => states.create(tx, r, []));
    await db.transaction((tx) =>
      states.transition(tx, r, { to: 'delivered', cause: 'receipt', detail: { receiptId: 'R1' } }),
    );
    await expect(
      db.transaction((tx) =>
        states.transition(tx, { ...r, status: 'delivered' }, { to: 'scheduled', cause: 'reconcile' }),
      ),
    ).rejects.toThrow('illegal notification transition delivered -> scheduled (cause reconcile)');
    expect((await repo.get(r.id))?.status).toBe('delivered');
    expect((await evidence.caseEvents('SM-4')).map((e) => e.payload)).toEqual([
      { from: null, to: 'accepted', cause: 'accept' },
      { from: 'accepted', to: 'delivered', cause: 'receipt', receiptId: 'R1' },
    ]);
  });

  it('moves several notices of a case in one append: hold first, then one status.changed per mover', async () => {
    const a = row('SM-5');
    const b = row('SM-5', 'scheduled');
    const c = row('SM-5');
    for (const x of [a, b, c]) await db.transaction((tx) => states.create(tx, x, []));
    await db.transaction((tx) => states.transition(tx, c, { to: 'cancelled', cause: 'cancel' }));
    const [{ n: setsBefore }] = await db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM evidence_sets');
    const moved = await db.transaction((tx) =>
      states.transitionCase(
        tx,
        'SM-5',
        [a, b, c].map((x) => ({
          n: x,
          t: {
            to: 'cancelled' as const,
            cause: 'hold' as const,
            set: { holdId: 'H1' },
            detail: { holdId: 'H1' },
          },
        })),
        [{ notificationId: null, type: 'case.hold.placed', payload: { holdId: 'H1' } }],
      ),
    );
    expect(moved).toEqual([a.id, b.id]);
    const [{ n: setsAfter }] = await db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM evidence_sets');
    expect(Number(setsAfter) - Number(setsBefore)).toBe(1);
    const tail = (await evidence.caseEvents('SM-5')).slice(-3);
    expect(
      tail.map((e) => [e.type, e.notificationId, (e.payload as { from?: string }).from ?? null]),
    ).toEqual([
      ['case.hold.placed', null, null],
      ['status.changed', a.id, 'accepted'],
      ['status.changed', b.id, 'scheduled'],
    ]);
    const held = await db.rows<{ id: string; hold_id: string | null }>(
      'SELECT id, hold_id FROM notifications WHERE case_id = ? ORDER BY id',
      ['SM-5'],
    );
    expect(held.map((h) => h.hold_id)).toEqual(['H1', 'H1', null]);
    await expect(
      db.transaction((tx) =>
        states.transitionCase(tx, 'SM-6', [{ n: a, t: { to: 'failed', cause: 'receipt' } }]),
      ),
    ).rejects.toThrow(`notification ${a.id} is not of case SM-6`);
  });
});
