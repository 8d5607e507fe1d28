import { serveWithBaselines } from '../support/baseline-server.ts';
import { baselineDashboardRoutes } from './baseline-routes.ts';

await serveWithBaselines('the V1 and single-JOIN dashboards', baselineDashboardRoutes);
