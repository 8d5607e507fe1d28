import { serveWithBaselines } from '../support/baseline-server.ts';
import { baselineWorklistRoutes } from './baseline-routes.ts';

await serveWithBaselines('the V1 worklist', baselineWorklistRoutes);
