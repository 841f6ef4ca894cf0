export * from './notification.repository.js';
export * from './notifications.service.js';
export * from './receipts.service.js';
export * from './dispatch.processor.js';
export * from './sweeper.js';
export * from './pipeline.runner.js';
export * from './template-registry.js';
export * from './notifications.module.js';
