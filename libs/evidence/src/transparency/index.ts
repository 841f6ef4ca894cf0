export * from './set.js';
export * from './integrity.service.js';
