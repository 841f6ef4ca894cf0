import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Controller, Get, Header, Param } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import { NotFoundError } from '#libs/core';
import { staticPage } from './static-page.js';
import { Public } from '../auth/scopes.js';

const files = staticPage(import.meta.url, '', { html: 'editor.html', js: 'editor.js' });

const CSP =
  "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; " +
  "img-src 'self' data: blob:; font-src 'self' data:; frame-src 'self' blob: data:; object-src 'self' blob:; base-uri 'none'; form-action 'none'; " +
  // Never inside another site's frame (clickjacking of approve/publish).
  "frame-ancestors 'none'";

/**
 * pdf.js (npm `pdfjs-dist`, the browser build) draws the letter previews to canvases in the page:
 * the PDF is rendered by the service (libs/letters), only its pixels are drawn in the browser, and
 * no system binary sits in the request path. The two module files are served from node_modules.
 */
const PDFJS_FILES = new Set(['pdf.min.mjs', 'pdf.worker.min.mjs']);
const pdfjsCache = new Map<string, string>();

function pdfjsFile(name: string): string {
  let text = pdfjsCache.get(name);
  if (text === undefined) {
    const root = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));
    text = readFileSync(join(root, 'build', name), 'utf8');
    pdfjsCache.set(name, text);
  }
  return text;
}

/**
 * The template editor page (plain HTML + one vanilla JS file); its API calls carry the API key
 * given on the page, whose name is the acting user.
 */
@Public()
@Controller('editor')
export class EditorController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', CSP)
  @Header('Cache-Control', 'no-cache')
  page(): string {
    return files().html;
  }

  @Get('editor.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  script(): string {
    return files().js;
  }

  @Get('pdfjs/:file')
  @ApiExcludeEndpoint()
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=86400')
  pdfjs(@Param('file') file: string): string {
    if (!PDFJS_FILES.has(file)) throw new NotFoundError(`No pdf.js file ${file}`);
    return pdfjsFile(file);
  }
}
