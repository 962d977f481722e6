import { useCallback, useEffect, useState } from 'react';
import { ApiError, auth, hadSession, type User } from './api';
import { ApiKeysPage } from './pages/ApiKeysPage';
import { BillingPage, ProfilePage } from './pages/AccountPages';
import { AuthPage } from './pages/AuthPage';
import { EditorPage } from './pages/EditorPage';
import { ExecutionDetailPage, ExecutionsPage } from './pages/ExecutionsPage';
import { TemplateDetailPage, TemplatesPage } from './pages/TemplatesPage';
import { UsagePage } from './pages/UsagePage';
import { WorkflowsPage } from './pages/WorkflowsPage';
import { useGraph } from './store/graph';
import { Button, ErrorBox, Spinner, cx, navigate, useHashRoute } from './ui';

const NAV: [string, string][] = [
  ['editor', 'Editor'],
  ['workflows', 'Workflows'],
  ['executions', 'History'],
  ['usage', 'Usage'],
  ['templates', 'Templates'],
  ['keys', 'API keys'],
  ['billing', 'Plan'],
  ['profile', 'Profile'],
];

export function App() {
  const route = useHashRoute();
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [bootError, setBootError] = useState<unknown>(null);

  const boot = useCallback(() => {
    setBootError(null);
    if (!hadSession()) {
      setUser(null);
      return;
    }
    auth.profile().then(
      (u) => setUser(u),
      (e) => {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) setUser(null);
        else setBootError(e);
      },
    );
  }, []);
  useEffect(boot, [boot]);

  const [page, arg] = route;
  if (bootError) return <ErrorBox error={bootError} onRetry={boot} />;
  if (user === undefined) return <Spinner label="Starting…" />;
  if (!user) {
    const mode = page === 'register' ? 'register' : 'login';
    return (
      <AuthPage
        mode={mode}
        onAuthed={(u) => {
          setUser(u);
          navigate('/workflows');
        }}
      />
    );
  }

  const logout = async () => {
    if (useGraph.getState().dirty && !window.confirm('Log out and lose unsaved changes?')) return;
    try {
      await auth.logout();
    } finally {
      useGraph.getState().reset();
      setUser(null);
      navigate('/login');
    }
  };

  let body: React.ReactNode;
  switch (page) {
    case undefined:
    case 'login':
    case 'register':
    case 'workflows':
      body = <WorkflowsPage />;
      break;
    case 'editor':
      body = <EditorPage routeId={arg} />;
      break;
    case 'executions':
      body = arg ? <ExecutionDetailPage id={arg} /> : <ExecutionsPage />;
      break;
    case 'usage':
      body = <UsagePage />;
      break;
    case 'templates':
      body = arg ? <TemplateDetailPage id={arg} /> : <TemplatesPage />;
      break;
    case 'keys':
      body = <ApiKeysPage />;
      break;
    case 'billing':
      body = <BillingPage user={user} />;
      break;
    case 'profile':
      body = <ProfilePage user={user} onChange={setUser} />;
      break;
    default:
      body = <p className="p-6">Page not found. <a className="underline" href="#/workflows">Go to workflows</a></p>;
  }
  const current = page === undefined || page === 'login' || page === 'register' ? 'workflows' : page;
  return (
    <div className="flex min-h-screen flex-col">
      <header className="flex h-[49px] items-center gap-2 overflow-x-auto border-b border-slate-200 bg-white px-3">
        <a href="#/workflows" className="mr-2 font-bold text-indigo-700">
          Chorus
        </a>
        <nav aria-label="Main" className="flex gap-1">
          {NAV.map(([p, label]) => (
            <a key={p} href={`#/${p}`} aria-current={current === p ? 'page' : undefined} className={cx('whitespace-nowrap rounded px-2 py-1 text-sm', current === p ? 'bg-indigo-100 font-semibold text-indigo-800' : 'text-slate-700 hover:bg-slate-100')}>
              {label}
            </a>
          ))}
        </nav>
        <div className="ml-auto flex items-center gap-2 text-sm">
          <span className="hidden text-slate-500 md:inline" data-testid="current-user">
            {user.email}
          </span>
          <Button variant="ghost" onClick={() => void logout()}>
            Log out
          </Button>
        </div>
      </header>
      {body}
    </div>
  );
}
