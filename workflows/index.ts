export { imagePipeline, progressQuery } from './imagePipeline.js';
