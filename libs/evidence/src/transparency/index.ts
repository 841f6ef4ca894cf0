export * from './set.js';
export * from './integrity.service.js';
export * from './log.repository.js';
export * from './witnesses.js';
export * from './anchor.js';
