export * from './errors.js';
export * from './names.js';
export * from './definitions.js';
export * from './definition-documents.js';
export * from './chat.js';
export * from './plan.js';
export * from './config.js';
export * from './secret-box.js';
