export { imagePipeline, progressQuery } from './imagePipeline.js';
export { outputLease, acquireOutputUpdate, releaseOutputSignal } from './outputLease.js';
