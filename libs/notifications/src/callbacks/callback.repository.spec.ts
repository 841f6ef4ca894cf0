/**
 * The callback outbox's SQL on real SQLite (migrated): fan-out of an event to its targets, the
 * due lanes (one in flight per notification and URL, in seq order), claims, attempts, dead
 * letters and replays.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#libs/config';
import { createDataSource, Db, runMigrations } from '#libs/persistence';
import { NotificationRepository, type NotificationRow } from '../notification.repository.js';
import { CallbackRepository, type CallbackOutboxEvent } from './callback.repository.js';

describe('CallbackRepository on SQLite', () => {
  let dir: string;
  let ds: DataSource;
  let db: Db;
  let repo: CallbackRepository;
  let notices: NotificationRepository;
  const T0 = Date.parse('2026-12-04T10:00:00.000Z');
  let n = 0;

  /** Stores a notice of `caller` (with its own callback URL when given); returns its id. */
  const notice = async (caller: string | null, callbackUrl: string | null = null): Promise<string> => {
    n += 1;
    const row: NotificationRow = {
      id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      caseId: `CB-${n}`,
      channel: 'sms',
      templateKey: 'early.sms.reminder',
      templateVersion: 1,
      locale: 'zh-CN',
      audience: 'debtor',
      recipient: { role: 'debtor', name: '张三', phone: '+8613800138000', timeZone: 'Asia/Shanghai' },
      recipientAddress: '+8613800138000',
      data: {},
      status: 'accepted',
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
      caller,
      callbackUrl,
      createdAt: T0,
      updatedAt: T0,
    };
    await db.transaction((tx) => notices.insert(tx, row));
    return row.id;
  };

  const event = (notificationId: string, seq: number, now = T0): CallbackOutboxEvent => ({
    eventId: randomUUID(),
    notificationId,
    seq,
    type: 'notification.sent',
    body: JSON.stringify({ seq }),
    now,
  });

  const enqueue = (e: CallbackOutboxEvent) => db.transaction((tx) => repo.enqueue(tx, e));

  const endpoint = async (owner: string, url: string, at = T0): Promise<string> => {
    const id = randomUUID();
    await repo.insertEndpoint({ id, owner, url, createdAt: at });
    return id;
  };

  const raw = async (id: string) => {
    const [row] = await db.rows<{
      status: string;
      attempts: number;
      next_attempt_at: number;
      claimed_until: number | null;
      retry_from: number;
      delivered_at: number | null;
    }>(
      'SELECT status, attempts, next_attempt_at, claimed_until, retry_from, delivered_at FROM callback_deliveries WHERE id = ?',
      [id],
    );
    return row;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callback-repository-spec-'));
    const config = loadConfig({ NODE_ENV: 'test', SQLITE_PATH: join(dir, 'notices.db') });
    ds = createDataSource(config.database);
    await ds.initialize();
    await runMigrations(ds);
    db = new Db(ds);
    repo = new CallbackRepository(db);
    notices = new NotificationRepository(db);
  }, 30_000);

  afterAll(async () => {
    await ds?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the first secret of a caller', async () => {
    expect(await repo.secret('sec')).toBeNull();
    expect(await repo.hasSecret('sec')).toBe(false);
    await repo.addSecret('sec', 'cbs_first', T0);
    await repo.addSecret('sec', 'cbs_second', T0 + 1);
    expect(await repo.secret('sec')).toBe('cbs_first');
    expect(await repo.hasSecret('sec')).toBe(true);
    expect(await repo.hasSecret('other')).toBe(false);
  });

  it('lists, finds and disables endpoints of their owner only', async () => {
    const a = await endpoint('ep', 'https://a.example/cb', T0 + 2);
    const b = await endpoint('ep', 'https://b.example/cb', T0 + 1);
    expect(await repo.activeEndpointId('ep', 'https://a.example/cb')).toBe(a);
    expect(await repo.activeEndpointId('other', 'https://a.example/cb')).toBeNull();
    expect(await repo.disableEndpoint('other', a, T0 + 5)).toBe(false);
    expect(await repo.disableEndpoint('ep', a, T0 + 5)).toBe(true);
    expect(await repo.disableEndpoint('ep', a, T0 + 6)).toBe(false);
    expect(await repo.activeEndpointId('ep', 'https://a.example/cb')).toBeNull();
    expect(await repo.endpoints('ep')).toEqual([
      { id: b, url: 'https://b.example/cb', createdAt: new Date(T0 + 1).toISOString(), disabledAt: null },
      {
        id: a,
        url: 'https://a.example/cb',
        createdAt: new Date(T0 + 2).toISOString(),
        disabledAt: new Date(T0 + 5).toISOString(),
      },
    ]);
  });

  it('queues one delivery per enabled endpoint and the request URL, unless an endpoint has it', async () => {
    const live = await endpoint('fan', 'https://live.example/cb');
    const off = await endpoint('fan', 'https://off.example/cb');
    await repo.disableEndpoint('fan', off, T0);

    const own = await notice('fan', 'https://own.example/cb');
    const e1 = event(own, 1);
    await enqueue(e1);
    const first = await repo.deliveries('fan', { notificationId: own }, null, 10);
    expect(first.map((d) => [d.id, d.url, d.endpointId, d.status, d.attempts]).sort()).toEqual(
      [
        [`${e1.eventId}:${live}`, 'https://live.example/cb', live, 'pending', 0],
        [`${e1.eventId}:request`, 'https://own.example/cb', null, 'pending', 0],
      ].sort(),
    );
    expect(first[0]).toMatchObject({
      eventId: e1.eventId,
      type: 'notification.sent',
      notificationId: own,
      nextAttemptAt: new Date(T0).toISOString(),
      event: { seq: 1 },
    });

    const same = await notice('fan', 'https://live.example/cb');
    const e2 = event(same, 1);
    await enqueue(e2);
    expect((await repo.deliveries('fan', { notificationId: same }, null, 10)).map((d) => d.id)).toEqual([
      `${e2.eventId}:${live}`,
    ]);

    const anonymous = await notice(null, 'https://own.example/cb');
    await enqueue(event(anonymous, 1));
    expect(
      await db.rows('SELECT id FROM callback_deliveries WHERE notification_id = ?', [anonymous]),
    ).toEqual([]);
  });

  it('hands out only the head of each (notification, URL) lane, due and unclaimed, earliest first', async () => {
    await endpoint('lane', 'https://lane.example/cb');
    const x = await notice('lane');
    const y = await notice('lane');
    const x1 = event(x, 1, T0 + 20);
    const x2 = event(x, 2, T0 + 10);
    const y5 = event(y, 5, T0 + 15);
    const later = event(y, 4, T0 + 1_000); // not due yet; it blocks y5 (lower seq, same lane)
    for (const e of [x1, x2, y5]) await enqueue(e);
    const ids = async (now: number) =>
      (await repo.due(now, 100)).filter((d) => d.owner === 'lane').map((d) => d.eventId);

    // x2 waits behind x1 although it is due first.
    expect(await ids(T0 + 100)).toEqual([y5.eventId, x1.eventId]);
    const everything = await repo.due(T0 + 100, 100);
    expect(everything.length).toBeGreaterThan(2);
    expect(await repo.due(T0 + 100, 2)).toEqual(everything.slice(0, 2));
    expect(await ids(T0 + 12)).toEqual([]);

    const head = everything.find((d) => d.eventId === y5.eventId);
    expect(head).toMatchObject({
      owner: 'lane',
      url: 'https://lane.example/cb',
      attempts: 0,
      retryFrom: T0 + 15,
    });
    expect(head?.body).toBe(JSON.stringify({ seq: 5 }));

    // Claims: one winner until the claim expires; a claimed row is not handed out.
    const x1Id = everything.find((d) => d.eventId === x1.eventId)?.id ?? '';
    expect(await repo.claim(x1Id, T0 + 500, T0 + 100)).toBe(true);
    expect(await repo.claim(x1Id, T0 + 600, T0 + 200)).toBe(false);
    expect(await ids(T0 + 300)).toEqual([y5.eventId]);
    expect(await ids(T0 + 501)).toEqual([y5.eventId, x1.eventId]);
    expect(await repo.claim(x1Id, T0 + 900, T0 + 501)).toBe(true);

    // Delivered: the claim is released and the next event of the lane becomes due.
    await db.transaction((tx) => repo.markDelivered(tx, x1Id, 1, T0 + 510, 204));
    expect(await raw(x1Id)).toMatchObject({
      status: 'delivered',
      attempts: 1,
      claimed_until: null,
      delivered_at: T0 + 510,
    });
    expect(await ids(T0 + 600)).toEqual([x2.eventId, y5.eventId]);

    // A pending event of lower seq blocks the lane even before it is due.
    await enqueue(later);
    expect(await ids(T0 + 600)).toEqual([x2.eventId]);
  });

  it('logs attempts, retries, then keeps a dead letter that a replay sends again', async () => {
    await endpoint('dl', 'https://dead.example/cb');
    const id0 = await notice('dl');
    const e = event(id0, 1);
    await enqueue(e);
    const [d] = await repo.due(T0 + 1, 100).then((r) => r.filter((x) => x.owner === 'dl'));
    expect(await repo.claim(d.id, T0 + 100, T0 + 1)).toBe(true);

    await db.transaction(async (tx) => {
      await repo.logAttempt(tx, {
        deliveryId: d.id,
        attempt: 1,
        startedAt: T0 + 1,
        durationMs: 30,
        statusCode: 500,
        error: 'HTTP 500',
      });
      await repo.markFailed(tx, d.id, {
        dead: false,
        attempt: 1,
        retryAt: T0 + 5_000,
        statusCode: 500,
        error: 'HTTP 500',
      });
    });
    expect(await repo.delivery('dl', d.id)).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastStatusCode: 500,
      lastError: 'HTTP 500',
      nextAttemptAt: new Date(T0 + 5_000).toISOString(),
      deliveredAt: null,
    });
    expect((await raw(d.id)).claimed_until).toBeNull();
    expect((await repo.due(T0 + 4_999, 100)).some((x) => x.id === d.id)).toBe(false);
    expect((await repo.due(T0 + 5_000, 100)).find((x) => x.id === d.id)?.attempts).toBe(1);

    await db.transaction(async (tx) => {
      await repo.logAttempt(tx, {
        deliveryId: d.id,
        attempt: 2,
        startedAt: T0 + 5_000,
        durationMs: 10_000,
        statusCode: null,
        error: 'TimeoutError: aborted',
      });
      await repo.markFailed(tx, d.id, {
        dead: true,
        attempt: 2,
        retryAt: T0 + 60_000,
        statusCode: null,
        error: 'TimeoutError: aborted',
      });
    });
    expect(await repo.attempts(d.id)).toEqual([
      {
        attempt: 1,
        startedAt: new Date(T0 + 1).toISOString(),
        durationMs: 30,
        statusCode: 500,
        error: 'HTTP 500',
      },
      {
        attempt: 2,
        startedAt: new Date(T0 + 5_000).toISOString(),
        durationMs: 10_000,
        statusCode: null,
        error: 'TimeoutError: aborted',
      },
    ]);
    const dead = await repo.deliveries('dl', { status: 'dead' }, null, 10);
    expect(dead.map((x) => [x.id, x.status, x.attempts, x.nextAttemptAt, x.lastStatusCode])).toEqual([
      [d.id, 'dead', 2, null, null],
    ]);
    expect(await repo.deliveries('dl', { status: 'pending' }, null, 10)).toEqual([]);
    expect((await repo.due(T0 + 120_000, 100)).some((x) => x.id === d.id)).toBe(false);

    // Replay: only by its owner, only when not pending; a fresh window from now.
    expect(await repo.replay('someone-else', d.id, T0 + 200_000)).toBe(false);
    expect(await repo.replay('dl', d.id, T0 + 200_000)).toBe(true);
    expect(await raw(d.id)).toMatchObject({
      status: 'pending',
      attempts: 2,
      next_attempt_at: T0 + 200_000,
      retry_from: T0 + 200_000,
      claimed_until: null,
      delivered_at: null,
    });
    expect(await repo.replay('dl', d.id, T0 + 200_001)).toBe(false);
    expect((await repo.due(T0 + 200_000, 100)).find((x) => x.id === d.id)).toMatchObject({
      attempts: 2,
      retryFrom: T0 + 200_000,
    });
    expect(await repo.delivery('someone-else', d.id)).toBeNull();
  });

  it('pages deliveries by (created_at, id) and filters by notification', async () => {
    await endpoint('pg', 'https://p1.example/cb');
    await endpoint('pg', 'https://p2.example/cb');
    const a = await notice('pg');
    const b = await notice('pg');
    await enqueue(event(a, 1, T0 + 1));
    await enqueue(event(b, 1, T0 + 2));
    const all = await repo.deliveries('pg', {}, null, 10);
    expect(all).toHaveLength(4);
    const keys = all.map((d) => [Date.parse(d.createdAt), d.id] as const);
    expect([...keys].sort((p, q) => p[0] - q[0] || (p[1] < q[1] ? -1 : 1))).toEqual(keys);
    const page1 = await repo.deliveries('pg', {}, null, 3);
    const last = page1[2];
    const page2 = await repo.deliveries('pg', {}, [Date.parse(last.createdAt), last.id], 3);
    expect([...page1, ...page2].map((d) => d.id)).toEqual(all.map((d) => d.id));
    expect(
      (await repo.deliveries('pg', { notificationId: b }, null, 10)).map((d) => d.notificationId),
    ).toEqual([b, b]);
  });
});
