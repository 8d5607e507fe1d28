import { Link } from '@tanstack/react-router';
import { readClaims, useToken } from '../app/session.ts';
import { usePageTitle } from '../app/title.ts';

/** What hotpath serves, and where: the two apps and the API's description. */
export function HomePage() {
  usePageTitle('');
  const token = useToken();
  const claims = token ? readClaims(token) : undefined;
  return (
    <div className="home">
      <div className="home-intro">
        <h1>hotpath</h1>
        <p className="lead">
          Read-heavy APIs that teams usually make slow, served fast — every answer says what it cost in its{' '}
          <code>Server-Timing</code> header.
        </p>
        {claims ? (
          <p className="home-session">
            Signed in as <strong>{claims.subject}</strong> ({claims.role}) in this tab.
          </p>
        ) : (
          <p className="home-session">
            <Link to="/sign-in">Sign in</Link> with a token, or open a link that <code>npm start</code>{' '}
            prints.
          </p>
        )}
      </div>
      <ul className="app-links">
        <li className="app-link">
          <h2>
            <Link to="/worklist">Worklist</Link>
          </h2>
          <p>
            For clinicians: the documents a hospital receives, matched to its patients, to verify and file
            into the patient record.
          </p>
        </li>
        <li className="app-link">
          <h2>
            <Link to="/dashboard">Dashboard</Link>
          </h2>
          <p>For merchants: revenue, sales per day, top products and customers, and low stock.</p>
        </li>
        <li className="app-link">
          <h2>
            <a href="/docs">API docs</a>
          </h2>
          <p>
            Every route, its schemas and its statement budget, browsable; the description itself is at{' '}
            <a href="/openapi.json">/openapi.json</a>.
          </p>
        </li>
      </ul>
    </div>
  );
}
