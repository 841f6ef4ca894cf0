import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OffsetClock } from '#libs/core';
import { ArtifactRenderer, NotificationRepository } from '#libs/notifications';
import { PrintVendorEmulator } from './emulators/print-vendor.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { DAYTIME, LETTER_DATA } from './support/fixtures.js';
import { waitFor } from './support/infra.js';

const SH = {
  country: 'CN',
  province: '上海市',
  city: '上海市',
  district: '浦东新区',
  street: '世纪大道 100 号',
  postcode: '200120',
};
const BJ = (postcode: string, street: string) => ({
  country: 'CN',
  province: '北京市',
  city: '北京市',
  district: '东城区',
  street,
  postcode,
});

interface Ev {
  type: string;
  payload: Record<string, unknown>;
}
interface View {
  id: string;
  status: string;
  statusReason: string | null;
  providerMessageId: string | null;
  events: Ev[];
}

function letter(caseId: string, name: string, address: object) {
  return {
    caseId,
    channel: 'letter',
    templateKey: 'late.letter.demand',
    recipient: { role: 'debtor', name, address, timeZone: 'Asia/Shanghai' },
    data: LETTER_DATA,
  };
}

describe('registered letters through the print vendor', () => {
  const clock = new OffsetClock(new Date(DAYTIME));
  const SECRET = 'print-vendor-webhook-secret-0001';
  let vendor: PrintVendorEmulator;
  let api: InProcessApp;
  const view = async (id: string) =>
    (await (await fetch(`${api.baseUrl}/v1/notifications/${id}`)).json()) as View;
  const until = (id: string, status: string) =>
    waitFor(
      `${id} ${status}`,
      async () => {
        const v = await view(id);
        return v.status === status ? v : undefined;
      },
      20_000,
    );

  beforeAll(async () => {
    vendor = new PrintVendorEmulator({
      apiKey: 'vendor-api-key',
      webhookSecret: SECRET,
      now: () => clock.now().getTime(),
      postcodeOutcomes: {
        '100001': { type: 'returned', returnReason: 'refused' },
        '100006': { type: 'returned', returnReason: 'unclaimed' },
      },
    });
    const url = await vendor.start();
    api = await startInProcess({
      dialect: 'postgres',
      clock,
      env: {
        LETTER_PROVIDER: 'print-vendor',
        PRINT_VENDOR_URL: url,
        PRINT_VENDOR_API_KEY: 'vendor-api-key',
        PRINT_VENDOR_WEBHOOK_SECRET: SECRET,
      },
    });
    // The vendor posts to the callback URL the adapter gives it (PUBLIC_BASE_URL defaults to this port).
  }, 30_000);

  afterAll(async () => {
    await api?.close();
    await vendor?.stop();
  });

  it('a late notice: a 2-page Chinese PDF, submitted, delivered with the signer in the evidence', async () => {
    const res = await postJson(api.baseUrl, '/v1/notifications', letter('C-post-1', '张三', SH));
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    const v = await until(id, 'delivered');
    const rendered = v.events.find((e) => e.type === 'message.rendered')!.payload;
    expect(rendered).toMatchObject({ mediaType: 'application/pdf', service: 'registered' });
    const [row] = await api.db.rows<{ content: Buffer }>('SELECT content FROM artifacts WHERE sha256 = ?', [
      rendered.sha256,
    ]);
    const pdf = Buffer.from(row.content);
    expect(createHash('sha256').update(pdf).digest('hex')).toBe(rendered.sha256);
    const dir = mkdtempSync(join(tmpdir(), 'cns-pdf-'));
    try {
      const file = join(dir, 'letter.pdf');
      writeFileSync(file, pdf);
      expect(execFileSync('pdfinfo', [file]).toString()).toMatch(/Pages:\s+2\b/);
      const text = execFileSync('pdftotext', ['-layout', file, '-']).toString();
      expect(text).toContain('张三');
      expect(text).toContain('还款承诺书');
      expect(text).toMatch(/第\s*1\s*页\s*共\s*2\s*页/);
      const fonts = execFileSync('pdffonts', [file]).toString().split('\n').slice(2).filter(Boolean);
      expect(fonts.length).toBeGreaterThan(0);
      for (const f of fonts) expect(f).toMatch(/yes\s+yes\s+yes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The vendor received exactly those bytes, once.
    expect(vendor.letterCount).toBe(1);
    const delivered = v.events.filter((e) => e.type === 'receipt.received').map((e) => e.payload);
    expect(delivered.map((p) => p.postEvent ?? p.outcome)).toEqual(
      expect.arrayContaining(['printed', 'mailed']),
    );
    expect(delivered.find((p) => p.outcome === 'delivered')?.signer).toBeTruthy();

    // Rendering the same notice again gives identical bytes (the evidence hash still matches).
    const n = await api.app.get(NotificationRepository).get(id);
    const again = await api.app.get(ArtifactRenderer).render(n!);
    expect(again.sha256).toBe(rendered.sha256);
    expect(again.content.equals(pdf)).toBe(true);
  }, 30_000);

  it('returned/refused and returned/unclaimed stay distinct', async () => {
    const a = await postJson(
      api.baseUrl,
      '/v1/notifications',
      letter('C-post-2', '李四', BJ('100001', '东长安街 1 号')),
    );
    const b = await postJson(
      api.baseUrl,
      '/v1/notifications',
      letter('C-post-3', '王五', BJ('100006', '王府井大街 2 号')),
    );
    const ra = await until(a.body.id as string, 'undelivered');
    const rb = await until(b.body.id as string, 'undelivered');
    expect(ra.statusReason).toBe('returned: refused');
    expect(rb.statusReason).toBe('returned: unclaimed');
    const reason = (v: View) =>
      v.events.find((e) => e.payload.postEvent === 'returned')?.payload.returnReason;
    expect(reason(ra)).toBe('refused');
    expect(reason(rb)).toBe('unclaimed');
  }, 30_000);

  it('a forged or replayed webhook is rejected and changes nothing', async () => {
    const made = await postJson(
      api.baseUrl,
      '/v1/notifications',
      letter('C-post-4', '赵六', { ...SH, street: '世纪大道 200 号' }),
    );
    await until(made.body.id as string, 'delivered');
    const first = vendor.listLetters().find((l) => l.reference === made.body.id)!;
    const event = {
      id: 'evt_replay_test_0001',
      type: 'in_transit',
      letterId: first.id,
      reference: first.reference,
      documentId: first.documentId,
      occurredAt: clock.now().toISOString(),
      trackingNumber: 'RR473124899CN',
      signer: null,
      returnReason: null,
      detail: null,
      livemode: true,
    };
    const count = async () =>
      Number((await api.db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM receipts'))[0].n);
    const post = (w: { body: string; headers: Record<string, string> }) =>
      fetch(`${api.baseUrl}/webhooks/post/events`, { method: 'POST', headers: w.headers, body: w.body });
    const signed = vendor.signedWebhook(event);
    const before = await count();
    expect((await post(signed)).status).toBe(200);
    expect(await count()).toBe(before + 1);
    // The same event again (a replay, even correctly signed) is acknowledged and ignored.
    const replay = await post(signed);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ replay: true });
    // A forged one (tampered body, or a stale timestamp) is refused.
    const tampered = await post({ ...signed, body: signed.body.replace('in_transit', 'delivered') });
    expect(tampered.status).toBe(401);
    expect(tampered.headers.get('content-type')).toContain('application/problem+json');
    const stale = vendor.signedWebhook(
      { ...event, id: 'evt_stale_0001' },
      Math.floor(clock.now().getTime() / 1000) - 3600,
    );
    expect((await post(stale)).status).toBe(401);
    expect(await count()).toBe(before + 1);
  });
});

describe('the in-house print room', () => {
  let api: InProcessApp;
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'cns-room-'));
    api = await startInProcess({
      dialect: 'sqlite',
      env: { LETTER_PROVIDER: 'print-room', PRINT_ROOM_DIR: root },
    });
  }, 30_000);
  afterAll(async () => {
    await api?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('exports 1,000 letters with a manifest; a tracking CSV applies good rows and reports bad ones by line', async () => {
    const N = Number(process.env.E2E_PRINT_ROOM_COUNT ?? 1000);
    const lines = Array.from({ length: N }, (_, i) =>
      JSON.stringify({
        ...letter(`C-room-${i}`, '张三', { ...SH, street: `世纪大道 ${i + 1} 号` }),
        idempotencyKey: `room-${i}`,
      }),
    ).join('\n');
    const res = await fetch(`${api.baseUrl}/v1/notifications/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: lines,
    });
    expect(res.status).toBe(200);
    const out = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out.at(-1)).toMatchObject({ summary: { accepted: N, failed: 0 } });
    await waitFor(
      'all sent',
      async () => {
        const [r] = await api.db.rows<{ n: number }>(
          "SELECT COUNT(*) AS n FROM notifications WHERE status = 'sent'",
        );
        return Number(r.n) === N;
      },
      240_000,
      500,
    );
    const closeRes = await fetch(`${api.baseUrl}/v1/post/print-room/batches/close`, { method: 'POST' });
    const closedText = await closeRes.text();
    if (closeRes.status !== 200) throw new Error(`close answered ${closeRes.status} ${closedText}`);
    const closed = JSON.parse(closedText) as { batchId: string; dir: string; count: number };
    if (closed.count !== N) throw new Error(`close answered ${closedText}`);
    const manifest = readFileSync(join(closed.dir, 'manifest.csv'), 'utf8').trim().split('\n');
    expect(manifest).toHaveLength(N + 1);
    const header = manifest[0].split(',');
    const col = (name: string) => header.indexOf(name);
    const rows = await api.db.rows<{ id: string; provider_message_id: string }>(
      "SELECT id, provider_message_id FROM notifications WHERE status = 'sent'",
    );
    const evidence = new Map(
      (
        await api.db.rows<{ notification_id: string; payload: string }>(
          "SELECT notification_id, payload FROM evidence_events WHERE type = 'message.rendered'",
        )
      ).map((r) => [r.notification_id, (JSON.parse(r.payload) as { sha256: string }).sha256]),
    );
    for (const line of manifest.slice(1, 50)) {
      const f = line.split(',');
      const docId = f[col('document_id')];
      const sha = f[col('sha256')];
      expect(
        createHash('sha256')
          .update(readFileSync(join(closed.dir, `${docId}.pdf`)))
          .digest('hex'),
      ).toBe(sha);
      expect(evidence.get(f[col('notification_id')])).toBe(sha);
    }
    expect(rows).toHaveLength(N);

    // Tracking CSV: good rows for the first three letters, bad rows mixed in.
    const docs = manifest.slice(1, 4).map((l) => l.split(',')[col('document_id')]);
    const at = new Date(Date.now() - 3_600_000).toISOString();
    const csv = [
      'document_id,event,occurred_at,tracking_no,signer,return_reason',
      `${docs[0]},mailed,${at},RR473124829CN,,`,
      `${docs[0]},delivered,${at},RR473124829CN,张三,`,
      `not-a-document,mailed,${at},RR473124830CN,,`,
      `${docs[1]},teleported,${at},RR473124831CN,,`,
      `${docs[1]},returned,${at},RR473124831CN,,拒收`,
      `${docs[2]},delivered,yesterday,RR473124832CN,王五,`,
    ].join('\n');
    const imp = await fetch(`${api.baseUrl}/v1/post/print-room/tracking`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: csv,
    });
    expect(imp.status).toBe(200);
    const report = (await imp.json()) as { applied: number; matched: number; errors: { line: number }[] };
    expect(report.errors.map((e) => e.line)).toEqual([4, 5, 7]);
    expect(report.applied).toBe(3);
    expect(report.matched).toBe(3);
    const status = async (doc: string) =>
      (
        await api.db.rows<{ status: string; status_reason: string | null }>(
          'SELECT status, status_reason FROM notifications WHERE id = ?',
          [doc],
        )
      )[0];
    expect((await status(docs[0])).status).toBe('delivered');
    expect(await status(docs[1])).toMatchObject({
      status: 'undelivered',
      status_reason: 'returned: refused',
    });
    expect((await status(docs[2])).status).toBe('sent'); // its bad row changed nothing
  }, 300_000);
});
