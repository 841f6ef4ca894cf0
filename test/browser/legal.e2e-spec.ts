import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { type InProcessApp, postJson, startInProcess } from '../support/app.js';
import { AUTH_HEADER, smsBody } from '../support/fixtures.js';
import { OUTPUT, waitFor } from '../support/infra.js';

/**
 * Acceptance (issue 16, items 5 and 6): the /legal page in Debian's Chromium, as a lawyer uses it.
 * An evidence:read API key (kept in sessionStorage) finds a case by the beginning of its id; the
 * page shows one section per notice with its receipts and events (Chinese event names, times in
 * Beijing time, switchable to UTC), the eligibility criteria explained with links to the proving
 * events (the last payment date recorded through PUT /v1/cases/:caseId/facts), the chain check,
 * and downloads the bundle and shows that those bytes verify. Screenshot: test-output/legal-page.png.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const CASE_ID = 'C-2026-LEGAL-77';
const STAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} ([+-]\d{2}:\d{2})$/;

/** Waits until the element contains `text` (fails the test after 15 s). */
async function seeText(el: Locator, text: string): Promise<void> {
  await el.filter({ hasText: text }).first().waitFor({ timeout: 15_000 });
  expect(await el.first().textContent()).toContain(text);
}

/** `YYYY-MM-DD HH:MM:SS` of an instant shifted by `hours`. */
function wall(iso: string, hours: number): string {
  return new Date(Date.parse(iso) + hours * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}

async function firstTime(page: Page): Promise<{ text: string; iso: string }> {
  const t = page.locator('#notice-list section.notice').first().locator('table.events time').first();
  return { text: (await t.textContent()) ?? '', iso: (await t.getAttribute('datetime')) ?? '' };
}

describe('legal page', () => {
  let api: InProcessApp;
  let browser: Browser;
  let readerKey: string;
  let factsSeq: number;

  beforeAll(async () => {
    api = await startInProcess({ dialect: 'sqlite', env: { CHECKPOINT_INTERVAL_MS: '0' } });
    for (const phone of ['+8613800138031', '+8613800138032']) {
      const res = await postJson(api.baseUrl, '/v1/notifications', smsBody(CASE_ID, phone));
      expect(res.status).toBe(202);
    }
    await waitFor('delivered', async () => {
      const [r] = await api.db.rows<{ n: number }>(
        "SELECT COUNT(*) AS n FROM notifications WHERE case_id = ? AND status = 'delivered'",
        [CASE_ID],
      );
      return Number(r.n) === 2;
    });
    // The SMS templates carry no lastPaymentDate: the bank records it (and the principal) as a fact.
    const facts = await fetch(`${api.baseUrl}/v1/cases/${CASE_ID}/facts`, {
      method: 'PUT',
      headers: { ...AUTH_HEADER, 'content-type': 'application/json' },
      body: JSON.stringify({ lastPaymentDate: '2026-03-15', principal: '38000.00', note: 'core extract' }),
    });
    expect(facts.status).toBe(200);
    factsSeq = ((await facts.json()) as { seq: number }).seq;
    const key = await postJson(api.baseUrl, '/v1/admin/api-keys', {
      name: 'legal-team',
      scopes: ['evidence:read'],
    });
    expect(key.status).toBe(201);
    readerKey = key.body.key as string;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('groups notices with receipts, shows Beijing times, explains eligibility with proof links, verifies the bundle', async () => {
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1280, height: 1000 },
      timezoneId: 'Europe/Berlin',
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${api.baseUrl}/legal`);
    await expect(page.title()).resolves.toContain('证据查询');

    // Without a key the API refuses and the page says so.
    await page.getByLabel('案件编号或其开头').fill('C-2026-LEGAL');
    await page.getByRole('button', { name: '查找' }).click();
    await seeText(page.locator('#find-status'), '查找失败');

    await page.getByLabel('API 密钥（权限 evidence:read）').fill(readerKey);
    await page.getByRole('button', { name: '使用密钥' }).click();
    await seeText(page.locator('#key-status'), '本标签页已设置密钥');
    expect(await page.evaluate('sessionStorage.getItem("cns.legal.apiKey")')).toBe(readerKey);

    await page.getByRole('button', { name: '查找' }).click();
    await seeText(page.locator('#find-status'), '找到 1 个案件');
    await page.getByRole('heading', { name: `案件 ${CASE_ID}` }).waitFor();
    await seeText(page.locator('#verify-status'), '哈希链校验通过');

    // One section per notice, each holding its own receipt and events.
    const notices = page.locator('#notice-list section.notice');
    await notices.first().waitFor();
    expect(await notices.count()).toBe(2);
    const first = notices.first();
    expect(await first.locator('h4').textContent()).toBe('通知 1：短信 · 本人 · 已送达');
    await seeText(first.locator('dl.facts'), 'early.sms.reminder 第 1 版');
    const receipts = first.locator('table.receipts tbody tr');
    expect(await receipts.count()).toBeGreaterThanOrEqual(1);
    const deliveredReceipt = receipts.filter({ hasText: '已送达' }).first();
    expect(await deliveredReceipt.textContent()).toContain('沙箱');
    const receiptSeq = Number(((await deliveredReceipt.locator('a').textContent()) ?? '').slice(1));
    // The receipt's link points at a row of the same notice's event table, named in Chinese.
    const receiptRow = first.locator(`table.events tr#ev-${receiptSeq}`);
    expect(await receiptRow.locator('td').nth(2).textContent()).toBe('收到回执');
    expect(await receiptRow.locator('td').nth(4).textContent()).toBe('receipt.received');
    const labels = await first.locator('table.events tbody tr td:nth-child(3)').allTextContents();
    expect(labels).toEqual(
      expect.arrayContaining(['受理通知请求', '锁定模板版本', '服务商已接收', '状态变更']),
    );
    expect(labels.some((l) => l.includes('.'))).toBe(false);

    // Times: Beijing by default (the browser itself runs in Berlin), UTC on request.
    const bj = await firstTime(page);
    expect(STAMP.exec(bj.text)?.[1]).toBe('+08:00');
    expect(bj.text).toBe(`${wall(bj.iso, 8)} +08:00`);
    await page.getByLabel('UTC', { exact: true }).check();
    const utc = await firstTime(page);
    expect(utc.text).toBe(`${wall(bj.iso, 0)} +00:00`);
    await page.getByLabel('北京时间（UTC+08:00）').check();
    expect((await firstTime(page)).text).toBe(bj.text);

    // Eligibility explained; the sandbox receipts do not count; the recorded facts do, with a link.
    const crit = page.locator('#criteria .criterion');
    expect(await crit.count()).toBe(3);
    const delivered = page.locator('.criterion[data-criterion="delivered_notices"]');
    await seeText(delivered.locator('h4'), '未满足');
    await seeText(delivered, '沙箱回执不作证明');
    const months = page.locator('.criterion[data-criterion="months_without_payment"]');
    await seeText(months.locator('h4'), '已满足');
    await seeText(months, '登记的案件事实（lastPaymentDate）');
    await seeText(months, '2026-03-15');
    const principal = page.locator('.criterion[data-criterion="outstanding_principal"]');
    await seeText(principal, '38000 元');
    const proof = months.locator(`a[href="#ev-${factsSeq}"]`);
    await seeText(months.locator('ul.proofs'), '登记案件事实');
    await proof.click();
    const factsRow = page.locator(`#case-events tr#ev-${factsSeq}`);
    await expect(factsRow.getAttribute('class')).resolves.toContain('flash');
    expect(await factsRow.locator('td').nth(2).textContent()).toContain('登记案件事实');
    expect(await page.evaluate('location.hash')).toBe(`#ev-${factsSeq}`);
    await seeText(page.locator('#eligibility-summary'), '不符合起诉条件');

    // Recording facts needs notifications:send: the legal team's read key is refused.
    await page.getByLabel('最后还款日').fill('2026-04-01');
    await page.getByRole('button', { name: '登记' }).click();
    await seeText(page.locator('#facts-status'), '登记失败');
    await seeText(page.locator('#facts-status'), '403');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: '下载并核验证据包（.zip）' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`evidence-${CASE_ID}.zip`);
    const saved = join(OUTPUT, `legal-browser-${CASE_ID}.zip`);
    mkdirSync(OUTPUT, { recursive: true });
    await download.saveAs(saved);
    const zip = await readFile(saved);
    expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\u0003\u0004');
    await seeText(page.locator('#download-status'), '证据包核验通过');
    expect(await page.locator('#bundle-checks li.bad').count()).toBe(0);
    expect(await page.locator('#bundle-checks li').count()).toBeGreaterThan(3);
    await seeText(page.locator('#bundle-summary'), '0 项不通过');

    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(OUTPUT, 'legal-page.png'), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);
});
