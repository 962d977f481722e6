import { useEffect, useState } from 'react';
import { apiKeys, type ApiKeyInfo } from '../api';
import { useModels } from '../store/models';
import { Button, Empty, ErrorBox, Page, Spinner, fmtDate, useAsync } from '../ui';

/** Only ever the last 4 characters: the server never sends more, and we never show more. */
function masked(k: ApiKeyInfo): string {
  const tail = String(k.last4 ?? k.hint ?? '').slice(-4);
  return tail ? `••••${tail}` : 'set';
}

export function ApiKeysPage() {
  const providers = useModels((s) => s.providers).filter((p) => p !== 'simulated');
  const loadModels = useModels((s) => s.load);
  useEffect(() => void loadModels(), [loadModels]);
  const list = useAsync(() => apiKeys.list(), []);
  const [provider, setProvider] = useState(providers[0] ?? 'openai');
  const [key, setKey] = useState('');
  const [check, setCheck] = useState(true);
  const [state, setState] = useState<{ busy?: boolean; error?: unknown; note?: string }>({});
  const save = async () => {
    setState({ busy: true });
    try {
      await apiKeys.set(provider, key.trim(), !check);
      setKey('');
      setState({ note: `Key for ${provider} saved.` });
      list.reload();
    } catch (e) {
      setState({ error: e });
    }
  };
  const remove = async (p: string) => {
    setState({ busy: true });
    try {
      await apiKeys.remove(p);
      setState({ note: `Key for ${p} deleted.` });
      list.reload();
    } catch (e) {
      setState({ error: e });
    }
  };
  return (
    <Page title="API keys">
      <p className="mb-3 text-sm text-slate-600">Keys are encrypted on the server and never shown again: only their last 4 characters. Saving a key checks it with the provider first (a refused key is not stored). The simulated provider needs no key.</p>
      <form
        className="mb-4 flex flex-wrap items-end gap-2 rounded bg-white p-3 shadow-sm"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label className="text-sm">
          Provider
          <select aria-label="Provider" className="ml-1 rounded border border-slate-300" value={provider} onChange={(e) => setProvider(e.target.value)}>
            {providers.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <label className="flex-1 text-sm">
          API key
          <input aria-label="API key" type="password" autoComplete="off" required className="ml-1 w-full min-w-48 rounded border border-slate-300 px-2 py-1" value={key} onChange={(e) => setKey(e.target.value)} />
        </label>
        <label className="flex items-center gap-1 text-sm">
          <input type="checkbox" checked={check} onChange={(e) => setCheck(e.target.checked)} />
          Check the key with the provider first
        </label>
        <Button variant="primary" type="submit" disabled={state.busy || !key.trim()}>
          Save key
        </Button>
      </form>
      {state.note && (
        <p role="status" className="mb-2 text-sm text-emerald-700">
          {state.note}
        </p>
      )}
      <ErrorBox error={state.error ?? list.error} onRetry={list.error ? list.reload : undefined} />
      {list.loading && <Spinner />}
      {list.data && list.data.length === 0 && <Empty>No keys yet.</Empty>}
      {list.data && list.data.length > 0 && (
        <table className="w-full rounded bg-white text-sm shadow-sm" aria-label="Saved keys">
          <tbody>
            {list.data.map((k) => (
              <tr key={k.provider} className="border-t border-slate-100" data-testid={`key-${k.provider}`}>
                <td className="p-2 font-medium">{k.provider}</td>
                <td className="p-2 font-mono">{masked(k)}</td>
                <td className="p-2 text-xs text-slate-500">{fmtDate(k.updatedAt ?? k.createdAt)}</td>
                <td className="space-x-1 p-2 text-right">
                  <Button variant="danger" onClick={() => void remove(k.provider)} disabled={state.busy} aria-label={`Delete ${k.provider} key`}>
                    Delete
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}
