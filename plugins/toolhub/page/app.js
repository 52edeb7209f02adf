// The usage dashboard: signs in through the API, then draws the caller's usage (and, for an
// admin, the platform's). It reads the deployment's casing and envelope, whichever they are.
/* global Chart, document, sessionStorage, fetch, FormData */
(() => {
  const base = document.body.dataset.basePath || '';
  const $ = (id) => document.getElementById(id);
  const snake = (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const get = (o, key) => (o == null ? undefined : o[key] !== undefined ? o[key] : o[snake(key)]);
  const unwrap = (body) => (body && body.success === true && 'data' in body ? body.data : body);
  let token = sessionStorage.getItem('toolhub.token');

  async function api(method, path, body) {
    const headers = { accept: 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const json = await res.json().catch(() => null);
    return { status: res.status, body: unwrap(json), raw: json };
  }

  const charts = {};
  function draw(id, type, labels, label, data) {
    charts[id]?.destroy();
    charts[id] = new Chart($(id), {
      type,
      data: { labels, datasets: [{ label, data, backgroundColor: '#3b6fd8', borderColor: '#3b6fd8' }] },
      options: { animation: false, responsive: true, plugins: { legend: { display: false } } },
    });
  }

  async function showUsage() {
    const [summary, recent] = await Promise.all([
      api('GET', '/invocations/summary'), api('GET', '/invocations?limit=20'),
    ]);
    if (summary.status === 401) return signOut();
    const s = summary.body;
    $('total-tokens').textContent = get(s, 'totalTokens');
    $('total-invocations').textContent = get(s, 'invocations');
    const perDay = get(s, 'perDay') || [];
    draw('tokens-per-day', 'bar', perDay.map((d) => d.day), 'Tokens', perDay.map((d) => d.tokens));
    const perTool = get(s, 'perTool') || [];
    draw('invocations-per-tool', 'bar', perTool.map((t) => get(t, 'toolName') || get(t, 'toolId')), 'Invocations',
      perTool.map((t) => t.invocations));
    const rows = (recent.body && recent.body.data) || [];
    $('recent').tBodies[0].replaceChildren(...rows.map((r) => {
      const tr = document.createElement('tr');
      const cells = [new Date(get(r, 'createdAt')).toLocaleString(), get(r, 'toolName') || get(r, 'toolId'),
        get(r, 'tokensUsed'), r.status, get(r, 'durationMs')];
      for (const c of cells) tr.appendChild(Object.assign(document.createElement('td'), { textContent: c }));
      return tr;
    }));
    $('usage').hidden = false;
    const stats = await api('GET', '/admin/tool-stats');
    if (stats.status !== 200) return;
    const p = stats.body;
    $('platform-users').textContent = get(p, 'activeUsers');
    $('platform-invocations').textContent = p.invocations;
    $('platform-tokens').textContent = p.tokens;
    $('platform-failures').textContent = p.failures;
    const days = new Map();
    for (const row of get(p, 'perToolPerDay') || []) days.set(row.day, (days.get(row.day) || 0) + row.invocations);
    draw('platform-per-day', 'line', [...days.keys()], 'Invocations', [...days.values()]);
    $('platform').hidden = false;
  }

  function signedIn(who) {
    $('login').hidden = true;
    $('logout').hidden = false;
    $('who').textContent = who || '';
    document.body.dataset.ready = 'loading';
    showUsage().finally(() => (document.body.dataset.ready = 'true'));
  }

  function signOut() {
    token = null;
    sessionStorage.removeItem('toolhub.token');
    $('usage').hidden = $('platform').hidden = $('logout').hidden = true;
    $('login').hidden = false;
  }

  $('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const res = await api('POST', '/auth/login', { email: form.get('email'), password: form.get('password') });
    const access = res.status === 200 && get(res.body, 'accessToken');
    if (!access) {
      $('login-error').textContent = (res.raw && res.raw.error && res.raw.error.message) || 'Sign-in failed';
      return;
    }
    token = access;
    sessionStorage.setItem('toolhub.token', token);
    signedIn(form.get('email'));
  });
  $('logout').addEventListener('click', signOut);
  if (token) signedIn('');
})();
