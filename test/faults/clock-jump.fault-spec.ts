import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { phoneFor, smsBody } from '../support/fixtures.js';
import { pool, waitFor } from '../support/infra.js';
import { DAYTIME, type FaultStack, ledger, runId, startFaultStack, waitAllFinal } from './support/stack.js';

const N = Number(process.env.FAULT_COUNT ?? 300);
const PER_PHONE = 3; // one more than the cn daily SMS cap (2 per number per local day)
const HOUR = 3_600_000;
const T0 = Date.parse(DAYTIME); // 10:00 Beijing, day 1
const NIGHT = new Date(T0 + 13 * HOUR).toISOString(); // 23:00 Beijing: contact window closed
const NEXT_MORNING = new Date(T0 + 23 * HOUR).toISOString(); // 09:00 Beijing, day 2

/** Beijing (UTC+8, no DST) local hour and date of an ISO instant. */
const beijing = (iso: string) => {
  const d = new Date(Date.parse(iso) + 8 * HOUR);
  return { hour: d.getUTCHours(), day: d.toISOString().slice(0, 10) };
};

describe('fault: a worker restarted with its clock hours ahead', () => {
  let stack: FaultStack;
  const run = runId();
  const phones = Math.ceil(N / (PER_PHONE + 1));

  beforeAll(async () => {
    stack = await startFaultStack({ workers: 1, emulator: { createResponseDelayMs: 100 } });
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('sends nothing twice, nothing at night, and keeps the daily cap across the jump', async () => {
    const ids: string[] = [];
    const post = (from: number, to: number, phoneOf: (i: number) => string) =>
      pool(
        Array.from({ length: to - from }, (_, k) => from + k),
        32,
        async (i) => {
          ids.push(await stack.accept(smsBody(`C-cj-${run}-${i}`, phoneOf(i)), `cj-${run}-${i}`));
        },
      );
    // Day 1, 10:00: three notices per number; the cap lets two out and defers the third to day 2.
    await post(0, phones * PER_PHONE, (i) => phoneFor(700_000 + (i % phones)));
    await waitFor(
      'two per number sent, the third deferred',
      async () => {
        const [r] = await stack.query<{ n: string }>(
          "SELECT COUNT(*) AS n FROM notifications WHERE status IN ('accepted', 'sending')",
        );
        return stack.emulator.acceptedCount === 2 * phones && Number(r.n) === 0;
      },
      90_000,
      100,
    );
    const [{ n: capped }] = await stack.query<{ n: string }>(
      "SELECT COUNT(*) AS n FROM notifications WHERE status = 'scheduled'",
    );
    expect(Number(capped)).toBe(phones);

    // Fresh numbers, and the worker killed while their sends are in flight.
    await post(phones * PER_PHONE, phones * (PER_PHONE + 1), (i) => phoneFor(800_000 + i));
    const total = ids.length;
    const [day] = stack.workers;
    await waitFor(
      'some fresh ones sent',
      async () => stack.emulator.acceptedCount >= 2 * phones + phones / 4,
      60_000,
      5,
    );
    day.child.kill('SIGKILL');
    await day.exited;
    await new Promise((r) => setTimeout(r, 300)); // creates already at the provider finish
    const sentByDay = stack.emulator.acceptedCount;
    expect(sentByDay).toBeLessThan(3 * phones);

    // 23:00 in Beijing: the new worker reconciles the interrupted sends and defers the rest.
    const night = stack.startWorker({ CLOCK_START: NIGHT });
    await waitFor(
      'night worker to settle',
      async () => {
        const [r] = await stack.query<{ n: string }>(
          "SELECT COUNT(*) AS n FROM notifications WHERE status IN ('accepted', 'sending')",
        );
        return Number(r.n) === 0;
      },
      60_000,
      250,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    expect(stack.emulator.acceptedCount).toBe(sentByDay);
    const waiting = await stack.query<{ not_before: string | null }>(
      "SELECT not_before FROM notifications WHERE status = 'scheduled'",
    );
    expect(waiting.length).toBeGreaterThan(0);
    for (const w of waiting) expect(Number(w.not_before)).toBeGreaterThan(Date.parse(NIGHT));
    await night.kill('SIGTERM');

    // 09:00 the next morning: everything goes out.
    stack.startWorker({ CLOCK_START: NEXT_MORNING });
    const counts = await waitAllFinal(stack, total);
    expect(counts).toEqual({ delivered: total });
    const report = await ledger(stack, ids);
    expect(report.lost).toEqual([]);
    expect(report.sentTwice).toEqual([]);
    expect(report.mismatched).toEqual([]);
    expect(report.orphans).toEqual([]);
    expect(report.providerMessages).toBe(total);

    // Every send the gate allowed was inside the window, and no number got more than 2 a local day.
    const allows = await stack.query<{ recorded_at: string; payload: string; recipient_address: string }>(
      "SELECT e.recorded_at, e.payload, n.recipient_address FROM evidence_events e JOIN notifications n ON n.id = e.notification_id WHERE e.type = 'compliance.decision'",
    );
    const perPhoneDay = new Map<string, number>();
    let sendAllows = 0;
    for (const a of allows) {
      const p = JSON.parse(a.payload) as { phase: string; outcome: string };
      if (p.phase !== 'send' || p.outcome !== 'allow') continue;
      sendAllows++;
      const { hour, day: localDay } = beijing(a.recorded_at);
      expect(hour >= 8 && hour < 22).toBe(true);
      const k = `${a.recipient_address}/${localDay}`;
      perPhoneDay.set(k, (perPhoneDay.get(k) ?? 0) + 1);
    }
    expect(sendAllows).toBeGreaterThanOrEqual(total);
    expect(Math.max(...perPhoneDay.values())).toBeLessThanOrEqual(2);
    // The capped third notices went out on day 2.
    const days = new Set([...perPhoneDay.keys()].map((k) => k.split('/')[1]));
    expect(days.size).toBe(2);
  }, 300_000);
});
