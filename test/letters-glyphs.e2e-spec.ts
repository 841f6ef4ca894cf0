import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { waitFor } from './support/infra.js';

/*
 * Letters through the REST API on an in-process app (sandbox print provider, clock at 2026-11-24 Beijing): rare
 * name characters print through the fallback font chain (poppler finds them as text and every font embedded), the
 * envelope says the real service class, the ID mask prints as written, and what cannot be printed as asked is a
 * 422 naming the field before anything is stored.
 */

const RARE = '𠮷龘喆堃';
const LATE = {
  outstandingBalance: '23456.78',
  principal: '20000.00',
  interestAndFees: '3456.78',
  balanceAsOf: '2026-10-31',
  cardLast4: '1234',
  overdueSince: '2026-06-25',
  dpd: 128,
  repayBy: '2026-12-10',
  idNumber: '110101199001011234',
};
const MID = {
  outstandingBalance: '12345.67',
  overdueAmount: '4100.00',
  dueDate: '2026-09-01',
  cardLast4: '1234',
  dpd: 45,
};
const address = (street: string, lines?: string[]) => ({
  country: 'CN',
  province: '北京市',
  city: '北京市',
  district: '朝阳区',
  street,
  ...(lines ? { lines } : {}),
  postcode: '100020',
});

function notice(
  caseId: string,
  templateKey: string,
  name: string,
  street: string,
  data: object,
  lines?: string[],
) {
  return {
    caseId,
    channel: 'letter',
    templateKey,
    recipient: { role: 'debtor', name, address: address(street, lines), timeZone: 'Asia/Shanghai' },
    data,
  };
}

interface Problem {
  status: number;
  errors?: { path: string; message: string }[];
}

const tool = (name: string): string => {
  const path = `/usr/bin/${name}`;
  if (!existsSync(path)) throw new Error(`${path} missing: run bash scripts/install-system-deps.sh`);
  return path;
};
const run = (name: string, args: string[]): string => execFileSync(tool(name), args, { encoding: 'utf8' });
const squash = (s: string): string => s.replace(/\s+/g, '');

describe('letters: glyphs, labels, escaping and accept-time refusals (REST, in-process)', () => {
  let api: InProcessApp;
  let dir: string;

  beforeAll(async () => {
    api = await startInProcess({ dialect: 'sqlite' });
    dir = mkdtempSync(join(tmpdir(), 'letters-e2e-'));
  }, 30_000);
  afterAll(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Posts a letter, waits for its rendered PDF and returns the file path and the rendered event's payload. */
  async function rendered(
    body: object,
    name: string,
  ): Promise<{ file: string; payload: Record<string, unknown> }> {
    const res = await postJson(api.baseUrl, '/v1/notifications', body);
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    const payload = await waitFor(
      `${id} rendered`,
      async () => {
        const v = (await (await fetch(`${api.baseUrl}/v1/notifications/${id}`)).json()) as {
          events: { type: string; payload: Record<string, unknown> }[];
        };
        return v.events.find((e) => e.type === 'message.rendered')?.payload;
      },
      20_000,
    );
    const [row] = await api.db.rows<{ content: Buffer }>('SELECT content FROM artifacts WHERE sha256 = ?', [
      payload.sha256,
    ]);
    const file = join(dir, `${name}.pdf`);
    writeFileSync(file, Buffer.from(row.content));
    return { file, payload };
  }

  async function refused(body: object): Promise<Problem> {
    const before = await api.db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM notifications', []);
    const res = await postJson(api.baseUrl, '/v1/notifications', body);
    const after = await api.db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM notifications', []);
    expect(Number(after[0].n)).toBe(Number(before[0].n)); // nothing stored
    expect(res.type).toContain('application/problem+json');
    return { status: res.status, errors: res.body.errors as Problem['errors'] };
  }

  it('a late letter to 𠮷龘喆堃: every glyph is text, every font embedded, registered, ID mask as written', async () => {
    const { file, payload } = await rendered(
      notice('C-glyph-1', 'late.letter.demand', RARE, '𠮷祥路 8 号', LATE),
      'late',
    );
    expect(payload.service).toBe('registered');
    const pages = run('pdftotext', ['-enc', 'UTF-8', file, '-']).split('\f');
    const p1 = squash(pages[0]);
    expect(p1).toContain(`${RARE}收`); // the address window
    expect(p1).toContain('𠮷祥路8号');
    expect(p1).toContain(`${RARE}：`); // the salutation
    expect(p1).toContain('挂号信');
    const form = squash(pages[pages.length - 2] ?? '') + squash(pages[pages.length - 1] ?? '');
    expect(form).toContain(`本人${RARE}`); // the repayment-commitment form
    expect(form).toContain('1101**********1234');
    expect(form).not.toContain('\\*');
    const fonts = run('pdffonts', [file]).trim().split('\n').slice(2);
    expect(fonts.some((l) => /HanaMin/.test(l))).toBe(true);
    for (const line of fonts) expect(line).toMatch(/\byes\s+yes\s+yes\s+\d+\s+\d+\s*$/);
    expect(run('pdftotext', ['-enc', 'UTF-8', file, '-'])).not.toContain('\uFFFD');
  });

  it('an ordinary mid-stage letter says ordinary on the envelope, as the provider is told', async () => {
    const { file, payload } = await rendered(
      notice('C-glyph-2', 'mid.letter.notice', '王小明', '示例街道 8 号', MID),
      'mid',
    );
    expect(payload.service).toBe('ordinary');
    const p1 = squash(run('pdftotext', ['-enc', 'UTF-8', '-l', '1', file, '-']));
    expect(p1).toContain('平信');
    expect(p1).not.toContain('挂号信');
  });

  it('a character no font has is a 422 naming the field and the code point', async () => {
    const p = await refused(
      notice('C-glyph-3', 'late.letter.demand', '王\u{31350}', '示例街道\u{31351} 8 号', LATE),
    );
    expect(p.status).toBe(422);
    const byPath = new Map((p.errors ?? []).map((e) => [e.path, e.message]));
    expect(byPath.get('recipient.name')).toContain('U+31350');
    expect(byPath.get('recipient.address.street')).toContain('U+31351');
  });

  it('an email carrying a copy of the letter is checked the same way (no window: the copy is not posted)', async () => {
    const copy = (name: string, data: object) => ({
      caseId: 'C-glyph-7',
      channel: 'email',
      templateKey: 'late.email.demand_copy',
      recipient: { role: 'debtor', name, email: 'debtor@example.com', timeZone: 'Asia/Shanghai' },
      data,
    });
    const p = await refused(copy('王\u{31350}', { ...LATE, repayBy: '2026-11-01' }));
    expect(p.status).toBe(422);
    expect(new Set((p.errors ?? []).map((e) => e.path))).toEqual(new Set(['recipient.name', 'data.repayBy']));
    const ok = await postJson(api.baseUrl, '/v1/notifications', copy(RARE, LATE));
    expect(ok.status).toBe(202);
  });

  it('an address too long for the envelope window is a 422, not a failure at send', async () => {
    // Each field is within the address rules (120 characters), together they need more than the window's lines.
    const street = `示例街道${'示例小区示例楼'.repeat(16)}8号`;
    const lines = ['示例大厦'.repeat(25), '示例单元'.repeat(25)];
    const p = await refused(notice('C-glyph-4', 'late.letter.demand', '王小明', street, LATE, lines));
    expect(p.status).toBe(422);
    expect(p.errors).toEqual([expect.objectContaining({ path: 'recipient.address' })]);
    expect(p.errors?.[0].message).toMatch(/envelope window/);
  });

  it('a total that is not principal + interest and fees is a 422 naming it', async () => {
    const p = await refused(
      notice('C-glyph-5', 'late.letter.demand', '王小明', '示例街道 8 号', {
        ...LATE,
        outstandingBalance: '23456.79',
      }),
    );
    expect(p.status).toBe(422);
    expect(p.errors).toEqual([
      {
        path: 'data.outstandingBalance',
        message: expect.stringContaining('principal + interestAndFees = 23456.78'),
      },
    ]);
  });

  it('a payment deadline not after the letter date is a 422 naming it', async () => {
    for (const repayBy of ['2026-11-24', '2026-11-01']) {
      const p = await refused(
        notice('C-glyph-6', 'late.letter.demand', '王小明', '示例街道 8 号', { ...LATE, repayBy }),
      );
      expect(p.status).toBe(422);
      expect(p.errors).toEqual([{ path: 'data.repayBy', message: expect.stringContaining('2026-11-24') }]);
    }
  });
});
