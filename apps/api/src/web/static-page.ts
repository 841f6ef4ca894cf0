import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Loads a page's HTML and JS (once) from a `static/` folder next to the controller's source.
 * The compiled controller runs from `dist/apps/api/src/web/...`, where tsc does not copy them, so
 * the source folder (from the repository root or the working directory) is looked up too.
 */
export function staticPage(
  controllerUrl: string,
  webSubdir: string,
  files: { html: string; js: string },
): () => { html: string; js: string } {
  let cache: { html: string; js: string } | undefined;
  return () => {
    if (cache) return cache;
    const here = fileURLToPath(new URL('.', controllerUrl));
    const rel = ['apps', 'api', 'src', 'web', ...(webSubdir ? [webSubdir] : []), 'static'];
    const candidates = [join(here, 'static'), join(process.cwd(), ...rel)];
    // From dist/apps/api/src/web[/sub]/ up to the repository root.
    let up = here;
    for (let i = 0; i < 8; i++) {
      up = join(up, '..');
      candidates.push(join(up, ...rel));
    }
    const dir = candidates.find((d) => existsSync(join(d, files.html)));
    if (!dir) throw new Error(`${files.html} not found (looked in ${candidates.join(', ')})`);
    cache = {
      html: readFileSync(join(dir, files.html), 'utf8'),
      js: readFileSync(join(dir, files.js), 'utf8'),
    };
    return cache;
  };
}
