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
    // The server has no model list endpoint (yet): the bundled price table gives the models,
    // /api/health the provider ids this server knows. When /api/health advertises
    // `features.models`, the server's list (with its prices) replaces the bundled one.
    try {
      const h = await health();
      if (Array.isArray(h.providers) && h.providers.length) set({ providers: [...new Set(['simulated', ...h.providers])] });
      if (h.features?.models) {
        const list = (await modelsApi.list()).filter((m) => m.provider && m.id);
        if (list.length) set({ models: list, source: 'server' });
      }
    } catch {
      /* keep the defaults; the picker still accepts any model id */
    }
  },
}));

export function priceLabel(m: ModelInfo): string {
  if (m.inputPrice == null && m.outputPrice == null) return m.id;
  return `${m.id} ($${m.inputPrice ?? '?'} / $${m.outputPrice ?? '?'} per 1M tok)`;
}
