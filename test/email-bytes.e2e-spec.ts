/**
 * Byte-exact email artifacts (issue 12, item 6): the `.eml` whose SHA-256 the evidence records is
 * the byte stream the SMTP server received, DKIM signature included, on the first try, on a
 * retry after a 451 and on a resend after an ambiguous drop (a fresh render in the sweeper).
 * Checked on the server side: the test SMTP server hashes the DATA it received.
 */
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OffsetClock } from '#libs/core';
import { DispatchProcessor, NotificationRepository, Sweeper } from '#libs/notifications';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { verifyDkimRelaxed } from './support/dkim.js';
import { ADDRESS, DAYTIME, LETTER_DATA } from './support/fixtures.js';
import { waitFor } from './support/infra.js';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.js';

const run = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Ev {
  type: string;
  payload: Record<string, unknown>;
}
interface View {
  id: string;
  status: string;
  providerMessageId: string | null;
  events: Ev[];
}

describe.each(['sqlite', 'postgres'] as const)(
  'the stored .eml is the byte stream the SMTP server received (DKIM signed, %s)',
  (dialect) => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dir = mkdtempSync(join(tmpdir(), 'cns-eml-'));
    const keyFile = join(dir, 'dkim.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const evidenceKeyFile = join(dir, 'evidence.pem');
    writeFileSync(
      evidenceKeyFile,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
      { mode: 0o600 },
    );
    /** Every DATA the server received, per recipient, in order (also the refused and dropped ones). */
    const received = new Map<string, Buffer[]>();
    let smtp: TestSmtpServer;
    let api: InProcessApp;

    const view = async (id: string) =>
      (await (await fetch(`${api.baseUrl}/v1/notifications/${id}`)).json()) as View;
    const until = (id: string, status: string) =>
      waitFor(
        status,
        async () => {
          const v = await view(id);
          return v.status === status ? v : undefined;
        },
        20_000,
      );
    const send = async (caseId: string, email: string) => {
      const res = await postJson(api.baseUrl, '/v1/notifications', {
        caseId,
        channel: 'email',
        templateKey: 'late.email.demand_copy', // with the letter PDF attached
        locale: 'zh-CN',
        recipient: { role: 'debtor', name: '张三', email, address: ADDRESS, timeZone: 'Asia/Shanghai' },
        data: LETTER_DATA,
      });
      expect(res.status).toBe(202);
      return res.body.id as string;
    };
    /** The hashes the evidence and the artifact store hold for a sent notification. */
    const recorded = async (v: View) => {
      const rendered = v.events.find((e) => e.type === 'message.rendered')!.payload;
      expect(rendered.mediaType).toBe('message/rfc822');
      const requests = v.events
        .filter((e) => e.type === 'provider.request')
        .map((e) => e.payload.request as { sha256: string; written: { sha256: string; size: number } });
      const [row] = await api.db.rows<{ content: Buffer }>('SELECT content FROM artifacts WHERE sha256 = ?', [
        rendered.sha256,
      ]);
      return {
        sha256: rendered.sha256 as string,
        size: rendered.size as number,
        requests,
        stored: row.content,
      };
    };

    beforeAll(async () => {
      smtp = await startSmtpServer({
        afterData: (rcpts, attempt, raw) => {
          const to = rcpts[0];
          received.set(to, [...(received.get(to) ?? []), raw]);
          if (to.startsWith('busy') && attempt === 1) return { code: 451, message: '4.3.0 try again later' };
          if (to.startsWith('drop') && attempt === 1) return 'drop';
          return undefined;
        },
      });
      api = await startInProcess({
        dialect,
        clock: new OffsetClock(new Date(DAYTIME)),
        env: {
          EMAIL_PROVIDER: 'smtp',
          SMTP_HOST: smtp.host,
          SMTP_PORT: String(smtp.port),
          SMTP_SECURE: 'false',
          SMTP_TIMEOUT_MS: '3000',
          EMAIL_FROM: '"示例银行信用卡中心" <notices@bank.example>',
          EMAIL_MESSAGE_ID_DOMAIN: 'notices.bank.example',
          DKIM_DOMAIN: 'bank.example',
          DKIM_SELECTOR: 'notices2026',
          DKIM_PRIVATE_KEY_FILE: keyFile,
          EVIDENCE_SIGNING_KEY_FILE: evidenceKeyFile,
          COMPLIANCE_OVERRIDES: JSON.stringify({ stageGap: null, caps: { email: { perDay: 20 } } }),
        },
      });
    }, 30_000);

    afterAll(async () => {
      await api?.close();
      await smtp?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('evidence hash = stored artifact = bytes the SMTP client wrote = bytes the server received = the bundle copy', async () => {
      const email = 'zhang.san@example.com';
      const id = await send('C-eml-1', email);
      const v = await until(id, 'sent');
      const [wire] = received.get(email)!;
      const r = await recorded(v);
      expect(sha(wire)).toBe(r.sha256);
      expect(wire.length).toBe(r.size);
      expect(sha(r.stored)).toBe(r.sha256);
      expect(r.stored.equals(wire)).toBe(true);
      expect(r.requests).toHaveLength(1);
      expect(r.requests[0].sha256).toBe(r.sha256);
      expect(r.requests[0].written).toEqual({ sha256: r.sha256, size: wire.length });

      // Signed once, at render: the received bytes carry one DKIM-Signature, and it verifies
      // (body hash bh= and signature b=) over what arrived.
      expect(wire.subarray(0, 15).toString()).toBe('DKIM-Signature:');
      expect(wire.toString('latin1').match(/^DKIM-Signature:/gim)).toHaveLength(1);
      const tags = verifyDkimRelaxed(wire, publicKey);
      expect(tags).toMatchObject({ d: 'bank.example', s: 'notices2026' });
      expect(tags.h.split(':')).toEqual(
        expect.arrayContaining([
          'from',
          'to',
          'subject',
          'date',
          'message-id',
          'list-unsubscribe',
          'list-unsubscribe-post',
        ]),
      );
      // The Message-ID the provider reports is the one inside the stored bytes.
      const [msg] = smtp.messages.filter((m) => m.envelope.rcptTo.includes(email));
      expect(msg.parsed.messageId).toBe(`<${id}@notices.bank.example>`);
      expect(v.providerMessageId).toBe(msg.parsed.messageId);

      // The copy in the evidence bundle downloaded through the API is the same file.
      const zip = await fetch(`${api.baseUrl}/v1/cases/C-eml-1/evidence.zip`);
      if (zip.status !== 200) throw new Error(`bundle: ${zip.status} ${await zip.text()}`);
      const zipPath = join(dir, 'C-eml-1.zip');
      writeFileSync(zipPath, Buffer.from(await zip.arrayBuffer()));
      await run('unzip', ['-q', '-o', zipPath, '-d', join(dir, 'bundle-1')]);
      expect(sha(readFileSync(join(dir, 'bundle-1', 'artifacts', `${id}.eml`)))).toBe(sha(wire));

      // Rendering again (as the sweeper does) gives the same bytes.
      const row = (await api.app.get(NotificationRepository).get(id))!;
      const again = await api.app.get(DispatchProcessor).render(row);
      expect(again.sha256).toBe(r.sha256);
      expect(again.content.equals(wire)).toBe(true);
    }, 40_000);

    it('a retry after a 451 at the end of DATA sends the same bytes again', async () => {
      const email = 'busy@example.com';
      const id = await send('C-eml-2', email);
      const v = await until(id, 'sent');
      const datas = received.get(email)!;
      expect(datas).toHaveLength(2);
      const r = await recorded(v);
      expect(v.events.filter((e) => e.type === 'provider.error')).toHaveLength(1);
      expect(datas.map(sha)).toEqual([r.sha256, r.sha256]);
      expect(r.requests.map((q) => q.written.sha256)).toEqual([r.sha256]);
      verifyDkimRelaxed(datas[1], publicKey);
    }, 40_000);

    it('a resend after an ambiguous drop, re-rendered by the sweeper, sends the same bytes', async () => {
      const email = 'drop@example.com';
      const id = await send('C-eml-3', email);
      await waitFor('first DATA', async () => received.get(email)?.length === 1, 20_000);
      // The drop after the whole message leaves the notice `sending` (outcome unknown).
      await waitFor(
        'left sending',
        async () => {
          await new Promise((r) => setTimeout(r, 300));
          return (await view(id)).status === 'sending';
        },
        10_000,
      );
      await new Promise((r) => setTimeout(r, 500));
      await api.db.exec('UPDATE notifications SET updated_at = updated_at - 600000 WHERE id = ?', [id]);
      const report = await api.app.get(Sweeper).sweep();
      expect(report.resent).toBe(1);
      const v = await until(id, 'sent');
      const datas = received.get(email)!;
      expect(datas).toHaveLength(2);
      const r = await recorded(v);
      expect(datas.map(sha)).toEqual([r.sha256, r.sha256]);
      expect(r.requests.at(-1)?.written.sha256).toBe(r.sha256);
    }, 40_000);
  },
);
