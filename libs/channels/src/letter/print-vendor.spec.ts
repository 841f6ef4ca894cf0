import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ProviderError } from '#libs/core';
import type { OutboundMessage } from '../provider.js';
import { PrintVendorProvider } from './print-vendor.js';

// Error classification and request shape with a stub fetch; the flows against the emulator are in
// test/emulators/print-vendor.e2e-spec.ts.

function message(id = 'notif-1'): OutboundMessage {
  const pdf = Buffer.from(`%PDF-1.7\n% ${id}\n%%EOF\n`);
  return {
    notificationId: id,
    channel: 'letter',
    to: 'k',
    webhookBaseUrl: 'https://svc.example/webhooks',
    letter: {
      documentId: 'DOC-1',
      pdf,
      pdfSha256: createHash('sha256').update(pdf).digest('hex'),
      recipientName: '张三',
      address: {
        country: 'CN',
        province: '广东省',
        city: '深圳市',
        district: '南山区',
        street: '科技园路18号',
        postcode: '518057',
      },
      service: 'registered',
    },
  };
}

interface Call {
  url: string;
  init: RequestInit;
}

function stub(respond: (call: Call) => Response | Promise<Response>): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const f = (async (url: string | URL | Request, init?: RequestInit) => {
    const call = { url: String(url), init: init ?? {} };
    calls.push(call);
    return respond(call);
  }) as typeof fetch;
  return { fetch: f, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

function provider(f: typeof fetch, timeoutMs = 1000) {
  return new PrintVendorProvider({
    apiBaseUrl: 'https://vendor.example/',
    apiKey: 'sk_live_1',
    timeoutMs,
    fetch: f,
  });
}

async function sendError(p: PrintVendorProvider): Promise<ProviderError> {
  try {
    await p.send(message());
  } catch (err) {
    if (err instanceof ProviderError) return err;
    throw err;
  }
  throw new Error('send did not fail');
}

describe('PrintVendorProvider (stub fetch)', () => {
  it('posts the documented request with Idempotency-Key and Bearer key', async () => {
    const s = stub(() =>
      json(201, { id: 'ltr_1', status: 'accepted', createdAt: '2026-03-01T08:00:00.000Z' }),
    );
    const res = await provider(s.fetch).send(message());
    expect(res.providerMessageId).toBe('ltr_1');
    expect(res.acceptedAt.toISOString()).toBe('2026-03-01T08:00:00.000Z');
    const call = s.calls[0]!;
    expect(call.url).toBe('https://vendor.example/v1/letters');
    const headers = call.init.headers as Record<string, string>;
    expect(headers['Idempotency-Key']).toBe('notif-1');
    expect(headers.Authorization).toBe('Bearer sk_live_1');
    const body = JSON.parse(call.init.body as string) as Record<string, unknown>;
    expect(body).toMatchObject({
      reference: 'notif-1',
      documentId: 'DOC-1',
      service: 'registered',
      recipient: {
        name: '张三',
        addressLines: ['广东省深圳市南山区', '科技园路18号'],
        postcode: '518057',
        country: 'CN',
      },
      callbackUrl: 'https://svc.example/webhooks/print-vendor',
      pdfSha256: message().letter!.pdfSha256,
    });
    expect(Buffer.from(body.pdf as string, 'base64').equals(message().letter!.pdf)).toBe(true);
    // The evidence copy of the request has the hash, not the PDF bytes, and no key.
    expect(JSON.stringify(res.request)).not.toContain('sk_live_1');
    expect(res.request).not.toHaveProperty('pdf');
  });

  it('4xx is final, 409 in-progress / 429 / 5xx are retryable with the status', async () => {
    const cases: Array<[Response, boolean, number]> = [
      [json(400, { error: { code: 'invalid_request', message: 'bad' } }), false, 400],
      [json(422, { error: { code: 'invalid_address' } }), false, 422],
      [json(409, { error: { code: 'idempotency_in_progress' } }), true, 409],
      [json(409, { error: { code: 'conflict' } }), false, 409],
      [json(429, { error: { code: 'rate_limited' } }, { 'retry-after': '2' }), true, 429],
      [new Response('gateway', { status: 502 }), true, 502],
      [json(503, {}), true, 503],
    ];
    for (const [response, retryable, status] of cases) {
      const err = await sendError(provider(stub(() => response).fetch));
      expect([err.retryable, err.extra.httpStatus]).toEqual([retryable, status]);
    }
    const limited = await sendError(provider(stub(() => json(429, {}, { 'retry-after': '2' })).fetch));
    expect(limited.extra.retryAfterMs).toBe(2000);
  });

  it('connection errors and timeouts are retryable with httpStatus null (ambiguous)', async () => {
    const refused = await sendError(
      provider(
        stub(() => {
          throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
        }).fetch,
      ),
    );
    expect(refused).toMatchObject({
      retryable: true,
      extra: { httpStatus: null, ambiguous: true, providerCode: 'ECONNREFUSED' },
    });

    const hanging = stub(
      (call) =>
        new Promise<Response>((_, reject) =>
          call.init.signal?.addEventListener('abort', () => reject(call.init.signal?.reason)),
        ),
    );
    const started = Date.now();
    const timedOut = await sendError(provider(hanging.fetch, 50));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(timedOut).toMatchObject({ retryable: true, extra: { httpStatus: null, providerCode: 'timeout' } });

    const garbled = await sendError(provider(stub(() => new Response('<html>', { status: 201 })).fetch));
    expect(garbled).toMatchObject({ retryable: true, extra: { httpStatus: null, responseStatus: 201 } });
  });

  it('refuses bad letters before calling the vendor', async () => {
    const s = stub(() => json(201, { id: 'x', createdAt: new Date().toISOString() }));
    const p = provider(s.fetch);
    const m = message();
    await expect(p.send({ ...m, letter: { ...m.letter!, pdfSha256: 'f'.repeat(64) } })).rejects.toMatchObject(
      {
        retryable: false,
        extra: { providerCode: 'pdf_hash_mismatch' },
      },
    );
    await expect(
      p.send({ ...m, letter: { ...m.letter!, address: { ...m.letter!.address, postcode: '100022' } } }),
    ).rejects.toMatchObject({ retryable: false, extra: { providerCode: 'invalid_address' } });
    await expect(p.send({ ...m, letter: undefined })).rejects.toMatchObject({ retryable: false });
    expect(s.calls).toHaveLength(0);
  });

  it('poll maps 404 to null and the latest event to a receipt; findSent matches the reference', async () => {
    const letter = {
      id: 'ltr_9',
      reference: 'notif-1',
      documentId: 'DOC-1',
      service: 'registered',
      status: 'returned',
      pdfSha256: 'a'.repeat(64),
      createdAt: '2026-03-01T08:00:00Z',
      events: [
        {
          id: 'e1',
          type: 'mailed',
          letterId: 'ltr_9',
          reference: 'notif-1',
          occurredAt: '2026-03-02T08:00:00Z',
        },
        {
          id: 'e2',
          type: 'returned',
          letterId: 'ltr_9',
          reference: 'notif-1',
          occurredAt: '2026-03-05T08:00:00Z',
          returnReason: 'unclaimed',
        },
      ],
    };
    const s = stub((call) => {
      if (call.url.endsWith('/v1/letters/ltr_9')) return json(200, letter);
      if (call.url.includes('reference=notif-1')) return json(200, { data: [letter] });
      if (call.url.includes('reference=')) return json(200, { data: [] });
      return json(404, { error: { code: 'not_found' } });
    });
    const p = provider(s.fetch);
    expect(await p.poll('ltr_nope', message())).toBeNull();
    expect(await p.poll('ltr_9', message())).toMatchObject({
      outcome: 'undelivered',
      postEvent: 'returned',
      returnReason: 'unclaimed',
      notificationId: 'notif-1',
    });
    expect((await p.findSent(message(), new Date()))?.providerMessageId).toBe('ltr_9');
    expect(await p.findSent(message('notif-2'), new Date())).toBeNull();
  });
});
