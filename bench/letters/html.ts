import QRCode from 'qrcode';
import {
  bodyDigest,
  parseMarkdown,
  type InlineRun,
  type LetterInput,
  type MarkdownBlock,
} from '#libs/letters';

/**
 * The same letter as HTML + CSS for Chromium's `page.pdf` (the comparison in bench/letters/run.ts):
 * letterhead, window address block, info block, title, Markdown body, signature, attachments on new pages,
 * footer with document id, digest and QR code, page numbers through Chromium's footer template.
 */

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const inline = (runs: InlineRun[]): string =>
  runs.map((r) => (r.bold ? `<b>${esc(r.text)}</b>` : esc(r.text))).join('');

function blocks(list: MarkdownBlock[]): string {
  return list
    .map((b) => {
      switch (b.kind) {
        case 'heading':
          return `<h${b.level + 1}>${inline(b.content)}</h${b.level + 1}>`;
        case 'paragraph':
          return `<p>${inline(b.content)}</p>`;
        case 'list': {
          const tag = b.ordered ? 'ol' : 'ul';
          const start = b.ordered ? ` start="${b.start}"` : '';
          return `<${tag}${start}>${b.items.map((i) => `<li>${inline(i)}</li>`).join('')}</${tag}>`;
        }
        case 'table': {
          const head = b.header.map((c) => `<th>${inline(c)}</th>`).join('');
          const rows = b.rows
            .map(
              (r) =>
                `<tr>${r.map((c, i) => `<td style="text-align:${b.align[i]}">${inline(c)}</td>`).join('')}</tr>`,
            )
            .join('');
          return `<table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
        }
      }
    })
    .join('\n');
}

const CSS = `
@page { size: A4; margin: 22mm 20mm 35mm 25mm; }
@page :first { margin-top: 0; }
body { font-family: 'Noto Sans SC', sans-serif; font-size: 10.5pt; line-height: 1.6; color: #1a1a1a; margin: 0; }
.head { position: relative; height: 96mm; }
.lh { position: absolute; left: 0; top: 11mm; border-left: 2.2mm solid #9b1c1c; padding-left: 3mm; }
.lh .n { font-size: 16pt; font-weight: 700; line-height: 1.3; }
.lh .s { font-size: 8.5pt; color: #5c5c5c; line-height: 1.6; }
.rule { position: absolute; left: 0; right: 0; top: 36mm; border-top: 0.8pt solid #1a1a1a; }
.win { position: absolute; left: -5mm; top: 45mm; width: 85mm; height: 45mm; padding: 0 5mm; box-sizing: border-box; }
.win .ret { font-size: 7pt; color: #5c5c5c; margin-top: 2mm; border-bottom: 0.3pt solid #8c8c8c; white-space: nowrap; overflow: hidden; }
.win .reg { font-size: 9pt; font-weight: 700; margin-top: 3mm; }
.win .addr { position: absolute; top: 17.7mm; font-size: 10pt; line-height: 1.25; }
.info { position: absolute; left: 100mm; top: 50mm; font-size: 9pt; line-height: 1.55; }
h1.t { text-align: center; font-size: 15pt; margin: 0 0 4mm; }
h2 { font-size: 13pt; margin: 6pt 0 2pt; } h3 { font-size: 11.5pt; margin: 4pt 0 2pt; }
p { margin: 0 0 0.35em; text-indent: 2em; }
table { width: 100%; border-collapse: collapse; font-size: 9pt; line-height: 1.45; margin: 2pt 0 8pt; }
th, td { border: 0.5pt solid #8c8c8c; padding: 2.5pt 3pt; text-align: left; }
thead { display: table-header-group; } tr { break-inside: avoid; }
th { background: #ececec; }
.sig { margin: 2mm 0 0 90mm; break-inside: avoid; }
.sig .n { font-weight: 700; font-size: 11pt; } .sig .m { font-size: 9pt; color: #5c5c5c; }
.att { break-before: page; } .att .l { font-size: 9pt; color: #5c5c5c; }
`;

/** Builds the HTML document and the Chromium footer template for `input`. */
export async function letterHtml(input: LetterInput): Promise<{ html: string; footerTemplate: string }> {
  const zh = input.locale === 'zh-CN';
  const r = input.recipient;
  const addr = (
    zh
      ? [r.postcode ?? '', ...r.addressLines, `<b>${esc(r.name)} 收</b>`]
      : [`<b>${esc(r.name)}</b>`, ...r.addressLines, r.postcode ?? '']
  )
    .filter(Boolean)
    .map((l) => (l.startsWith('<b>') ? l : esc(l)))
    .join('<br>');
  const bank = input.bank;
  const date = input.date;
  const qrSvg = await QRCode.toString(input.verifyUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  const digest = bodyDigest(input).slice(0, 16);
  const html = `<!doctype html><html lang="${input.locale}"><head><meta charset="utf-8"><title>${esc(input.title)}</title><style>${CSS}</style></head><body>
<div class="head">
  <div class="lh"><div class="n">${esc(bank.name)}</div><div class="s">${esc([...bank.addressLines, bank.postcode ?? ''].join('  '))}<br>客服电话：${esc(bank.phone)}  ${esc(bank.website ?? '')}</div></div>
  <div class="rule"></div>
  <div class="win"><div class="ret">${esc([bank.name, ...bank.addressLines, bank.postcode ?? ''].join(' '))}</div><div class="reg">${zh ? '挂号信' : 'REGISTERED MAIL'}</div><div class="addr">${addr}</div></div>
  <div class="info"><b>案件编号：</b>${esc(input.caseId)}<br><b>文书编号：</b>${esc(input.documentId)}<br><b>日期：</b>${esc(date)}</div>
</div>
<h1 class="t">${esc(input.title)}</h1>
${blocks(parseMarkdown(input.bodyMarkdown))}
<div class="sig"><div class="n">${esc(bank.name)}</div><div class="m">（盖章）</div><div>${esc(date)}</div></div>
${(input.attachments ?? [])
  .map(
    (a, i) =>
      `<div class="att"><div class="l">附件${i + 1}</div><h1 class="t">${esc(a.title)}</h1>${blocks(parseMarkdown(a.bodyMarkdown))}</div>`,
  )
  .join('\n')}
</body></html>`;
  const footerTemplate = `<div style="font-family:'Noto Sans SC';font-size:7.5pt;color:#5c5c5c;width:100%;margin:0 20mm 0 25mm;display:flex;justify-content:space-between;align-items:flex-end;-webkit-print-color-adjust:exact">
<div>文书编号：${esc(input.documentId)}\u3000正文 SHA-256：${digest}<br>扫描二维码或访问 ${esc(input.verifyUrl)} 核验本文书<br><span style="font-size:8.5pt;color:#1a1a1a">第 <span class="pageNumber"></span> 页 共 <span class="totalPages"></span> 页</span></div>
<div style="width:20mm;height:20mm">${qrSvg.replace('<svg ', '<svg width="20mm" height="20mm" ')}</div></div>`;
  return { html, footerTemplate };
}
