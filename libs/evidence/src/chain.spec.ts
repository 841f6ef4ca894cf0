import { describe, expect, it } from '@jest/globals';
import {
  canonicalEvent,
  canonicalJson,
  chainEvents,
  type ChainedEvent,
  eventHash,
  GENESIS_HASH,
  sha256Hex,
  verifyChain,
} from './chain.js';

const at = '2026-11-25T08:00:00.000Z';
function build(n: number, caseId = 'C-1'): ChainedEvent[] {
  return chainEvents(
    { seq: 0, hash: GENESIS_HASH },
    Array.from({ length: n }, (_, i) => ({
      caseId,
      notificationId: 'n-1',
      type: 'status.changed',
      occurredAt: at,
      recordedAt: at,
      payload: { i, to: 'sent', nested: { b: 2, a: [1, 'x'] } },
    })),
  ).events;
}

describe('hash chain', () => {
  it('canonicalises per RFC 8785 (sorted keys, no whitespace, ES number form)', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 1e21, 0.1], c: { z: 'é', y: 1.0 } })).toBe(
      '{"a":[true,null,1e+21,0.1],"b":1,"c":{"y":1,"z":"é"}}',
    );
  });

  it('hash = SHA-256(prevHash || canonical event)', () => {
    const [e] = build(1);
    const expected = sha256Hex(
      GENESIS_HASH +
        canonicalJson({
          seq: 1,
          caseId: 'C-1',
          notificationId: 'n-1',
          type: e.type,
          occurredAt: at,
          recordedAt: at,
          payload: e.payload,
        }),
    );
    expect(e.hash).toBe(expected);
    expect(eventHash(GENESIS_HASH, e)).toBe(expected);
  });

  it('builds the canonical event without re-serialising the payload, equal to JCS of the whole', () => {
    const body = {
      seq: 42,
      caseId: 'C-"quoted"\\-é-\u2028',
      notificationId: null,
      type: 'receipt.received',
      occurredAt: at,
      recordedAt: at,
      payload: { z: [1, 2.5, 'x'], a: { é: null, b: 'line\nbreak' } },
    };
    expect(canonicalEvent(body, canonicalJson(body.payload))).toBe(canonicalJson(body));
    expect(canonicalEvent({ ...body, notificationId: 'n-1' }, canonicalJson(body.payload))).toBe(
      canonicalJson({ ...body, notificationId: 'n-1' }),
    );
  });

  it('links seq and prevHash and continues from a head', () => {
    const events = build(3);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[1].prevHash).toBe(events[0].hash);
    const more = chainEvents({ seq: 3, hash: events[2].hash }, [
      { caseId: 'C-1', notificationId: null, type: 'x', occurredAt: at, recordedAt: at, payload: null },
    ]);
    expect(more.events[0].seq).toBe(4);
    expect(verifyChain('C-1', [...events, ...more.events], more.head)).toMatchObject({ ok: true, events: 4 });
  });

  it('points at the first broken seq for each kind of damage', () => {
    const base = build(5);
    const tampered = base.map((e) => ({ ...e }));
    tampered[2] = { ...tampered[2], payload: { i: 99 } };
    expect(verifyChain('C-1', tampered)).toMatchObject({ ok: false, brokenSeq: 3, failure: 'hash_mismatch' });

    const relinked = base.map((e) => ({ ...e }));
    relinked[3] = { ...relinked[3], prevHash: 'f'.repeat(64) };
    expect(verifyChain('C-1', relinked)).toMatchObject({
      ok: false,
      brokenSeq: 4,
      failure: 'prev_hash_mismatch',
    });

    const gap = base.filter((e) => e.seq !== 2);
    expect(verifyChain('C-1', gap)).toMatchObject({ ok: false, brokenSeq: 2, failure: 'seq_gap' });

    expect(verifyChain('C-2', base)).toMatchObject({ ok: false, brokenSeq: 1, failure: 'case_mismatch' });

    const head = { seq: 5, hash: base[4].hash };
    expect(verifyChain('C-1', base.slice(0, 4), head)).toMatchObject({
      ok: false,
      brokenSeq: 5,
      failure: 'head_mismatch',
    });
    expect(verifyChain('C-1', base, head)).toMatchObject({ ok: true, events: 5, headHash: head.hash });
  });
});
