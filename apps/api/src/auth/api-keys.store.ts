import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '#libs/core';
import type { Db } from '#libs/persistence';
import type { ApiKeyPrincipal } from './principal.js';
import type { RateLimit } from './rate-limiter.js';
import { isScope, type Scope, SCOPES } from './scopes.js';

/** A key as listed (never its secret). */
export interface ApiKeyRecord {
  id: string;
  name: string;
  scopes: Scope[];
  rateLimit: RateLimit | null;
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
  revokedBy: string | null;
}

export interface VerifiedKey extends ApiKeyPrincipal {
  rateLimit: RateLimit | null;
}

export interface CreateKeyInput {
  name: string;
  scopes: Scope[];
  rateLimit?: RateLimit;
}

interface Row {
  id: string;
  name: string;
  secret_sha256: string;
  scopes: string;
  rate_per_second: number | null;
  rate_burst: number | null;
  created_by: string;
  created_at: string | number;
  revoked_at: string | number | null;
  revoked_by: string | null;
}

/** Generated keys look like `cns_<16 hex id>_<43 base64url chars>` (256 random bits). */
const KEY_FORMAT = /^cns_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}$/;

export const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** The row id of a key: embedded in generated keys, derived from the hash for bootstrap keys. */
export function keyId(key: string): string {
  return KEY_FORMAT.exec(key)?.[1] ?? sha256(`id:${key}`).slice(0, 16);
}

export function generateKey(): { id: string; key: string } {
  const id = randomBytes(8).toString('hex');
  return { id, key: `cns_${id}_${randomBytes(32).toString('base64url')}` };
}

function toRecord(r: Row): ApiKeyRecord {
  const iso = (v: string | number | null) => (v === null ? null : new Date(Number(v)).toISOString());
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes.split(' ').filter(isScope),
    rateLimit:
      r.rate_per_second === null
        ? null
        : { perSecond: Number(r.rate_per_second), burst: Number(r.rate_burst) },
    createdBy: r.created_by,
    createdAt: iso(r.created_at) as string,
    revokedAt: iso(r.revoked_at),
    revokedBy: r.revoked_by,
  };
}

export function parseScopes(raw: unknown, path = 'scopes'): Scope[] {
  const list = typeof raw === 'string' ? raw.split(/[\s,]+/).filter(Boolean) : raw;
  if (!Array.isArray(list) || list.length === 0 || !list.every(isScope)) {
    throw new ValidationError(`scopes must be a non-empty list of ${SCOPES.join(', ')}`, [
      { path, message: `each one of ${SCOPES.join(', ')}` },
    ]);
  }
  return [...new Set(list)];
}

export function parseKeyName(raw: unknown, path = 'name'): string {
  if (typeof raw !== 'string' || !NAME.test(raw)) {
    throw new ValidationError('name is invalid', [
      { path, message: '1-128 characters: letters, digits, space, dot, dash, underscore, @' },
    ]);
  }
  return raw;
}

/**
 * API keys in the database: only SHA-256 of the whole key is stored. Lookup is by the public id
 * and the hash is compared in constant time. Used by the api (through ApiKeysService) and by
 * `scripts/apikeys.ts`.
 */
export class ApiKeysStore {
  constructor(private readonly db: Db) {}

  async create(
    input: CreateKeyInput,
    actor: string,
    key = generateKey().key,
  ): Promise<{ key: string; record: ApiKeyRecord }> {
    const name = parseKeyName(input.name);
    const scopes = parseScopes(input.scopes);
    const id = keyId(key);
    const now = Date.now();
    try {
      await this.db.exec(
        'INSERT INTO api_keys (id, name, secret_sha256, scopes, rate_per_second, rate_burst, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [
          id,
          name,
          sha256(key),
          scopes.join(' '),
          input.rateLimit?.perSecond ?? null,
          input.rateLimit?.burst ?? null,
          actor,
          now,
        ],
      );
    } catch (err) {
      if (this.db.isUniqueViolation(err)) throw new ConflictError('This API key already exists');
      throw err;
    }
    return { key, record: (await this.get(id)) as ApiKeyRecord };
  }

  async get(id: string): Promise<ApiKeyRecord | null> {
    const [row] = await this.db.rows<Row>('SELECT * FROM api_keys WHERE id = ?', [id]);
    return row ? toRecord(row) : null;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return (await this.db.rows<Row>('SELECT * FROM api_keys ORDER BY created_at, id')).map(toRecord);
  }

  async count(): Promise<number> {
    const [r] = await this.db.rows<{ n: string | number }>('SELECT COUNT(*) AS n FROM api_keys');
    return Number(r?.n ?? 0);
  }

  async revoke(id: string, actor: string): Promise<ApiKeyRecord> {
    const n = await this.db.exec(
      'UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
      [Date.now(), actor, id],
    );
    const rec = await this.get(id);
    if (!rec) throw new NotFoundError(`No API key ${id}`);
    if (n === 0 && !rec.revokedAt) throw new ConflictError(`API key ${id} could not be revoked`);
    return rec;
  }

  /** The key's principal, or null when unknown, revoked or wrong. */
  async verify(key: string): Promise<VerifiedKey | null> {
    if (key.length < 32 || key.length > 200) return null;
    const [row] = await this.db.rows<Row>('SELECT * FROM api_keys WHERE id = ?', [keyId(key)]);
    const given = Buffer.from(sha256(key), 'hex');
    // Compare even when there is no row, so timing does not tell a known id from an unknown one.
    const stored = Buffer.from(row?.secret_sha256 ?? '0'.repeat(64), 'hex');
    const same = stored.length === given.length && timingSafeEqual(stored, given);
    if (!row || !same || row.revoked_at !== null) return null;
    const rec = toRecord(row);
    return { id: rec.id, name: rec.name, scopes: rec.scopes, rateLimit: rec.rateLimit };
  }
}
