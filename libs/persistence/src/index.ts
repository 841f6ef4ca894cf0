export * from './entities.js';
export * from './database.js';
export * from './persistence.module.js';
export * from './storage.js';
export * from './roles.js';
export * from './pipeline-stats.js';
