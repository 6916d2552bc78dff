export * from './pool.js';
export * from './prisma-client.js';
export * from './migrate.js';
export * from './queue.js';
export * from './listener.js';
export * from './jobs-repo.js';
export * from './job-reads.js';
export * from './definitions-repo.js';
