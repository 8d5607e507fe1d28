import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App.tsx';
import { takeTokenFromAddress } from './app/session.ts';
import './app/styles.css';

// Before the router reads the address: the token must leave it at once.
takeTokenFromAddress();
window.addEventListener('hashchange', takeTokenFromAddress);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
