import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { ConflictError, RateLimitedError, UnauthenticatedError } from '#libs/core';
import { Db } from '#libs/persistence';
import {
  type ApiKeyRecord,
  ApiKeysStore,
  type CreateKeyInput,
  keyId,
  sha256,
  type VerifiedKey,
} from './api-keys.store.js';
import { TokenBuckets } from './rate-limiter.js';

/** Extracts the key from `Bearer <key>` (or a bare key, or HTTP Basic with the key as password). */
export function keyFromAuthorization(header: string | undefined, allowBasic = false): string | null {
  if (!header) return null;
  const m = /^\s*(Bearer|Basic)\s+(\S+)\s*$/i.exec(header);
  if (!m) return /^\S{32,200}$/.test(header.trim()) ? header.trim() : null;
  if (m[1].toLowerCase() === 'bearer') return m[2];
  if (!allowBasic) return null;
  const decoded = Buffer.from(m[2], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i >= 0 ? decoded.slice(i + 1) : null;
}

/** Verifies keys (with a short cache), applies the per-key rate limit, bootstraps the admin key. */
@Injectable()
export class ApiKeysService {
  private readonly log = new Logger('ApiKeys');
  readonly store: ApiKeysStore;
  private readonly cache = new Map<string, { key: VerifiedKey | null; until: number }>();
  private readonly buckets = new TokenBuckets();

  constructor(
    db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.store = new ApiKeysStore(db);
  }

  /** The caller of `key`, or throws 401. Applies the rate limit (429 with retryAfter). */
  async authenticate(key: string | null): Promise<VerifiedKey> {
    if (!key) throw new UnauthenticatedError('An API key is required (Authorization: Bearer <key>)');
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
    const retryAfter = this.buckets.take(hit.key.id, hit.key.rateLimit ?? this.config.auth.rateLimit, now);
    if (retryAfter > 0) {
      throw new RateLimitedError(`Rate limit of API key ${hit.key.name} exceeded`, [], { retryAfter });
    }
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
   * First start: when no key exists, create an admin key, write it to the admin key file
   * (mode 0600) and print it once. API_KEYS_BOOTSTRAP installs a given admin key instead.
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
    const { key, record } = await this.store.create({ name: 'admin', scopes: ['admin'] }, 'bootstrap');
    const file = this.config.auth.adminKeyFile;
    mkdirSync(dirname(file), { recursive: true });
    const existed = existsSync(file);
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    // Printed once, on purpose outside the (redacting) logger.
    process.stdout.write(
      `\nCreated the first admin API key (${record.id}); it is shown only now and saved to ${file}${existed ? ' (overwritten)' : ''}:\n\n    ${key}\n\nUse it as "Authorization: Bearer <key>"; create narrower keys with "npm run apikeys -- create".\n\n`,
    );
    this.log.log(`bootstrap admin key ${record.id} written to ${file}`);
  }
}
