export * from './queue.port.js';
export * from './in-process.queue.js';
export * from './bullmq.queue.js';
export * from './queue.module.js';
export * from './periodic-tasks.js';
