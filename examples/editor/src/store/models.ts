// Provider/model list with prices, from the server (GET /api/models) or the built-in fallback.
import { create } from 'zustand';
import { health, models as modelsApi } from '../api';
import { FALLBACK_MODELS, PROVIDERS, type ModelInfo } from '../nodeKinds';

interface ModelsStore {
  models: ModelInfo[];
  providers: string[];
  source: 'fallback' | 'server';
  loaded: boolean;
  load(): Promise<void>;
}

export const useModels = create<ModelsStore>()((set, get) => ({
  models: FALLBACK_MODELS,
  providers: PROVIDERS,
  source: 'fallback',
  loaded: false,
  async load() {
    if (get().loaded) return;
    set({ loaded: true });
    // GET /api/models gives the server's list (the library's provider registry, with prices);
    // /api/health the provider ids this server knows. The bundled price table stays only as
    // the fallback when /api/models fails (older server, network error) or lists nothing.
    const [h, list] = await Promise.all([
      health().catch(() => null),
      modelsApi.list().catch(() => null),
    ]);
    if (h && Array.isArray(h.providers) && h.providers.length) set({ providers: [...new Set(['simulated', ...h.providers])] });
    const usable = (list ?? []).filter((m) => m.provider && m.id);
    if (usable.length) set({ models: usable, source: 'server' });
  },
}));

export function priceLabel(m: ModelInfo): string {
  if (m.inputPrice == null && m.outputPrice == null) return m.id;
  return `${m.id} ($${m.inputPrice ?? '?'} / $${m.outputPrice ?? '?'} per 1M tok)`;
}
