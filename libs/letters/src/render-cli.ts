/**
 * Renders letters in this process and prints the SHA-256 of each PDF, one per line (used by the determinism test
 * to compare renders in fresh processes). Usage: `node dist/libs/letters/src/render-cli.js FILE.json [OUT.pdf]`,
 * FILE.json holding an array of LetterInput rendered in order; OUT.pdf receives the last one.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { renderLetterPdf } from './render.js';
import type { LetterInput } from './types.js';

const [file, out] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: render-cli FILE.json [OUT.pdf]\n');
  process.exit(2);
}
const inputs = JSON.parse(readFileSync(file, 'utf8')) as LetterInput[];
let last: Buffer | undefined;
for (const input of inputs) {
  last = await renderLetterPdf(input);
  process.stdout.write(`${createHash('sha256').update(last).digest('hex')}\n`);
}
if (out && last) writeFileSync(out, last);
