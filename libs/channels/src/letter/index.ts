export * from './address.js';
export * from './post-events.js';
export * from './letter-request.js';
export * from './vendor-webhook.js';
export * from './print-vendor.js';
export * from './print-room.js';
export * from './sandbox.post.js';
