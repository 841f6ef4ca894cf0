export * from './aliyun.sms.js';
