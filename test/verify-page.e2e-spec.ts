import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as jsqr from 'jsqr';
import { type Browser, chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import { VERIFY_RATE_LIMIT } from '../apps/api/src/web/verify/verify.controller.js';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { OUTPUT, waitFor } from './support/infra.js';

/**
 * Issue 16 (2): the public verification page at the letters' QR target. A letter is sent through
 * the sandbox, its stored PDF is rendered with poppler and the QR code decoded; the URL it holds
 * answers "issued by us", the same PDF uploaded answers genuine, one changed byte answers "not
 * issued by us", as does an unknown id; every lookup lands in the case's evidence; the per-IP limit
 * answers 429. Screenshots (zh-CN and en): test-output/verify-zh.png, verify-en.png.
 */

const CASE_ID = 'C-2026-VERIFY-1';
const LETTER_DATA = {
  outstandingBalance: '23456.78',
  principal: '20000.00',
  interestAndFees: '3456.78',
  balanceAsOf: '2026-10-31',
  cardLast4: '1234',
  overdueSince: '2026-06-25',
  dpd: 128,
  repayBy: '2026-11-30',
  idNumber: '110101199001011234',
};
const ADDRESS = {
  country: 'CN',
  province: '上海市',
  city: '上海市',
  district: '浦东新区',
  street: '世纪大道 100 号',
  postcode: '200120',
};

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function mainAttr(html: string, attr: string): string | undefined {
  return new RegExp(`<main[^>]*\\b${attr}="([^"]*)"`).exec(html)?.[1];
}

/** Renders page 1 of a PDF with pdftoppm and decodes the QR code on it. */
function decodeQr(pdf: Buffer, dir: string): string {
  const file = join(dir, 'letter.pdf');
  writeFileSync(file, pdf);
  // The footer band first (the QR code sits there; decoding a whole A4 page at 200 dpi is slow), then the page.
  const crop = ['-x', '0', '-y', String(Math.round((245 / 25.4) * 200)), '-W', '1654', '-H', '420'];
  for (const extra of [crop, []]) {
    execFileSync('pdftoppm', [
      '-r',
      '200',
      '-f',
      '1',
      '-l',
      '1',
      '-png',
      '-singlefile',
      ...extra,
      file,
      join(dir, 'p1'),
    ]);
    const found = qrOf(PNG.sync.read(readFileSync(join(dir, 'p1.png'))));
    if (found) return found;
  }
  throw new Error('no QR code found on page 1');
}

function qrOf(png: PNG): string | undefined {
  // jsqr is CommonJS (`exports.default`): under Node's ESM interop the function is one level down.
  type JsQr = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
  const mod = (jsqr as unknown as { default: JsQr | { default: JsQr } }).default;
  const decode = typeof mod === 'function' ? mod : mod.default;
  const qr = decode(
    new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length),
    png.width,
    png.height,
  );
  return qr?.data;
}

async function upload(
  url: string,
  body: Buffer,
  asMultipart: boolean,
): Promise<{ status: number; html: string }> {
  let res: Response;
  if (asMultipart) {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(body)], { type: 'application/pdf' }), 'letter.pdf');
    res = await fetch(url, { method: 'POST', body: form });
  } else {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/pdf' },
      body: new Uint8Array(body),
    });
  }
  return { status: res.status, html: await res.text() };
}

describe.each(['sqlite', 'postgres'] as const)(
  'public verification page /verify/:documentId (%s)',
  (dialect) => {
    let api: InProcessApp;
    let browser: Browser | undefined;
    let letterId: string;
    let pdf: Buffer;
    let dir: string;

    beforeAll(async () => {
      api = await startInProcess({
        dialect,
        autoAuth: true,
        // A second letter on the case the same day (the superseding test).
        env: { COMPLIANCE_OVERRIDES: JSON.stringify({ stageGap: null, caps: { letter: { per7Days: 5 } } }) },
      });
      dir = mkdtempSync(join(tmpdir(), 'cns-verify-'));
      const res = await postJson(api.baseUrl, '/v1/notifications', {
        caseId: CASE_ID,
        channel: 'letter',
        templateKey: 'late.letter.demand',
        recipient: { role: 'debtor', name: '张三丰', address: ADDRESS, timeZone: 'Asia/Shanghai' },
        data: LETTER_DATA,
      });
      expect(res.status).toBe(202);
      letterId = res.body.id as string;
      const sha = await waitFor(
        'letter rendered',
        async () => {
          const [row] = await api.db.rows<{ payload: string }>(
            "SELECT payload FROM evidence_events WHERE notification_id = ? AND type = 'message.rendered'",
            [letterId],
          );
          return row ? (JSON.parse(row.payload) as { sha256: string }).sha256 : undefined;
        },
        20_000,
      );
      const [art] = await api.db.rows<{ content: Buffer }>('SELECT content FROM artifacts WHERE sha256 = ?', [
        sha,
      ]);
      pdf = Buffer.from(art.content);
      expect(createHash('sha256').update(pdf).digest('hex')).toBe(sha);
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await api?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const verifyEvents = async () =>
      (
        await api.db.rows<{ payload: string }>(
          "SELECT payload FROM evidence_events WHERE case_id = ? AND type = 'document.verified' ORDER BY seq",
          [CASE_ID],
        )
      ).map((r) => JSON.parse(r.payload) as Record<string, unknown>);

    it('the QR code of the sent letter opens a page that says it was issued by us, without personal data', async () => {
      const url = decodeQr(pdf, dir);
      expect(url).toBe(`${api.baseUrl}/verify/${letterId}`);
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(res.headers.get('ratelimit-limit')).toBe(String(VERIFY_RATE_LIMIT.burst));
      const html = await res.text();
      expect(mainAttr(html, 'data-result')).toBe('issued');
      expect(mainAttr(html, 'data-state')).toBe('current');
      expect(html).toContain('真实文书：本行出具');
      expect(html).toContain('示例银行信用卡中心');
      expect(html).toContain('信函（后期催收）');
      expect(html).toContain('2026-11-24');
      expect(html).toContain('张**（本人），上海市****');
      const sha = createHash('sha256').update(pdf).digest('hex');
      expect(html).toContain(`data-sha256="${sha}"`);
      // Nothing a stranger could misuse: no amounts, full name, street, postcode or ID number.
      for (const secret of ['23456.78', '20000.00', '张三丰', '世纪大道', '200120', '1101011990']) {
        expect(html).not.toContain(secret);
      }
      const [ev] = await verifyEvents();
      expect(ev).toMatchObject({ documentId: letterId, method: 'view', result: 'shown', state: 'current' });
      expect(ev.client).toMatch(/^[0-9a-f]{16}$/);
      expect(JSON.stringify(ev)).not.toContain('127.0.0.1');
    }, 30_000);

    it('an uploaded copy of the PDF is genuine; one changed byte is not issued by us', async () => {
      const url = `${api.baseUrl}/verify/${letterId}`;
      const same = await upload(url, pdf, true);
      expect(same.status).toBe(200);
      expect(mainAttr(same.html, 'data-result')).toBe('genuine');
      expect(same.html).toContain('与本行存档一致');

      const raw = await upload(`${url}?lang=en`, pdf, false);
      expect(mainAttr(raw.html, 'data-result')).toBe('genuine');
      expect(raw.html).toContain('Genuine: matches our records');

      const altered = Buffer.from(pdf);
      const at =
        altered.indexOf('23456.78') > 0 ? altered.indexOf('23456.78') : Math.floor(altered.length / 2);
      altered[at] = altered[at] ^ 0x01;
      const bad = await upload(url, altered, true);
      expect(bad.status).toBe(200);
      expect(mainAttr(bad.html, 'data-result')).toBe('not_issued');
      expect(bad.html).toContain('并非本行出具');

      // A pasted hash (grouped, upper case) works like an upload.
      const sha = createHash('sha256').update(pdf).digest('hex');
      const pasted = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ sha256: sha.toUpperCase().replace(/(.{8})/g, '$1 ') }).toString(),
      });
      expect(mainAttr(await pasted.text(), 'data-result')).toBe('genuine');
      const junk = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'sha256=not-a-hash',
      });
      expect(junk.status).toBe(422);

      const events = await verifyEvents();
      const checks = events.filter((e) => e.method !== 'view');
      expect(checks.map((e) => [e.method, e.result])).toEqual([
        ['upload', 'genuine'],
        ['upload', 'genuine'],
        ['upload', 'not_issued'],
        ['hash', 'genuine'],
      ]);
      expect(checks[0].sha256Checked).toBe(sha);
      expect(checks[2].sha256Checked).toBe(createHash('sha256').update(altered).digest('hex'));
      expect(checks[0].bytes).toBe(pdf.length);
    }, 30_000);

    it('an unknown id gets the same neutral "not issued by us" page', async () => {
      const before = (await verifyEvents()).length;
      const unknown = await fetch(`${api.baseUrl}/verify/00000000-0000-4000-8000-000000000000`);
      expect(unknown.status).toBe(200);
      const html = await unknown.text();
      expect(mainAttr(html, 'data-result')).toBe('not_issued');
      expect(html).toContain('并非本行出具');
      expect(html).not.toContain('data-sha256');
      const garbage = await fetch(
        `${api.baseUrl}/verify/${encodeURIComponent("<script>alert('x')</script>")}`,
      );
      const g = await garbage.text();
      expect(mainAttr(g, 'data-result')).toBe('not_issued');
      expect(g).not.toContain('<script>');
      const up = await upload(`${api.baseUrl}/verify/00000000-0000-4000-8000-000000000000`, pdf, true);
      expect(mainAttr(up.html, 'data-result')).toBe('not_issued');
      // The same page shape as a forged document of a known id: only the verdict, no record.
      expect(up.html).not.toContain('data-sha256');
      expect((await verifyEvents()).length).toBe(before);
    });

    it('refuses a body over the size cap with 413', async () => {
      const big = Buffer.alloc(10 * 1024 * 1024 + 1, 0x25);
      const res = await fetch(`${api.baseUrl}/verify/${letterId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/pdf' },
        body: new Uint8Array(big),
      }).catch((err: Error) => err);
      // Answered before the body is read (the connection closes after the answer).
      if (res instanceof Error) throw res;
      expect(res.status).toBe(413);
    });

    // The page is the same whatever the database: screenshots once.
    (dialect === 'sqlite' ? it : it.skip)(
      'screenshots the page in Chromium, zh-CN and en',
      async () => {
        browser = await chromium.launch({
          executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
          args: CHROMIUM_ARGS,
          headless: true,
        });
        const page = await browser.newPage({ viewport: { width: 420, height: 900 } });
        const problems: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(m.text());
        });
        mkdirSync(OUTPUT, { recursive: true });
        await page.goto(`${api.baseUrl}/verify/${letterId}`);
        await page.locator('main[data-result="issued"]').waitFor();
        // Upload through the form, as a debtor would.
        writeFileSync(join(dir, 'upload.pdf'), pdf);
        await page.setInputFiles('#file', join(dir, 'upload.pdf'));
        await page.locator('form[enctype="multipart/form-data"] button').click();
        await page.locator('main[data-result="genuine"]').waitFor();
        await page.screenshot({ path: join(OUTPUT, 'verify-zh.png'), fullPage: true });
        await page.getByRole('link', { name: 'English' }).click();
        await page.locator('main[data-result="issued"]').waitFor();
        expect(await page.locator('html').getAttribute('lang')).toBe('en');
        expect(await page.textContent('main')).toContain('Example Bank Credit Card Center');
        await page.fill('#sha256', 'ab'.repeat(32));
        await page.locator('form:not([enctype]) button').click();
        await page.locator('main[data-result="not_issued"]').waitFor();
        expect(await page.textContent('main')).toContain('Not issued by us');
        await page.screenshot({ path: join(OUTPUT, 'verify-en.png'), fullPage: true });
        expect(problems).toEqual([]);
      },
      60_000,
    );

    it('a later letter to the same address supersedes the first: genuine, not current', async () => {
      const res = await postJson(api.baseUrl, '/v1/notifications', {
        caseId: CASE_ID,
        channel: 'letter',
        templateKey: 'late.letter.demand',
        recipient: { role: 'debtor', name: '张三丰', address: ADDRESS, timeZone: 'Asia/Shanghai' },
        data: { ...LETTER_DATA, repayBy: '2026-12-15' },
      });
      expect(res.status).toBe(202);
      const second = res.body.id as string;
      await waitFor(
        'second letter sent',
        async () => {
          const [r] = await api.db.rows<{ status: string }>('SELECT status FROM notifications WHERE id = ?', [
            second,
          ]);
          return r && ['sent', 'delivered'].includes(r.status) ? true : undefined;
        },
        20_000,
      );
      const first = await (await fetch(`${api.baseUrl}/verify/${letterId}`)).text();
      expect(mainAttr(first, 'data-result')).toBe('issued');
      expect(mainAttr(first, 'data-state')).toBe('superseded');
      expect(first).toContain('已被本行 2026-11-24 出具的新通知取代');
      const upload1 = await upload(`${api.baseUrl}/verify/${letterId}`, pdf, true);
      expect(mainAttr(upload1.html, 'data-result')).toBe('genuine');
      expect(mainAttr(upload1.html, 'data-state')).toBe('superseded');
      const latest = await (await fetch(`${api.baseUrl}/verify/${second}`)).text();
      expect(mainAttr(latest, 'data-state')).toBe('current');
      // The first letter's PDF is not the second letter.
      const cross = await upload(`${api.baseUrl}/verify/${second}`, pdf, false);
      expect(mainAttr(cross.html, 'data-result')).toBe('not_issued');
    }, 30_000);

    it('answers 429 after the per-IP cap and still logs nothing for refused lookups', async () => {
      const url = `${api.baseUrl}/verify/${letterId}`;
      let remaining = Number((await fetch(url, { method: 'HEAD' })).headers.get('ratelimit-remaining'));
      expect(remaining).toBeGreaterThanOrEqual(0);
      while (remaining > 0) {
        const r = await fetch(url);
        expect(r.status).toBe(200);
        remaining = Number(r.headers.get('ratelimit-remaining'));
      }
      const before = (await verifyEvents()).length;
      const limited = await fetch(url);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(mainAttr(await limited.text(), 'data-result')).toBe('rate_limited');
      const post = await upload(url, pdf, true);
      expect(post.status).toBe(429);
      expect((await verifyEvents()).length).toBe(before);
    });
  },
);
