import { describe, expect, it } from '@jest/globals';
import { type NdjsonLine, ndjsonLines } from './batch.controller.js';

async function collect(chunks: (string | Buffer)[], max: number): Promise<NdjsonLine[]> {
  async function* source() {
    for (const c of chunks) yield typeof c === 'string' ? Buffer.from(c) : c;
  }
  const out: NdjsonLine[] = [];
  for await (const l of ndjsonLines(source(), max)) out.push(l);
  return out;
}

describe('ndjsonLines', () => {
  it('splits on newlines across chunk boundaries, strips CR, keeps a last line without newline', async () => {
    expect(await collect(['{"a":', '1}\r\n{"b"', ':2}\n\n{"c":3}'], 100)).toEqual([
      { n: 1, text: '{"a":1}' },
      { n: 2, text: '{"b":2}' },
      { n: 3, text: '' },
      { n: 4, text: '{"c":3}' },
    ]);
  });

  it('decodes a multi-byte character split between chunks', async () => {
    const bytes = Buffer.from('{"name":"张三"}\n');
    expect(await collect([bytes.subarray(0, 11), bytes.subarray(11)], 100)).toEqual([
      { n: 1, text: '{"name":"张三"}' },
    ]);
  });

  it('reports an over-long line once, as soon as it passes the cap, and resumes at the next line', async () => {
    const out = await collect(['x'.repeat(8), 'y'.repeat(8), 'z'.repeat(8), '\nok\n'], 10);
    expect(out).toEqual([
      { n: 1, tooLarge: true },
      { n: 2, text: 'ok' },
    ]);
    // Exactly at the cap is allowed; one byte over is not.
    expect(await collect(['0123456789\n01234567890\n'], 10)).toEqual([
      { n: 1, text: '0123456789' },
      { n: 2, tooLarge: true },
    ]);
  });

  it('an over-long last line without newline is reported and not yielded as text', async () => {
    expect(await collect(['a\n', 'b'.repeat(50)], 10)).toEqual([
      { n: 1, text: 'a' },
      { n: 2, tooLarge: true },
    ]);
  });
});
