import { useState } from 'react';
import { auth, type User } from '../api';
import { Button, ErrorBox } from '../ui';

export function AuthPage({ mode, onAuthed }: { mode: 'login' | 'register'; onAuthed: (u: User) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [state, setState] = useState<{ busy?: boolean; error?: unknown }>({});
  const submit = async () => {
    setState({ busy: true });
    try {
      const u = mode === 'login' ? await auth.login(email, password) : await auth.register(email, password, name || undefined);
      // The session cookie is set; the profile carries the CSRF token when the login did not.
      let me = u;
      try {
        me = await auth.profile();
      } catch {
        /* keep what login returned */
      }
      onAuthed(me.email ? me : { ...u, email });
    } catch (e) {
      setState({ error: e });
    }
  };
  const f = 'mt-1 w-full rounded border border-slate-300 px-2 py-1.5';
  return (
    <main className="mx-auto mt-16 w-full max-w-sm rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
      <h1 className="mb-4 text-xl font-semibold">{mode === 'login' ? 'Log in to Chorus' : 'Create your Chorus account'}</h1>
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {mode === 'register' && (
          <label className="block text-sm">
            Name
            <input className={f} value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" />
          </label>
        )}
        <label className="block text-sm">
          Email
          <input className={f} type="email" required value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" />
        </label>
        <label className="block text-sm">
          Password
          <input className={f} type="password" required minLength={mode === 'register' ? 8 : undefined} value={password} onChange={(e) => setPassword(e.target.value)} autoComplete={mode === 'login' ? 'current-password' : 'new-password'} />
        </label>
        <ErrorBox error={state.error} />
        <Button variant="primary" type="submit" className="w-full" disabled={state.busy}>
          {state.busy ? 'Please wait…' : mode === 'login' ? 'Log in' : 'Create account'}
        </Button>
      </form>
      <p className="mt-4 text-center text-sm">
        {mode === 'login' ? (
          <a className="text-indigo-700 underline" href="#/register">
            No account? Register
          </a>
        ) : (
          <a className="text-indigo-700 underline" href="#/login">
            Have an account? Log in
          </a>
        )}
      </p>
    </main>
  );
}
