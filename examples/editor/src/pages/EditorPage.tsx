// The workflow editor: palette, canvas, configuration and run panels, toolbar.
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type IsValidConnection,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import { ApiError, executeStream, executions, templates, workflows } from '../api';
import { ConfigPanel } from '../components/ConfigPanel';
import { nodeTypes } from '../components/FlowNode';
import { DND_MIME, Palette, type PaletteItem } from '../components/Palette';
import { RunPanel } from '../components/RunPanel';
import { layoutGraph } from '../layout';
import { useGraph } from '../store/graph';
import { useModels } from '../store/models';
import { runFromExecution, useRun } from '../store/run';
import type { RunEvent, WorkflowDocument } from '../types';
import { Button, ErrorBox, Spinner, cx, errorMessage, fmtDate, navigate } from '../ui';
import { issuesFromServer } from '../validate';

function isTyping(t: EventTarget | null) {
  const el = t as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

function download(name: string, text: string) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function Canvas() {
  const { nodes, edges, onNodesChange, onEdgesChange, connect, addNode, snapToGrid, readOnly } = useGraph();
  const localIssues = useGraph((s) => s.localIssues);
  const serverIssues = useGraph((s) => s.serverIssues);
  const runNodes = useRun((s) => s.run.nodes);
  const rf = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  const [fitOnMount] = useState(() => useGraph.getState().nodes.length > 0);

  const badNodes = useMemo(() => new Set([...localIssues, ...serverIssues].map((i) => i.nodeId).filter(Boolean)), [localIssues, serverIssues]);
  const badEdges = useMemo(() => new Map([...localIssues, ...serverIssues].filter((i) => i.edgeId).map((i) => [i.edgeId!, i.message])), [localIssues, serverIssues]);
  const shownNodes = useMemo(() => nodes.map((n) => (badNodes.has(n.id) ? { ...n, className: 'chorus-invalid' } : n)), [nodes, badNodes]);
  const shownEdges = useMemo(
    () =>
      edges.map((e) => ({
        ...e,
        className: badEdges.has(e.id) ? 'chorus-invalid' : undefined,
        label: badEdges.get(e.id) ?? e.sourceHandle ?? undefined,
        animated: runNodes[e.source]?.status === 'running',
      })),
    [edges, badEdges, runNodes],
  );

  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const raw = e.dataTransfer.getData(DND_MIME);
      if (!raw) return;
      const item = JSON.parse(raw) as PaletteItem;
      const p = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      const data = item.provider ? { provider: item.provider } : undefined;
      // Dropped inside a map node: the new node joins the map's body (parentId, relative position).
      const map = item.kind === 'map' ? undefined : useGraph.getState().nodes.find((n) => n.type === 'map' && !n.parentId && p.x >= n.position.x && p.y >= n.position.y && p.x <= n.position.x + (n.measured?.width ?? 320) && p.y <= n.position.y + (n.measured?.height ?? 160));
      if (map) addNode(item.kind, { x: Math.max(0, Math.round((p.x - map.position.x) / 20) * 20), y: Math.max(40, Math.round((p.y - map.position.y) / 20) * 20) }, data, map.id);
      else addNode(item.kind, { x: Math.round(p.x / 20) * 20, y: Math.round(p.y / 20) * 20 }, data);
    },
    [rf, addNode],
  );

  const isValidConnection: IsValidConnection = useCallback((c) => c.source !== c.target, []);

  return (
    <div ref={wrapper} className="relative h-full min-h-0 flex-1" onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; }} onDrop={onDrop} data-testid="canvas">
      <ReactFlow
        nodes={shownNodes}
        edges={shownEdges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={(c: Connection) => connect(c)}
        isValidConnection={isValidConnection}
        snapToGrid={snapToGrid}
        snapGrid={[20, 20]}
        deleteKeyCode={null}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        // Fit a loaded graph on mount; an empty canvas starts at 100 %.
        fitView={fitOnMount}
        fitViewOptions={{ maxZoom: 1.2 }}
        defaultViewport={{ x: 40, y: 40, zoom: 1 }}
        minZoom={0.2}
        proOptions={{ hideAttribution: true }}
        aria-label="Workflow canvas"
      >
        <Background gap={20} />
        <Controls aria-label="Zoom controls" />
        <MiniMap pannable zoomable ariaLabel="Mini map" />
      </ReactFlow>
    </div>
  );
}

function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: React.ReactNode }) {
  useEffect(() => {
    const k = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', k);
    return () => window.removeEventListener('keydown', k);
  }, [onClose]);
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-black/30" onClick={onClose}>
      <div role="dialog" aria-modal="true" aria-label={title} className="max-h-[80vh] w-[min(560px,95vw)] overflow-auto rounded bg-white p-4 shadow-xl" onClick={(e) => e.stopPropagation()}>
        <div className="mb-3 flex items-center justify-between">
          <h2 className="font-semibold">{title}</h2>
          <Button variant="ghost" onClick={onClose} aria-label="Close">
            ✕
          </Button>
        </div>
        {children}
      </div>
    </div>
  );
}

function VersionsDialog({ id, onClose }: { id: string; onClose: () => void }) {
  const [list, setList] = useState<Record<string, unknown>[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useGraph((s) => s.load);
  useEffect(() => {
    workflows.versions(id).then(setList, setError);
  }, [id]);
  const restore = async (v: Record<string, unknown>) => {
    try {
      const n = (v.version ?? v.id) as string | number;
      const inline = (v.configuration ?? v.definition) as WorkflowDocument | undefined;
      const doc = inline && Array.isArray(inline.nodes) ? inline : await workflows.version(id, n);
      const cur = useGraph.getState().toDocument();
      load({ ...doc, id: cur.id, name: cur.name });
      useGraph.setState({ dirty: true });
      onClose();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Dialog title="Version history" onClose={onClose}>
      {error ? <ErrorBox error={error instanceof ApiError && error.status === 404 ? new Error('This server keeps no version history for workflows.') : error} /> : null}
      {!list && !error && <Spinner />}
      {list && list.length === 0 && <p className="text-sm text-slate-500">No earlier versions yet: every save makes one.</p>}
      <ul className="divide-y">
        {list?.map((v, i) => (
          <li key={i} className="flex items-center justify-between py-2 text-sm">
            <span>
              Version {String(v.version ?? v.id ?? i + 1)} · {fmtDate(v.createdAt ?? v.savedAt ?? v.updatedAt)}
            </span>
            <Button onClick={() => restore(v)}>Restore</Button>
          </li>
        ))}
      </ul>
      <p className="mt-2 text-xs text-slate-500">Restoring loads that version into the editor; save to keep it.</p>
    </Dialog>
  );
}

function PublishDialog({ onClose, ensureSaved }: { onClose: () => void; ensureSaved: () => Promise<string | null> }) {
  const meta = useGraph((s) => s.meta);
  const [form, setForm] = useState({ name: meta.name, description: String(meta.description ?? ''), category: 'general', tags: '', public: false });
  const [state, setState] = useState<{ busy?: boolean; error?: unknown; done?: string }>({});
  const submit = async () => {
    setState({ busy: true });
    try {
      const id = await ensureSaved();
      if (!id) throw new Error('save the workflow first');
      const t = await templates.publish({ workflowId: id, name: form.name, description: form.description, category: form.category, tags: form.tags.split(',').map((x) => x.trim()).filter(Boolean), public: form.public });
      setState({ done: String(t.id ?? '') });
    } catch (e) {
      setState({ error: e });
    }
  };
  const f = 'w-full rounded border border-slate-300 px-2 py-1 text-sm';
  return (
    <Dialog title="Publish as template" onClose={onClose}>
      <form className="space-y-2" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <label className="block text-xs">Name<input className={f} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required /></label>
        <label className="block text-xs">Description<textarea className={f} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} /></label>
        <label className="block text-xs">Category<input className={f} value={form.category} onChange={(e) => setForm({ ...form, category: e.target.value })} /></label>
        <label className="block text-xs">Tags (comma separated)<input className={f} value={form.tags} onChange={(e) => setForm({ ...form, tags: e.target.value })} /></label>
        <label className="flex items-center gap-2 text-sm"><input type="checkbox" checked={form.public} onChange={(e) => setForm({ ...form, public: e.target.checked })} />Public (everyone can use it)</label>
        <ErrorBox error={state.error} />
        {state.done !== undefined ? (
          <p role="status" className="text-sm text-emerald-700">Published. <a className="underline" href={`#/templates/${encodeURIComponent(state.done)}`}>See it in the gallery</a></p>
        ) : (
          <Button variant="primary" type="submit" disabled={state.busy}>{state.busy ? 'Publishing…' : 'Publish'}</Button>
        )}
      </form>
    </Dialog>
  );
}

function EditorInner({ routeId }: { routeId?: string }) {
  const g = useGraph();
  const rf = useReactFlow();
  const loadModels = useModels((s) => s.load);
  const run = useRun();
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [saveState, setSaveState] = useState<{ busy?: boolean; error?: unknown; savedAt?: number }>({});
  const [input, setInput] = useState('');
  const [tab, setTab] = useState<'config' | 'run' | 'problems'>('config');
  const [dialog, setDialog] = useState<'versions' | 'publish' | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const abortRef = useRef<AbortController | null>(null);

  useEffect(() => void loadModels(), [loadModels]);

  // Load the route's workflow, unless the store already holds it (unsaved edits survive
  // visiting another page).
  const loadWorkflow = useCallback(async () => {
    const s = useGraph.getState();
    const switching = routeId === 'new' || (!!routeId && s.meta.id !== routeId);
    if (switching && s.dirty && !window.confirm(`Discard the unsaved changes to “${s.meta.name}”?`)) {
      navigate(s.meta.id ? `/editor/${encodeURIComponent(s.meta.id)}` : '/editor');
      return;
    }
    if (routeId === 'new') {
      s.reset();
      useRun.getState().clear();
      navigate('/editor');
      return;
    }
    if (!routeId || (s.meta.id === routeId && (s.dirty || s.nodes.length > 0) && !s.readOnly)) return;
    setLoading(true);
    setLoadError(null);
    try {
      const doc = await workflows.get(routeId);
      useGraph.getState().load(doc);
      useRun.getState().clear();
      requestAnimationFrame(() => rf.fitView({ maxZoom: 1.2 }));
    } catch (e) {
      setLoadError(e);
    } finally {
      setLoading(false);
    }
  }, [routeId, rf]);
  useEffect(() => void loadWorkflow(), [loadWorkflow]);

  const save = useCallback(async (): Promise<string | null> => {
    const s = useGraph.getState();
    setSaveState({ busy: true });
    const doc = s.toDocument();
    try {
      const saved = doc.id ? await workflows.update(doc.id, doc) : await workflows.create(doc);
      const id = saved.id ?? doc.id;
      useGraph.getState().markSaved(id);
      setSaveState({ savedAt: Date.now() });
      if (id && routeId !== id) history.replaceState(null, '', `#/editor/${encodeURIComponent(id)}`);
      return id ?? null;
    } catch (e) {
      if (e instanceof ApiError && e.details !== undefined) {
        s.setServerIssues(issuesFromServer(e.details, e.message, doc.nodes, doc.edges));
        setTab('problems');
      }
      setSaveState({ error: e });
      return null;
    }
  }, [routeId]);

  const ensureSaved = useCallback(async () => {
    const s = useGraph.getState();
    if (s.meta.id && !s.dirty) return s.meta.id;
    return save();
  }, [save]);

  const startRun = useCallback(async () => {
    const id = await ensureSaved();
    if (!id) {
      setTab('problems');
      return;
    }
    setTab('run');
    const nodeIds = useGraph.getState().nodes.map((n) => n.id);
    useRun.getState().start(nodeIds);
    const ctrl = new AbortController();
    abortRef.current = ctrl;
    // Events are applied once per frame, not once per token.
    let pending: RunEvent[] = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      const batch = pending;
      pending = [];
      if (batch.length) useRun.getState().apply(batch);
    };
    try {
      await executeStream(
        id,
        input,
        (events) => {
          pending.push(...events);
          if (!scheduled) {
            scheduled = true;
            requestAnimationFrame(flush);
          }
        },
        ctrl.signal,
        (execId) => useRun.getState().setExecutionId(execId),
      );
      flush();
      const r = useRun.getState().run;
      if (r.status === 'running' && !ctrl.signal.aborted) {
        // The stream ended without run_finished: take the stored record as the truth.
        if (r.executionId) useRun.getState().set(runFromExecution(await executions.get(r.executionId), nodeIds));
        else useRun.getState().fail('the event stream ended before the run finished');
      }
    } catch (e) {
      flush();
      if (e instanceof ApiError && e.details !== undefined) {
        const doc = useGraph.getState().toDocument();
        useGraph.getState().setServerIssues(issuesFromServer(e.details, e.message, doc.nodes, doc.edges));
      }
      useRun.getState().fail(errorMessage(e));
    } finally {
      abortRef.current = null;
    }
  }, [ensureSaved, input]);

  const cancelRun = useCallback(async () => {
    const r = useRun.getState().run;
    try {
      if (r.executionId) await executions.cancel(r.executionId);
      else abortRef.current?.abort();
    } catch (e) {
      abortRef.current?.abort();
      useRun.getState().fail(`cancel failed: ${errorMessage(e)}`);
    }
    // The server ends the stream with run_finished(cancelled); stop reading if it does not.
    setTimeout(() => {
      if (useRun.getState().run.status === 'running') {
        abortRef.current?.abort();
        useRun.getState().set({ ...useRun.getState().run, status: 'cancelled' });
      }
    }, 5000);
  }, []);

  const autoLayout = useCallback(() => {
    const s = useGraph.getState();
    s.setPositions(layoutGraph(s.nodes, s.edges));
    requestAnimationFrame(() => rf.fitView({ maxZoom: 1.2 }));
  }, [rf]);

  const addAtCentre = useCallback(
    (item: PaletteItem) => {
      const el = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
      const p = el ? rf.screenToFlowPosition({ x: el.left + el.width / 2, y: el.top + el.height / 2 }) : { x: 0, y: 0 };
      const n = useGraph.getState().nodes.length;
      useGraph.getState().addNode(item.kind, { x: Math.round(p.x / 20) * 20 + (n % 5) * 20, y: Math.round(p.y / 20) * 20 + (n % 5) * 20 }, item.provider ? { provider: item.provider } : undefined);
      setTab('config');
    },
    [rf],
  );

  // Keyboard shortcuts (not while typing in a field).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const s = useGraph.getState();
      if (mod && e.key.toLowerCase() === 's') {
        e.preventDefault();
        void save();
        return;
      }
      if (isTyping(e.target)) return;
      const k = e.key.toLowerCase();
      if (mod && k === 'z' && !e.shiftKey) s.undo();
      else if (mod && ((k === 'z' && e.shiftKey) || k === 'y')) s.redo();
      else if (mod && k === 'c') s.copy();
      else if (mod && k === 'x') s.cut();
      else if (mod && k === 'v') s.paste();
      else if (mod && k === 'a') s.selectAll();
      else if (e.key === 'Delete' || e.key === 'Backspace') s.deleteSelected();
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [save]);

  // Warn before leaving with unsaved changes.
  useEffect(() => {
    const h = (e: BeforeUnloadEvent) => {
      if (useGraph.getState().dirty) e.preventDefault();
    };
    window.addEventListener('beforeunload', h);
    return () => window.removeEventListener('beforeunload', h);
  }, []);

  const importFile = async (file: File) => {
    try {
      const doc = JSON.parse(await file.text()) as WorkflowDocument;
      if (!Array.isArray(doc.nodes) || !Array.isArray(doc.edges)) throw new Error('not a workflow document: "nodes" and "edges" must be arrays');
      const { id: _drop, ...rest } = doc;
      void _drop;
      g.load({ ...rest, name: rest.name ?? file.name.replace(/\.json$/, '') });
      useGraph.setState({ dirty: true });
      useRun.getState().clear();
      requestAnimationFrame(() => rf.fitView({ maxZoom: 1.2 }));
    } catch (e) {
      setSaveState({ error: new Error(`import failed: ${errorMessage(e)}`) });
    }
  };

  const duplicate = async () => {
    const doc = useGraph.getState().toDocument();
    const { id: _old, ...rest } = doc;
    void _old;
    try {
      const copy = await workflows.create({ ...rest, name: `Copy of ${doc.name}` });
      useGraph.getState().load(copy);
      navigate(`/editor/${encodeURIComponent(copy.id ?? '')}`);
    } catch (e) {
      setSaveState({ error: e });
    }
  };

  const issues = [...g.localIssues, ...g.serverIssues];

  if (loading) return <Spinner label="Loading workflow…" />;
  if (loadError) return <ErrorBox error={loadError} onRetry={loadWorkflow} />;

  return (
    <div className="flex h-[calc(100vh-49px)] min-h-0 flex-col">
      <div role="toolbar" aria-label="Workflow actions" className="flex flex-wrap items-center gap-1 border-b border-slate-200 bg-white px-2 py-1">
        <label className="sr-only" htmlFor="wf-name">
          Workflow name
        </label>
        <input id="wf-name" value={g.meta.name} onChange={(e) => g.setName(e.target.value)} className="w-56 rounded border border-slate-300 px-2 py-1 text-sm font-medium" />
        <Button variant="primary" onClick={() => void save()} disabled={saveState.busy} title="Save (Ctrl+S)">
          {saveState.busy ? 'Saving…' : 'Save'}
        </Button>
        <span className="text-xs text-slate-500" role="status" aria-live="polite" data-testid="save-status">
          {g.dirty ? 'Unsaved changes' : g.meta.id ? 'Saved' : ''}
        </span>
        <span className="mx-1 h-5 w-px bg-slate-300" />
        <Button variant="ghost" onClick={g.undo} disabled={!g.past.length} title="Undo (Ctrl+Z)">
          Undo
        </Button>
        <Button variant="ghost" onClick={g.redo} disabled={!g.future.length} title="Redo (Ctrl+Shift+Z)">
          Redo
        </Button>
        <Button variant="ghost" onClick={g.deleteSelected} title="Delete selection (Delete)">
          Delete
        </Button>
        <Button variant="ghost" onClick={autoLayout}>
          Auto-layout
        </Button>
        <label className="flex items-center gap-1 px-1 text-sm">
          <input type="checkbox" checked={g.snapToGrid} onChange={(e) => g.setSnapToGrid(e.target.checked)} />
          Snap to grid
        </label>
        <span className="mx-1 h-5 w-px bg-slate-300" />
        <Button variant="ghost" onClick={() => void duplicate()} disabled={!g.meta.id}>
          Duplicate
        </Button>
        <Button variant="ghost" onClick={() => setDialog('versions')} disabled={!g.meta.id}>
          Versions
        </Button>
        <Button variant="ghost" onClick={() => fileRef.current?.click()}>
          Import
        </Button>
        <input ref={fileRef} type="file" accept="application/json,.json" className="hidden" aria-label="Import workflow JSON" onChange={(e) => e.target.files?.[0] && void importFile(e.target.files[0])} />
        <Button variant="ghost" onClick={() => download(`${(g.meta.name || 'workflow').replace(/[^\w.-]+/g, '_')}.json`, JSON.stringify(g.toDocument(), null, 2))}>
          Export
        </Button>
        <Button variant="ghost" onClick={() => setDialog('publish')}>
          Publish as template
        </Button>
      </div>
      <ErrorBox error={saveState.error} />
      <div className="flex min-h-0 flex-1">
        <Palette onAdd={addAtCentre} />
        <Canvas />
        <aside aria-label="Side panel" className="flex w-80 shrink-0 flex-col border-l border-slate-200 bg-white lg:w-96">
          <div role="tablist" className="flex border-b border-slate-200 text-sm">
            {(['config', 'run', 'problems'] as const).map((t) => (
              <button
                key={t}
                role="tab"
                type="button"
                aria-selected={tab === t}
                onClick={() => setTab(t)}
                className={cx('flex-1 px-2 py-2 capitalize', tab === t ? 'border-b-2 border-indigo-600 font-semibold' : 'text-slate-500')}
              >
                {t === 'problems' ? `Problems (${issues.length})` : t === 'config' ? 'Configure' : 'Run'}
              </button>
            ))}
          </div>
          <div className="min-h-0 flex-1 overflow-y-auto" role="tabpanel">
            {tab === 'config' && <ConfigPanel />}
            {tab === 'run' && <RunPanel input={input} setInput={setInput} onRun={() => void startRun()} onCancel={() => void cancelRun()} canRun={g.nodes.length > 0 && run.run.status !== 'running'} />}
            {tab === 'problems' && (
              <ul className="space-y-1 p-3 text-sm" aria-label="Problems">
                {issues.length === 0 && <li className="text-slate-500">No problems found.</li>}
                {issues.map((i, k) => (
                  <li key={k}>
                    <button type="button" className="text-left text-red-700 hover:underline" onClick={() => i.nodeId && g.select([i.nodeId])}>
                      {i.source === 'server' ? '[server] ' : ''}
                      {i.message}
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </div>
          {tab !== 'run' && (
            <div className="border-t border-slate-200 p-2">
              <Button variant="primary" className="w-full" onClick={() => setTab('run')}>
                Open run panel
              </Button>
            </div>
          )}
        </aside>
      </div>
      {dialog === 'versions' && g.meta.id && <VersionsDialog id={g.meta.id} onClose={() => setDialog(null)} />}
      {dialog === 'publish' && <PublishDialog ensureSaved={ensureSaved} onClose={() => setDialog(null)} />}
    </div>
  );
}

export function EditorPage({ routeId }: { routeId?: string }) {
  return (
    <ReactFlowProvider>
      <EditorInner routeId={routeId} />
    </ReactFlowProvider>
  );
}
