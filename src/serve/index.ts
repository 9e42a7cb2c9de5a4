/** The dashboard and inference server (`aelab serve`), and what it serves. */
export { serve, isLoopback, type ServeOptions, type RunningServer } from './server.js';
export { scan as scanServed, type Registry, type Entry, type EntryKind } from './registry.js';
export { saeServable, modelServable, detectorServable, RequestError, type Servable, type Operation, type Output } from './inference.js';
