export * from './chain.js';
export * from './evidence.service.js';
export * from './evidence.module.js';
