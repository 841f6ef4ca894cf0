export * from './set.js';
export * from './integrity.service.js';
export * from './witnesses.js';
export * from './anchor.js';
