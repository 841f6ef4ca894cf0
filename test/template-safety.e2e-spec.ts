/**
 * Issue 13, template safety and third-party/locale correctness, against the built API in
 * standalone mode (the dispatchers share its event loop): the ReDoS and nested-each previews
 * while /health/live is measured, the contact's SMS signature, the English SMS sender and size.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { smsSegments } from '#libs/templates';
import { phoneFor, smsBody, type Stack, startStack } from './support/fixtures.js';
import { waitFor } from './support/infra.js';

type Json = Record<string, unknown>;

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
}

/** Polls /health/live back to back until `done` resolves; returns each latency in ms. */
async function measureLive(baseUrl: string, done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  void done.finally(() => (finished = true));
  const samples: number[] = [];
  while (!finished || samples.length < 50) {
    const t0 = performance.now();
    const res = await fetch(`${baseUrl}/health/live`);
    await res.arrayBuffer();
    samples.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  return samples;
}

const redosPreview = {
  definition: {
    key: 'early.sms.redos',
    locale: 'zh-CN',
    stage: 'early',
    channel: 'sms',
    audience: 'debtor',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { code: { type: 'string', pattern: '^(a+)+$' } },
    },
    exampleData: { code: 'aaa' },
    parts: { sms: '编号{{code}}。回复TD退订' },
  },
  // 34 characters: a backtracking engine needs ~2^33 steps to refuse this.
  data: { code: `${'a'.repeat(33)}!` },
};

const items = Array.from({ length: 400 }, (_, i) => i);
const nestedEachPreview = {
  definition: {
    key: 'early.sms.loops',
    locale: 'zh-CN',
    stage: 'early',
    channel: 'sms',
    audience: 'debtor',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { items: { type: 'array', items: { type: 'integer' } } },
    },
    exampleData: { items: [1] },
    parts: {
      sms: '{{#each items}}{{#each @root.items}}{{#each @root.items}}x{{/each}}{{/each}}{{/each}}回复TD退订',
    },
  },
  data: { items },
};

async function preview(
  baseUrl: string,
  body: unknown,
): Promise<{ status: number; type: string; body: Json }> {
  const res = await fetch(`${baseUrl}/v1/templates/preview`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: (await res.json()) as Json,
  };
}

describe('template safety (standalone, built API)', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ mode: 'standalone' });
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('a ReDoS schema pattern and three nested #each over 400 items get 422 while /health/live stays under 50 ms p99', async () => {
    const attacks = (async () => {
      const out: { status: number; type: string; body: Json }[] = [];
      for (let round = 0; round < 5; round++) {
        out.push(
          ...(await Promise.all([
            preview(stack.baseUrl, redosPreview),
            preview(stack.baseUrl, nestedEachPreview),
          ])),
        );
      }
      return out;
    })();
    const [results, samples] = await Promise.all([attacks, measureLive(stack.baseUrl, attacks)]);

    for (const [i, r] of results.entries()) {
      expect(r.status).toBe(422);
      expect(r.type).toContain('application/problem+json');
      if (i % 2 === 0) {
        expect(r.body.errors).toEqual([{ path: 'data.code', message: 'must match pattern "^(a+)+$"' }]);
      } else {
        expect(r.body.title).toBe('Template exceeds the rendering limits');
        expect(JSON.stringify(r.body.errors)).toContain('TEMPLATE_MAX_ITERATIONS');
      }
    }
    const worst = p99(samples);
    console.log(`/health/live during the attacks: ${samples.length} samples, p99 ${worst.toFixed(1)} ms`);
    expect(worst).toBeLessThan(50);
  }, 120_000);

  it('signs the contact SMS with the neutral sender name, in both locales', async () => {
    for (const [i, locale] of (['zh-CN', 'en'] as const).entries()) {
      const phone = phoneFor(9100 + i);
      const res = await stack.post(
        {
          caseId: `C-TP-${i}`,
          channel: 'sms',
          templateKey: 'early.sms.third_party',
          locale,
          recipient: {
            role: 'contact',
            name: locale === 'en' ? 'Wang Wu' : '王五',
            phone,
            timeZone: 'Asia/Shanghai',
          },
          data: { customerName: locale === 'en' ? 'Zhang San' : '张三' },
        },
        `k-tp-${i}`,
      );
      expect(res.status).toBe(202);
      const [msg] = await waitFor(
        `the SMS to ${phone}`,
        async () => {
          const m = stack.emulator.messages({ to: phone });
          return m.length ? m : undefined;
        },
        20_000,
      );
      if (locale === 'zh-CN') expect(msg.body.startsWith('【示例银行】')).toBe(true);
      else expect(msg.body.startsWith('Example Bank:')).toBe(true);
      expect(msg.body).not.toMatch(/信用卡|卡中心|credit|card|debt|overdue/i);
    }
  }, 60_000);

  it('sends English SMS with BANK_NAME_EN, GSM-7, in at most 2 segments', async () => {
    const phone = phoneFor(9200);
    const body = smsBody('C-EN-1', phone, 'en');
    const res = await stack.post({ ...body, recipient: { ...body.recipient, name: 'Zhang San' } }, 'k-en-1');
    expect(res.status).toBe(202);
    const [msg] = await waitFor(
      `the SMS to ${phone}`,
      async () => {
        const m = stack.emulator.messages({ to: phone });
        return m.length ? m : undefined;
      },
      20_000,
    );
    expect(msg.body.startsWith('Example Bank Credit Card Center:')).toBe(true);
    expect(msg.body).not.toMatch(/\p{Script=Han}/u);
    expect(smsSegments(msg.body)).toMatchObject({ encoding: 'GSM-7' });
    expect(smsSegments(msg.body).segments).toBeLessThanOrEqual(2);
  }, 60_000);

  it('lint reports an English SMS that renders Chinese and runs to 4-5 segments', async () => {
    const r = await preview(stack.baseUrl, {
      definition: {
        key: 'early.sms.mixed',
        locale: 'en',
        stage: 'early',
        channel: 'sms',
        audience: 'debtor',
        schema: { type: 'object', additionalProperties: false, properties: {} },
        exampleData: {},
        parts: {
          sms: '示例银行信用卡中心: Dear {{@recipientName}}, your payment is now due. Pay through mobile or online banking, at a branch, or call {{@bank.phone}} if you need help with a plan. Thank you for reading this message; we are here to help you find a way through. Reply STOP to opt out.',
        },
      },
    });
    expect(r.status).toBe(200);
    const findings = r.body.findings as { ruleId: string; severity: string; message: string }[];
    expect(findings.find((f) => f.ruleId === 'locale-mixed-script')).toMatchObject({ severity: 'error' });
    expect(findings.find((f) => f.ruleId === 'sms-segment-limit')?.message).toMatch(
      /needs [45] UCS-2 segments/,
    );
  });
});
