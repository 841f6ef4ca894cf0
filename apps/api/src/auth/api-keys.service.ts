import { accessSync, chmodSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { ConflictError, UnauthenticatedError } from '#libs/core';
import { Db, StorageStartupError } from '#libs/persistence';
import {
  type ApiKeyRecord,
  ApiKeysStore,
  type CreateKeyInput,
  keyId,
  sha256,
  type VerifiedKey,
} from './api-keys.store.js';

/**
 * The key from `Authorization: Bearer <key>` (or, where `allowBasic`, HTTP Basic with the key
 * as password, for browsers on the queue board). A bare key or another scheme is refused with a
 * 401 that says so, instead of being guessed at.
 */
export function keyFromAuthorization(header: string | undefined, allowBasic = false): string {
  const expected = allowBasic ? 'Bearer <key> (or Basic with the key as password)' : 'Bearer <key>';
  if (!header || header.trim() === '') {
    throw new UnauthenticatedError(`An API key is required (Authorization: ${expected})`);
  }
  const m = /^\s*(Bearer|Basic)\s+(\S+)\s*$/i.exec(header);
  const scheme = m?.[1].toLowerCase();
  if (m && scheme === 'bearer') return m[2];
  if (m && scheme === 'basic' && allowBasic) {
    const decoded = Buffer.from(m[2], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i >= 0 && decoded.length > i + 1) return decoded.slice(i + 1);
  }
  throw new UnauthenticatedError(
    `The Authorization header must be "${expected}"; a bare key or another scheme is not accepted`,
  );
}

/** Verifies keys (with a short cache) and bootstraps the admin key; rate limits are in rate-limiter.ts. */
@Injectable()
export class ApiKeysService {
  private readonly log = new Logger('ApiKeys');
  readonly store: ApiKeysStore;
  private readonly cache = new Map<string, { key: VerifiedKey | null; until: number }>();

  constructor(
    db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.store = new ApiKeysStore(db);
  }

  /** The caller of `key`, or throws 401. */
  async authenticate(key: string): Promise<VerifiedKey> {
    const hash = sha256(key);
    const now = Date.now();
    let hit = this.cache.get(hash);
    if (!hit || hit.until < now) {
      hit = { key: await this.store.verify(key), until: now + this.config.auth.cacheMs };
      if (this.config.auth.cacheMs > 0) {
        if (this.cache.size > 10_000) this.cache.clear();
        this.cache.set(hash, hit);
      }
    }
    if (!hit.key) throw new UnauthenticatedError('The API key is unknown or revoked');
    return hit.key;
  }

  create(input: CreateKeyInput, actor: string) {
    return this.store.create(input, actor);
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.store.list();
  }

  async revoke(id: string, actor: string): Promise<ApiKeyRecord> {
    const rec = await this.store.revoke(id, actor);
    for (const [hash, v] of this.cache) if (v.key?.id === id) this.cache.delete(hash);
    return rec;
  }

  /**
   * First start: when no key exists, create an admin key and write it to the admin key file
   * (mode 0600). The key goes only to that file; the log says where, never the key (stdout is
   * collected by log shippers). API_KEYS_BOOTSTRAP installs a given admin key instead.
   */
  async bootstrap(): Promise<void> {
    const given = this.config.auth.bootstrapKey;
    if (given) {
      if (!(await this.store.get(keyId(given)))) {
        await this.store
          .create({ name: 'bootstrap-admin', scopes: ['admin'] }, 'API_KEYS_BOOTSTRAP', given)
          .catch((err: unknown) => {
            // Another process installed it at the same moment.
            if (!(err instanceof ConflictError)) throw err;
          });
      }
      return;
    }
    if ((await this.store.count()) > 0) return;
    const file = this.config.auth.adminKeyFile;
    const existed = existsSync(file);
    // Checked before the key exists: a key nobody can read would lock the operator out.
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      accessSync(dirname(file), constants.W_OK);
    } catch (err) {
      const code = (err as { code?: string }).code ?? String(err);
      throw new StorageStartupError(
        `Cannot write the bootstrap admin key to ${file} (${code}). Fix: make ${dirname(file)} writable by the service user, or set ADMIN_KEY_FILE to a writable path (or API_KEYS_BOOTSTRAP to install a key you provide).`,
        file,
      );
    }
    const { key, record } = await this.store.create({ name: 'admin', scopes: ['admin'] }, 'bootstrap');
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    this.log.warn(
      `Created the first admin API key (${record.id}) and wrote it only to ${file}${existed ? ' (overwritten)' : ''} (mode 0600): read it from there, use it as "Authorization: Bearer <key>", create narrower keys with "npm run apikeys -- create"`,
    );
  }
}
