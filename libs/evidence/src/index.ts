export * from './chain.js';
export * from './evidence.service.js';
export * from './evidence.module.js';
export * from './merkle.js';
export * from './signing.js';
export * from './tsa.js';
export * from './bundle.js';
export * from './bundle-verify.js';
