import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PNG } from 'pngjs';
import { ADDRESS_WINDOW_MM } from '#libs/letters';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { LETTER_DATA, smsBody } from './support/fixtures.js';
import { OUTPUT, waitFor } from './support/infra.js';

/**
 * Issue 16 (3): the 送达证明 (certificate.pdf) of an evidence bundle as a court clerk reads it.
 * Three notices (an SMS to the debtor, an SMS to a contact in Tokyo, a letter) are delivered in the
 * sandbox; the bundle's certificate is read with pdftotext (Chinese labels and statuses, one section
 * per notice, Beijing times and the contact's local time, no postal endorsement in its address
 * window), its images with pdfimages (the configured seal), and rendered to
 * test-output/certificate-*.png; `?lang=en` gives the English version.
 */

const CASE_ID = 'C-2026-CERT-1';
const MM_TO_PT = 72 / 25.4;
const SEAL_PX = 96;

/** A red ring, standing in for the bank's seal. */
function sealPng(): Buffer {
  const png = new PNG({ width: SEAL_PX, height: SEAL_PX });
  const c = SEAL_PX / 2;
  for (let y = 0; y < SEAL_PX; y++) {
    for (let x = 0; x < SEAL_PX; x++) {
      const d = Math.hypot(x - c, y - c);
      const i = (y * SEAL_PX + x) * 4;
      const on = d < c - 2 && d > c - 10;
      png.data[i] = 200;
      png.data[i + 1] = 20;
      png.data[i + 2] = 20;
      png.data[i + 3] = on ? 255 : 0;
    }
  }
  return PNG.sync.write(png);
}

describe('送达证明 (certificate.pdf) of the evidence bundle', () => {
  let api: InProcessApp;
  let dir: string;
  const ids: string[] = [];

  async function bundleCertificate(query: string, name: string): Promise<string> {
    const res = await fetch(`${api.baseUrl}/v1/cases/${CASE_ID}/evidence.zip${query}`);
    expect(res.status).toBe(200);
    const zip = join(dir, `${name}.zip`);
    writeFileSync(zip, Buffer.from(await res.arrayBuffer()));
    const out = join(dir, name);
    execFileSync('unzip', ['-q', '-o', zip, 'certificate.pdf', '-d', out]);
    return join(out, 'certificate.pdf');
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cns-cert-'));
    const seal = join(dir, 'seal.png');
    writeFileSync(seal, sealPng());
    api = await startInProcess({
      dialect: 'sqlite',
      env: {
        CHECKPOINT_INTERVAL_MS: '0',
        SEAL_IMAGE_PATH: seal,
        // Three stages' notices on one day (the stage gap would defer the letter by 24 h).
        COMPLIANCE_OVERRIDES: JSON.stringify({ stageGap: null }),
      },
    });
    const requests = [
      smsBody(CASE_ID, '+8613800138031'),
      {
        caseId: CASE_ID,
        channel: 'sms',
        templateKey: 'early.sms.third_party',
        recipient: { role: 'contact', name: '李四', phone: '+8613900139002', timeZone: 'Asia/Tokyo' },
        data: { customerName: '张三' },
      },
      {
        caseId: CASE_ID,
        channel: 'letter',
        templateKey: 'late.letter.demand',
        recipient: {
          role: 'debtor',
          name: '张三',
          timeZone: 'Asia/Shanghai',
          address: {
            country: 'CN',
            province: '上海市',
            city: '上海市',
            district: '浦东新区',
            street: '世纪大道 100 号',
            postcode: '200120',
          },
        },
        data: LETTER_DATA,
      },
    ];
    for (const r of requests) {
      const res = await postJson(api.baseUrl, '/v1/notifications', r);
      expect(res.status).toBe(202);
      ids.push(res.body.id as string);
    }
    await waitFor(
      'all delivered',
      async () => {
        const [r] = await api.db.rows<{ n: number }>(
          "SELECT COUNT(*) AS n FROM notifications WHERE case_id = ? AND status = 'delivered'",
          [CASE_ID],
        );
        return Number(r.n) === requests.length;
      },
      30_000,
    );
    // The debtor checks the letter on the public page once: the certificate counts it.
    expect((await fetch(`${api.baseUrl}/verify/${ids[2]}`)).status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is in Chinese, one section per notice, with Beijing and local times, the seal and how to verify', async () => {
    const pdf = await bundleCertificate('', 'zh');
    const text = execFileSync('pdftotext', ['-layout', pdf, '-']).toString();
    const flat = text.replace(/\s+/g, '');
    expect(text).toContain('送达证明');
    // One section per notice, in order, and no more.
    for (const [i, head] of ['通知1：短信·本人', '通知2：短信·联系人', '通知3：信函·本人'].entries()) {
      expect(flat).toContain(head);
      expect(flat).toContain(ids[i]);
    }
    expect(flat).not.toContain('通知4：');
    expect(flat.split('证明效力').length - 1).toBe(3);
    expect(flat.split('公开核验').length - 1).toBe(1);
    expect(flat).toContain('公开核验1次（document.verified）');
    // Chinese statuses and labels, no raw event names.
    expect(flat.split('最终状态已送达').length - 1).toBe(3);
    expect(flat).toContain('沙箱，不作证明（测试模拟回执）');
    expect(flat).toContain('回执来源沙箱模拟');
    expect(flat).toContain('收件地址（已遮蔽）+86138****8031');
    expect(flat).toContain('上海市****');
    expect(flat).toContain('early.sms.third_party第1版');
    expect(text).not.toMatch(/receipt\.received|status\.changed|provider\.response|notification\.accepted/);
    // Times: Beijing time with its offset; the Tokyo contact's local time too.
    expect(flat).toContain('+08:00（北京时间）');
    expect(flat).toMatch(/\+09:00Asia\/Tokyo（收件人当地时间）/);
    expect(flat).toContain('检查点与时间戳');
    expect(flat).toContain('核验方法');
    expect(flat).toContain('sha256sum-cSHA256SUMS');
    // Nobody's full address or phone number.
    expect(flat).not.toContain('世纪大道');
    expect(flat).not.toContain('13900139002');
    // The configured seal is drawn.
    const images = execFileSync('pdfimages', ['-list', pdf]).toString();
    expect(images).toMatch(new RegExp(`\\s${SEAL_PX}\\s+${SEAL_PX}\\s`));
    // Rendered for a person to look at.
    mkdirSync(OUTPUT, { recursive: true });
    for (const f of readdirSync(OUTPUT).filter((f) => /^certificate(-en)?-\d+\.png$/.test(f))) {
      rmSync(join(OUTPUT, f));
    }
    execFileSync('pdftoppm', ['-r', '100', '-png', pdf, join(OUTPUT, 'certificate')]);
    expect(readdirSync(OUTPUT).filter((f) => /^certificate-\d+\.png$/.test(f)).length).toBeGreaterThanOrEqual(
      2,
    );
    copyFileSync(pdf, join(OUTPUT, 'certificate.pdf'));
  }, 60_000);

  // Needs the letters fix of issue 16 (1): LetterInput.service, no endorsement when it is absent.
  it('prints no postal endorsement in its address window (it is not posted)', async () => {
    const pdf = await bundleCertificate('', 'window');
    const w = ADDRESS_WINDOW_MM;
    const windowText = execFileSync('pdftotext', [
      '-f',
      '1',
      '-l',
      '1',
      '-x',
      String(Math.floor(w.x * MM_TO_PT)),
      '-y',
      String(Math.floor(w.y * MM_TO_PT)),
      '-W',
      String(Math.ceil(w.width * MM_TO_PT)),
      '-H',
      String(Math.ceil(w.height * MM_TO_PT)),
      pdf,
      '-',
    ])
      .toString()
      .replace(/\s+/g, '');
    expect(windowText).toContain('随证据包提供，不邮寄');
    expect(windowText).not.toContain('挂号信');
    expect(windowText).not.toContain('平信');
    const en = await bundleCertificate('?lang=en', 'window-en');
    const enWindow = execFileSync('pdftotext', [
      ...[
        '-f',
        '1',
        '-l',
        '1',
        '-x',
        String(Math.floor(w.x * MM_TO_PT)),
        '-y',
        String(Math.floor(w.y * MM_TO_PT)),
      ],
      ...['-W', String(Math.ceil(w.width * MM_TO_PT)), '-H', String(Math.ceil(w.height * MM_TO_PT)), en, '-'],
    ]).toString();
    expect(enWindow).toMatch(/not\s+posted/);
    expect(enWindow).not.toMatch(/REGISTERED|ORDINARY/);
  }, 60_000);

  it('is in English with lang=en; an unknown lang is refused', async () => {
    const pdf = await bundleCertificate('?lang=en', 'en');
    const text = execFileSync('pdftotext', ['-layout', pdf, '-']).toString();
    const flat = text.replace(/\s+/g, ' ');
    expect(text).toContain('Certificate of Delivery');
    expect(flat).toContain('Notice 2: Text message · contact');
    expect(flat).toContain('(Beijing time)');
    expect(flat).toContain('sandbox receipt, not proof');
    expect(text).not.toMatch(/[通知证明]/);
    execFileSync('pdftoppm', [
      '-r',
      '100',
      '-f',
      '1',
      '-l',
      '1',
      '-png',
      pdf,
      join(OUTPUT, 'certificate-en'),
    ]);
    const bad = await fetch(`${api.baseUrl}/v1/cases/${CASE_ID}/evidence.zip?lang=fr`);
    expect(bad.status).toBe(400);
  }, 60_000);
});
