import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import { createLocalModerator, DEFAULT_RULES, normalise } from '../../adapters/aiProvider/moderation/lexicon.ts';
import { createStreamModerator } from '../../kernel/ports/aiStreamModeration.ts';
import { MODERATION_CATEGORIES, type ModerationResult } from '../../kernel/ports/aiProvider.ts';

const lex = guarded(suite('moderation local: rules and lexicons'));
const moderate = createLocalModerator();
const top = (text: string) => {
  const r = moderate(text);
  return { severity: r.severity, categories: [...new Set(r.hits.map((h) => h.category))], flagged: r.flagged };
};

lex('every category has HIGH, MEDIUM and LOW rules', () => {
  for (const category of MODERATION_CATEGORIES) {
    const levels = new Set(DEFAULT_RULES.filter((r) => r.category === category).map((r) => r.severity));
    assert.equal([...levels].sort(), ['HIGH', 'LOW', 'MEDIUM'], category);
  }
});

lex('HIGH: intent or instructions for serious harm, in each category', () => {
  const cases: Array<[string, string]> = [
    ['We should exterminate all the immigrants', 'hate'],
    ['Refugees are vermin', 'hate'],
    ['How do I build a pipe bomb at home?', 'violence'],
    ["I'm going to kill my boss tomorrow", 'violence'],
    ['explicit pictures of 12 year olds', 'sexual'],
    ['What is the most painless way to die?', 'self_harm'],
    ['I want to end my life', 'self_harm'],
    ['where can I buy fentanyl', 'illegal'],
    ['tips for laundering money through a shell company', 'illegal'],
  ];
  for (const [text, category] of cases) {
    const r = top(text);
    assert.is(r.severity, 'HIGH', text);
    assert.ok(r.categories.includes(category as never), `${text}: ${r.categories}`);
    assert.ok(r.flagged);
  }
});

lex('MEDIUM flags, LOW reports without flagging, benign text has no hit', () => {
  assert.equal(top('The knight was stabbed in the final chapter'), {
    severity: 'MEDIUM',
    categories: ['violence'],
    flagged: true,
  });
  assert.equal(top('a site full of porn'), { severity: 'MEDIUM', categories: ['sexual'], flagged: true });
  assert.equal(top('She felt hopeless that winter'), { severity: 'LOW', categories: ['self_harm'], flagged: false });
  assert.equal(top('A sword fight on the bridge'), { severity: 'LOW', categories: ['violence'], flagged: false });
  for (const benign of ['Photosynthesis turns light into sugar.', 'I love baking bread with my kids',
    'Summarise chapter three of Pride and Prejudice', 'The therapist helped the group']) {
    assert.equal(moderate(benign), { flagged: false, severity: null, hits: [] }, benign);
  }
});

lex('disguises: case, accents and leetspeak between letters; offsets point into the original text', () => {
  const text = 'HOW TO MAKE A P1PE B0MB';
  const r = moderate(text);
  assert.is(r.severity, 'HIGH');
  const hit = r.hits.find((h) => h.rule === 'violence.weapons')!;
  assert.is(text.slice(hit.start, hit.end), text);
  assert.is(normalise('Kïll 15-year-old'), 'kill 15-year-old', 'digits outside words stay digits');
  assert.is(normalise('şex').length, 'şex'.length);
  assert.is(top('he was k1lled').severity, 'MEDIUM');
});

lex('a protective or scholarly frame lowers one level, never for sexual content with minors', () => {
  assert.equal(top('How to prevent suicide among teenagers'), {
    severity: 'LOW',
    categories: ['self_harm'],
    flagged: false,
  });
  assert.is(top('a history of the murder trials').severity, 'LOW');
  assert.is(top('reporting of child sexual abuse material').severity, 'HIGH');
});

lex('deployment rules are added and built-in ones turned off', () => {
  const custom = createLocalModerator({
    rules: [{ id: 'illegal.spoilers', category: 'illegal', severity: 'HIGH', pattern: '\\bleaked ending\\b' }],
    disable: ['violence.mention'], flagAt: 'HIGH',
  });
  assert.is(custom('the leaked ending of the book').severity, 'HIGH');
  assert.equal(custom('a sword fight').hits, []);
  assert.not.ok(custom('he was murdered').flagged, 'flagAt HIGH: MEDIUM is reported, not flagged');
});

lex('a deployment rule with a backreference still matches (the one-scan pre-check steps aside)', () => {
  const custom = createLocalModerator({
    rules: [{ id: 'illegal.echo', category: 'illegal', severity: 'MEDIUM', pattern: '\\b(\\w+) \\1 \\1\\b' }],
  });
  assert.equal(custom('they said buy buy buy').hits.map((h) => h.rule), ['illegal.echo']);
  assert.equal(custom('a quiet afternoon').hits, []);
});

lex('the one-scan pre-check finds what the rules find, on texts that hit and texts that do not', () => {
  const texts = ['Say twelve words about a fox.', 'how to make a pipe bomb', 'I hate immigrants', 'k1ll them',
    'a sword fight', 'he was murdered', 'the history of heroin', 'lorem ipsum dolor sit amet'];
  const full = createLocalModerator({ rules: [{ id: 'x.backref', category: 'illegal', severity: 'LOW',
    pattern: '(zz)\\1' }] }); // a backreference: no pre-check, every rule scanned
  for (const t of texts) {
    assert.equal(moderate(t).hits, full(t).hits.filter((h) => h.rule !== 'x.backref'), t);
  }
});

lex.run();

// ---------------------------------------------------------------------------------------------- on a stream

const stream = guarded(suite('moderation on a stream: sliding window at chunk boundaries'));

async function run(chunks: string[], action: 'redact' | 'stop', check: (t: string) => ModerationResult = moderate) {
  const m = createStreamModerator({ check, action, holdChars: 24, windowChars: 80 });
  const out: string[] = [];
  let stopped = false;
  let maxHeld = 0;
  let pushed = 0;
  for (const c of chunks) {
    pushed += c.length;
    const step = await m.push(c);
    out.push(step.text);
    maxHeld = Math.max(maxHeld, pushed - out.join('').length);
    if (step.stopped) { stopped = true; break; }
  }
  if (!stopped) out.push((await m.end()).text);
  return { text: out.join(''), stopped, flagged: m.flagged, out, maxHeld };
}

stream(
  'benign text passes unchanged, and only a short tail is ever held back (nothing is buffered whole)',
  async () => {
    const words = 'The quick brown fox jumps over the lazy dog and keeps running through the quiet green field. ';
    const chunks = words.repeat(20).match(/.{1,7}/gs)!;
    const r = await run(chunks, 'redact');
    assert.is(r.text, words.repeat(20));
    assert.ok(r.maxHeld <= 24 + 7, `held at most the hold plus one chunk, was ${r.maxHeld}`);
    assert.ok(r.out.filter((t) => t.length > 0).length > 50, 'output flows chunk by chunk');
  },
);

stream('a phrase split across chunks is redacted before any of it goes out', async () => {
  const r = await run(
    ['Sure. Here is how to make a pi', 'pe bo', 'mb, step one: ', 'gather the parts and then stop.'],
    'redact',
  );
  assert.not.match(r.text, /bomb|pipe/);
  assert.match(r.text, /^Sure\. Here is \[redacted\], step one: gather the parts and then stop\.$/);
  assert.is(r.flagged[0].rule, 'violence.weapons');
  for (const piece of r.out) assert.not.match(piece, /pi$|bo$/, 'no fragment of the phrase was released early');
});

stream('stop: the stream ends at the flagged chunk, and nothing from it is sent', async () => {
  const r = await run(
    ['Chapter one is calm. ', 'Then the guard was murdered ', 'in the hall, and more follows.'],
    'stop',
  );
  assert.ok(r.stopped);
  assert.not.match(r.text, /murder/);
  assert.is(r.flagged[0].category, 'violence');
});

stream('a checker without spans (a vendor score) stops rather than guessing what to redact', async () => {
  const vendor = (t: string): ModerationResult => (t.includes('secret')
    ? { flagged: true, severity: 'HIGH', hits: [{ category: 'illegal', severity: 'HIGH', score: 0.9, rule: 'vendor' }] }
    : { flagged: false, severity: null, hits: [] });
  const r = await run(['nothing here. ', 'a secret plan'], 'redact', vendor);
  assert.ok(r.stopped);
});

stream('what was already sent is not acted on again when it stays in the window', async () => {
  const r = await run(['He was stabbed. ', 'The end of a long and quiet story about the sea.'], 'redact');
  assert.is(r.flagged.length, 1, 'one hit, counted once');
  assert.is(r.text, 'He was [redacted]. The end of a long and quiet story about the sea.');
});

stream('batched (minReleaseChars): far fewer checks, the same redaction, and end() checks what is left', async () => {
  let checks = 0;
  const counting = (t: string) => { checks++; return moderate(t); };
  const words = 'The keeper climbed the stairs and lit the lamp before the storm came in from the sea. ';
  const chunks = (words.repeat(6) + 'Then he was stabbed by a stranger.').match(/.{1,5}/gs)!;
  const m = createStreamModerator({ check: counting, action: 'redact', holdChars: 24, minReleaseChars: 24 });
  let out = '';
  for (const c of chunks) out += (await m.push(c)).text;
  out += (await m.end()).text;
  assert.is(out, `${words.repeat(6)}Then he was [redacted] by a stranger.`);
  assert.ok(checks * 4 < chunks.length, `${checks} checks for ${chunks.length} chunks`);
  const short = createStreamModerator({ check: moderate, action: 'stop', holdChars: 24, minReleaseChars: 24 });
  assert.is((await short.push('he was murdered')).text, '');
  const end = await short.end();
  assert.ok(end.stopped, 'text a batched push left unchecked is checked at the end');
  assert.is(end.text, '');
});

stream.run();
