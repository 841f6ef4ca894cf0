export * from './notification.dto.js';
export * from './input.js';
export * from './page.js';
export * from './problems.js';
export * from './responses.js';
