import { describe, expect, it } from '@jest/globals';
import { lintTemplate, sampleContext } from '../lint.js';
import { loadTemplatePack } from '../pack.js';
import type { TemplateDefinition } from '../types.js';
import { previewTemplate } from './preview.js';

const pack = loadTemplatePack('templates');
const early = pack.find((d) => d.key === 'early.sms.reminder' && d.locale === 'zh-CN') as TemplateDefinition;

function preview(def: TemplateDefinition, smsProviders: ('aliyun' | 'tencent')[]) {
  const ctx = sampleContext('zh-CN');
  const findings = lintTemplate(def, { smsProviders, smsVariableMaxLength: { tencent: 35 } });
  return previewTemplate(def, def.exampleData, ctx, findings, undefined, smsProviders).registrations;
}

/** Issue 16: the editor shows each gateway's registration of an SMS and whether it fits. */
describe('preview registration status', () => {
  it('lists every registration; only the configured gateways are checked', () => {
    expect(preview(early, [])).toEqual([
      expect.objectContaining({
        kind: 'aliyun',
        templateCode: 'SMS_4802150',
        configured: false,
        problems: [],
      }),
      expect.objectContaining({ kind: 'tencent', templateCode: '2193844', configured: false, problems: [] }),
    ]);
    expect(preview(early, ['aliyun', 'tencent'])!.map((r) => [r.kind, r.configured, r.problems])).toEqual([
      ['aliyun', true, []],
      ['tencent', true, []],
    ]);
  });

  it('says which configured gateway has no registration, and where a registered text drifted', () => {
    const noTencent = { ...early, registrations: early.registrations?.filter((r) => r.kind !== 'tencent') };
    const [, tencent] = preview(noTencent, ['aliyun', 'tencent'])!;
    expect(tencent).toMatchObject({ kind: 'tencent', templateCode: null, configured: true });
    expect(tencent.problems.join()).toContain('sms-registration-missing');

    const edited = {
      ...early,
      parts: { sms: early.parts.sms!.replace('如已还款请忽略。', '如已还款请忽略本短信。') },
    };
    const [aliyun] = preview(edited, ['aliyun'])!;
    expect(aliyun.problems).toEqual([
      expect.stringMatching(/^sms-registration-mismatch: .*at character \d+/),
    ]);
  });
});
