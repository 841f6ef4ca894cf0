import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { staticPage } from '../static-page.js';
import { Public } from '../../auth/scopes.js';

const files = staticPage(import.meta.url, 'legal', { html: 'legal.html', js: 'legal.js' });

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; " +
  "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The legal team's page (plain HTML + one vanilla JS file, no build): find a case, see its
 * timeline and eligibility, check its chain, download its evidence bundle. The page itself is
 * public; its API calls carry the API key (evidence:read) the user enters, kept in sessionStorage.
 */
@Public()
@ApiExcludeController()
@Controller('legal')
export class LegalPageController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', CSP)
  @Header('Cache-Control', 'no-cache')
  page(): string {
    return files().html;
  }

  @Get('legal.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  script(): string {
    return files().js;
  }
}
