import { useQueryClient } from '@tanstack/react-query';
import { Link, Outlet, useNavigate } from '@tanstack/react-router';
import { NAV } from './nav.ts';
import { readClaims, signOut, useToken } from './session.ts';
import { Button } from './ui/Button.tsx';

/** Every screen's frame: a skip link, the header (home, the apps, who is signed in), and the screen. */
export function Layout() {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <div className="site-header-inner">
          <Link to="/" className="brand" aria-label="hotpath home">
            <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
              <rect width="32" height="32" rx="7" fill="#f59e0b" />
              <path d="M18.5 4 8 18h7l-2 10 11-15h-7.2z" fill="#111827" />
            </svg>
            <span>hotpath</span>
          </Link>
          <nav className="site-nav" aria-label="Apps">
            <ul>
              {NAV.map((item) => (
                <li key={item.label}>
                  {'to' in item ? (
                    <Link to={item.to} activeProps={{ className: 'active', 'aria-current': 'page' }}>
                      {item.label}
                    </Link>
                  ) : (
                    <a href={item.href}>{item.label}</a>
                  )}
                </li>
              ))}
            </ul>
          </nav>
          <SessionControl />
        </div>
      </header>
      <main id="main" className="site-main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}

function SessionControl() {
  const token = useToken();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  if (!token) {
    return (
      <div className="session">
        <Link to="/sign-in" className="button button-quiet">
          Sign in
        </Link>
      </div>
    );
  }
  const claims = readClaims(token);
  return (
    <div className="session">
      {claims ? (
        <span className="session-who" title={`signed in as ${claims.subject} (${claims.role})`}>
          <span className="visually-hidden">Signed in as </span>
          {claims.subject}
          <span className="session-role">{claims.role}</span>
        </span>
      ) : null}
      <Button
        variant="quiet"
        onClick={() => {
          signOut();
          queryClient.clear();
          void navigate({ to: '/sign-in', search: { reason: 'signed-out' } });
        }}
      >
        Sign out
      </Button>
    </div>
  );
}
