// The app's stylesheet first: a screen's own (web/src/worklist/worklist.css) comes after it and refines it.
import './app/styles.css';
import { setNonce } from 'get-nonce';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App.tsx';
import { takeTokenFromAddress } from './app/session.ts';

// Radix's scroll lock (the worklist's confirmation dialog) adds a <style>: the page's nonce allows it.
const nonce = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]')?.nonce;
if (nonce) setNonce(nonce);

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
