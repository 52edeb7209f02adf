import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { ADMIN, PASSWORD } from '../identity/helpers.ts';
import { startToolServer, type ToolServer } from './toolServer.ts';
import { stubMetering } from './stubMetering.ts';

/** Headless Chromium is Debian's `chromium` (`.ci/run` installs it); without it the suite says so and skips. */
function chromiumPath(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const executablePath = chromiumPath();
if (!executablePath && process.env.REQUIRE_SERVICES === '1') {
  throw new Error('chromium is required (apt-get install chromium)');
}
if (!executablePath) console.log('  SKIPPED dashboard page tests: no chromium on PATH (apt-get install chromium)');

const ROWS = 10_000;
const s = suite('toolhub: the usage dashboard in headless Chromium');
let k: TestKit;
let server: ToolServer;
let browser: Browser;
let user: { id: string; email: string };

s.before(async () => {
  server = await startToolServer();
  const meter = stubMetering();
  k = await startTestKernel({
    plugins: [meter.plugin],
    config: {
      plugins: {
        tools: {}, toolhub: {},
        // toolhub serves GET /admin/users (with subscriptions) in identity's place, as config/tool-hub.yaml says.
        identity: { operations: { exclude: ['identity.adminListUsers', 'identity.adminCreateUser'] } },
      },
      adapters: { egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] } },
      rateLimit: { enabled: false },
    },
  });
  const admin = await k.asAdmin();
  const signedIn = await k.asUser();
  user = signedIn;
  meter.state.entitled.add(user.id);
  const tools: string[] = [];
  for (const name of ['summarise', 'translate', 'classify']) {
    const t = await admin.post('/v1/admin/tools', { name, description: name, endpointUrl: `${server.url}/echo`,
      tokensPath: 'usage.total_tokens' });
    tools.push(t.body.id);
  }
  // One real invocation through the API, then 10k rows as history (SC-004 is about reading them).
  assert.is((await signedIn.post(`/v1/tools/${tools[0]}/invoke`, { input: 'x' })).status, 200);
  const knex = k.kernel.root.cradle.orm.em.getConnection().getKnex();
  const day = 86_400_000;
  const rows = Array.from({ length: ROWS - 1 }, (_, i) => ({
    id: `0190${String(i).padStart(4, '0')}-0000-7000-8000-${String(i).padStart(12, '0')}`,
    user_id: user.id, tool_id: tools[i % 3], tokens_used: 10 + (i % 7), tokens_source: 'reported',
    status: i % 50 ? 'ok' : 'unavailable', http_status: 200, duration_ms: 12,
    created_at: new Date(Date.now() - (i % 30) * day - 1000),
  }));
  for (let i = 0; i < rows.length; i += 500) await knex('tools_invocations').insert(rows.slice(i, i + 500));
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
});
s.after(async () => {
  await browser?.close();
  await k?.stop();
  await server?.close();
});

async function signIn(page: Page, email: string, password: string): Promise<number> {
  await page.goto(`${k.url}/dashboard`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  const started = Date.now();
  await page.click('button[type=submit]');
  await page.waitForSelector('body[data-ready=true]', { timeout: 15_000 });
  return Date.now() - started;
}

/** How many distinct colours a canvas (or an image drawn into one) shows: 1 means blank. */
const coloursOf = (page: Page, selector: string) => page.$eval(selector, (c) => {
  const canvas = c as HTMLCanvasElement;
  const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set<number>();
  for (let i = 0; i < data.length; i += 16) {
    seen.add((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]);
  }
  return seen.size;
});

s('a user signs in on the page and sees charts drawn with the API\'s numbers', async () => {
  const page = await browser.newPage();
  const took = await signIn(page, user.email, PASSWORD);
  console.log(`  [dashboard] signed in to charts drawn over ${ROWS} usage rows in ${took} ms`);
  const summary = await k.request('GET', '/v1/invocations/summary', {
    headers: { authorization: `Bearer ${(await page.evaluate(() => sessionStorage.getItem('toolhub.token')))!}` },
  });
  assert.is(summary.body.invocations, ROWS);
  assert.is(await page.textContent('#total-invocations'), String(ROWS));
  assert.is(await page.textContent('#total-tokens'), String(summary.body.totalTokens));
  assert.ok(await coloursOf(page, '#tokens-per-day') > 2, 'the tokens chart is drawn');
  assert.ok(await coloursOf(page, '#invocations-per-tool') > 2, 'the tools chart is drawn');
  const labels = await page.evaluate(() => (window as any).Chart.getChart('invocations-per-tool').data.labels);
  assert.equal([...labels].sort(), ['classify', 'summarise', 'translate']);
  assert.is(await page.locator('#recent tbody tr').count(), 20);
  assert.is(await page.isHidden('#platform'), true, 'a user sees no platform statistics');

  const shot = await page.screenshot({ fullPage: true });
  await page.setContent('<canvas id="shot"></canvas>');
  const colours = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.getElementById('shot') as HTMLCanvasElement;
    [c.width, c.height] = [img.width, img.height];
    c.getContext('2d')!.drawImage(img, 0, 0);
    return null;
  }, shot.toString('base64'));
  assert.is(colours, null);
  assert.ok(await coloursOf(page, '#shot') > 20, 'the screenshot is not blank');
  await page.close();
});

s('an admin also sees the platform statistics', async () => {
  const page = await browser.newPage();
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.waitForSelector('#platform:not([hidden])');
  assert.is(await page.textContent('#platform-invocations'), String(ROWS));
  assert.ok(await coloursOf(page, '#platform-per-day') > 2);
  await page.close();
});

s('a wrong password shows the API\'s message on the page', async () => {
  const page = await browser.newPage();
  await page.goto(`${k.url}/dashboard`);
  await page.fill('input[name=email]', user.email);
  await page.fill('input[name=password]', 'Wrong#Passw0rd');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error')!.textContent !== '');
  assert.match((await page.textContent('#login-error'))!, /invalid|incorrect|credentials/i);
  await page.close();
});

if (executablePath) s.run();
