export * from './types.js';
export * from './diff.js';
export * from './input.js';
export * from './preview.js';
export * from './export.js';
export * from './template-store.service.js';
export * from './template.repository.js';
export * from './template-store.module.js';
