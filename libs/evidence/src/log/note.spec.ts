import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '#libs/core';
import { merkleLeafHash } from '../merkle.js';
import {
  cosignatureTimestamp,
  cosignatureV1Message,
  cosignatureV1Signer,
  ed25519NoteSigner,
  ed25519PublicKeyRaw,
  formatCheckpoint,
  formatNote,
  formatNoteSigningKey,
  formatVerifierKey,
  generateEd25519Key,
  noteKeyId,
  NoteSignatureError,
  noteVerifier,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseNoteSigningKey,
  parseSignatureLines,
  parseVerifierKey,
  SIG_TYPE_COSIGNATURE_V1,
  SIG_TYPE_ED25519,
  signCheckpointNote,
  signNote,
} from './note.js';
import { MerkleLevels } from './proofs.js';

const TESSERA = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'tessera');

// c2sp.org/signed-note, "Verifier keys / Example".
const C2SP_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const C2SP_NOTE =
  'This is an example message.\n\n' +
  '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

// transparency-dev/tessera: testdata/build_log.sh and internal/witness/client_test.go.
const LOG_SKEY = 'PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg';
const LOG_VKEY = 'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx';
const WIT1_SKEY = 'PRIVATE+KEY+Wit1+55ee4561+AeadRiG7XM4XiieCHzD8lxysXMwcViy5nYsoXURWGrlE';
const WIT1_VKEY = 'Wit1+55ee4561+AVhZSmQj9+SoL+p/nN0Hh76xXmF7QcHfytUrI1XfSClk';
// The same key as a cosignature/v1 key (type 0x04): another key ID for the same public key.
const WIT2_ALT_SKEY = 'PRIVATE+KEY+Wit2+36009101+ASWI6XB1l1/fPORsXVxCbMvxfrvh7bXtYkNNlD1NYe2H';
const WIT2_ALT_VKEY = 'Wit2+112f0455+BCy8NYvyk7N1dkxNxgrI3YAJzQDc0FIfs0q7q8U/cwOF';
const LEAVES = 'one two three four five six seven eit nain ten ileven twelf threeten fourten fivten'.split(
  ' ',
);

function tesseraCheckpoint(size: number): string {
  return readFileSync(join(TESSERA, `checkpoint.${size}`), 'utf8');
}

describe('keys: key IDs and vkeys against C2SP and tessera vectors', () => {
  it('parses the C2SP example vkey and recomputes its key ID', () => {
    const k = parseVerifierKey(C2SP_VKEY);
    expect(k.name).toBe('example.com/foo');
    expect(k.keyId).toBe(0x530d903a);
    expect(k.type).toBe(SIG_TYPE_ED25519);
    expect(formatVerifierKey(k.name, k.type, k.publicKey)).toBe(C2SP_VKEY);
  });

  it('derives the published vkeys from the published private keys', () => {
    for (const [skey, vkey] of [
      [LOG_SKEY, LOG_VKEY],
      [WIT1_SKEY, WIT1_VKEY],
    ]) {
      const s = parseNoteSigningKey(skey);
      expect(ed25519NoteSigner(s.name, s.privateKey).vkey).toBe(vkey);
      expect(formatNoteSigningKey(s.name, SIG_TYPE_ED25519, s.privateKey)).toBe(skey);
    }
    const alt = parseNoteSigningKey(WIT2_ALT_SKEY);
    const cosigner = cosignatureV1Signer(alt.name, alt.privateKey);
    expect(cosigner.vkey).toBe(WIT2_ALT_VKEY);
    expect(cosigner.keyId).toBe(0x112f0455);
    expect(noteKeyId('Wit2', SIG_TYPE_COSIGNATURE_V1, ed25519PublicKeyRaw(alt.privateKey))).toBe(0x112f0455);
  });

  it('refuses a vkey whose key ID does not match, a bad name or a short key', () => {
    expect(() => parseVerifierKey(C2SP_VKEY.replace('530d903a', '530d903b'))).toThrow(ValidationError);
    expect(() => parseVerifierKey(C2SP_VKEY.replace('example.com/foo', 'example.com/bar'))).toThrow(
      ValidationError,
    );
    expect(() => parseVerifierKey('a b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k')).toThrow();
    expect(() => parseVerifierKey('x+00000000+AQID')).toThrow(ValidationError);
    expect(() => parseNoteSigningKey(LOG_SKEY.replace('33d7b496', '33d7b497'))).toThrow(ValidationError);
  });
});

describe('signed notes', () => {
  it('verifies the C2SP example note and refuses it tampered', () => {
    const v = noteVerifier(C2SP_VKEY);
    const opened = openNote(C2SP_NOTE, [v]);
    expect(opened.text).toBe('This is an example message.\n');
    expect(opened.verified).toHaveLength(1);
    expect(() => openNote(C2SP_NOTE.replace('example message', 'example massage'), [v])).toThrow(
      NoteSignatureError,
    );
    // Flip one bit of the signature itself.
    const n = parseNote(C2SP_NOTE);
    n.signatures[0].signature[10] ^= 1;
    expect(() => openNote(formatNote(n), [v])).toThrow(NoteSignatureError);
  });

  it('round-trips format and parse byte for byte', () => {
    const n = parseNote(C2SP_NOTE);
    expect(formatNote(n)).toBe(C2SP_NOTE);
    const text = 'line one\n\nline three after an empty line\n';
    const s = ed25519NoteSigner('example.org/a', generateEd25519Key());
    const signed = signNote(text, [s]);
    const back = parseNote(signed);
    expect(back.text).toBe(text);
    expect(formatNote(back)).toBe(signed);
    expect(openNote(Buffer.from(signed), [noteVerifier(s.vkey)]).text).toBe(text);
  });

  it('ignores unknown keys, requires a known one, and rejects a bad known signature', () => {
    const a = ed25519NoteSigner('example.org/a', generateEd25519Key());
    const b = ed25519NoteSigner('example.org/b', generateEd25519Key());
    // Same name as a, another key (so another key ID): unknown, ignored.
    const impostor = ed25519NoteSigner('example.org/a', generateEd25519Key());
    const text = 'hello\n';
    const note = signNote(text, [impostor, a, b]);
    const opened = openNote(note, [noteVerifier(a.vkey)]);
    expect(opened.verified.map((s) => s.name)).toEqual(['example.org/a']);
    expect(opened.unverified.map((s) => s.keyId)).toEqual([impostor.keyId, b.keyId]);
    expect(() => openNote(signNote(text, [b]), [noteVerifier(a.vkey)])).toThrow(NoteSignatureError);
    // A signature line claiming a's name and key ID but made by another key: rejected outright.
    const forged = parseNote(signNote(text, [a]));
    forged.signatures.push({ name: a.name, keyId: a.keyId, signature: b.sign(text) });
    expect(() => openNote(formatNote(forged), [noteVerifier(a.vkey), noteVerifier(b.vkey)])).toThrow(
      NoteSignatureError,
    );
  });

  it('refuses malformed notes', () => {
    const bad = [
      'no blank line\n— example.com/foo AAAAAAAA\n',
      'text\n\n',
      'text\n\n— example.com/foo Uw2QOkn8\n— \n',
      'text\n\n- example.com/foo Uw2QOkn8srV1\n',
      'text\n\n— example.com/foo Uw2QOkn8srV1',
      'text\n\n— example.com/foo AAAA\n', // 3 bytes: shorter than a key ID + signature
      'text\n\n— example.com/foo Uw2QOkn8srV1 \n',
      'tab\there\n\n— example.com/foo Uw2QOkn8srV1\n',
      'cr\r\n\n— example.com/foo Uw2QOkn8srV1\n',
      'text\n\n— example.com/foo Uw2QOkn8srV1===\n',
    ];
    for (const b of bad) expect(() => parseNote(b)).toThrow(ValidationError);
    expect(() => parseNote(Buffer.from([0x61, 0x0a, 0x0a, 0xff, 0x0a]))).toThrow(ValidationError);
    const many = `x\n\n${'— a AAAAAAA=\n'.repeat(101)}`;
    expect(() => parseNote(many)).toThrow(ValidationError);
    expect(parseNote(`x\n\n${'— a AAAAAAA=\n'.repeat(16)}`).signatures).toHaveLength(16);
  });
});

describe('checkpoints', () => {
  it('verifies every tessera golden checkpoint and recomputes its root from the leaves', () => {
    const verifier = noteVerifier(LOG_VKEY);
    const leafHashes = LEAVES.map((l) => merkleLeafHash(Buffer.from(l)));
    const tree = MerkleLevels.fromLeafHashes(leafHashes);
    const tile = readFileSync(join(TESSERA, 'tile-0-000.p-15'));
    expect(Buffer.concat(leafHashes).equals(tile)).toBe(true);
    const signer = ed25519NoteSigner('example.com/log/testdata', parseNoteSigningKey(LOG_SKEY).privateKey);
    for (let n = 0; n <= 15; n++) {
      const note = tesseraCheckpoint(n);
      const { checkpoint } = openCheckpoint(note, [verifier]);
      expect(checkpoint.origin).toBe('example.com/log/testdata');
      expect(checkpoint.size).toBe(n);
      expect(checkpoint.extensions).toEqual([]);
      expect(checkpoint.root.equals(tree.root(n))).toBe(true);
      // Ed25519 is deterministic: signing the same checkpoint gives Go's exact bytes.
      expect(signCheckpointNote(checkpoint, [signer])).toBe(note);
    }
  });

  it('formats and parses checkpoints with extension lines', () => {
    const cp = {
      origin: 'bank.example/evidence',
      size: 42,
      root: Buffer.alloc(32, 7),
      extensions: ['ext one'],
    };
    const text = formatCheckpoint(cp);
    expect(text).toBe(`bank.example/evidence\n42\n${Buffer.alloc(32, 7).toString('base64')}\next one\n`);
    expect(parseCheckpoint(text)).toEqual(cp);
  });

  it('refuses malformed checkpoint texts', () => {
    const root = Buffer.alloc(32).toString('base64');
    for (const t of [
      `o\n01\n${root}\n`,
      `o\n-1\n${root}\n`,
      `o\n1\n${root}`,
      `\n1\n${root}\n`,
      `o\n1\n${Buffer.alloc(31).toString('base64')}\n`,
      `o\n1\n${root}\n\n`,
      `o\n1\n`,
      `o\n99999999999999999999\n${root}\n`,
    ]) {
      expect(() => parseCheckpoint(t)).toThrow(ValidationError);
    }
    expect(() =>
      openCheckpoint(tesseraCheckpoint(3).replace('\n3\n', '\n4\n'), [noteVerifier(LOG_VKEY)]),
    ).toThrow(NoteSignatureError);
  });
});

describe('cosignature/v1', () => {
  const key = parseNoteSigningKey(WIT2_ALT_SKEY).privateKey;
  const cosigner = cosignatureV1Signer('Wit2', key, () => 1_679_315_147);

  it('signs "cosignature/v1\\ntime <t>\\n" + checkpoint as timestamp || Ed25519 signature', () => {
    const text = tesseraCheckpoint(9).split('\n\n')[0] + '\n';
    const sig = cosigner.sign(text);
    expect(sig).toHaveLength(72);
    expect(sig.readBigUInt64BE(0)).toBe(1_679_315_147n);
    expect(cosignatureTimestamp(sig)).toBe(1_679_315_147);
    expect(cosignatureV1Message(text, 1_679_315_147).toString()).toBe(
      `cosignature/v1\ntime 1679315147\n${text}`,
    );
    // An independent check with node:crypto on the documented message.
    const v = noteVerifier(WIT2_ALT_VKEY);
    expect(v.verify(text, sig)).toBe(true);
    expect(v.keyId).toBe(0x112f0455);
  });

  it('adds a cosignature to a log-signed checkpoint; both verify, each with its own key', () => {
    const note = tesseraCheckpoint(9);
    const parsed = parseNote(note);
    const cosigned = signNote(parsed.text, [cosigner], parsed.signatures);
    const opened = openCheckpoint(cosigned, [noteVerifier(LOG_VKEY), noteVerifier(WIT2_ALT_VKEY)]);
    expect(opened.note.verified).toHaveLength(2);
    // The plain Ed25519 key of the same witness (type 0x01) does not verify the cosignature.
    expect(() =>
      openNote(signNote(parsed.text, [cosigner]), [
        noteVerifier(formatVerifierKey('Wit2', 1, cosigner.publicKey)),
      ]),
    ).toThrow(NoteSignatureError);
    // The response lines of a witness parse back to the same signature.
    const line = cosigned.split('\n\n')[1].split('\n')[1] + '\n';
    expect(parseSignatureLines(line)[0].keyId).toBe(0x112f0455);
  });

  it('fails on another time, another checkpoint or a cut signature', () => {
    const text = tesseraCheckpoint(5).split('\n\n')[0] + '\n';
    const sig = cosigner.sign(text);
    const v = noteVerifier(WIT2_ALT_VKEY);
    const otherTime = Buffer.from(sig);
    otherTime.writeBigUInt64BE(1_679_315_148n, 0);
    expect(v.verify(text, otherTime)).toBe(false);
    expect(v.verify(text.replace('\n5\n', '\n6\n'), sig)).toBe(false);
    expect(v.verify(text, sig.subarray(0, 71))).toBe(false);
    expect(v.verify(text, sig.subarray(8))).toBe(false);
    const huge = Buffer.from(sig);
    huge.writeBigUInt64BE(2n ** 63n, 0);
    expect(cosignatureTimestamp(huge)).toBeNull();
  });
});
