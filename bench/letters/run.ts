/**
 * B1 letters: the same two-page demand letter (+ repayment-commitment form) rendered by libs/letters (pdfkit) and,
 * in the same run, as equivalent HTML printed by Debian's headless Chromium (playwright-core, one browser,
 * `page.setContent` + `page.pdf` per letter). Prints median ms per letter, PDF bytes and the ratios, and writes the
 * `## B1 letters` section of docs/performance.md.
 *
 * Robust on a shared machine: both renderers are warmed up, then measured in ROUNDS interleaved rounds (a batch
 * of project letters, then a batch of Chromium letters, never both at once), so load changes hit both; medians
 * are over all samples. N is the number of Chromium letters; the project renders PROJECT_FACTOR x N of each kind.
 *
 *   npm run bench:letters            # N=60
 *   node dist/bench/letters/run.js 100
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { defaultFontPaths, renderLetterPdf, sampleDemandLetter, type LetterInput } from '#libs/letters';
import { letterHtml } from './html.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const pages = (pdf: Buffer): number => (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? []).length;

const ROUNDS = 4;
const PROJECT_FACTOR = 5;

interface Samples {
  ms: number[];
  bytes: number;
  pages: number;
}

async function timeProject(
  into: Samples,
  n: number,
  make: (i: number) => LetterInput,
  offset = 0,
): Promise<void> {
  for (let i = 0; i < n; i++) {
    const input = make(offset + i);
    const t = performance.now();
    const pdf = await renderLetterPdf(input);
    into.ms.push(performance.now() - t);
    into.bytes = pdf.length;
    into.pages = pages(pdf);
  }
}

/** fontconfig file that adds the bundled Noto Sans SC to the browser's fonts (no system change). */
function fontconfig(dir: string): string {
  const f = defaultFontPaths();
  const file = join(dir, 'fonts.conf');
  writeFileSync(
    file,
    `<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>
<include ignore_missing="yes">/etc/fonts/fonts.conf</include>
<dir>${dirname(f.regular)}</dir><dir>${dirname(f.bold)}</dir><cachedir>${join(dir, 'cache')}</cachedir>
</fontconfig>`,
  );
  return file;
}

async function main(): Promise<void> {
  const n = Math.max(ROUNDS, Number(process.argv[2] ?? 60));
  const perRound = Math.ceil(n / ROUNDS);
  const input = sampleDemandLetter();

  // First letter in a fresh process (reads and parses the font files), before anything else.
  const t0 = performance.now();
  const first = await renderLetterPdf(input);
  const coldMs = performance.now() - t0;
  // Honesty check for the per-process caches: different letters (other ids, names, addresses, amounts).
  const variedLetter = (i: number): LetterInput =>
    sampleDemandLetter({
      documentId: `DOC-2025-${String(500000 + i)}`,
      caseId: `CASE-${70000 + i * 7}`,
      recipient: {
        name: ['李四', '赵六', '陈晓红', '周建国'][i % 4],
        addressLines: [`广州市天河区示例大道 ${i + 1} 号`],
        postcode: '510000',
      },
      bodyMarkdown: input.bodyMarkdown.replace(/26,543\.21/g, `${(12000 + i * 13.7).toFixed(2)}`),
    });
  const same: Samples = { ms: [], bytes: 0, pages: 0 };
  const varied: Samples = { ms: [], bytes: 0, pages: 0 };
  const warm: Samples = { ms: [], bytes: 0, pages: 0 };
  await timeProject(warm, 30, () => input);
  await timeProject(warm, 30, variedLetter, 10_000);

  const work = mkdtempSync(join(tmpdir(), 'bench-letters-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ARGS,
    env: { ...process.env, FONTCONFIG_FILE: fontconfig(work) },
  });
  const chromeMs: number[] = [];
  let chromePdf: Buffer = Buffer.alloc(0);
  try {
    const page = await browser.newPage();
    const { html, footerTemplate } = await letterHtml(input);
    const print = async (): Promise<Buffer> => {
      await page.setContent(html, { waitUntil: 'load' });
      return page.pdf({
        format: 'A4',
        printBackground: true,
        displayHeaderFooter: true,
        headerTemplate: '<span></span>',
        footerTemplate,
        margin: { top: '22mm', bottom: '35mm', left: '25mm', right: '20mm' },
      });
    };
    for (let i = 0; i < 5; i++) await print();
    // Interleaved rounds: project batch first, then Chromium; each renderer runs alone while it is timed.
    for (let r = 0; r < ROUNDS; r++) {
      await timeProject(same, perRound * PROJECT_FACTOR, () => input);
      await timeProject(varied, perRound * PROJECT_FACTOR, variedLetter, r * perRound * PROJECT_FACTOR);
      for (let i = 0; i < perRound; i++) {
        const t = performance.now();
        chromePdf = await print();
        chromeMs.push(performance.now() - t);
      }
    }
  } finally {
    await browser.close();
    rmSync(work, { recursive: true, force: true });
  }

  const pMed = median(same.ms);
  const vMed = median(varied.ms);
  const cMed = median(chromeMs);
  const speedup = cMed / pMed;
  const byteRatio = first.length / chromePdf.length;
  const cpu = cpus();
  const date = new Date().toISOString().slice(0, 10);
  const rows = [
    `| renderer | median ms/letter | p90 ms | PDF bytes | pages |`,
    `|---|---:|---:|---:|---:|`,
    `| libs/letters (pdfkit), same letter x ${same.ms.length} | ${pMed.toFixed(2)} | ${pct(same.ms, 0.9).toFixed(2)} | ${first.length} | ${pages(first)} |`,
    `| libs/letters (pdfkit), ${varied.ms.length} different letters | ${vMed.toFixed(2)} | ${pct(varied.ms, 0.9).toFixed(2)} | ${varied.bytes} | ${varied.pages} |`,
    `| Chromium ${CHROMIUM} (setContent + page.pdf) x ${chromeMs.length} | ${cMed.toFixed(2)} | ${pct(chromeMs, 0.9).toFixed(2)} | ${chromePdf.length} | ${pages(chromePdf)} |`,
  ];
  const summary = [
    `- speed: project is **${speedup.toFixed(1)}x** faster than Chromium per letter (median; target >= 30x: ${speedup >= 30 ? 'met' : 'MISSED'}); different letters: ${(cMed / vMed).toFixed(1)}x`,
    `- size: project PDF is **${(byteRatio * 100).toFixed(0)}%** of Chromium's (target <= 100%: ${byteRatio <= 1 ? 'met' : 'MISSED'})`,
    `- first letter in a fresh process (reads and parses the two font files): ${coldMs.toFixed(0)} ms`,
  ];
  const section = [
    '## B1 letters',
    '',
    `Two-page zh-CN demand letter (催收函 + 还款承诺书), PDF/A-2b, one process. After warm-up (project 60 letters,`,
    `Chromium 5), ${ROUNDS} interleaved rounds of ${perRound * PROJECT_FACTOR} + ${perRound * PROJECT_FACTOR} project letters then ${perRound} Chromium letters;`,
    `medians over all samples.`,
    `Machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}; date ${date}.`,
    `Command: \`npm run bench:letters\` (\`node dist/bench/letters/run.js ${n}\`).`,
    '',
    ...rows,
    '',
    ...summary,
    '',
  ].join('\n');
  console.log(section);

  const doc = resolve('docs/performance.md');
  const old = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Performance\n';
  const re = /^## B1 letters\n[\s\S]*?(?=^## |(?![\s\S]))/m;
  const next = re.test(old) ? old.replace(re, `${section}\n`) : `${old.trimEnd()}\n\n${section}`;
  writeFileSync(doc, next.endsWith('\n') ? next : `${next}\n`);
  console.log(`wrote ${doc}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
