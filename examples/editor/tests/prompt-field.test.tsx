// @vitest-environment jsdom
// PromptField's {{…}} completion, rendered by React into jsdom.
import { act, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { expect, it } from 'vitest';
import { PromptField } from '../src/components/PromptField';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function Host({ initial }: { initial: string }) {
  const [value, setValue] = useState(initial);
  return <PromptField label="Prompt" value={value} onChange={setValue} variables={['input', 'draft']} />;
}

// Types into a React-controlled textarea the way a browser does: new value, caret, input event.
function type(el: HTMLTextAreaElement, value: string, caret: number) {
  const setter = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value')!.set!;
  setter.call(el, value);
  el.setSelectionRange(caret, caret);
  el.dispatchEvent(new Event('input', { bubbles: true }));
}

it('puts the caret after the completed placeholder before the next keystroke', async () => {
  const host = document.createElement('div');
  document.body.appendChild(host);
  const root = createRoot(host);
  await act(async () => root.render(<Host initial="A {{in and more" />));
  const el = host.querySelector('textarea')!;
  el.focus();
  await act(async () => type(el, 'A {{inp and more', 7));
  expect(host.querySelector('[role="listbox"]')?.textContent).toContain('{{input}}');

  // Enter picks the suggestion; the caret must be right after "}}" as soon as the key is handled
  // (a keystroke typed next lands there), not a frame later.
  act(() => {
    el.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
  });
  expect(el.value).toBe('A {{input}} and more');
  expect(el.selectionStart).toBe('A {{input}}'.length);
  expect(host.querySelector('[role="listbox"]')).toBeNull();

  await act(async () => type(el, 'A {{input}}! and more', 12));
  expect(el.value).toBe('A {{input}}! and more');
  await act(async () => root.unmount());
  host.remove();
});
