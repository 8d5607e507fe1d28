import Fastify from 'fastify';
import pg from 'pg';

/**
 * What the machine can do at all, for the benchmark's "limit" rows: bare Fastify answering a constant
 * (`/hello`) and a single-row primary-key lookup (`/rows/:id`) over a pool of hotpath's size
 * (DB_POOL_MAX) on the same server, with no auth, metrics, schemas or accounting. Each hotpath route is
 * reported as a fraction of these.
 */
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DB_POOL_MAX ?? 10),
});
const answered = { '/hello': 0, '/rows/:id': 0 };
let statements = 0;
const app = Fastify({ logger: false });
app.get('/hello', async () => {
  answered['/hello']++;
  return { hello: 'world' };
});
app.get<{ Params: { id: string } }>('/rows/:id', async (request, reply) => {
  answered['/rows/:id']++;
  statements++;
  const { rows } = await pool.query('SELECT id, name FROM limit_rows WHERE id = $1', [
    Number(request.params.id),
  ]);
  if (rows.length === 0) return reply.code(404).send({ error: 'no such row' });
  return rows[0];
});
app.get('/stats', async () => ({ statements, answered }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.stderr.write('limit server listening\n');
const stop = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
