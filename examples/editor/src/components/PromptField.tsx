// A template textarea with `{{…}}` autocompletion of the variables and upstream node outputs.
import { useId, useLayoutEffect, useRef, useState } from 'react';
import { completePlaceholder, openPlaceholder } from '../template';

export function PromptField({ label, value, onChange, variables, rows = 4 }: { label: string; value: string; onChange: (v: string) => void; variables: string[]; rows?: number }) {
  const id = useId();
  const ref = useRef<HTMLTextAreaElement>(null);
  const [menu, setMenu] = useState<{ items: string[]; active: number } | null>(null);

  const refresh = (text: string, caret: number) => {
    const p = openPlaceholder(text, caret);
    if (!p) return setMenu(null);
    const items = variables.filter((v) => v.toLowerCase().startsWith(p.prefix.toLowerCase()) || v.toLowerCase().includes(p.prefix.toLowerCase()));
    setMenu(items.length ? { items, active: 0 } : null);
  };

  // The caret after a completion is placed when the new text is rendered (layout effect), before
  // the next keystroke is handled: placed later (a frame later, as it was), it moved whatever the
  // user typed meanwhile to after the caret's old position.
  const pendingCaret = useRef<{ text: string; caret: number } | null>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    const p = pendingCaret.current;
    if (!el || !p || el.value !== p.text) return;
    pendingCaret.current = null;
    el.setSelectionRange(p.caret, p.caret);
  });

  const choose = (name: string) => {
    const el = ref.current;
    if (!el) return;
    const r = completePlaceholder(el.value, el.selectionStart, name);
    pendingCaret.current = { text: r.text, caret: r.caret };
    el.focus();
    onChange(r.text);
    setMenu(null);
  };

  return (
    <div className="relative">
      <label htmlFor={id} className="mb-1 block text-xs font-medium text-slate-600">
        {label}
      </label>
      <textarea
        id={id}
        ref={ref}
        rows={rows}
        value={value}
        spellCheck={false}
        className="w-full rounded border border-slate-300 p-1.5 font-mono text-xs focus:border-indigo-500 focus:outline-none"
        aria-autocomplete="list"
        aria-expanded={!!menu}
        aria-controls={menu ? `${id}-menu` : undefined}
        onChange={(e) => {
          onChange(e.target.value);
          refresh(e.target.value, e.target.selectionStart);
        }}
        onBlur={() => setTimeout(() => setMenu(null), 150)}
        onKeyDown={(e) => {
          if (!menu) return;
          if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
            e.preventDefault();
            const d = e.key === 'ArrowDown' ? 1 : -1;
            setMenu({ ...menu, active: (menu.active + d + menu.items.length) % menu.items.length });
          } else if (e.key === 'Enter' || e.key === 'Tab') {
            e.preventDefault();
            choose(menu.items[menu.active]);
          } else if (e.key === 'Escape') {
            e.stopPropagation();
            setMenu(null);
          }
        }}
      />
      {menu && (
        <ul id={`${id}-menu`} role="listbox" aria-label="Template variables" className="absolute z-20 mt-1 max-h-40 w-full overflow-y-auto rounded border border-slate-300 bg-white text-xs shadow-lg">
          {menu.items.map((v, i) => (
            <li
              key={v}
              role="option"
              aria-selected={i === menu.active}
              className={`cursor-pointer px-2 py-1 font-mono ${i === menu.active ? 'bg-indigo-100' : ''}`}
              onMouseDown={(e) => {
                e.preventDefault();
                choose(v);
              }}
            >
              {`{{${v}}}`}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
