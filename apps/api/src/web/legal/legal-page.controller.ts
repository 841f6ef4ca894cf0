import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../../auth/scopes.js';

const FILES = { html: 'legal.html', js: 'legal.js' } as const;

/**
 * The static files live in `static/` next to this source file. The compiled controller runs from
 * `dist/apps/api/src/web/legal/`, where tsc does not copy them, so the source folder is looked up too.
 */
function staticDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    join(here, 'static'),
    join(here, '..', '..', '..', '..', '..', '..', 'apps', 'api', 'src', 'web', 'legal', 'static'),
    join(process.cwd(), 'apps', 'api', 'src', 'web', 'legal', 'static'),
  ];
  const found = candidates.find((d) => existsSync(join(d, FILES.html)));
  if (!found) throw new Error(`legal page files not found (looked in ${candidates.join(', ')})`);
  return found;
}

let cache: Record<keyof typeof FILES, string> | undefined;
function files(): Record<keyof typeof FILES, string> {
  if (!cache) {
    const dir = staticDir();
    cache = {
      html: readFileSync(join(dir, FILES.html), 'utf8'),
      js: readFileSync(join(dir, FILES.js), 'utf8'),
    };
  }
  return cache;
}

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
