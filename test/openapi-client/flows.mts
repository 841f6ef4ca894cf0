/**
 * A caller's program written against the client generated from the committed openapi.json
 * (`openapi-typescript` types + `openapi-fetch`): the README's flows. test/openapi-client.e2e-spec.ts
 * copies it next to the generated `api.d.ts`, type-checks and compiles it with tsc, and runs it
 * against the service. Not part of the project build (`.mts`): it only compiles next to `api.d.ts`.
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './api.js';

type Notification = components['schemas']['Notification'];
type Problem = components['schemas']['Problem'];

export interface FlowResult {
  keyName: string;
  created: Notification;
  replayed: string | null;
  delivered: Notification;
  pages: { items: number; next: string | null }[];
  evidence: { events: number; verified: boolean; next: string | null; secondPage: number };
  cancelled: Notification;
  templates: string[];
  notFound: Problem;
  notFoundType: { title: string; status: number[] };
}

function must<T>(r: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (r.data === undefined) {
    throw new Error(`${what}: ${r.response.status} ${JSON.stringify(r.error)}`);
  }
  return r.data;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runFlows(opts: {
  baseUrl: string;
  adminKey: string;
  caseId: string;
  middleware?: Middleware;
}): Promise<FlowResult> {
  const admin = createClient<paths>({
    baseUrl: opts.baseUrl,
    headers: { authorization: `Bearer ${opts.adminKey}` },
  });
  if (opts.middleware) admin.use(opts.middleware);

  // 1. A key for the calling service (admin only): the secret is answered once.
  const newKey = must(
    await admin.POST('/v1/admin/api-keys', {
      body: {
        name: `client-${opts.caseId}`,
        scopes: ['notifications:send', 'notifications:read', 'evidence:read', 'templates:edit'],
      },
    }),
    'create key',
  );
  const api = createClient<paths>({
    baseUrl: opts.baseUrl,
    headers: { authorization: `Bearer ${newKey.key}` },
  });
  if (opts.middleware) api.use(opts.middleware);

  // 2. Send a notice (with an Idempotency-Key), and repeat it: the first result again.
  const body: components['schemas']['ExplicitNotification'] = {
    caseId: opts.caseId,
    channel: 'sms',
    templateKey: 'early.sms.reminder',
    locale: 'zh-CN',
    recipient: { role: 'debtor', name: '张三', phone: '+8613800138000', timeZone: 'Asia/Shanghai' },
    data: { amountDue: '12345.67', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
  };
  const headers = { 'Idempotency-Key': `demo-${opts.caseId}` };
  const created = must(await api.POST('/v1/notifications', { body, params: { header: headers } }), 'send');
  const again = await api.POST('/v1/notifications', { body, params: { header: headers } });
  const replayed = again.response.headers.get('Idempotent-Replayed');
  if (must(again, 'replay').id !== created.id) throw new Error('the replay made another notification');

  // 3. Its status, pinned template and events, until the sandbox receipt arrives.
  let delivered = created;
  for (let i = 0; i < 100 && delivered.status !== 'delivered'; i++) {
    await sleep(50);
    delivered = must(
      await api.GET('/v1/notifications/{id}', { params: { path: { id: created.id } } }),
      'get',
    );
  }

  // 4. Two more in the case, then the case's list a page of two at a time, following `next`.
  for (const phone of ['+8613800138001', '+8613800138002']) {
    must(
      await api.POST('/v1/notifications', { body: { ...body, recipient: { ...body.recipient, phone } } }),
      'send more',
    );
  }
  const pages: FlowResult['pages'] = [];
  let cursor: string | undefined;
  do {
    const page = must(
      await api.GET('/v1/notifications', {
        params: { query: { caseId: opts.caseId, limit: 2, ...(cursor ? { cursor } : {}) } },
      }),
      'list',
    );
    pages.push({ items: page.items.length, next: page.next });
    cursor = page.next ?? undefined;
  } while (cursor && pages.length < 10);

  // 5. The case's evidence chain: the first page carries the verification of the whole chain.
  const first = must(
    await api.GET('/v1/cases/{caseId}/evidence', {
      params: { path: { caseId: opts.caseId }, query: { limit: 5 } },
    }),
    'evidence',
  );
  const second = first.next
    ? must(
        await api.GET('/v1/cases/{caseId}/evidence', {
          params: { path: { caseId: opts.caseId }, query: { limit: 5, cursor: first.next } },
        }),
        'evidence page 2',
      )
    : null;

  // 6. Cancel a notice the contact window defers (night in London at 02:00 UTC).
  const deferred = must(
    await api.POST('/v1/notifications', {
      body: { ...body, recipient: { ...body.recipient, phone: '+8613800138003', timeZone: 'Europe/London' } },
    }),
    'send deferred',
  );
  const cancelled = must(
    await api.POST('/v1/notifications/{id}/cancel', {
      params: { path: { id: deferred.id } },
      body: { reason: 'paid in full' },
    }),
    'cancel',
  );

  // 7. The templates (a page).
  const templates = must(await api.GET('/v1/templates', { params: { query: { limit: 100 } } }), 'templates');

  // 8. An error is a typed problem whose `type` resolves.
  const missing = await api.GET('/v1/notifications/{id}', {
    params: { path: { id: '00000000-0000-4000-8000-000000000000' } },
  });
  if (!missing.error) throw new Error('an unknown notification was found');
  const notFound: Problem = missing.error;
  const code = notFound.code;
  const typeOf = must(
    await api.GET('/problems/{code}', {
      params: { path: { code } },
      headers: { accept: 'application/json' },
    }),
    'problem type',
  );
  // The operation answers HTML or JSON: the JSON one was asked for.
  if (typeof typeOf === 'string')
    throw new Error('GET /problems/{code} answered HTML to Accept: application/json');

  return {
    keyName: newKey.name,
    created,
    replayed,
    delivered,
    pages,
    evidence: {
      events: first.events.length,
      verified: first.verification?.ok === true,
      next: first.next,
      secondPage: second?.events.length ?? 0,
    },
    cancelled,
    templates: templates.items.map((t) => `${t.key}/${t.locale}`),
    notFound,
    notFoundType: { title: typeOf.title, status: typeOf.status },
  };
}
