import { describe, expect, it } from '@jest/globals';
import { diffDefinitions, diffLines, formatDiff } from './diff.js';
import type { SmsRegistration, TemplateDefinition } from '../types.js';
import { partialClosure, partialReferences, templateContentDigest } from './template-store.service.js';

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

describe('SMS registrations in stored versions', () => {
  const reg: SmsRegistration = {
    kind: 'tencent',
    locale: 'zh-CN',
    templateCode: '2193844',
    signName: '示例银行',
    text: '您好{1}。',
    params: [{ name: '1', expr: '{{@recipientName}}' }],
  };
  const def: TemplateDefinition = {
    key: 'early.sms.x',
    locale: 'zh-CN',
    stage: 'early',
    channel: 'sms',
    audience: 'debtor',
    version: 1,
    schema: { type: 'object' },
    exampleData: {},
    parts: { sms: '您好{{@recipientName}}。' },
  };

  it('survive the JSON round trip of the store and count in the content digest', () => {
    const withReg = { ...def, registrations: [reg] };
    const stored = JSON.parse(JSON.stringify(withReg)) as TemplateDefinition;
    expect(stored.registrations).toEqual([reg]);
    expect(templateContentDigest(stored)).toBe(templateContentDigest(withReg));
    // Without registrations the digest is what it was before they existed.
    expect(templateContentDigest({ ...def, registrations: [] })).toBe(templateContentDigest(def));
    expect(templateContentDigest(withReg)).not.toBe(templateContentDigest(def));
    const changed = { ...def, registrations: [{ ...reg, templateCode: '2193845' }] };
    expect(templateContentDigest(changed)).not.toBe(templateContentDigest(withReg));
  });

  it('are diffed per provider kind', () => {
    const d = diffDefinitions(
      { ...def, registrations: [reg] },
      { ...def, registrations: [{ ...reg, text: '你好{1}。' }] },
    );
    expect(d.map((x) => [x.field, x.change])).toEqual([['registrations.tencent', 'changed']]);
    expect(formatDiff(d)).toContain('+  "text": "你好{1}。",\n-  "text": "您好{1}。",');
    expect(diffDefinitions(def, { ...def, registrations: [reg] }).map((x) => x.change)).toEqual(['added']);
  });
});
