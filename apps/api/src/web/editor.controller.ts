import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../auth/scopes.js';

const FILES = { html: 'editor.html', js: 'editor.js' } as const;

/**
 * The static files live next to this source file (`static/`). The compiled controller runs from
 * `dist/apps/api/src/web/`, where tsc does not copy them, so the source folder is looked up too.
 */
function staticDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    join(here, 'static'),
    join(here, '..', '..', '..', '..', '..', 'apps', 'api', 'src', 'web', 'static'),
    join(process.cwd(), 'apps', 'api', 'src', 'web', 'static'),
  ];
  const found = candidates.find((d) => existsSync(join(d, FILES.html)));
  if (!found) throw new Error(`editor files not found (looked in ${candidates.join(', ')})`);
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
  "img-src 'self' data: blob:; frame-src 'self' blob: data:; object-src 'self' blob:; base-uri 'none'; form-action 'none'";

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
