import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { EvidenceService, type JsonValue, verifyCaseInclusion } from '#libs/evidence';
import { renderLetterPdf, sampleDemandLetter } from '#libs/letters';
import { startTestTsa, type TestTsa } from './tsa/server.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { smsBody } from './support/fixtures.js';
import { ROOT, waitFor } from './support/infra.js';

const run = promisify(execFile);
const CLI = join(ROOT, 'dist', 'scripts', 'evidence-verify.js');

/**
 * Acceptance (1)-(3) on a standalone (SQLite) service with a generated signing key and the local
 * TSA: a case with an SMS, an e-mail and a registered letter gives a bundle that verifies with the
 * CLI and with openssl / sha256sum alone; tampering with an event, an artifact byte or a manifest
 * entry names the first broken element; the checkpoint's token verifies with `openssl ts -verify`.
 *
 * The SMS goes through the pipeline (sandbox). E-mail and letter channels are being wired into the
 * pipeline separately: until then their events and artifacts are written here directly through
 * EvidenceService.append and the artifacts table, exactly as the pipeline records them.
 */
describe('evidence bundle for the legal team', () => {
  let api: InProcessApp;
  let tsa: TestTsa;
  let dir: string;
  const caseId = 'C-legal-0001';
  let zipPath: string;
  let smsId: string;
  const email = { id: randomUUID(), content: Buffer.alloc(0), sha256: '' };
  const letter = { id: randomUUID(), content: Buffer.alloc(0), sha256: '' };

  async function cli(zip: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
    try {
      const { stdout } = await run(process.execPath, [CLI, zip, ...args]);
      return { code: 0, stdout };
    } catch (err) {
      const e = err as { code: number; stdout: string };
      return { code: e.code, stdout: e.stdout };
    }
  }

  async function recordDirect(
    channel: 'email' | 'letter',
    n: { id: string; content: Buffer; sha256: string },
    mediaType: string,
    provider: string,
    providerMessageId: string,
  ): Promise<void> {
    n.sha256 = createHash('sha256').update(n.content).digest('hex');
    const events = api.app.get(EvidenceService);
    const request = {
      caseId,
      channel,
      templateKey: channel === 'email' ? 'early.email.reminder' : 'late.letter.demand',
      locale: 'zh-CN',
      recipient: { role: 'debtor', name: '张三' },
      data: { principal: '23456.78', lastPaymentDate: '2026-03-15' },
    } as unknown as JsonValue;
    await api.db.transaction(async (tx) => {
      await tx.exec(
        'INSERT INTO artifacts (sha256, media_type, size, content, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING',
        [n.sha256, mediaType, n.content.length, n.content, Date.now()],
      );
      await events.append(tx, caseId, [
        { notificationId: n.id, type: 'notification.accepted', payload: { request } },
        { notificationId: n.id, type: 'status.changed', payload: { from: null, to: 'accepted' } },
        {
          notificationId: n.id,
          type: 'message.rendered',
          payload: { sha256: n.sha256, mediaType, size: n.content.length },
        },
        { notificationId: n.id, type: 'provider.response', payload: { provider, providerMessageId } },
        { notificationId: n.id, type: 'status.changed', payload: { from: 'sending', to: 'sent' } },
        {
          notificationId: n.id,
          type: 'receipt.received',
          payload: {
            provider,
            providerMessageId,
            outcome: 'delivered',
            providerStatus: 'delivered',
            sandbox: false,
          },
        },
        {
          notificationId: n.id,
          type: 'status.changed',
          payload: { from: 'sent', to: 'delivered', cause: 'receipt', sandbox: false },
        },
      ]);
    });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'legal-e2e-'));
    tsa = await startTestTsa();
    api = await startInProcess({ dialect: 'sqlite', env: { TSA_URL: tsa.url, CHECKPOINT_INTERVAL_MS: '0' } });

    const res = await postJson(api.baseUrl, '/v1/notifications', smsBody(caseId, '+8613800138011'));
    expect(res.status).toBe(202);
    smsId = res.body.id as string;
    await waitFor('sms delivered', async () => {
      const v = (await (await fetch(`${api.baseUrl}/v1/notifications/${smsId}`)).json()) as {
        status: string;
      };
      return v.status === 'delivered';
    });

    email.content = Buffer.from(
      'From: notices@bank.example\r\nTo: zhang@example.com\r\nSubject: =?UTF-8?B?5L+h55So5Y2h6YC+5pyf5o+Q6YaS?=\r\n' +
        'Message-ID: <e2e-legal@notices.bank.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n您的信用卡已逾期，请尽快还款。\r\n',
      'utf8',
    );
    await recordDirect('email', email, 'message/rfc822', 'smtp', '<e2e-legal@notices.bank.example>');
    letter.content = await renderLetterPdf(sampleDemandLetter({ caseId }));
    await recordDirect('letter', letter, 'application/pdf', 'print-vendor', 'RR123456789CN');

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
    expect(stdout).toContain('RR123456789CN');
    expect(stdout).toContain('信函');
    expect(stdout).toContain('沙箱，不作证');
    expect(stdout).toContain(caseId);
  });

  it('verifies with the CLI against the published key (npm run evidence:verify)', async () => {
    const r = await cli(zipPath, '--public-key', join(dir, 'service-public-key.pem'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK/m);
    const { stdout } = await run('npm', ['run', '--silent', 'evidence:verify', '--', zipPath, '--json'], {
      cwd: ROOT,
    });
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, caseId });
  });

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
  });

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

  it('retention report lists nothing for fresh cases and never deletes', async () => {
    const r = (await (await fetch(`${api.baseUrl}/v1/evidence/retention`)).json()) as Record<string, unknown>;
    expect(r).toMatchObject({ retentionYears: 5, pastRetention: [], onLegalHold: [], deleted: 0 });
    expect((await stat(zipPath)).size).toBeGreaterThan(1000);
  });
});
