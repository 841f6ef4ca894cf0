export * from './notification.dto.js';
