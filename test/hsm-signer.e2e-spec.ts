import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPublicKey } from 'node:crypto';
import { keyIdOf, openPkcs11Modules, verifyCheckpointBytes } from '#libs/evidence';
import { type InProcessApp, postJson, startInProcess } from './support/app.js';
import { smsBody } from './support/fixtures.js';
import { createSoftHsmToken, SOFTHSM_MODULE, type SoftHsmToken } from './support/hsm.js';

// The api with its evidence key in a SoftHSM2 token (EVIDENCE_SIGNER=pkcs11): checkpoints are
// signed in the token and verify with the public key the service publishes.
describe('evidence signing key in an HSM (PKCS#11, SoftHSM2)', () => {
  let token: SoftHsmToken;
  let api: InProcessApp;

  beforeAll(async () => {
    token = await createSoftHsmToken({ tokenLabel: 'evidence-e2e' });
    api = await startInProcess({
      dialect: 'sqlite',
      env: {
        EVIDENCE_SIGNER: 'pkcs11',
        PKCS11_MODULE: SOFTHSM_MODULE,
        PKCS11_TOKEN_LABEL: token.tokenLabel,
        PKCS11_KEY_LABEL: token.keyLabel,
        PKCS11_PIN_FILE: token.pinFile,
      },
    });
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    // The app's shutdown closed its session and finalised the library.
    expect(openPkcs11Modules().size).toBe(0);
    await token?.remove();
  });

  it('publishes the public key of the token, not a generated file key', async () => {
    const res = await fetch(`${api.baseUrl}/v1/evidence/public-key`, { headers: { authorization: 'none' } });
    expect(res.status).toBe(200);
    const pem = await res.text();
    expect(pem).toBe(token.publicKeyPem);
    expect(res.headers.get('x-key-id')).toBe(keyIdOf(token.publicKeyPem));
    expect(openPkcs11Modules().get(SOFTHSM_MODULE)).toBe(1);
  });

  it('signs a checkpoint in the token; it verifies with the published key', async () => {
    const sent = await postJson(api.baseUrl, '/v1/notifications', smsBody('C-hsm-0001', '+8613800138021'));
    expect(sent.status).toBeLessThan(300);
    const created = await postJson(api.baseUrl, '/v1/evidence/checkpoints', {});
    expect(created.status).toBe(201);
    const cp = created.body as {
      body: string;
      signature: string;
      checkpoint: { keyId: string; treeSize: number };
    };
    expect(cp.checkpoint.treeSize).toBeGreaterThan(0);
    const pem = await (
      await fetch(`${api.baseUrl}/v1/evidence/public-key`, { headers: { authorization: 'none' } })
    ).text();
    expect(cp.checkpoint.keyId).toBe(keyIdOf(pem));
    const body = Buffer.from(cp.body, 'utf8');
    const sig = Buffer.from(cp.signature, 'base64');
    expect(verifyCheckpointBytes(body, sig, createPublicKey(pem))).toMatchObject({ ok: true });
    // A changed byte fails with that key.
    const forged = Buffer.from(cp.body.replace(/"treeSize":\d+/, '"treeSize":999'), 'utf8');
    expect(verifyCheckpointBytes(forged, sig, createPublicKey(pem)).ok).toBe(false);
  });
});
