export * from './domain.js';
export * from './errors.js';
export * from './clock.js';
export * from './mask.js';
export * from './address-key.js';
export * from './hmac.js';
