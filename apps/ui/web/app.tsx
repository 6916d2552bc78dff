/** The dashboard's frame: sign-in (or none when the api is open), navigation, and the page for the path. */
import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, session } from './api.js';
import { DefinitionsPage } from './definitions-page.js';
import { PlaygroundPage } from './playground-page.js';
import { Link, usePath } from './router.js';
import { RunPage } from './run-page.js';
import { RunsPage } from './runs-page.js';

type Access = 'checking' | 'signed-in' | 'needs-key';

function SignIn({ onSignedIn, problem }: { onSignedIn: () => void; problem: string | null }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(problem);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    session.signIn(key.trim());
    try {
      await api('GET', '/v1/models');
      onSignedIn();
    } catch (err) {
      session.signOut();
      setError(err instanceof ApiError && err.status === 401 ? 'That key was not accepted.' : (err as Error).message);
    }
  };
  return (
    <main className="signin">
      <h1>Mule</h1>
      <form onSubmit={(event) => void submit(event)} className="card">
        <label htmlFor="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="off" value={key} onChange={(event) => setKey(event.target.value)} required />
        <button type="submit">Sign in</button>
        {error ? <p role="alert" className="error">{error}</p> : null}
        <p className="muted">The key is kept for this tab only (sessionStorage).</p>
      </form>
    </main>
  );
}

function Page({ path }: { path: string }) {
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return <RunPage id={decodeURIComponent(run[1]!)} />;
  if (path.startsWith('/definitions')) return <DefinitionsPage />;
  if (path.startsWith('/playground')) return <PlaygroundPage />;
  return <RunsPage />;
}

export function App() {
  const path = usePath();
  const [access, setAccess] = useState<Access>('checking');
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    // The api says whether it needs a key: an open api shows no sign-in, and a closed one is not asked without one.
    api<{ needs_key: boolean }>('GET', '/ui/access.json')
      .then(async ({ needs_key }) => {
        if (!needs_key) return setAccess('signed-in');
        if (!session.key()) return setAccess('needs-key');
        await api('GET', '/v1/models');
        setAccess('signed-in');
      })
      .catch((error: unknown) => {
        if (!(error instanceof ApiError && error.status === 401)) setProblem((error as Error).message);
        session.signOut();
        setAccess('needs-key');
      });
  }, []);

  if (access === 'checking') return <p className="muted pad">Loading…</p>;
  if (access === 'needs-key') return <SignIn problem={problem} onSignedIn={() => setAccess('signed-in')} />;
  const section = path.startsWith('/definitions') ? 'definitions' : path.startsWith('/playground') ? 'playground' : 'runs';
  return (
    <>
      <header className="top">
        <strong className="brand">Mule</strong>
        <nav aria-label="Sections">
          {(['runs', 'definitions', 'playground'] as const).map((name) => (
            <Link key={name} to={`/${name}`} className={section === name ? 'active' : ''}>
              {name[0]!.toUpperCase() + name.slice(1)}
            </Link>
          ))}
        </nav>
        {session.key() ? (
          <button
            type="button"
            className="secondary"
            onClick={() => {
              session.signOut();
              setAccess('needs-key');
            }}
          >
            Sign out
          </button>
        ) : null}
      </header>
      <main className="content">
        <Page path={path} />
      </main>
    </>
  );
}
