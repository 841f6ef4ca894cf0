import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { signEmailEvent } from '#libs/channels';
import { OffsetClock } from '#libs/core';
import { verifyCaseInclusion } from '#libs/evidence';
import { PrintVendorEmulator } from './emulators/print-vendor.js';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.js';
import { startTestTsa, type TestTsa } from './tsa/server.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { DAYTIME, smsBody } from './support/fixtures.js';
import { ROOT, waitFor } from './support/infra.js';

const run = promisify(execFile);
const EMAIL_SECRET = 'legal-email-webhook-secret';
const VENDOR_SECRET = 'legal-vendor-webhook-secret-01';
const ADDRESS = {
  country: 'CN',
  province: '上海市',
  city: '上海市',
  district: '浦东新区',
  street: '世纪大道 100 号',
  postcode: '200120',
};
const LETTER_DATA = {
  outstandingBalance: '23456.78',
  principal: '23456.78',
  interestAndFees: '0.00',
  balanceAsOf: '2026-10-31',
  cardLast4: '1234',
  overdueSince: '2026-03-15',
  repayBy: '2026-12-15',
};
const CLI = join(ROOT, 'dist', 'scripts', 'evidence-verify.js');

/**
 * Acceptance (1)-(3) on a standalone (SQLite) service with a generated signing key and the local
 * TSA: a case with an SMS, an e-mail and a registered letter gives a bundle that verifies with the
 * CLI and with openssl / sha256sum alone; tampering with an event, an artifact byte or a manifest
 * entry names the first broken element; the checkpoint's token verifies with `openssl ts -verify`.
 *
 * All three go through the pipeline: the SMS through the sandbox (its receipts never count as proof),
 * the e-mail through a real SMTP server (delivered by a signed provider event), the registered letter
 * through the print-vendor emulator (delivered with the signer's name by signed webhooks).
 */
describe('evidence bundle for the legal team', () => {
  let api: InProcessApp;
  let tsa: TestTsa;
  let dir: string;
  const caseId = 'C-legal-0001';
  let zipPath: string;
  let smsId: string;
  type Direct = { id: string; content: Buffer; sha256: string };
  const email: Direct = { id: '', content: Buffer.alloc(0), sha256: '' };
  const letter: Direct = { id: '', content: Buffer.alloc(0), sha256: '' };
  const clock = new OffsetClock(new Date(DAYTIME));
  let smtp: TestSmtpServer;
  let vendor: PrintVendorEmulator;
  let letterProviderId = '';

  async function cli(zip: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
    try {
      const { stdout } = await run(process.execPath, [CLI, zip, ...args]);
      return { code: 0, stdout };
    } catch (err) {
      const e = err as { code: number; stdout: string };
      return { code: e.code, stdout: e.stdout };
    }
  }

  /** Waits for a notification to be delivered; returns its rendered artifact. */
  async function deliveredArtifact(id: string): Promise<Direct> {
    const v = await waitFor(
      `${id} delivered`,
      async () => {
        const r = (await (await fetch(`${api.baseUrl}/v1/notifications/${id}`)).json()) as {
          status: string;
          events: { type: string; payload: Record<string, unknown> }[];
        };
        return r.status === 'delivered' ? r : undefined;
      },
      20_000,
    );
    const sha256 = v.events.find((e) => e.type === 'message.rendered')?.payload.sha256 as string;
    const [row] = await api.db.rows<{ content: Buffer }>('SELECT content FROM artifacts WHERE sha256 = ?', [
      sha256,
    ]);
    return { id, sha256, content: Buffer.from(row.content) };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'legal-e2e-'));
    tsa = await startTestTsa();
    smtp = await startSmtpServer();
    vendor = new PrintVendorEmulator({
      apiKey: 'vendor-key',
      webhookSecret: VENDOR_SECRET,
      now: () => clock.now().getTime(),
    });
    const vendorUrl = await vendor.start();
    api = await startInProcess({
      dialect: 'sqlite',
      clock,
      env: {
        TSA_URL: tsa.url,
        TSA_CA_CERT_FILE: tsa.caPem,
        CHECKPOINT_INTERVAL_MS: '0',
        EMAIL_PROVIDER: 'smtp',
        SMTP_HOST: smtp.host,
        SMTP_PORT: String(smtp.port),
        EMAIL_WEBHOOK_SECRET: EMAIL_SECRET,
        LETTER_PROVIDER: 'print-vendor',
        PRINT_VENDOR_URL: vendorUrl,
        PRINT_VENDOR_API_KEY: 'vendor-key',
        PRINT_VENDOR_WEBHOOK_SECRET: VENDOR_SECRET,
        // Three stages on one case within minutes: the stage gap would defer the later ones.
        COMPLIANCE_OVERRIDES: JSON.stringify({ stageGap: null }),
      },
    });

    const res = await postJson(api.baseUrl, '/v1/notifications', smsBody(caseId, '+8613800138011'));
    expect(res.status).toBe(202);
    smsId = res.body.id as string;
    await deliveredArtifact(smsId);

    const recipient = {
      role: 'debtor',
      name: '张三',
      email: 'zhang@example.com',
      address: ADDRESS,
      timeZone: 'Asia/Shanghai',
    };
    const mail = await postJson(api.baseUrl, '/v1/notifications', {
      caseId,
      channel: 'email',
      templateKey: 'late.email.demand_copy',
      recipient,
      data: { ...LETTER_DATA, dpd: 128 },
    });
    expect(mail.status).toBe(202);
    await waitFor('email sent', async () => smtp.messages.length > 0);
    const ts = String(Math.floor(clock.now().getTime() / 1000));
    const body = JSON.stringify([
      {
        id: 'ev-legal-1',
        type: 'delivered',
        timestamp: clock.now().toISOString(),
        messageId: `<${mail.body.id as string}@notices.bank.example>`,
      },
    ]);
    const hook = await fetch(`${api.baseUrl}/webhooks/email/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-email-timestamp': ts,
        'x-email-signature': signEmailEvent(EMAIL_SECRET, ts, body),
      },
      body,
    });
    expect(hook.status).toBe(200);
    Object.assign(email, await deliveredArtifact(mail.body.id as string));

    const post = await postJson(api.baseUrl, '/v1/notifications', {
      caseId,
      channel: 'letter',
      templateKey: 'legal.letter.pre_litigation',
      recipient,
      data: { ...LETTER_DATA, dpd: 248, lastPaymentDate: '2026-03-15' },
    });
    expect(post.status).toBe(202);
    Object.assign(letter, await deliveredArtifact(post.body.id as string));
    letterProviderId = (
      (await (await fetch(`${api.baseUrl}/v1/notifications/${letter.id}`)).json()) as {
        providerMessageId: string;
      }
    ).providerMessageId;

    const zip = await fetch(`${api.baseUrl}/v1/cases/${caseId}/evidence.zip`);
    expect(zip.status).toBe(200);
    expect(zip.headers.get('content-type')).toBe('application/zip');
    zipPath = join(dir, `evidence-${caseId}.zip`);
    await writeFile(zipPath, Buffer.from(await zip.arrayBuffer()));
    await run('unzip', ['-q', zipPath, '-d', join(dir, 'bundle')]);
    const pem = await fetch(`${api.baseUrl}/v1/evidence/public-key`, { headers: { authorization: '' } });
    await writeFile(join(dir, 'service-public-key.pem'), await pem.text());
  }, 90_000);

  afterAll(async () => {
    await api?.close();
    await tsa?.close();
    await smtp?.close();
    await vendor?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds events, the three artifacts named by notification id, checkpoint, token and certificate', async () => {
    const b = join(dir, 'bundle');
    const manifest = JSON.parse(await readFile(join(b, 'manifest.json'), 'utf8')) as {
      files: { name: string; sha256: string; mediaType: string }[];
      head: { seq: number };
    };
    const names = manifest.files.map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'events.jsonl',
        `artifacts/${smsId}.txt`,
        `artifacts/${email.id}.eml`,
        `artifacts/${letter.id}.pdf`,
        'chain.json',
        'checkpoint.json',
        'checkpoint.sig',
        'checkpoint-proof.json',
        'timestamp.tsr',
        'certificate.pdf',
        'public-key.pem',
        'SHA256SUMS',
      ]),
    );
    expect(
      createHash('sha256')
        .update(await readFile(join(b, `artifacts/${letter.id}.pdf`)))
        .digest('hex'),
    ).toBe(letter.sha256);
    const lines = (await readFile(join(b, 'events.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.length).toBe(manifest.head.seq);
    // The certificate is a Chinese PDF with the timeline (pdftotext from poppler-utils).
    const { stdout } = await run('pdftotext', ['-layout', join(b, 'certificate.pdf'), '-']);
    expect(stdout).toContain('送达证明');
    expect(stdout).toContain(letterProviderId);
    expect(stdout).toContain('信函');
    expect(stdout).toContain('沙箱，不作证');
    expect(stdout).toContain(caseId);
  });

  it('verifies with the CLI against the published key (npm run evidence:verify)', async () => {
    const r = await cli(zipPath, '--public-key', join(dir, 'service-public-key.pem'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK/m);
    expect(r.stdout).toMatch(/TSA chain NOT checked/);
    const anchored = await cli(
      zipPath,
      '--public-key',
      join(dir, 'service-public-key.pem'),
      '--tsa-ca',
      tsa.caPem,
    );
    expect(anchored.code).toBe(0);
    expect(anchored.stdout).toMatch(/by CN=Evidence Test TSA, chain to the trusted TSA CA checked/);
    const { stdout } = await run('npm', ['run', '--silent', 'evidence:verify', '--', zipPath, '--json'], {
      cwd: ROOT,
    });
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, caseId });
  }, 60_000);

  it('verifies with the README commands: openssl and sha256sum alone', async () => {
    const script = [
      'set -e',
      'cd bundle',
      'cmp public-key.pem ../service-public-key.pem',
      'openssl pkeyutl -verify -pubin -inkey ../service-public-key.pem -rawin -in manifest.json -sigfile manifest.sig',
      'sha256sum -c SHA256SUMS',
      `test "$(grep -o '"name":"SHA256SUMS","sha256":"[0-9a-f]*"' manifest.json | cut -d'"' -f8)" = "$(sha256sum SHA256SUMS | cut -d' ' -f1)"`,
      'openssl pkeyutl -verify -pubin -inkey ../service-public-key.pem -rawin -in checkpoint.json -sigfile checkpoint.sig',
      `openssl ts -verify -data checkpoint.json -in timestamp.tsr -CAfile ${tsa.caPem} -untrusted ${tsa.tsaPem}`,
      'line=$(sed -n 1p events.jsonl)',
      `prev=$(printf '%s' "$line" | grep -o '"prevHash":"[0-9a-f]*"' | cut -d'"' -f4)`,
      `body=$(printf '%s' "$line" | sed -E 's/,"prevHash":"[0-9a-f]{64}"//; s/"hash":"[0-9a-f]{64}",//')`,
      `test "$(printf '%s%s' "$prev" "$body" | sha256sum | cut -d' ' -f1)" = "$(printf '%s' "$line" | grep -o '"hash":"[0-9a-f]*"' | head -1 | cut -d'"' -f4)"`,
    ].join('\n');
    const { stdout } = await run('bash', ['-c', script], { cwd: dir });
    expect(stdout.match(/Signature Verified Successfully/g)).toHaveLength(2);
    expect(stdout).toMatch(/Verification: OK/);
    expect(stdout).not.toMatch(/FAILED/);
  });

  async function tampered(name: string, change: (dir: string) => Promise<void>): Promise<string> {
    const work = join(dir, `t-${name}`);
    await run('unzip', ['-q', zipPath, '-d', work]);
    await change(work);
    const { stdout: list } = await run('unzip', ['-Z1', zipPath]);
    const out = join(dir, `${name}.zip`);
    await run('zip', ['-q', '-X', '-D', out, ...list.trim().split('\n')], { cwd: work });
    return out;
  }

  it('names the first broken element: an event row, an artifact byte, a manifest entry', async () => {
    const ev = await tampered('event', async (w) => {
      const p = join(w, 'events.jsonl');
      const lines = (await readFile(p, 'utf8')).split('\n');
      lines[2] = lines[2].replace('"type":"', '"type":"x');
      await writeFile(p, lines.join('\n'));
    });
    const r1 = await cli(ev, '--json');
    expect(r1.code).toBe(1);
    expect(JSON.parse(r1.stdout).firstError.element).toBe('events.jsonl#seq=3');

    const art = await tampered('artifact', async (w) => {
      const p = join(w, 'artifacts', `${letter.id}.pdf`);
      const b = await readFile(p);
      b[200] ^= 0x01;
      await writeFile(p, b);
    });
    const r2 = await cli(art, '--json');
    expect(r2.code).toBe(1);
    expect(JSON.parse(r2.stdout).firstError.element).toBe(`artifacts/${letter.id}.pdf`);

    const man = await tampered('manifest', async (w) => {
      const p = join(w, 'manifest.json');
      const m = await readFile(p, 'utf8');
      const entry = `"name":"artifacts/${email.id}.eml","sha256":"`;
      const at = m.indexOf(entry) + entry.length;
      await writeFile(p, m.slice(0, at) + (m[at] === '0' ? '1' : '0') + m.slice(at + 1));
    });
    const r3 = await cli(man, '--json');
    expect(r3.code).toBe(1);
    expect(JSON.parse(r3.stdout).firstError.element).toBe(`manifest.json#artifacts/${email.id}.eml`);
  }, 60_000);

  it('checkpoints: on demand (admin), inclusion proof, public key, generated key file 0600', async () => {
    const created = await postJson(api.baseUrl, '/v1/evidence/checkpoints', {});
    expect(created.status).toBe(201);
    const cp = created.body as { id: number; checkpoint: { rootHash: string }; timestamp: { token: string } };
    expect(cp.timestamp.token).toBeTruthy();
    const proof = (await (await fetch(`${api.baseUrl}/v1/cases/${caseId}/inclusion-proof`)).json()) as {
      checkpoint: { id: number };
      proof: Parameters<typeof verifyCaseInclusion>[0];
    };
    expect(proof.checkpoint.id).toBe(cp.id);
    expect(verifyCaseInclusion(proof.proof, cp.checkpoint.rootHash)).toEqual({ ok: true });

    // The public key is public: no API key needed.
    const pub = await fetch(`${api.baseUrl}/v1/evidence/public-key`, { headers: { authorization: 'none' } });
    expect(pub.status).toBe(200);
    expect(await pub.text()).toContain('BEGIN PUBLIC KEY');
    // The generated private key sits next to the SQLite file, owner-only.
    const file = api.app.get<symbol, AppConfig>(APP_CONFIG).evidence.generatedKeyFile as string;
    expect(file).toMatch(/evidence-signing-key\.pem$/);
    expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
  });

  it('POST /v1/evidence/verify {all: true} walks every case, paged', async () => {
    await postJson(api.baseUrl, '/v1/notifications', smsBody('C-legal-0002', '+8613800138012'));
    const all = await postJson(api.baseUrl, '/v1/evidence/verify', { all: true });
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ ok: true, cases: 2, next: null, failures: [] });
    const page = await postJson(api.baseUrl, '/v1/evidence/verify', { all: true, limit: 1 });
    expect(page.body).toMatchObject({ ok: true, cases: 1, next: caseId });
    const rest = await postJson(api.baseUrl, '/v1/evidence/verify', { all: true, after: caseId, limit: 1 });
    expect(rest.body).toMatchObject({ cases: 1, next: null });
  });

  it('eligibility counts the non-sandbox e-mail and letter receipts, not the sandbox SMS', async () => {
    const r = (await (await fetch(`${api.baseUrl}/v1/cases/${caseId}/legal-eligibility`)).json()) as {
      eligible: boolean;
      criteria: { id: string; met: boolean; value: number; sandboxOnly?: number; evidenceSeqs: number[] }[];
    };
    expect(r.eligible).toBe(true);
    expect(r.criteria[1]).toMatchObject({ id: 'delivered_notices', met: true, value: 2, sandboxOnly: 1 });
    expect(r.criteria[0]).toMatchObject({ value: 23456.78, met: true });
  });

  it('POST /v1/evidence/bundles/verify checks the uploaded bytes; one changed byte fails', async () => {
    const bytes = await readFile(zipPath);
    const post = (body: Buffer) =>
      fetch(`${api.baseUrl}/v1/evidence/bundles/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/zip' },
        body: new Uint8Array(body),
      });
    const good = await post(bytes);
    expect(good.status).toBe(200);
    const v = (await good.json()) as { ok: boolean; caseId: string; bytes: number; timestamp?: unknown };
    expect(v).toMatchObject({ ok: true, caseId, bytes: bytes.length });
    expect(v.timestamp).toBeDefined();
    // One byte changed in the middle of the zip (inside some member's data): not the bundle issued.
    const bad = Buffer.from(bytes);
    const at = Math.floor(bytes.length / 2);
    bad[at] = bad[at] ^ 0x01;
    const broken = (await (await post(bad)).json()) as { ok: boolean; firstError?: { element: string } };
    expect(broken.ok).toBe(false);
    expect(broken.firstError?.element).toBeDefined();
    const empty = await post(Buffer.alloc(0));
    expect(empty.status).toBe(400);
  });

  it('timeline: labelled rows and one summary per notice with its receipts (zh-CN default, en)', async () => {
    type View = {
      rows: { seq: number; event: string; label: string; notificationId: string | null }[];
      notices: {
        notificationId: string;
        channel: string;
        templateVersion: number | null;
        labels: { channel: string; status: string; proof: string };
        receipts: { seq: number; outcomeLabel: string; sandbox: boolean }[];
      }[];
    };
    const zh = (await (await fetch(`${api.baseUrl}/v1/cases/${caseId}/timeline`)).json()) as View;
    expect(zh.notices.map((n) => n.labels.channel)).toEqual(['短信', '电子邮件', '信函']);
    const l = zh.notices[2];
    expect(l).toMatchObject({ notificationId: letter.id, templateVersion: 1 });
    expect(l.labels).toMatchObject({ status: '已送达', proof: '可作送达证明（服务商真实回执）' });
    const delivered = l.receipts.find((r) => r.outcomeLabel === '已送达');
    expect(delivered?.sandbox).toBe(false);
    // The receipt is one of the notice's own timeline rows, named in words.
    const row = zh.rows.find((r) => r.seq === delivered?.seq);
    expect(row).toMatchObject({ event: 'receipt.received', label: '收到回执', notificationId: letter.id });
    expect(zh.rows.every((r) => r.label && r.label !== r.event)).toBe(true);
    const en = (await (await fetch(`${api.baseUrl}/v1/cases/${caseId}/timeline?lang=en`)).json()) as View;
    expect(en.notices[2].labels.channel).toBe('Letter');
    expect(en.rows.find((r) => r.seq === delivered?.seq)?.label).toBe('Receipt received');
    expect((await fetch(`${api.baseUrl}/v1/cases/${caseId}/timeline?lang=fr`)).status).toBe(400);
  });

  it('PUT /v1/cases/:caseId/facts records a provable last payment date the eligibility uses', async () => {
    const put = (id: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${api.baseUrl}/v1/cases/${id}/facts`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    // Validation: nothing to record, a date that does not exist, a date after today (Beijing).
    expect((await put(caseId, { note: 'x' })).status).toBe(400);
    expect((await put(caseId, { lastPaymentDate: '2026-02-30' })).status).toBe(400);
    const future = await put(caseId, { lastPaymentDate: '2026-11-25' });
    expect(future.status).toBe(400);
    expect(((await future.json()) as { errors: { path: string }[] }).errors[0].path).toBe('lastPaymentDate');
    expect((await put('C-never-seen', { lastPaymentDate: '2026-01-01' })).status).toBe(404);
    // The legal team's read key cannot write facts.
    const reader = await postJson(api.baseUrl, '/v1/admin/api-keys', {
      name: 'reader',
      scopes: ['evidence:read'],
    });
    const denied = await put(
      caseId,
      { lastPaymentDate: '2026-01-01' },
      { authorization: `Bearer ${String(reader.body.key)}` },
    );
    expect(denied.status).toBe(403);

    const ok = await put(caseId, {
      lastPaymentDate: '2026-05-01',
      principal: '30000.00',
      note: 'core extract',
    });
    expect(ok.status).toBe(200);
    const rec = (await ok.json()) as { seq: number; actor: string; lastPaymentDate: string };
    expect(rec.lastPaymentDate).toBe('2026-05-01');
    const r = (await (await fetch(`${api.baseUrl}/v1/cases/${caseId}/legal-eligibility`)).json()) as {
      criteria: { id: string; value: number; source: string; evidenceSeqs: number[] }[];
    };
    // The later fact replaces the letter's lastPaymentDate (2026-03-15) and principal.
    expect(r.criteria[2]).toMatchObject({
      value: 6,
      source: 'facts.lastPaymentDate',
      evidenceSeqs: [rec.seq],
    });
    expect(r.criteria[0]).toMatchObject({ value: 30000, source: 'facts.principal', evidenceSeqs: [rec.seq] });
    // It is evidence: in the chain (which still verifies) and the timeline, with who recorded it.
    const v = await postJson(api.baseUrl, '/v1/evidence/verify', { caseId });
    expect(v.body).toMatchObject({ ok: true });
    const t = (await (await fetch(`${api.baseUrl}/v1/cases/${caseId}/timeline`)).json()) as {
      rows: { seq: number; event: string; detail: string }[];
    };
    const row = t.rows.find((x) => x.seq === rec.seq);
    expect(row?.event).toBe('case.facts.recorded');
    expect(row?.detail).toContain(`by ${rec.actor}`);
  });

  it('retention report lists nothing for fresh cases and never deletes', async () => {
    const r = (await (await fetch(`${api.baseUrl}/v1/evidence/retention`)).json()) as Record<string, unknown>;
    expect(r).toMatchObject({ retentionYears: 5, pastRetention: [], onLegalHold: [], deleted: 0 });
    expect((await stat(zipPath)).size).toBeGreaterThan(1000);
  });
});
