/** Playground: chat with a `workflow/…` or `agent/…` model the key may use, the answer streamed as it comes. */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, readSse, type List } from './api.js';

interface Message {
  role: 'user' | 'assistant';
  content: string;
}

export function PlaygroundPage() {
  const [models, setModels] = useState<string[]>([]);
  const [model, setModel] = useState('');
  const [text, setText] = useState('');
  const [messages, setMessages] = useState<Message[]>([]);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => {
    api<List<{ id: string }>>('GET', '/v1/models').then(
      (list) => {
        const usable = list.data.map((entry) => entry.id).filter((id) => id.startsWith('workflow/') || id.startsWith('agent/'));
        setModels(usable);
        setModel((current) => current || usable[0] || '');
      },
      (error: Error) => setProblem(error.message),
    );
    return () => abort.current?.abort();
  }, []);

  const send = async (event: FormEvent) => {
    event.preventDefault();
    if (!model || !text.trim()) return;
    const history: Message[] = [...messages, { role: 'user', content: text }];
    setMessages([...history, { role: 'assistant', content: '' }]);
    setText('');
    setBusy(true);
    setProblem(null);
    abort.current = new AbortController();
    try {
      await readSse('/v1/chat/completions', {
        method: 'POST',
        body: { model, messages: history, stream: true },
        signal: abort.current.signal,
        onData: (data) => {
          if (data === '[DONE]') return;
          const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string } }[]; error?: { message: string } };
          if (chunk.error) throw new Error(chunk.error.message);
          const piece = chunk.choices?.[0]?.delta?.content ?? '';
          if (piece) setMessages((current) => [...current.slice(0, -1), { role: 'assistant', content: current.at(-1)!.content + piece }]);
        },
      });
    } catch (error) {
      if ((error as Error).name !== 'AbortError') setProblem((error as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="playground">
      <h1>Playground</h1>
      <form onSubmit={(event) => void send(event)} className="card">
        <label htmlFor="model">Model</label>
        <select id="model" value={model} onChange={(event) => setModel(event.target.value)}>
          {models.map((id) => (
            <option key={id}>{id}</option>
          ))}
        </select>
        <div className="chat" aria-live="polite">
          {messages.map((message, i) => (
            <div key={i} className={`message ${message.role}`}>
              <span className="muted">{message.role}</span>
              <p>{message.content || (busy && i === messages.length - 1 ? '…' : '')}</p>
            </div>
          ))}
        </div>
        <label htmlFor="message">Message</label>
        <textarea id="message" rows={3} value={text} onChange={(event) => setText(event.target.value)} />
        <div className="row">
          <button type="submit" disabled={busy || !model}>
            Send
          </button>
          <button type="button" className="secondary" disabled={!busy} onClick={() => abort.current?.abort()}>
            Stop
          </button>
          <button type="button" className="secondary" disabled={busy} onClick={() => setMessages([])}>
            Clear
          </button>
        </div>
        {models.length === 0 ? <p className="muted">This key may use no workflow or agent model.</p> : null}
        {problem ? <p role="alert" className="error">{problem}</p> : null}
      </form>
    </section>
  );
}
