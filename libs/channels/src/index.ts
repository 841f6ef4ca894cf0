export * from './provider.js';
export * from './sms/sandbox.sms.js';
export * from './sms/twilio.sms.js';
export * from './sms/twilio-http-client.js';
export * from './channels.module.js';
export * from './email/index.js';
export * from './post/index.js';
