import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { startTestTsa, type TestTsa } from '../../../test/tsa/server.js';
import { writeEvidenceBundle, type BundleArtifact, type EvidenceBundleInput } from './bundle.js';
import { formatVerification, verifyEvidenceBundle } from './bundle-verify.js';
import { canonicalJson, chainEvents, type ChainedEvent, GENESIS_HASH } from './chain.js';
import { CaseHeadTree } from './merkle.js';
import { generateSigningKeyPair, loadSigningKey, signCheckpoint, type SigningKey } from './signing.js';
import { requestTimestamp } from './tsa.js';

const run = promisify(execFile);
const CASE = 'C-2026-0001';
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function makeEvents(caseId: string, n: number): ChainedEvent[] {
  return chainEvents(
    { seq: 0, hash: GENESIS_HASH },
    Array.from({ length: n }, (_, i) => ({
      caseId,
      notificationId: `N-${Math.floor(i / 3)}`,
      type: i % 3 === 0 ? 'notification.accepted' : i % 3 === 1 ? 'provider.request' : 'status.changed',
      occurredAt: new Date(Date.UTC(2026, 2, 1, 8, 0, i)).toISOString(),
      recordedAt: new Date(Date.UTC(2026, 2, 1, 8, 0, i)).toISOString(),
      payload: { step: i, note: `催收通知 ${i}`, amount: '1234.50' },
    })),
  ).events;
}

async function readZip(path: string): Promise<{ name: string; data: Buffer }[]> {
  const zip = await yauzl.openPromise(path, { lazyEntries: true });
  const out: { name: string; data: Buffer }[] = [];
  for await (const entry of zip.eachEntry()) {
    const chunks: Buffer[] = [];
    for await (const c of (await zip.openReadStreamPromise(entry)) as AsyncIterable<Buffer>) chunks.push(c);
    out.push({ name: entry.fileName, data: Buffer.concat(chunks) });
  }
  zip.close();
  return out;
}

/** Unzips, edits, re-zips: what someone tampering with a bundle would do. */
async function tamper(
  src: string,
  dest: string,
  edit: (files: { name: string; data: Buffer }[]) => { name: string; data: Buffer }[],
): Promise<string> {
  const files = edit(await readZip(src));
  const zip = new yazl.ZipFile();
  for (const f of files) zip.addBuffer(f.data, f.name);
  zip.end();
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(dest);
    out.on('close', () => resolve());
    out.on('error', reject);
    zip.outputStream.pipe(out);
  });
  return dest;
}

const replaceFile = (name: string, f: (b: Buffer) => Buffer) => (files: { name: string; data: Buffer }[]) =>
  files.map((x) => (x.name === name ? { name, data: f(x.data) } : x));

describe('evidence bundle', () => {
  let dir: string;
  let tsa: TestTsa;
  let key: SigningKey;
  let events: ChainedEvent[];
  let pdf: Buffer;
  let base: string;
  let baseInput: () => EvidenceBundleInput;
  const sms = Buffer.from('【某银行】尊敬的客户，您的账户已逾期，请及时还款。', 'utf8');

  const artifacts = (): AsyncIterable<BundleArtifact> =>
    (async function* () {
      yield { name: 'letter-N-0.pdf', sha256: sha(pdf), mediaType: 'application/pdf', content: pdf };
      // A Readable content, delivered in small chunks.
      yield {
        name: 'sms/N-1.txt',
        sha256: sha(sms),
        mediaType: 'text/plain; charset=utf-8',
        content: Readable.from([sms.subarray(0, 5), sms.subarray(5)]),
      };
    })();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bundle-spec-'));
    tsa = await startTestTsa();
    key = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    events = makeEvents(CASE, 12);
    pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(4000)]);
    const head = events[events.length - 1];
    const tree = new CaseHeadTree([
      { caseId: CASE, seq: head.seq, hash: head.hash },
      ...Array.from({ length: 6 }, (_, i) => ({ caseId: `C-other-${i}`, seq: i + 1, hash: sha(`o${i}`) })),
    ]);
    const signed = signCheckpoint(key, {
      treeSize: tree.treeSize,
      rootHash: tree.rootHash,
      createdAt: '2026-03-01T09:00:00.000Z',
    });
    const tsaToken = await requestTimestamp(tsa.url, Buffer.from(signed.body, 'utf8'));
    baseInput = () => ({
      caseId: CASE,
      events,
      artifacts: artifacts(),
      checkpoint: { signed, inclusionProof: tree.proofFor(CASE), tsaToken },
      certificatePdf: Buffer.from('%PDF-1.7 certificate'),
      signingKey: key,
      publicKeyPem: key.publicKeyPem,
      createdAt: new Date('2026-03-01T10:00:00.000Z'),
    });
    base = join(dir, 'base.zip');
    await writeEvidenceBundle(createWriteStream(base), baseInput());
  }, 30_000);

  afterAll(async () => {
    await tsa?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the documented layout with a manifest covering every file', async () => {
    const out = join(dir, 'layout.zip');
    const result = await writeEvidenceBundle(createWriteStream(out), baseInput());
    const zipBytes = await readFile(out);
    expect(result.sha256).toBe(sha(zipBytes));
    expect(result.bytes).toBe(zipBytes.length);
    const files = await readZip(out);
    expect(result.files).toBe(files.length);
    expect(files.map((f) => f.name)).toEqual([
      'README.txt',
      'events.jsonl',
      'artifacts/letter-N-0.pdf',
      'artifacts/sms/N-1.txt',
      'chain.json',
      'checkpoint.json',
      'checkpoint.sig',
      'checkpoint-proof.json',
      'timestamp.tsr',
      'certificate.pdf',
      'public-key.pem',
      'SHA256SUMS',
      'manifest.json',
      'manifest.sig',
    ]);
    const byName = new Map(files.map((f) => [f.name, f.data]));
    const lines = byName.get('events.jsonl')!.toString('utf8').split('\n');
    expect(lines).toHaveLength(13);
    expect(lines[12]).toBe('');
    expect(lines[0]).toBe(canonicalJson(events[0]));
    expect(JSON.parse(byName.get('chain.json')!.toString())).toEqual({
      caseId: CASE,
      seq: 12,
      hash: events[11].hash,
    });
    const manifest = JSON.parse(byName.get('manifest.json')!.toString()) as {
      files: { name: string; sha256: string; size: number }[];
      head: unknown;
      keyId: string;
    };
    expect(manifest.head).toEqual({ seq: 12, hash: events[11].hash });
    expect(manifest.keyId).toBe(key.keyId);
    expect(manifest.files.map((f) => f.name)).toEqual(files.map((f) => f.name).slice(0, -2));
    for (const f of manifest.files) {
      expect(f.sha256).toBe(sha(byName.get(f.name)!));
      expect(f.size).toBe(byName.get(f.name)!.length);
    }
    expect(byName.get('artifacts/letter-N-0.pdf')).toEqual(pdf);
    expect(byName.get('artifacts/sms/N-1.txt')).toEqual(sms);
    expect(result.manifest.files).toEqual(manifest.files);
  });

  it('is byte-identical for identical input and createdAt', async () => {
    const a = join(dir, 'a.zip');
    const b = join(dir, 'b.zip');
    const ra = await writeEvidenceBundle(createWriteStream(a), baseInput());
    const rb = await writeEvidenceBundle(createWriteStream(b), baseInput());
    expect(ra.sha256).toBe(rb.sha256);
  });

  it('verifies offline with sha256sum -c, openssl pkeyutl and openssl ts -verify alone', async () => {
    const out = join(dir, 'unzipped');
    for (const f of await readZip(base)) {
      await mkdir(dirname(join(out, f.name)), { recursive: true });
      await writeFile(join(out, f.name), f.data);
    }
    const sums = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out });
    expect(sums.stdout).toMatch(/artifacts\/letter-N-0.pdf: OK/);
    expect(sums.stdout.trim().split('\n')).toHaveLength(11);
    const pkeyutl = (file: string): Promise<{ stdout: string }> =>
      run(
        'openssl',
        [
          'pkeyutl',
          '-verify',
          '-pubin',
          '-inkey',
          'public-key.pem',
          '-rawin',
          '-in',
          file,
          '-sigfile',
          `${file.split('.')[0]}.sig`,
        ],
        { cwd: out },
      );
    expect((await pkeyutl('manifest.json')).stdout).toMatch(/Signature Verified Successfully/);
    expect((await pkeyutl('checkpoint.json')).stdout).toMatch(/Signature Verified Successfully/);
    const ts = await run(
      'openssl',
      [
        'ts',
        '-verify',
        '-data',
        'checkpoint.json',
        '-in',
        'timestamp.tsr',
        '-CAfile',
        tsa.caPem,
        '-untrusted',
        tsa.tsaPem,
      ],
      { cwd: out },
    );
    expect(ts.stdout).toMatch(/Verification: OK/);
    // A one-byte change of the manifest breaks the openssl check.
    const m = await readFile(join(out, 'manifest.json'));
    await writeFile(join(out, 'manifest.json'), Buffer.concat([m, Buffer.from(' ')]));
    await expect(pkeyutl('manifest.json')).rejects.toThrow();
  });

  it('the untouched bundle verifies', async () => {
    const v = await verifyEvidenceBundle(base, { publicKeyPem: key.publicKeyPem });
    expect(v.firstError).toBeUndefined();
    expect(v.ok).toBe(true);
    expect(v).toMatchObject({
      caseId: CASE,
      events: 12,
      head: { seq: 12, hash: events[11].hash },
      keyId: key.keyId,
    });
    expect(v.checkpoint?.treeSize).toBe(7);
    expect(v.timestamp?.genTime).toMatch(/^\d{4}-/);
    expect(v.checks.every((c) => c.ok)).toBe(true);
    expect(v.checks.map((c) => c.element)).toEqual(
      expect.arrayContaining([
        'manifest.json',
        'events.jsonl',
        'checkpoint.json',
        'checkpoint-proof.json',
        'timestamp.tsr',
      ]),
    );
    expect(formatVerification(base, v)).toMatch(/^OK /);
    // No TSA CA given: the token's signature is checked, its chain is said plainly not to be.
    expect(v.timestamp).toMatchObject({ chainVerified: false, tsaSubject: 'CN=Evidence Test TSA' });
    expect(formatVerification(base, v)).toMatch(/TSA chain NOT checked/);
  });

  it('the time stamp chains to the TSA CA given as trust anchor, and not to another CA', async () => {
    const v = await verifyEvidenceBundle(base, { tsaCaPem: await readFile(tsa.caPem) });
    expect(v.ok).toBe(true);
    expect(v.timestamp?.chainVerified).toBe(true);
    expect(formatVerification(base, v)).toMatch(/chain to the trusted TSA CA checked/);
    const rogue = await startTestTsa();
    try {
      const bad = await verifyEvidenceBundle(base, { tsaCaPem: await readFile(rogue.caPem) });
      expect(bad.ok).toBe(false);
      expect(bad.firstError).toEqual({
        element: 'timestamp.tsr',
        detail: expect.stringMatching(/does not chain to a trusted certificate/),
      });
    } finally {
      await rogue.close();
    }
  }, 30_000);

  it.each([4, 1, 12])('a changed event line names seq %i', async (seq) => {
    const bad = await tamper(
      base,
      join(dir, `event-${seq}.zip`),
      replaceFile('events.jsonl', (b) => {
        const lines = b.toString('utf8').split('\n');
        lines[seq - 1] = lines[seq - 1].replace(`"step":${seq - 1}`, `"step":${seq + 100}`);
        return Buffer.from(lines.join('\n'));
      }),
    );
    const v = await verifyEvidenceBundle(bad);
    expect(v.ok).toBe(false);
    expect(v.firstError).toEqual({
      element: `events.jsonl#seq=${seq}`,
      detail: expect.stringMatching(/hash_mismatch/),
    });
    // The file check against the signed manifest fails as well.
    expect(v.checks).toContainEqual(expect.objectContaining({ element: 'events.jsonl', ok: false }));
    expect(formatVerification(bad, v)).toContain(`first broken element: events.jsonl#seq=${seq}`);
  });

  it('an event line that is not JSON names the line', async () => {
    const bad = await tamper(
      base,
      join(dir, 'json.zip'),
      replaceFile('events.jsonl', (b) => {
        const lines = b.toString('utf8').split('\n');
        lines[4] = lines[4].slice(0, 20);
        return Buffer.from(lines.join('\n'));
      }),
    );
    expect((await verifyEvidenceBundle(bad)).firstError).toEqual({
      element: 'events.jsonl#line=5',
      detail: 'line is not JSON',
    });
  });

  it('a deleted event line names the gap, a dropped tail names the head', async () => {
    const gap = await tamper(
      base,
      join(dir, 'gap.zip'),
      replaceFile('events.jsonl', (b) => {
        const lines = b.toString('utf8').split('\n');
        lines.splice(6, 1);
        return Buffer.from(lines.join('\n'));
      }),
    );
    expect((await verifyEvidenceBundle(gap)).firstError).toEqual({
      element: 'events.jsonl#seq=7',
      detail: expect.stringMatching(/seq_gap/),
    });
    const tail = await tamper(
      base,
      join(dir, 'tail.zip'),
      replaceFile('events.jsonl', (b) =>
        Buffer.from(b.toString('utf8').split('\n').slice(0, 10).join('\n') + '\n'),
      ),
    );
    expect((await verifyEvidenceBundle(tail)).firstError).toEqual({
      element: 'events.jsonl#seq=11',
      detail: expect.stringMatching(/head_mismatch/),
    });
  });

  it('a changed artifact byte names the artifact', async () => {
    const bad = await tamper(
      base,
      join(dir, 'artifact.zip'),
      replaceFile('artifacts/letter-N-0.pdf', (b) => {
        const c = Buffer.from(b);
        c[2000] ^= 0x01;
        return c;
      }),
    );
    const v = await verifyEvidenceBundle(bad);
    expect(v.firstError).toEqual({
      element: 'artifacts/letter-N-0.pdf',
      detail: expect.stringMatching(/differs/),
    });
    expect(v.checks.filter((c) => !c.ok)).toHaveLength(1);
  });

  it('a changed manifest entry names the entry, or the manifest when no file disagrees', async () => {
    const editManifest = (f: (m: { files: { name: string; sha256: string; mediaType: string }[] }) => void) =>
      replaceFile('manifest.json', (b) => {
        const m = JSON.parse(b.toString()) as {
          files: { name: string; sha256: string; mediaType: string }[];
        };
        f(m);
        return Buffer.from(canonicalJson(m));
      });
    const hashEdit = await tamper(
      base,
      join(dir, 'manifest-hash.zip'),
      editManifest((m) => {
        m.files.find((x) => x.name === 'artifacts/sms/N-1.txt')!.sha256 = '0'.repeat(64);
      }),
    );
    const v1 = await verifyEvidenceBundle(hashEdit);
    expect(v1.firstError?.element).toBe('manifest.json#artifacts/sms/N-1.txt');
    expect(v1.checks).toContainEqual(expect.objectContaining({ element: 'manifest.json', ok: false }));

    const typeEdit = await tamper(
      base,
      join(dir, 'manifest-type.zip'),
      editManifest((m) => {
        m.files[0].mediaType = 'text/html';
      }),
    );
    expect((await verifyEvidenceBundle(typeEdit)).firstError).toEqual({
      element: 'manifest.json',
      detail: expect.stringMatching(/does not verify/),
    });
  });

  it('an extra file, a missing file and a swapped key are named', async () => {
    const extra = await tamper(base, join(dir, 'extra.zip'), (files) => [
      ...files,
      { name: 'artifacts/extra.txt', data: Buffer.from('x') },
    ]);
    expect((await verifyEvidenceBundle(extra)).firstError?.element).toBe('artifacts/extra.txt');

    const missing = await tamper(base, join(dir, 'missing.zip'), (files) =>
      files.filter((f) => f.name !== 'certificate.pdf'),
    );
    expect((await verifyEvidenceBundle(missing)).firstError).toEqual({
      element: 'certificate.pdf',
      detail: expect.stringMatching(/missing/),
    });

    // A forger re-signs everything with their own key: only the trusted key catches it.
    const forger = loadSigningKey(generateSigningKeyPair().privateKeyPem);
    const forged = join(dir, 'forged.zip');
    await writeEvidenceBundle(createWriteStream(forged), {
      ...baseInput(),
      checkpoint: undefined,
      signingKey: forger,
      publicKeyPem: forger.publicKeyPem,
    });
    expect((await verifyEvidenceBundle(forged)).ok).toBe(true);
    expect((await verifyEvidenceBundle(forged, { publicKeyPem: key.publicKeyPem })).firstError?.element).toBe(
      'public-key.pem',
    );
  });

  it('a checkpoint that does not cover this head names the proof; an older head still verifies', async () => {
    const head = events[11];
    const otherTree = new CaseHeadTree([
      { caseId: CASE, seq: head.seq, hash: sha('not the head') },
      { caseId: 'C-x', seq: 1, hash: sha('x') },
    ]);
    const signed = signCheckpoint(key, { treeSize: 2, rootHash: otherTree.rootHash, createdAt: new Date(0) });
    const goodTree = new CaseHeadTree([
      { caseId: CASE, seq: 12, hash: head.hash },
      { caseId: 'C-x', seq: 1, hash: sha('x') },
    ]);
    const wrongRoot = join(dir, 'wrong-root.zip');
    await writeEvidenceBundle(createWriteStream(wrongRoot), {
      ...baseInput(),
      checkpoint: { signed, inclusionProof: goodTree.proofFor(CASE) },
    });
    expect((await verifyEvidenceBundle(wrongRoot)).firstError).toEqual({
      element: 'checkpoint-proof.json',
      detail: expect.stringMatching(/does not lead to the root/),
    });

    // A checkpoint taken at seq 9; the case has grown to 12 since.
    const oldTree = new CaseHeadTree([
      { caseId: CASE, seq: 9, hash: events[8].hash },
      { caseId: 'C-x', seq: 1, hash: sha('x') },
    ]);
    const oldSigned = signCheckpoint(key, {
      treeSize: 2,
      rootHash: oldTree.rootHash,
      createdAt: new Date(0),
    });
    const older = join(dir, 'older.zip');
    await writeEvidenceBundle(createWriteStream(older), {
      ...baseInput(),
      checkpoint: { signed: oldSigned, inclusionProof: oldTree.proofFor(CASE) },
    });
    const v = await verifyEvidenceBundle(older);
    expect(v.ok).toBe(true);
    expect(v.checks).toContainEqual({
      element: 'checkpoint-proof.json',
      ok: true,
      detail: expect.stringMatching(/seq 9/),
    });
  });

  it('a time stamp over other bytes is named', async () => {
    const input = baseInput();
    const otherToken = await requestTimestamp(tsa.url, Buffer.from('something else'));
    const out = join(dir, 'tsr.zip');
    await writeEvidenceBundle(createWriteStream(out), {
      ...input,
      checkpoint: { ...input.checkpoint!, tsaToken: otherToken },
    });
    expect((await verifyEvidenceBundle(out)).firstError).toEqual({
      element: 'timestamp.tsr',
      detail: 'time-stamp imprint does not match the data',
    });
  });

  it('a file that is not a zip fails at the zip', async () => {
    const junk = join(dir, 'junk.zip');
    await writeFile(junk, 'not a zip');
    expect((await verifyEvidenceBundle(junk)).firstError?.element).toBe('zip');
  });

  it('refuses to write an artifact whose bytes differ from its declared hash, or a foreign event', async () => {
    const errors: Error[] = [];
    const sink = (): PassThrough => new PassThrough().on('error', (e) => errors.push(e)).resume();
    const first = sink();
    await expect(
      writeEvidenceBundle(first, {
        ...baseInput(),
        artifacts: [{ name: 'a.pdf', sha256: '1'.repeat(64), mediaType: 'application/pdf', content: pdf }],
      }),
    ).rejects.toThrow(/differs from the declared/);
    await new Promise((r) => setImmediate(r));
    expect(first.destroyed).toBe(true);
    expect(errors[0]?.message).toMatch(/differs from the declared/);

    await expect(
      writeEvidenceBundle(sink(), {
        ...baseInput(),
        events: [...events.slice(0, 3), ...makeEvents('C-other', 1)],
      }),
    ).rejects.toThrow(/belongs to case C-other/);
    await expect(
      writeEvidenceBundle(sink(), {
        ...baseInput(),
        artifacts: [{ name: '../etc/passwd', sha256: sha(pdf), mediaType: 'text/plain', content: pdf }],
      }),
    ).rejects.toThrow(/unsafe artifact name/);
  });

  it('propagates a failing event source', async () => {
    async function* broken(): AsyncGenerator<ChainedEvent> {
      yield events[0];
      throw new Error('database went away');
    }
    await expect(
      writeEvidenceBundle(new PassThrough().on('error', () => undefined).resume(), {
        ...baseInput(),
        events: broken(),
      }),
    ).rejects.toThrow(/database went away/);
  });
});
