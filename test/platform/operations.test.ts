import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../src/platform/metrics/registry.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

const promtool = spawnSync('promtool', ['--version']).status === 0;

interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
}

let context: TestContext;
beforeAll(async () => {
  // Builds the whole app, so every module has registered its metrics.
  context = await createTestContext();
});
afterAll(() => context.close());

/** Each metric the registry serves, under every name a query can use, with the labels it carries. */
async function servedSeries(): Promise<Map<string, Set<string>>> {
  const served = new Map<string, Set<string>>();
  for (const metric of await metricsRegistry.getMetricsAsJSON()) {
    const labels = new Set<string>(
      ((metric as unknown as { values: Array<{ labels: Record<string, unknown> }> }).values ?? []).flatMap(
        (value) => Object.keys(value.labels),
      ),
    );
    // Declared label names, whether or not a series has been observed yet.
    const declared = (metricsRegistry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] })
      ?.labelNames;
    for (const label of declared ?? []) labels.add(label);
    const names =
      String(metric.type) === 'histogram'
        ? [`${metric.name}_bucket`, `${metric.name}_count`, `${metric.name}_sum`]
        : [metric.name];
    for (const name of names)
      served.set(name, new Set([...labels, ...(name.endsWith('_bucket') ? ['le'] : [])]));
  }
  return served;
}

describe('the operations files under deploy/', () => {
  it('queries in the Grafana dashboard only metrics and labels that /metrics serves', async () => {
    const dashboard = JSON.parse(readFileSync('deploy/grafana-dashboard.json', 'utf8')) as {
      panels: Panel[];
    };
    const served = await servedSeries();
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets) {
        const metrics = [...expr.matchAll(/\b((?:hotpath|http|nodejs)_[a-z0-9_]+)/g)].map(
          (match) => match[1] as string,
        );
        expect(metrics.length, expr).toBeGreaterThan(0);
        for (const metric of metrics) {
          queried.add(metric);
          expect(served.has(metric), `${panel.title}: ${metric} is not served`).toBe(true);
        }
        // Labels grouped by or matched on must be ones those metrics carry (or Prometheus' own instance).
        const carried = new Set([
          'instance',
          ...metrics.flatMap((metric) => [...(served.get(metric) ?? [])]),
        ]);
        const grouped = [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((match) =>
          (match[1] as string).split(',').map((label) => label.trim()),
        );
        const matched = [...expr.matchAll(/([a-z_]+)=~?"/g)].map((match) => match[1] as string);
        for (const label of [...grouped, ...matched]) {
          expect(carried.has(label), `${panel.title}: label ${label} in ${expr}`).toBe(true);
        }
      }
    }
    // What the seed's team watched is all there.
    for (const metric of [
      'http_request_duration_seconds_bucket',
      'hotpath_db_queries_total',
      'hotpath_cache_requests_total',
      'hotpath_db_pool_in_use',
      'hotpath_db_pool_waiting',
      'hotpath_storage_requests_total',
      'hotpath_external_requests_total',
    ]) {
      expect(queried.has(metric), metric).toBe(true);
    }
  });

  it.skipIf(!promtool && !process.env.CI)('holds a Prometheus configuration promtool accepts', () => {
    const check = spawnSync('promtool', ['check', 'config', 'deploy/prometheus.yml'], { encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  });
});
