import { describe, expect, it } from '@jest/globals';
import { twilioOutcome } from './twilio.sms.js';

describe('twilioOutcome', () => {
  it.each([
    ['queued', 'queued'],
    ['accepted', 'queued'],
    ['sending', 'queued'],
    ['sent', 'sent'],
    ['delivered', 'delivered'],
    ['read', 'delivered'],
    ['undelivered', 'undelivered'],
    ['failed', 'failed'],
    ['canceled', 'failed'],
    ['partially_delivered', 'unknown'],
    ['', 'unknown'],
  ])('%s -> %s', (status, outcome) => {
    expect(twilioOutcome(status)).toBe(outcome);
  });
});
