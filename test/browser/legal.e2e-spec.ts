import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, chromium, type Locator } from 'playwright-core';
import { type InProcessApp, postJson, startInProcess } from '../support/app.js';
import { smsBody } from '../support/fixtures.js';
import { OUTPUT, waitFor } from '../support/infra.js';

/**
 * Acceptance (6): the /legal page in Debian's Chromium. A lawyer enters an evidence:read API key
 * (kept in sessionStorage), finds a case by the beginning of its id, sees the timeline, the
 * eligibility table and that the chain verifies, and downloads the bundle. Screenshot:
 * test-output/legal.png.
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

/** Waits until the element contains `text` (fails the test after 15 s). */
async function seeText(el: Locator, text: string): Promise<void> {
  await el.filter({ hasText: text }).first().waitFor({ timeout: 15_000 });
  expect(await el.first().textContent()).toContain(text);
}

describe('legal page', () => {
  let api: InProcessApp;
  let browser: Browser;
  let readerKey: string;

  beforeAll(async () => {
    api = await startInProcess({ dialect: 'sqlite', env: { CHECKPOINT_INTERVAL_MS: '0' } });
    const ids: string[] = [];
    for (const phone of ['+8613800138031', '+8613800138032']) {
      const res = await postJson(api.baseUrl, '/v1/notifications', smsBody(CASE_ID, phone));
      expect(res.status).toBe(202);
      ids.push(res.body.id as string);
    }
    await waitFor('delivered', async () => {
      const [r] = await api.db.rows<{ n: number }>(
        "SELECT COUNT(*) AS n FROM notifications WHERE case_id = ? AND status = 'delivered'",
        [CASE_ID],
      );
      return Number(r.n) === 2;
    });
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

  it('asks for the key, finds the case, shows timeline, eligibility and verification, downloads the bundle', async () => {
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1280, height: 1000 },
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${api.baseUrl}/legal`);
    await expect(page.title()).resolves.toContain('Evidence for the legal team');

    // Without a key the API refuses and the page says so.
    await page.getByLabel('Case id or its beginning').fill('C-2026-LEGAL');
    await page.getByRole('button', { name: 'Search' }).click();
    await seeText(page.locator('#find-status'), 'Search failed');

    await page.getByLabel('API key (scope evidence:read)').fill(readerKey);
    await page.getByRole('button', { name: 'Use key' }).click();
    await seeText(page.locator('#key-status'), 'A key is set for this tab.');
    const stored = await page.evaluate('sessionStorage.getItem("cns.legal.apiKey")');
    expect(stored).toBe(readerKey);

    await page.getByRole('button', { name: 'Search' }).click();
    await seeText(page.locator('#find-status'), '1 case(s) found.');
    await page.getByRole('heading', { name: `Case ${CASE_ID}` }).waitFor();
    await seeText(page.locator('#verify-status'), 'Chain verifies:');
    const timelineRows = page.locator('#timeline tbody tr');
    await timelineRows.first().waitFor();
    expect(await timelineRows.count()).toBeGreaterThanOrEqual(2 * 6);
    await seeText(page.locator('#timeline'), 'receipt.received');
    await seeText(page.locator('#timeline'), 'sandbox');
    // Sandbox receipts never count: the delivered-notices criterion is not met.
    await seeText(page.locator('#eligibility tbody tr').nth(1), 'Notices with proof of delivery');
    expect(await page.locator('#eligibility tbody tr').nth(1).locator('td').nth(1).textContent()).toBe('no');
    await seeText(page.locator('#eligibility-summary'), 'Not eligible');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download evidence bundle (.zip)' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`evidence-${CASE_ID}.zip`);
    const saved = join(OUTPUT, `legal-browser-${CASE_ID}.zip`);
    mkdirSync(OUTPUT, { recursive: true });
    await download.saveAs(saved);
    const zip = await readFile(saved);
    expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\u0003\u0004');
    await seeText(page.locator('#download-status'), 'Bundle ready');

    await page.screenshot({ path: join(OUTPUT, 'legal.png'), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});
