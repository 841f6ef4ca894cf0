import { afterAll, describe, expect, it } from '@jest/globals';
import { TemplateDataError } from '#libs/core';
import { TemplateBudgetError, TemplateRenderTimeoutError } from './budget.js';
import { sampleContext } from './lint.js';
import { TemplateRenderPool } from './render-pool.js';
import type { TemplateDefinition } from './types.js';

// The worker runs the built file (dist/libs/templates/src/render-worker.js): `npm run build` first.
const pool = new TemplateRenderPool({
  threads: 1,
  timeoutMs: 300,
  limits: { maxIterations: 5_000_000, maxOutputChars: 500_000_000 },
});
afterAll(() => pool.close());

const def = (sms: string, schema: Record<string, unknown> = { type: 'object' }): TemplateDefinition => ({
  key: 'early.sms.pool',
  locale: 'zh-CN',
  stage: 'early',
  channel: 'sms',
  audience: 'debtor',
  version: 1,
  schema,
  exampleData: {},
  parts: { sms },
});

describe('TemplateRenderPool', () => {
  it('renders on a worker and returns the message', async () => {
    const out = await pool.render(def('您好{{@recipientName}}，回复TD退订'), {}, sampleContext('zh-CN'));
    expect(out.sms).toEqual({ text: '您好张三，回复TD退订', encoding: 'UCS-2', segments: 1 });
  });

  it('brings the typed errors back across the thread boundary', async () => {
    const schema = { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' } } };
    const err = await pool
      .render(def('{{code}}', schema), { code: `${'a'.repeat(40)}!` }, sampleContext('zh-CN'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateDataError);
    expect((err as TemplateDataError).fields).toEqual([
      { path: 'data.code', message: 'must match pattern "^(a+)+$"' },
    ]);
    const strict = new TemplateRenderPool({
      threads: 1,
      limits: { maxIterations: 10, maxOutputChars: 1000 },
    });
    try {
      const loops = await strict
        .render(
          def('{{#each items}}x{{/each}}'),
          { items: Array.from({ length: 11 }, () => 1) },
          sampleContext('zh-CN'),
        )
        .catch((e: unknown) => e);
      expect(loops).toBeInstanceOf(TemplateBudgetError);
      expect((loops as TemplateBudgetError).status).toBe(422);
    } finally {
      await strict.close();
    }
  });

  it('stops a render over the time limit, answers 422 and keeps serving', async () => {
    const items = Array.from({ length: 300 }, (_, i) => i);
    const slow = def(
      '{{#each items}}{{#each @root.items}}{{#each @root.items}}xx{{/each}}{{/each}}{{/each}}',
    );
    const started = Date.now();
    const err = await pool.render(slow, { items }, sampleContext('zh-CN')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateRenderTimeoutError);
    expect((err as TemplateRenderTimeoutError).fields[0].message).toContain('TEMPLATE_RENDER_TIMEOUT_MS');
    expect(Date.now() - started).toBeLessThan(3_000);
    const out = await pool.render(def('ok 回复TD退订'), {}, sampleContext('zh-CN'));
    expect(out.sms?.text).toBe('ok 回复TD退订');
  }, 20_000);

  it('lints on a worker with the configured SMS providers (options cross the thread boundary)', async () => {
    const sms = def('【{{@bank.name}}】您好{{@recipientName}}，回复TD退订');
    expect(await pool.lint(sms, {})).toEqual([]);
    const findings = await pool.lint(sms, { smsProviders: ['tencent'] });
    expect(findings.map((f) => [f.ruleId, f.location.part])).toEqual([
      ['sms-registration-missing', 'registrations.tencent'],
    ]);
    const registered: TemplateDefinition = {
      ...sms,
      registrations: [
        {
          kind: 'tencent',
          locale: 'zh-CN',
          templateCode: '1',
          signName: '示例银行信用卡中心',
          text: '您好{1}，回复TD退订',
          params: [{ name: '1', expr: '{{@recipientName}}' }],
        },
      ],
    };
    expect(await pool.lint(registered, { smsProviders: ['tencent'] })).toEqual([]);
    expect(
      (await pool.lint(registered, { smsProviders: ['tencent'], smsVariableMaxLength: { tencent: 1 } })).map(
        (f) => f.ruleId,
      ),
    ).toEqual(['sms-registration-variable']);
  });
});
