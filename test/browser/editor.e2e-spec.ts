/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, chromium } from 'playwright-core';
import { type InProcessApp, startInProcess } from '../support/app.js';
import { OUTPUT } from '../support/infra.js';

/**
 * Acceptance (6): the /editor page in Debian's Chromium. The editor signs in with her API key
 * (editor.zhang, templates:edit), edits a template and sees the live preview change, saves and
 * submits; her key may not approve. The approver's key (compliance.li) approves and publishes.
 */
const API_KEY = 'test-admin-key-0123456789abcdef0123456789';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const MARKER = '（浏览器测试）';

describe('template editor page', () => {
  let api: InProcessApp;
  let browser: Browser;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    api = await startInProcess({ dialect: 'sqlite', env: { API_KEYS_BOOTSTRAP: API_KEY, GRPC_PORT: '0' } });
    for (const [name, scopes] of [
      ['editor.zhang', ['templates:edit']],
      ['compliance.li', ['templates:approve']],
    ] as const) {
      const res = await fetch(`${api.baseUrl}/v1/admin/api-keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ name, scopes }),
      });
      expect(res.status).toBe(201);
      keys[name] = ((await res.json()) as { key: string }).key;
    }
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

  it('edits with live preview, submits, is approved by a second user and published', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${api.baseUrl}/editor`);
    await expect(page.title()).resolves.toContain('Template editor');

    // No key yet: the page asks for one and lists nothing.
    await page.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('API key'));
    await expect(page.locator('#template-list tbody tr').count()).resolves.toBe(0);
    const apiKey = page.getByLabel('API key', { exact: true });
    await expect(apiKey.getAttribute('type')).resolves.toBe('password');
    await apiKey.fill(keys['editor.zhang']);
    await apiKey.press('Tab'); // change event: whoami, then the list loads with the key
    await page.waitForFunction(
      () => document.querySelector('#whoami')?.textContent === 'Signed in as editor.zhang (templates:edit)',
    );
    await expect(page.evaluate(() => window.sessionStorage.getItem('cns.editor.apikey'))).resolves.toBe(
      keys['editor.zhang'],
    );
    await page.getByRole('button', { name: 'early.sms.reminder (zh-CN)' }).click();
    const preview = page.locator('#preview-sms');
    await expect(preview.textContent()).resolves.toBeTruthy();
    await page.waitForFunction(() =>
      document.querySelector('#preview-sms')?.textContent?.includes('如已还款请忽略。'),
    );
    await expect(page.locator('#preview-sms-meta').textContent()).resolves.toMatch(
      /Encoding UCS-2 · \d segments? · \d+ characters/,
    );

    await page.getByRole('button', { name: 'Start a draft' }).click();
    await page.waitForFunction(() =>
      document.querySelector('#draft-status')?.textContent?.startsWith('Draft draft'),
    );
    const sms = page.getByLabel('SMS text');
    const original = await sms.inputValue();
    await sms.fill(original.replace('如已还款请忽略。', `如已还款请忽略${MARKER}。`));
    // Live preview follows the edit without saving.
    await page.waitForFunction(
      (m) => document.querySelector('#preview-sms')?.textContent?.includes(m),
      MARKER,
      { timeout: 10_000 },
    );
    await expect(page.locator('#lint').textContent()).resolves.toContain('No findings.');

    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.waitForFunction(() => document.querySelector('#messages')?.textContent === 'Draft saved.');
    await page.getByRole('button', { name: 'Submit for review' }).click();
    await page.waitForFunction(() =>
      document.querySelector('#draft-status')?.textContent?.startsWith('Draft in review'),
    );

    // The editor's key may not approve (the button is there, the service says no).
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForFunction(() =>
      document.querySelector('#messages')?.textContent?.includes('lacks the scope templates:approve'),
    );

    // Switch to the approver's key: the page shows who is signed in and reloads the draft.
    await apiKey.fill(keys['compliance.li']);
    await apiKey.press('Tab');
    await page.waitForFunction(
      () =>
        document.querySelector('#whoami')?.textContent === 'Signed in as compliance.li (templates:approve)',
    );
    await page.waitForFunction(() =>
      document.querySelector('#draft-status')?.textContent?.includes('by editor.zhang'),
    );
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForFunction(() =>
      document.querySelector('#draft-status')?.textContent?.startsWith('Draft approved'),
    );
    await page.getByRole('button', { name: 'Publish' }).click();
    await page.waitForFunction(
      () => document.querySelector('#messages')?.textContent === 'Published version 2.',
    );

    // History shows v2 (published and approved by the approver's key) and its diff with the edit.
    const newest = page.locator('#versions tbody tr').first();
    await expect(newest.textContent()).resolves.toContain('v2');
    await expect(newest.locator('td').nth(2).textContent()).resolves.toBe('compliance.li');
    await expect(newest.locator('td').nth(3).textContent()).resolves.toBe('compliance.li');
    await page.waitForFunction((m) => document.querySelector('#diff')?.textContent?.includes(m), MARKER);
    await expect(page.locator('#draft-status').textContent()).resolves.toContain(
      'No open draft · published v2',
    );

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'editor.png'), fullPage: true });

    const res = await fetch(`${api.baseUrl}/v1/templates/early.sms.reminder/zh-CN/versions/2`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    const v2 = (await res.json()) as {
      publishedBy: string;
      approvedBy: string;
      authors: string[];
      definition: { parts: { sms: string } };
    };
    expect(v2).toMatchObject({
      publishedBy: 'compliance.li',
      approvedBy: 'compliance.li',
      authors: ['editor.zhang'],
    });
    expect(v2.definition.parts.sms).toContain(MARKER);
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);
});
