/** The training layer: one loop (loop.ts), epoch training of modules (fit.ts), checkpoints and events. */
export * from './checkpoint.js';
export * from './events.js';
export * from './fit.js';
export * from './loop.js';
