import { describe, expect, it } from '@jest/globals';
import { diffDefinitions, diffLines, formatDiff } from './diff.js';
import { partialClosure, partialReferences } from './template-store.service.js';

describe('diffLines', () => {
  it('keeps common lines and marks removed and added ones in order', () => {
    expect(diffLines('a\nb\nc\nd', 'a\nx\nc\nd\ne')).toEqual([
      { op: ' ', text: 'a' },
      { op: '+', text: 'x' },
      { op: '-', text: 'b' },
      { op: ' ', text: 'c' },
      { op: ' ', text: 'd' },
      { op: '+', text: 'e' },
    ]);
    expect(diffLines('', 'a')).toEqual([{ op: '+', text: 'a' }]);
    expect(diffLines('same', 'same')).toEqual([{ op: ' ', text: 'same' }]);
  });

  it('diffs definitions field by field and formats them with context', () => {
    const a = { parts: { sms: 'hello\nworld' }, schema: { type: 'object' } };
    const b = { parts: { sms: 'hello\nthere' }, schema: { type: 'object' }, description: 'new' };
    const d = diffDefinitions(a, b);
    expect(d.map((x) => [x.field, x.change])).toEqual([
      ['parts.sms', 'changed'],
      ['description', 'added'],
    ]);
    expect(formatDiff(d)).toContain('@@ parts.sms (changed)\n hello\n+there\n-world');
  });
});

describe('partialClosure', () => {
  it('collects the partials a definition uses, transitively, and ignores unknown ones', () => {
    expect(partialReferences('{{> a}} {{#> layout}}x{{/layout}} {{~> c-d }}')).toEqual([
      'a',
      'layout',
      'c-d',
    ]);
    const lib = { a: 'A {{> b}}', b: 'B', layout: '{{> @partial-block}}', unused: 'U' };
    expect(partialClosure({ parts: { sms: '{{> a}} {{> missing}}' } }, lib)).toEqual({
      a: 'A {{> b}}',
      b: 'B',
    });
  });
});
