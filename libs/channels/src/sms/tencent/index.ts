export * from './tencent.sms.js';
