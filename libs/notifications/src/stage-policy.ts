import { channelDefinition } from '#libs/channels';
/**
 * Automatic mode: the stage policy (from the configuration) picks the stage from the DPD, then
 * the first channel of the stage's order the recipient has an address for, and its template.
 * Pure: no Nest, no I/O. The decision, with its reason and the whole order, goes into the evidence.
 */
import type { StagePolicy, StagePolicyChannel, StagePolicyStage } from '#libs/config';
import { type Channel, type Recipient, type Stage, ValidationError } from '#libs/core';

export type { StagePolicy, StagePolicyChannel, StagePolicyStage } from '#libs/config';

export interface StageCandidate {
  channel: Channel;
  templateKey: string | null;
  registered: boolean;
  /** Whether the recipient can be reached on this channel with a template for their role. */
  available: boolean;
  /** Why it is unavailable (`no recipient.phone`, `no third-party template`), or null. */
  unavailableBecause: string | null;
}

export interface StageDecision {
  mode: 'automatic';
  /** How the stage was found: from `dpd` through the ranges, or given as `stage`. */
  stageFrom: 'dpd' | 'stage';
  dpd: number | null;
  stage: Stage;
  dpdRange: { min: number | null; max: number | null };
  /** The stage's channel order as configured, each with its availability for this recipient. */
  order: StageCandidate[];
  chosen: { channel: Channel; templateKey: string; registered: boolean; position: number };
  minGapHours: number;
  reason: string;
}

/** The stage whose DPD range contains `dpd`, if any. */
export function stageForDpd(policy: StagePolicy, dpd: number): StagePolicyStage | undefined {
  return policy.stages.find(
    (s) => (s.minDpd === null || dpd >= s.minDpd) && (s.maxDpd === null || dpd <= s.maxDpd),
  );
}

function rangeText(s: StagePolicyStage): string {
  if (s.minDpd === null) return `DPD <= ${s.maxDpd}`;
  if (s.maxDpd === null) return `DPD >= ${s.minDpd}`;
  return `DPD ${s.minDpd}..${s.maxDpd}`;
}

function candidate(c: StagePolicyChannel, recipient: Recipient): StageCandidate {
  const field = channelDefinition(c.channel).addressField;
  const thirdParty = recipient.role === 'contact';
  const templateKey = thirdParty ? (c.contactTemplateKey ?? null) : c.templateKey;
  let unavailableBecause: string | null = null;
  if (!recipient[field]) unavailableBecause = `no recipient.${field}`;
  else if (templateKey === null) unavailableBecause = 'no third-party template for this channel';
  return {
    channel: c.channel,
    templateKey,
    registered: c.registered,
    available: unavailableBecause === null,
    unavailableBecause,
  };
}

/**
 * Picks stage, channel and template. Throws ValidationError when no stage covers the DPD or the
 * recipient has no address for any channel of the stage (naming what is missing).
 */
export function decideStage(
  policy: StagePolicy,
  req: { dpd?: number; stage?: Stage; recipient: Recipient },
): StageDecision {
  let entry: StagePolicyStage | undefined;
  let stageFrom: StageDecision['stageFrom'];
  if (req.stage !== undefined) {
    stageFrom = 'stage';
    entry = policy.stages.find((s) => s.stage === req.stage);
    if (!entry) {
      throw new ValidationError(`The stage policy has no stage '${req.stage}'`, [
        {
          path: 'stage',
          message: `not in the stage policy (${policy.stages.map((s) => s.stage).join(', ')})`,
        },
      ]);
    }
  } else if (req.dpd !== undefined) {
    stageFrom = 'dpd';
    entry = stageForDpd(policy, req.dpd);
    if (!entry) {
      throw new ValidationError(`No collection stage covers ${req.dpd} days past due`, [
        {
          path: 'dpd',
          message: `no stage for DPD ${req.dpd} (${policy.stages.map((s) => `${s.stage}: ${rangeText(s)}`).join('; ')})`,
        },
      ]);
    }
  } else {
    throw new ValidationError('Automatic mode needs dpd or stage', [
      { path: 'dpd', message: 'give dpd or stage (or channel and templateKey)' },
    ]);
  }
  const order = entry.channels.map((c) => candidate(c, req.recipient));
  const position = order.findIndex((c) => c.available);
  if (position < 0) {
    throw new ValidationError(
      `The recipient cannot be reached on any channel of stage ${entry.stage} (${order.map((c) => c.channel).join(', ')})`,
      order.map((c) => ({
        path: c.unavailableBecause?.startsWith('no recipient.')
          ? c.unavailableBecause.slice(3)
          : 'recipient.role',
        message: `${c.channel}: ${c.unavailableBecause ?? 'unavailable'}`,
      })),
    );
  }
  const chosen = order[position];
  const skipped = order.slice(0, position).map((c) => `${c.channel} (${c.unavailableBecause})`);
  const why =
    stageFrom === 'dpd'
      ? `DPD ${req.dpd} is in ${entry.stage} (${rangeText(entry)})`
      : `stage ${entry.stage} given`;
  return {
    mode: 'automatic',
    stageFrom,
    dpd: req.dpd ?? null,
    stage: entry.stage,
    dpdRange: { min: entry.minDpd, max: entry.maxDpd },
    order,
    chosen: {
      channel: chosen.channel,
      templateKey: chosen.templateKey as string,
      registered: chosen.registered,
      position: position + 1,
    },
    minGapHours: entry.minGapHours,
    reason:
      `${why}; channel order ${order.map((c) => c.channel).join(' > ')}; ` +
      (skipped.length ? `skipped ${skipped.join(', ')}; ` : '') +
      `first reachable: ${chosen.channel}${chosen.registered ? ' (registered)' : ''} with ${chosen.templateKey}`,
  };
}
