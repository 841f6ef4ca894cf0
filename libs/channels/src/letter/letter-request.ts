import { createHash } from 'node:crypto';
import { ProviderError } from '#libs/core';
import type { LetterContent, OutboundMessage } from '../provider.js';
import { validatePostalAddress, type ValidAddress } from './address.js';

export interface CheckedLetter {
  letter: LetterContent;
  address: ValidAddress;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Checks what every post adapter needs before it hands a letter on: the letter part, a PDF whose
 * SHA-256 is the one recorded in the evidence, and a valid address. Failures are non-retryable.
 */
export function checkLetter(provider: string, message: OutboundMessage): CheckedLetter {
  const letter = message.letter;
  if (message.channel !== 'letter' || !letter) {
    throw new ProviderError(`${provider}: message has no letter part`, false, { providerCode: 'no_letter' });
  }
  if (!letter.documentId || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(letter.documentId)) {
    throw new ProviderError(`${provider}: document id must be 1-128 of [A-Za-z0-9._-]`, false, {
      providerCode: 'bad_document_id',
    });
  }
  if (letter.pdf.subarray(0, 5).toString('latin1') !== '%PDF-') {
    throw new ProviderError(`${provider}: letter content is not a PDF`, false, { providerCode: 'not_pdf' });
  }
  const actual = sha256Hex(letter.pdf);
  if (actual !== letter.pdfSha256.toLowerCase()) {
    throw new ProviderError(`${provider}: PDF does not match its recorded SHA-256`, false, {
      providerCode: 'pdf_hash_mismatch',
      expected: letter.pdfSha256,
      actual,
    });
  }
  const address = validatePostalAddress(letter.address, letter.recipientName);
  if (!address.ok) {
    throw new ProviderError(`${provider}: invalid postal address`, false, {
      providerCode: 'invalid_address',
      problems: address.problems,
    });
  }
  return { letter, address };
}
