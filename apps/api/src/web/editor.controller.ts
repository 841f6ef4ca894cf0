import { Controller, Get, Header } from '@nestjs/common';
import { staticPage } from './static-page.js';
import { Public } from '../auth/scopes.js';

const files = staticPage(import.meta.url, '', { html: 'editor.html', js: 'editor.js' });

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; " +
  "img-src 'self' data: blob:; frame-src 'self' blob: data:; object-src 'self' blob:; base-uri 'none'; form-action 'none'; " +
  // Never inside another site's frame (clickjacking of approve/publish).
  "frame-ancestors 'none'";

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
}
