// The node library: drag an item onto the canvas, or press it (Enter/Space) to add it at the
// centre of the view.
import { KIND_INFO } from '../nodeKinds';
import { useModels } from '../store/models';
import { NODE_KINDS, type NodeKind } from '../types';
import { cx } from '../ui';

export const DND_MIME = 'application/x-chorus-node';

export interface PaletteItem {
  kind: NodeKind;
  provider?: string;
}

export function Palette({ onAdd, disabled }: { onAdd: (item: PaletteItem) => void; disabled?: boolean }) {
  const providers = useModels((s) => s.providers);
  const items: (PaletteItem & { title: string; description: string; color: string })[] = [];
  for (const kind of NODE_KINDS) {
    const info = KIND_INFO[kind];
    if (kind === 'llm') for (const p of providers) items.push({ kind, provider: p, title: `LLM · ${p}`, description: p === 'simulated' ? 'Offline model, no key needed' : `Model call on ${p}`, color: info.color });
    else items.push({ kind, title: info.title, description: info.description, color: info.color });
  }
  return (
    <nav aria-label="Node library" className="flex h-full w-48 shrink-0 flex-col gap-1 overflow-y-auto border-r border-slate-200 bg-white p-2">
      <h2 className="px-1 text-xs font-semibold uppercase text-slate-500">Nodes</h2>
      {items.map((it) => (
        <button
          type="button"
          key={`${it.kind}-${it.provider ?? ''}`}
          draggable={!disabled}
          disabled={disabled}
          onDragStart={(e) => {
            e.dataTransfer.setData(DND_MIME, JSON.stringify({ kind: it.kind, provider: it.provider }));
            e.dataTransfer.effectAllowed = 'move';
          }}
          onClick={() => onAdd({ kind: it.kind, provider: it.provider })}
          className={cx('cursor-grab rounded border-l-4 bg-slate-50 px-2 py-1 text-left text-sm hover:bg-indigo-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500', it.color)}
          aria-label={`Add ${it.title} node`}
          data-testid={`palette-${it.kind}${it.provider ? `-${it.provider}` : ''}`}
          title={`${it.description} (drag onto the canvas, or press to add)`}
        >
          <div className="font-medium">{it.title}</div>
          <div className="text-[11px] text-slate-500">{it.description}</div>
        </button>
      ))}
    </nav>
  );
}
