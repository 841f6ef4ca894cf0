export * from './message-id.js';
export * from './smtp.email.js';
export * from './sandbox.email.js';
export * from './dsn.js';
export * from './events.js';
export * from './unsubscribe.js';
export * from './eml.js';
