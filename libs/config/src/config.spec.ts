import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    // PostgreSQL in production: every process must be given the evidence key (none is generated).
    const pgUrl = 'postgres://cns_service@db/cns';
    expect(problems({ NODE_ENV: 'production', UNSUBSCRIBE_SECRET: own, DATABASE_URL: pgUrl })).toMatch(
      /EVIDENCE_SIGNING_KEY_FILE: required with DATABASE_URL.*same key/,
    );
    expect(
      problems({
        NODE_ENV: 'production',
        UNSUBSCRIBE_SECRET: own,
        DATABASE_URL: pgUrl,
        EVIDENCE_SIGNING_KEY_FILE: '/etc/cns/evidence-key.pem',
      }),
    ).toBe('');
  });

  it('TSA: TSA_URL needs TSA_CA_CERT_FILE, a readable PEM of X.509 certificates, loaded at boot', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ NODE_ENV: 'test', ...env });
        return '';
      } catch (e) {
        return (e as ConfigError).problems.join('\n');
      }
    };
    const dir = mkdtempSync(join(tmpdir(), 'cns-tsa-'));
    try {
      const ca = join(dir, 'ca.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          join(dir, 'ca.key'),
          '-out',
          ca,
          '-days',
          '30',
          '-subj',
          '/CN=Config Test CA',
        ],
        { stdio: 'ignore' },
      );
      const url = 'http://127.0.0.1:9/tsa';
      const c = loadConfig({ NODE_ENV: 'test', TSA_URL: url, TSA_CA_CERT_FILE: ca });
      expect(c.evidence.tsaUrl).toBe(url);
      expect(c.evidence.tsaCaCertsPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(loadConfig({ NODE_ENV: 'test' }).evidence.tsaCaCertsPem).toBeUndefined();

      expect(problems({ TSA_URL: url })).toMatch(/TSA_CA_CERT_FILE: required with TSA_URL/);
      expect(problems({ TSA_URL: url, TSA_CA_CERT_FILE: join(dir, 'missing.pem') })).toMatch(
        /TSA_CA_CERT_FILE: cannot read/,
      );
      writeFileSync(
        join(dir, 'key.pem'),
        generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
      );
      expect(problems({ TSA_URL: url, TSA_CA_CERT_FILE: join(dir, 'key.pem') })).toMatch(
        /holds no PEM CERTIFICATE/,
      );
      writeFileSync(join(dir, 'bad.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      expect(problems({ TSA_URL: url, TSA_CA_CERT_FILE: join(dir, 'bad.pem') })).toMatch(
        /certificate 1 in .* is not a valid X.509/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('DKIM: all or nothing, one key source, an RSA key of 1024+ bits; both email providers get it', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ NODE_ENV: 'test', ...env });
        return '';
      } catch (e) {
        return (e as ConfigError).problems.join('\n');
      }
    };
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const dir = mkdtempSync(join(tmpdir(), 'cns-dkim-'));
    try {
      const file = join(dir, 'dkim.pem');
      writeFileSync(file, pem, { mode: 0o600 });
      const base = { DKIM_DOMAIN: 'Bank.Example', DKIM_SELECTOR: 'notices2026' };
      // From a file, with the sandbox provider too (the signature is made when rendering).
      const c = loadConfig({ NODE_ENV: 'test', ...base, DKIM_PRIVATE_KEY_FILE: file });
      expect(c.email.provider).toBe('sandbox');
      expect(c.email.dkim).toEqual({
        domainName: 'bank.example',
        keySelector: 'notices2026',
        privateKey: pem,
      });
      // Inline with \n escapes, as a .env line holds it.
      const inline = loadConfig({
        NODE_ENV: 'test',
        ...base,
        EMAIL_PROVIDER: 'smtp',
        SMTP_HOST: 'smtp.bank.example',
        DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n'),
      });
      expect(inline.email.dkim?.privateKey).toBe(pem);
      expect(loadConfig({ NODE_ENV: 'test' }).email.dkim).toBeUndefined();

      expect(problems({ DKIM_DOMAIN: 'bank.example' })).toMatch(
        /DKIM_SELECTOR: required[^]*DKIM_PRIVATE_KEY/,
      );
      expect(problems({ ...base, DKIM_PRIVATE_KEY: pem, DKIM_PRIVATE_KEY_FILE: file })).toMatch(/not both/);
      expect(problems({ ...base, DKIM_PRIVATE_KEY_FILE: join(dir, 'missing.pem') })).toMatch(
        /DKIM_PRIVATE_KEY_FILE: cannot read/,
      );
      expect(problems({ ...base, DKIM_PRIVATE_KEY: 'not a key' })).toMatch(/DKIM_PRIVATE_KEY: not a PEM/);
      const ed = generateKeyPairSync('ed25519')
        .privateKey.export({ type: 'pkcs8', format: 'pem' })
        .toString();
      expect(problems({ ...base, DKIM_PRIVATE_KEY: ed })).toMatch(/RSA private key is required/);
      const small = generateKeyPairSync('rsa', { modulusLength: 512 })
        .privateKey.export({ type: 'pkcs8', format: 'pem' })
        .toString();
      expect(problems({ ...base, DKIM_PRIVATE_KEY: small })).toMatch(/512 bits/);
      expect(problems({ ...base, DKIM_DOMAIN: 'bank example', DKIM_PRIVATE_KEY: pem })).toMatch(
        /DKIM_DOMAIN/,
      );
      expect(problems({ ...base, DKIM_SELECTOR: 's;x', DKIM_PRIVATE_KEY: pem })).toMatch(/DKIM_SELECTOR/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('EVIDENCE_SIGNER=pkcs11', () => {
    const problemsOf = (env: Record<string, string>): string[] => {
      try {
        loadConfig({ NODE_ENV: 'development', ...env });
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    };

    it('takes the token settings, reads the PIN file and does not generate a file key', () => {
      const dir = mkdtempSync(join(tmpdir(), 'cfg-pkcs11-'));
      try {
        const module = join(dir, 'libfake-pkcs11.so');
        writeFileSync(module, '');
        writeFileSync(join(dir, 'pin'), '0000-secret\n', { mode: 0o600 });
        const c = loadConfig({
          NODE_ENV: 'development',
          SQLITE_PATH: join(dir, 'notices.db'),
          EVIDENCE_SIGNER: 'pkcs11',
          PKCS11_MODULE: module,
          PKCS11_TOKEN_LABEL: 'evidence',
          PKCS11_KEY_LABEL: 'evidence-signing',
          PKCS11_PIN_FILE: join(dir, 'pin'),
        });
        expect(c.evidence.signer).toBe('pkcs11');
        expect(c.evidence.pkcs11).toEqual({
          module,
          tokenLabel: 'evidence',
          keyLabel: 'evidence-signing',
          pin: '0000-secret',
        });
        expect(c.evidence.generatedKeyFile).toBeUndefined();
        // The file signer stays the default, with its generated key in standalone mode.
        const f = loadConfig({ NODE_ENV: 'development', SQLITE_PATH: join(dir, 'notices.db') });
        expect(f.evidence.signer).toBe('file');
        expect(f.evidence.pkcs11).toBeUndefined();
        expect(f.evidence.generatedKeyFile).toBe(join(dir, 'evidence-signing-key.pem'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses missing labels, no or two PIN sources, a PEM key beside it and a missing module, never echoing the PIN', () => {
      expect(problemsOf({ EVIDENCE_SIGNER: 'pkcs11', PKCS11_MODULE: '/nonexistent/libp11.so' })).toEqual([
        'PKCS11_TOKEN_LABEL: required when EVIDENCE_SIGNER=pkcs11',
        'PKCS11_KEY_LABEL: required when EVIDENCE_SIGNER=pkcs11',
        "PKCS11_MODULE: /nonexistent/libp11.so does not exist (Debian: apt-get install softhsm2, or the HSM vendor's library)",
        'PKCS11_PIN: PKCS11_PIN or PKCS11_PIN_FILE is required when EVIDENCE_SIGNER=pkcs11',
      ]);
      const two = problemsOf({
        EVIDENCE_SIGNER: 'pkcs11',
        PKCS11_MODULE: process.execPath,
        PKCS11_TOKEN_LABEL: 't',
        PKCS11_KEY_LABEL: 'k',
        PKCS11_PIN: 'pin-value-7731',
        PKCS11_PIN_FILE: '/nonexistent/pin',
        EVIDENCE_SIGNING_KEY_FILE: '/etc/key.pem',
      });
      expect(two).toEqual([
        'EVIDENCE_SIGNING_KEY_FILE: not used with EVIDENCE_SIGNER=pkcs11 (the key is in the token): unset it',
        'PKCS11_PIN_FILE: set PKCS11_PIN or PKCS11_PIN_FILE, not both',
      ]);
      const unreadable = problemsOf({
        EVIDENCE_SIGNER: 'pkcs11',
        PKCS11_MODULE: process.execPath,
        PKCS11_TOKEN_LABEL: 't',
        PKCS11_KEY_LABEL: 'k',
        PKCS11_PIN_FILE: '/nonexistent/pin',
      });
      expect(unreadable).toEqual(['PKCS11_PIN_FILE: cannot read /nonexistent/pin (ENOENT)']);
      expect(JSON.stringify([two, unreadable])).not.toContain('pin-value-7731');
      expect(problemsOf({ EVIDENCE_SIGNER: 'hsm' })[0]).toMatch(/^EVIDENCE_SIGNER: /);
    });
  });
});
