import { createRoute } from '@tanstack/react-router';
import { rootRoute } from '../app/root.tsx';
import { HomePage } from './HomePage.tsx';

export const homeRoute = createRoute({ getParentRoute: () => rootRoute, path: '/', component: HomePage });
