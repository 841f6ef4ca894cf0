import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('defaults to standalone mode: SQLite, in-process jobs, sandbox SMS', () => {
    const c = loadConfig({ NODE_ENV: 'development' });
    expect(c.mode).toBe('standalone');
    expect(c.database).toEqual({ type: 'sqlite', path: './data/notices.db' });
    expect(c.sms.provider).toBe('sandbox');
    expect(c.queue.apiRunsWorkers).toBe(true);
    expect(c.http.publicBaseUrl).toBe('http://127.0.0.1:3000');
  });

  it('switches to queue mode with DATABASE_URL and REDIS_URL', () => {
    const c = loadConfig({
      NODE_ENV: 'development',
      DATABASE_URL: 'postgres://u@h:5432/db',
      REDIS_URL: 'redis://127.0.0.1:6379',
      PORT: '8080',
    });
    expect(c.mode).toBe('queue');
    expect(c.database).toMatchObject({ type: 'postgres', url: 'postgres://u@h:5432/db' });
    expect(c.queue.apiRunsWorkers).toBe(false);
    expect(c.http.port).toBe(8080);
  });

  it('lists every problem at once', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', SMS_PROVIDER: 'twilio' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toMatch(/PORT/);
    expect(problems).toMatch(/DATABASE_URL/);
    expect(problems).toMatch(/TWILIO_ACCOUNT_SID/);
    expect(problems).toMatch(/TWILIO_AUTH_TOKEN/);
    expect(problems).toMatch(/TWILIO_FROM/);
  });

  it('accepts a complete Twilio configuration', () => {
    const c = loadConfig({
      NODE_ENV: 'development',
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: 'AC' + '0'.repeat(32),
      TWILIO_AUTH_TOKEN: 'x'.repeat(32),
      TWILIO_MESSAGING_SERVICE_SID: 'MG' + '0'.repeat(32),
    });
    expect(c.sms).toMatchObject({ provider: 'twilio', messagingServiceSid: 'MG' + '0'.repeat(32) });
  });

  it('refuses a reconciliation grace shorter than a provider timeout', () => {
    const twilio = {
      NODE_ENV: 'development',
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: 'AC' + '0'.repeat(32),
      TWILIO_AUTH_TOKEN: 'x'.repeat(32),
      TWILIO_FROM: '+15005550006',
    };
    expect(() => loadConfig({ ...twilio, SENDING_GRACE_MS: '5000', TWILIO_TIMEOUT_MS: '10000' })).toThrow(
      /SENDING_GRACE_MS/,
    );
    expect(
      loadConfig({ ...twilio, SENDING_GRACE_MS: '5000', TWILIO_TIMEOUT_MS: '2000' }).pipeline.sendingGraceMs,
    ).toBe(5000);
  });

  it('refuses the public development secrets unless NODE_ENV=development (or test) is set explicitly', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (e) {
        return (e as ConfigError).problems.join('\n');
      }
    };
    // Unset NODE_ENV used to fall back to the public secret; now it is refused with the fix.
    expect(problems({})).toMatch(/UNSUBSCRIBE_SECRET: required \(NODE_ENV is not set\).*openssl rand/);
    expect(problems({ NODE_ENV: 'production' })).toMatch(/UNSUBSCRIBE_SECRET: required/);
    const own = 'b7c1e0f4a9d24e6f8a3b5c7d9e1f2a4b';
    expect(problems({ NODE_ENV: 'production', UNSUBSCRIBE_SECRET: own })).toBe('');
    // A published secret set explicitly is refused too, per setting.
    const p = problems({
      NODE_ENV: 'production',
      UNSUBSCRIBE_SECRET: 'development-unsubscribe-secret',
      EMAIL_WEBHOOK_SECRET: 'email-webhook-secret-for-tests',
    });
    expect(p).toMatch(/UNSUBSCRIBE_SECRET: is a development\/test secret/);
    expect(p).toMatch(/EMAIL_WEBHOOK_SECRET: is a development\/test secret/);
    expect(loadConfig({ NODE_ENV: 'development' }).email.unsubscribeSecret).toBe(
      'development-unsubscribe-secret',
    );
    expect(problems({ NODE_ENV: 'test', EMAIL_WEBHOOK_SECRET: 'email-webhook-secret-for-tests' })).toBe('');
  });
});
