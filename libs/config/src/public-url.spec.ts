import { describe, expect, it } from '@jest/globals';
import { type OutboundMessage, TwilioSmsProvider } from '#libs/channels';
import { defaultPublicBaseUrl, loadConfig } from './config.js';

/** Issue 17: a worker given the API's environment must not need PUBLIC_BASE_URL for callbacks. */
describe('the public base URL default', () => {
  const workerEnv = {
    NODE_ENV: 'development',
    DATABASE_URL: 'postgres://u@h:5432/db',
    REDIS_URL: 'redis://127.0.0.1:6379',
  };

  it('follows the API port: a worker with PORT=8080 builds its Twilio callback on :8080', () => {
    const c = loadConfig({ ...workerEnv, PORT: '8080' });
    expect(c.http.publicBaseUrl).toBe('http://127.0.0.1:8080');
    expect(c.letter.verifyBaseUrl).toBe('http://127.0.0.1:8080/verify');
    expect(c.http.webhookBaseUrl).toBe('http://127.0.0.1:8080/webhooks');
    const twilio = new TwilioSmsProvider({
      accountSid: `AC${'0'.repeat(32)}`,
      authToken: 'x'.repeat(32),
      from: '+15005550006',
      timeoutMs: 1000,
    });
    const id = '6f1c2c1e-8a7b-4d57-9d0e-2f3b9c1a0b11';
    expect(
      twilio.callbackUrl({ notificationId: id, webhookBaseUrl: c.http.webhookBaseUrl } as OutboundMessage),
    ).toBe(`http://127.0.0.1:8080/webhooks/twilio?nid=${id}`);
  });

  it('follows a concrete HOST; a wildcard bind address means loopback', () => {
    expect(loadConfig({ ...workerEnv, HOST: '10.1.2.3', PORT: '9000' }).http.publicBaseUrl).toBe(
      'http://10.1.2.3:9000',
    );
    expect(defaultPublicBaseUrl('0.0.0.0', 3001)).toBe('http://127.0.0.1:3001');
    expect(defaultPublicBaseUrl('::', 3001)).toBe('http://127.0.0.1:3001');
    expect(defaultPublicBaseUrl('::1', 3001)).toBe('http://[::1]:3001');
    expect(defaultPublicBaseUrl('[fd00::5]', 80)).toBe('http://[fd00::5]:80');
    expect(defaultPublicBaseUrl('api.internal', 8443)).toBe('http://api.internal:8443');
  });

  it('an explicit PUBLIC_BASE_URL wins (without its trailing slash)', () => {
    const c = loadConfig({ ...workerEnv, PORT: '8080', PUBLIC_BASE_URL: 'https://notices.example.com/' });
    expect(c.http.publicBaseUrl).toBe('https://notices.example.com');
    expect(c.letter.verifyBaseUrl).toBe('https://notices.example.com/verify');
  });
});
