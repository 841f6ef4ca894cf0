/** Public surface of the compliance lib: profiles, the pure gate, and time / cap helpers. */
export * from './types.js';
export {
  DEFAULT_PARAMS,
  DEFAULT_PROFILE,
  DEFAULT_TIME_ZONE,
  cnProfile,
  complianceProfile,
  profileFromParams,
  resolveProfileParams,
  usRegfProfile,
  type ChannelCapParams,
  type ProfileOverrides,
  type ProfileParams,
} from './profiles.js';
export { evaluateGate } from './gate.js';
export {
  capBuckets,
  counterKeys,
  historySince,
  normaliseAddressKey,
  type CapBucket,
  type CapBucketArgs,
} from './caps.js';
export { isWithinWindow, nextAllowedInstant, type ContactWindow } from './time.js';
