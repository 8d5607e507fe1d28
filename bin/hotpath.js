#!/usr/bin/env node
// Runs the TypeScript sources directly: no build step between a clone and a running service.
import { onSupportedNode } from './runtime.js';

await onSupportedNode();
const { register } = await import('tsx/esm/api');
register();
await import('../src/cli.ts');
