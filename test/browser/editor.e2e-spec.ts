/// <reference lib="dom" />
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type InProcessApp, startInProcess } from '../support/app.js';
import { OUTPUT } from '../support/infra.js';

/**
 * Acceptance (issue 16, items 4 and 6): the /editor page in Debian's Chromium. The page opens in
 * Chinese and switches to English. The editor signs in with her API key (editor.zhang,
 * templates:edit), edits a template and sees the live preview change, saves and submits; her key
 * may not approve. The approver's key (compliance.li) approves and publishes. A letter template's
 * preview is its PDF drawn as page images (pdf.js) and follows the typing; the variable picker
 * inserts `{{var}}` at the cursor; lint is shown under the field; two versions of a letter are
 * compared side by side, text and pages. Screenshots: test-output/editor.png,
 * editor-letter-preview.png, editor-variables.png, editor-diff.png.
 */
const run = promisify(execFile);
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

interface CanvasStat {
  width: number;
  height: number;
  /** Share of sampled pixels that are not (near) white. */
  ink: number;
  /** A cheap fingerprint of the pixels, to see a re-render. */
  hash: number;
}

/** Size, ink share and a fingerprint of every canvas under `selector`. */
function canvasStats(page: Page, selector: string): Promise<CanvasStat[]> {
  return page.evaluate((sel) => {
    return [...document.querySelectorAll<HTMLCanvasElement>(`${sel} canvas`)].map((c) => {
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      let n = 0;
      let hash = 0;
      for (let i = 0; i < data.length; i += 4 * 7) {
        n += 1;
        if (data[i] + data[i + 1] + data[i + 2] < 600) ink += 1;
        hash = (hash * 31 + data[i] + 3 * data[i + 1] + 7 * data[i + 2]) >>> 0;
      }
      return { width: c.width, height: c.height, ink: ink / n, hash };
    });
  }, selector);
}

function expectPrinted(stats: CanvasStat[]): void {
  for (const s of stats) {
    expect(s.width).toBeGreaterThan(400);
    expect(s.height / s.width).toBeCloseTo(297 / 210, 1); // A4 portrait
    expect(s.ink).toBeGreaterThan(0.005); // text, not a blank page
    expect(s.ink).toBeLessThan(0.5);
  }
}

/** Page count of a PDF (pdfinfo from poppler-utils). */
async function pdfPageCount(pdf: Buffer): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'cns-editor-'));
  try {
    await writeFile(join(dir, 'p.pdf'), pdf);
    const { stdout } = await run('pdfinfo', [join(dir, 'p.pdf')]);
    return Number(/^Pages:\s+(\d+)/m.exec(stdout)?.[1]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

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
    // Chinese by default; the switch turns the whole interface to English (and is remembered).
    await expect(page.title()).resolves.toContain('模板编辑器');
    await expect(page.locator('h1').textContent()).resolves.toBe('模板编辑器');
    await expect(page.locator('#messages').textContent()).resolves.toBe('请输入 API 密钥开始。');
    await page.getByRole('button', { name: 'English' }).click();
    await expect(page.title()).resolves.toContain('Template editor');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('en');
    await page.reload();
    await expect(page.title()).resolves.toContain('Template editor');
    await page.waitForFunction(() => document.querySelector('#messages')?.textContent?.includes('API key'));

    // No key yet: the page asks for one and lists nothing.
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
    // Each gateway's registration of this SMS; none is in use on this service, so none is checked.
    await expect(page.locator('#registrations tr[data-kind="aliyun"]').textContent()).resolves.toBe(
      'aliyunSMS_4802150示例银行信用卡中心not checked: gateway not in use (SMS_CN_PROVIDERS)',
    );
    await expect(
      page.locator('#registrations tr[data-kind="tencent"] td').nth(1).textContent(),
    ).resolves.toBe('2193844');

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

    // A five-segment SMS: the counter says so and lint flags it inline, under the SMS field.
    await sms.fill(`${original}${'请按时还款。'.repeat(40)}`);
    await page.waitForFunction(() =>
      document.querySelector('.field-lint[data-part="sms"]')?.textContent?.includes('sms-segment-limit'),
    );
    const meta = (await page.locator('#preview-sms-meta').textContent()) ?? '';
    expect(Number(/· (\d+) segments/.exec(meta)?.[1])).toBeGreaterThan(3);
    await expect(page.locator('#preview-sms-meta').getAttribute('class')).resolves.toContain('over');
    await sms.fill(original.replace('如已还款请忽略。', `如已还款请忽略${MARKER}。`));
    await page.waitForFunction(() => document.querySelector('#lint')?.textContent?.includes('No findings.'));

    // Test send of what is on screen to the sandbox provider, recorded in the template audit.
    await page.getByRole('button', { name: 'Test send (sandbox)' }).click();
    await page.waitForFunction(() =>
      document.querySelector('#test-send-status')?.textContent?.startsWith('Sent to sandbox-sms'),
    );
    const sentId = await page.locator('#test-send-status').getAttribute('data-provider-message-id');
    await expect(page.locator('#test-send-status').textContent()).resolves.toContain('+86138****8000');
    const audit = (await (
      await fetch(`${api.baseUrl}/v1/templates/audit?key=early.sms.reminder&locale=zh-CN`, {
        headers: { authorization: `Bearer ${API_KEY}` },
      })
    ).json()) as { items: { action: string; actor: string; detail: { providerMessageId: string } }[] };
    expect(audit.items[0]).toMatchObject({
      action: 'test.sent',
      actor: 'editor.zhang',
      detail: { providerMessageId: sentId },
    });

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

  /** Publishes a new version of `key` with the letter body edited: draft, submit, approve, publish. */
  async function publishLetterEdit(key: string, edit: (letter: string) => string): Promise<number> {
    const call = async (who: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${api.baseUrl}/v1/templates${path}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[who]}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(res.status).toBeLessThan(300);
      return (await res.json()) as Record<string, unknown>;
    };
    type Draft = {
      id: string;
      revision: number;
      definition: Record<string, unknown> & { parts: { letter: string } };
    };
    const d = (await call('editor.zhang', 'POST', '/drafts', { key, locale: 'zh-CN' })) as unknown as Draft;
    const def = d.definition;
    await call('editor.zhang', 'PUT', `/drafts/${d.id}`, {
      revision: d.revision,
      description: def.description,
      schema: def.schema,
      exampleData: def.exampleData,
      parts: { ...def.parts, letter: edit(def.parts.letter) },
    });
    await call('editor.zhang', 'POST', `/drafts/${d.id}/submit`);
    await call('compliance.li', 'POST', `/drafts/${d.id}/approve`);
    const v = await call('compliance.li', 'POST', `/drafts/${d.id}/publish`);
    return v.version as number;
  }

  it('letter preview as PDF pages that follow the typing, variable picker, inline lint, side-by-side diff', async () => {
    const DIFF_LINE = '（第二版新增：如有疑问请致电客服。）';
    const v2 = await publishLetterEdit('mid.letter.notice', (l) =>
      l.replace('## 一、账户情况', `${DIFF_LINE}\n\n## 一、账户情况`),
    );
    expect(v2).toBe(2);

    const page = await browser.newPage({ viewport: { width: 1500, height: 1200 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      // 422 answers to a deliberately broken template are expected; anything else is not.
      // (and Chromium's own favicon request, which this page does not serve).
      const expected = m.text().includes('status of 422') || m.location().url.endsWith('/favicon.ico');
      if (m.type() === 'error' && !expected) problems.push(`${m.text()} ${m.location().url}`);
    });
    await page.goto(`${api.baseUrl}/editor`);
    await expect(page.locator('h1').textContent()).resolves.toBe('模板编辑器');
    await page.locator('#apikey').fill(keys['editor.zhang']);
    await page.locator('#apikey').press('Tab');
    await page.waitForFunction(() =>
      document.querySelector('#whoami')?.textContent?.startsWith('已登录：editor.zhang'),
    );
    await page.getByRole('button', { name: 'late.letter.demand (zh-CN)' }).click();

    // The preview is the service's PDF, drawn page by page: as many canvases as the PDF has pages.
    await page.waitForFunction(
      () => document.querySelector('#letter-pages')?.hasAttribute('data-pages'),
      null,
      {
        timeout: 30_000,
      },
    );
    const pdf = await fetch(`${api.baseUrl}/v1/templates/preview/pdf`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys['editor.zhang']}` },
      body: JSON.stringify({ key: 'late.letter.demand', locale: 'zh-CN' }),
    });
    expect(pdf.status).toBe(200);
    const pages = await pdfPageCount(Buffer.from(await pdf.arrayBuffer()));
    expect(pages).toBeGreaterThanOrEqual(2); // the letter and the 还款承诺书
    await expect(page.locator('#letter-pages').getAttribute('data-pages')).resolves.toBe(String(pages));
    const before = await canvasStats(page, '#letter-pages');
    expect(before).toHaveLength(pages);
    expectPrinted(before);
    await expect(page.locator('#letter-pages-meta').textContent()).resolves.toBe(
      `共 ${pages} 页（由服务端生成的 PDF）`,
    );
    mkdirSync(OUTPUT, { recursive: true });
    await page.locator('#preview').evaluate((e) => e.closest('section')?.scrollIntoView());
    await page.locator('#editor .grid').screenshot({ path: join(OUTPUT, 'editor-letter-preview.png') });

    // Variable picker: schema variables with example values; a click inserts {{var}} at the cursor.
    await page.locator('#btn-new').click();
    await page.waitForFunction(() =>
      document.querySelector('#draft-status')?.textContent?.startsWith('草稿编辑中'),
    );
    const principal = page.locator('#variable-list li', {
      has: page.locator('button[data-var="principal"]'),
    });
    await expect(principal.locator('.example').textContent()).resolves.toBe('"20000.00"');
    await expect(principal.textContent()).resolves.toContain('Outstanding principal in CNY');
    const body = page.locator('#p-letter');
    const original = await body.inputValue();
    const anchor = '## 一、欠款情况\n\n';
    const at = original.indexOf(anchor) + anchor.length;
    await body.evaluate((el: HTMLTextAreaElement, pos) => {
      el.focus();
      el.setSelectionRange(pos, pos);
      el.scrollTop = 0; // the caret is near the top, where a click would have left the view
    }, at);
    await principal.locator('button').click();
    const edited = await body.inputValue();
    expect(edited.slice(at, at + '{{principal}}'.length)).toBe('{{principal}}');
    expect(edited.length).toBe(original.length + '{{principal}}'.length);
    // The pages are drawn again from the edited source (debounced), and they changed.
    await page.waitForFunction(
      (h) => {
        const c = document.querySelector<HTMLCanvasElement>('#letter-pages canvas');
        if (!c || document.querySelector('#letter-pages')?.hasAttribute('aria-busy')) return false;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let x = 0;
        for (let i = 0; i < d.length; i += 4 * 7) x = (x * 31 + d[i] + 3 * d[i + 1] + 7 * d[i + 2]) >>> 0;
        return x !== h;
      },
      before[0].hash,
      { timeout: 30_000 },
    );
    expectPrinted(await canvasStats(page, '#letter-pages'));
    await page.locator('#variables').screenshot({ path: join(OUTPUT, 'editor-variables-panel.png') });
    await page.locator('#editor .grid').screenshot({ path: join(OUTPUT, 'editor-variables.png') });

    // Lint inline: a variable the schema does not declare is flagged under the letter body.
    await body.evaluate((el: HTMLTextAreaElement) => {
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    });
    await page.keyboard.type('\n{{notInSchema}}');
    await page.waitForFunction(() =>
      document
        .querySelector('.field-lint[data-part="letter"]')
        ?.textContent?.includes('variable-not-in-schema'),
    );
    await expect(page.locator('#lint').textContent()).resolves.toContain('variable-not-in-schema');

    // Side-by-side diff of two published versions: the added line marked, context around it, pages.
    await page.getByRole('button', { name: 'mid.letter.notice (zh-CN)' }).click();
    await page.getByRole('button', { name: '对比 v1 → v2' }).click();
    const table = page.locator('#diff table.diff-table').first();
    await table.waitFor();
    const added = table.locator('td.diff-add');
    await expect(added.count()).resolves.toBeGreaterThanOrEqual(1);
    await expect(added.allTextContents()).resolves.toContain(DIFF_LINE);
    const addedRow = table.locator('tr', { has: page.locator('td.diff-add', { hasText: DIFF_LINE }) });
    await expect(addedRow.locator('td').nth(1).textContent()).resolves.toBe(''); // nothing on the left
    // Unchanged neighbours are shown on both sides; the rest is folded.
    const same = table.locator('tbody tr:not(.diff-gap)', { hasNot: page.locator('.diff-add, .diff-del') });
    await expect(same.count()).resolves.toBeGreaterThanOrEqual(2);
    const s0 = same.first().locator('td');
    await expect(s0.nth(1).textContent()).resolves.toBe(await s0.nth(3).textContent());
    await expect(table.locator('tr.diff-gap').first().textContent()).resolves.toMatch(/… \d+ 行未改动 …/);
    await page.waitForFunction(
      () =>
        document.querySelectorAll('#diff-pages-left canvas').length > 0 &&
        document.querySelectorAll('#diff-pages-right canvas').length > 0,
      null,
      { timeout: 30_000 },
    );
    const left = await canvasStats(page, '#diff-pages-left');
    const right = await canvasStats(page, '#diff-pages-right');
    expectPrinted([...left, ...right]);
    expect(right[0].hash).not.toBe(left[0].hash); // the new line moves the text
    await page.locator('#diff-title').evaluate((e) => e.closest('section')?.scrollIntoView());
    await page
      .locator('#history-title')
      .locator('..')
      .screenshot({ path: join(OUTPUT, 'editor-diff.png') });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);
});
