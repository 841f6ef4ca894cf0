import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locale } from '#libs/core';
import { renderLetterPdf } from '#libs/letters';
import { renderTemplate } from './engine.js';
import { lintTemplate } from './lint.js';
import { loadTemplatePack } from './pack.js';
import type { TemplateDefinition } from './types.js';

/*
 * The late-stage demand letter renders the way the service renders it (libs/notifications ArtifactRenderer with the
 * libs/config default bank identity) into exactly two pages: the letter with its signature block on page 1, the
 * repayment-commitment form on page 2.
 */

const PACK_DIR = new URL('../../../templates', import.meta.url).pathname;

const BANK = {
  name: '示例银行信用卡中心',
  address: '上海市浦东新区示例路 100 号',
  phone: '400-000-0000',
  complaintChannel: '客服热线 400-000-0000 转 9 / complaints@bank.example',
};
const NOTIFICATION_ID = '3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c';
const CASE_ID = 'CASE-2026-000123';
const ISSUED_ON = '2026-11-05';

const tool = (name: string): string => {
  const path = `/usr/bin/${name}`;
  if (!existsSync(path)) throw new Error(`${path} missing: run bash scripts/install-system-deps.sh`);
  return path;
};
const run = (name: string, args: string[]): string => execFileSync(tool(name), args, { encoding: 'utf8' });
const squash = (s: string): string => s.replace(/\s+/g, '');

let pack: TemplateDefinition[];
let dir: string;

beforeAll(() => {
  pack = loadTemplatePack(PACK_DIR);
  dir = mkdtempSync(join(tmpdir(), 'letter-pages-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function renderDemand(locale: Locale): Promise<{ file: string; title: string; pages: string[] }> {
  const def = pack.find((d) => d.key === 'late.letter.demand' && d.locale === locale);
  if (!def) throw new Error(`late.letter.demand/${locale} missing from the pack`);
  expect(lintTemplate(def)).toEqual([]);
  const letter = renderTemplate(def, def.exampleData, {
    bank: BANK,
    recipientName: '张三',
    caseId: CASE_ID,
    notificationId: NOTIFICATION_ID,
    issuedOn: ISSUED_ON,
  }).letter;
  if (!letter) throw new Error('late.letter.demand has no letter part');
  const pdf = await renderLetterPdf({
    documentId: NOTIFICATION_ID,
    caseId: CASE_ID,
    date: ISSUED_ON,
    locale,
    recipient: {
      name: '张三',
      addressLines: ['200120', '上海市浦东新区', '世纪大道 100 号 8 楼'],
      postcode: '200120',
    },
    title: letter.title,
    bodyMarkdown: letter.markdown,
    attachments: letter.attachments.map((a) => ({ title: a.title, bodyMarkdown: a.markdown })),
    bank: { name: BANK.name, addressLines: [BANK.address], phone: BANK.phone },
    verifyUrl: `http://127.0.0.1:3000/verify/${NOTIFICATION_ID}`,
  });
  const file = join(dir, `demand.${locale}.pdf`);
  writeFileSync(file, pdf);
  const pages = run('pdftotext', ['-enc', 'UTF-8', file, '-']).split('\f');
  return { file, title: letter.title, pages };
}

const pageCount = (file: string): number => Number(/Pages:\s+(\d+)/.exec(run('pdfinfo', [file]))?.[1]);

describe('late.letter.demand as a PDF', () => {
  it.each([
    ['zh-CN', '（盖章）', '2026年11月5日', '附件1', '还款承诺书'],
    ['en', '(seal)', '5 November 2026', 'Attachment 1', 'Repayment Commitment'],
  ] as const)(
    'has two pages in %s: the whole letter with its signature block, then the commitment form',
    async (locale, sealNote, date, attachmentLabel, formTitle) => {
      const { file, title, pages } = await renderDemand(locale);
      expect(pageCount(file)).toBe(2);

      const [p1, p2] = [squash(pages[0]), squash(pages[1])];
      // Page 1: title, the last section (objection/contact), the seal sentence and the signature block.
      expect(p1).toContain(squash(title));
      expect(p1).toContain(squash(BANK.complaintChannel));
      expect(p1).toContain(squash(`${BANK.name}${sealNote}`));
      expect(p1).toContain(squash(date));
      expect(p1).not.toContain(squash(attachmentLabel));
      // Page 2 starts (after the running header) with the commitment form and has no part of the letter.
      expect(
        p2.startsWith(squash(`${BANK.name} · ${title} ${NOTIFICATION_ID} ${attachmentLabel} ${formTitle}`)),
      ).toBe(true);
      expect(p2).not.toContain(squash(sealNote));
      expect(p2).not.toContain(squash(BANK.complaintChannel));
    },
  );
});
