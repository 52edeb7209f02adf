/**
 * Local moderation: rules and lexicons, no model and no network. It catches the plain and the lightly disguised
 * (case, accents, leetspeak such as `k1ll`), not paraphrase or irony: a vendor classifier (OpenAI moderation)
 * does better, this is the floor that is always there. Categories and severities:
 *
 * - HIGH: instructions or intent to cause serious harm (weapons, hard drugs, killing), sexual content with
 *   minors, dehumanising a protected group, a wish or plan to end one's life. Input is blocked.
 * - MEDIUM: explicit sexual terms, graphic violence, self-harm mentions, common crimes. Passes with a flag.
 * - LOW: words that are usually innocent (fight, weapon, sexy, depressed). Reported, not flagged.
 *
 * A hit within a few words after "how to prevent", "history of", "report"... (a protective or scholarly frame)
 * drops one level, except sexual content with minors. Deployments add rules (`rules`) or turn ids off (`disable`).
 */
import {
  maxSeverity, severityAtLeast, type ModerationCategory, type ModerationHit, type ModerationResult, type Severity,
} from '../../../kernel/ports/aiProvider.ts';

export interface ModerationRule {
  id: string;
  category: ModerationCategory;
  severity: Severity;
  /** Matched against the normalised text (lower case, no accents, leetspeak undone). */
  pattern: RegExp;
  /** Kept at its level even in a protective frame. */
  noFrame?: boolean;
}

const GROUPS = '(?:jews?|muslims?|christians?|hindus?|sikhs?|blacks?|whites?|asians?|arabs?|latinos?|mexicans?|'
  + 'immigrants?|refugees?|gays?|lesbians?|trans(?:gender)? people|women|disabled people|gypsies|roma)';
const KIN = '(?:you|him|her|them|everyone|everybody|my (?:wife|husband|boss|family|teacher|neighbou?r))';
const MINOR = '(?:child(?:ren)?|kids?|minors?|underage|pre-?teens?|(?:[0-9]|1[0-5])[- ]?(?:yo|year[- ]old)s?)';
const SEXUAL = '(?:sex(?:ual)?|nude|naked|porn\\w*|explicit|erotic|molest\\w*)';
const HARD_DRUGS = '(?:meth(?:amphetamine)?|crack cocaine|crack|fentanyl|heroin|cocaine|lsd|mdma)';
const w = (words: string) => new RegExp(`\\b(?:${words})\\b`, 'g');

export const DEFAULT_RULES: readonly ModerationRule[] = [
  // hate
  {
    id: 'hate.extermination',
    category: 'hate',
    severity: 'HIGH',
    pattern: new RegExp(
      `\\b(?:exterminate|wipe out|gas|kill all|eradicate|get rid of all)(?: all)?(?: the)? ${GROUPS}\\b`,
      'g',
    ),
  },
  {
    id: 'hate.dehumanising',
    category: 'hate',
    severity: 'HIGH',
    pattern: new RegExp(`\\b${GROUPS} are (?:vermin|animals|subhuman|parasites|cockroaches|rats|a disease)\\b`, 'g'),
  },
  {
    id: 'hate.contempt',
    category: 'hate',
    severity: 'MEDIUM',
    pattern: new RegExp(`\\b(?:i hate|death to|deport all|ban all) ${GROUPS}\\b`, 'g'),
  },
  {
    id: 'hate.mention',
    category: 'hate',
    severity: 'LOW',
    pattern: w('racist|bigot(?:ry|ed)?|xenophob\\w*|hate speech'),
  },
  // violence
  {
    id: 'violence.weapons',
    category: 'violence',
    severity: 'HIGH',
    pattern:
      /\bhow (?:to|do i|can i) (?:make|build|assemble) (?:a |an )?(?:pipe )?(?:bomb|explosive|ied|molotov|nail bomb)s?\b/g,
  },
  {
    id: 'violence.threat',
    category: 'violence',
    severity: 'HIGH',
    pattern: new RegExp(
      `\\b(?:i(?:'m| am)? (?:going to|gonna|will)|i want to) (?:kill|murder|shoot|stab|behead) ${KIN}\\b`,
      'g',
    ),
  },
  {
    id: 'violence.mass',
    category: 'violence',
    severity: 'HIGH',
    pattern: /\b(?:shoot up|bomb) (?:a|the|my) (?:school|church|mosque|synagogue|mall|concert)\b/g,
  },
  {
    id: 'violence.graphic',
    category: 'violence',
    severity: 'MEDIUM',
    pattern: w(
      'murder(?:ed|ing)?|behead\\w*|dismember\\w*|tortur(?:e|ed|ing)|stab(?:bed|bing)?|slaughter\\w*|kill(?:ed|ing)?',
    ),
  },
  {
    id: 'violence.mention',
    category: 'violence',
    severity: 'LOW',
    pattern: w('fight\\w*|weapons?|guns?|blood\\w*|attack\\w*'),
  },
  // sexual
  {
    id: 'sexual.minors',
    category: 'sexual',
    severity: 'HIGH',
    noFrame: true,
    pattern: new RegExp(`\\b(?:${MINOR}\\W+(?:\\w+\\W+){0,3}${SEXUAL}|${SEXUAL}\\W+(?:\\w+\\W+){0,3}${MINOR})\\b`, 'g'),
  },
  {
    id: 'sexual.explicit',
    category: 'sexual',
    severity: 'MEDIUM',
    pattern: w(
      'porn\\w*|hardcore sex|blowjobs?|handjobs?|orgasms?|masturbat\\w*|genitals?|penis|vagina|cum shots?|nudes',
    ),
  },
  {
    id: 'sexual.mention',
    category: 'sexual',
    severity: 'LOW',
    pattern: w('sexy|lingerie|seductive|naked|nude|erotic'),
  },
  // self-harm
  {
    id: 'self_harm.intent',
    category: 'self_harm',
    severity: 'HIGH',
    pattern:
      /\b(?:i (?:want|plan|am going|'m going) to (?:kill myself|end my life|die)|how (?:to|do i|can i) (?:kill myself|commit suicide|end my life)|(?:best|easiest|painless) ways? to (?:die|commit suicide|overdose))\b/g,
  },
  {
    id: 'self_harm.mention',
    category: 'self_harm',
    severity: 'MEDIUM',
    pattern: w('suicid\\w*|self[- ]harm\\w*|cutting myself|kill myself|hurt myself|overdos\\w*'),
  },
  {
    id: 'self_harm.mood',
    category: 'self_harm',
    severity: 'LOW',
    pattern: w('depressed|hopeless|worthless|want to disappear'),
  },
  // illegal
  {
    id: 'illegal.drugs',
    category: 'illegal',
    severity: 'HIGH',
    pattern: new RegExp(
      `\\b(?:how (?:to|do i|can i) (?:make|cook|synthesi[sz]e|produce)|where (?:to|can i) buy) ${HARD_DRUGS}\\b`,
      'g',
    ),
  },
  {
    id: 'illegal.fraud',
    category: 'illegal',
    severity: 'HIGH',
    pattern:
      /\b(?:launder(?:ing)? (?:money|cash)|credit card dumps?|stolen credit cards?|buy (?:a )?fake passports?)\b/g,
  },
  {
    id: 'illegal.crime',
    category: 'illegal',
    severity: 'MEDIUM',
    pattern:
      /\b(?:hack into|break into (?:a|my|his|her|someone's)|steal (?:a|his|her|their) (?:car|identity|password)|phishing kits?|counterfeit\w*|ransomware)\b/g,
  },
  { id: 'illegal.mention', category: 'illegal', severity: 'LOW', pattern: w('piracy|pirated|shoplift\\w*|smuggl\\w*') },
];

const FRAME = /\b(?:how to (?:prevent|avoid|stop|recogni[sz]e)|history of|report(?:ing)?|hotline|help (?:for|with)|awareness|prevention|survivors? of)\b[^.!?]{0,60}$/;
const LEET: Record<string, string> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '@': 'a',
  $: 's',
  '!': 'i',
};
const DOWN: Record<Severity, Severity> = { HIGH: 'MEDIUM', MEDIUM: 'LOW', LOW: 'LOW' };
const SCORE: Record<Severity, number> = { HIGH: 0.95, MEDIUM: 0.6, LOW: 0.3 };

/**
 * Same length as the input (one UTF-16 unit per unit), so match offsets are offsets in the original text.
 * Leetspeak is undone only between letters (`k1ll`, `h@te`), so that "15-year-old" keeps its digits.
 */
export function normalise(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // ASCII (nearly every character of a prompt) without `normalize` and regular expressions: the same result.
    if (code < 128) {
      const lower = code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : text[i];
      const leet = LEET[lower];
      out += leet !== undefined && isLetter(text.charCodeAt(i - 1)) && isLetter(text.charCodeAt(i + 1)) ? leet : lower;
      continue;
    }
    const ch = text[i];
    const base = ch.normalize('NFKD')[0] ?? ch;
    const lower = base.toLowerCase();
    const between = /[a-z]/i.test(text[i - 1] ?? '') && /[a-z]/i.test(text[i + 1] ?? '');
    out += ((between ? LEET[lower] : undefined) ?? lower).slice(0, 1) || ' ';
  }
  return out;
}

/** An ASCII letter (`/[a-z]/i`); NaN (before the start, past the end) is not. */
const isLetter = (code: number) => (code >= 65 && code <= 90) || (code >= 97 && code <= 122);

export interface LocalModerationOptions {
  /** Extra rules: `pattern` is a regular expression source matched against the normalised text. */
  rules?: Array<{ id: string; category: ModerationCategory; severity: Severity; pattern: string }>;
  /** Rule ids to turn off. */
  disable?: string[];
  /** Lowest severity that sets `flagged` (default MEDIUM: LOW hits are reported, not flagged). */
  flagAt?: Severity;
}

export type TextModerator = (text: string) => ModerationResult;

/**
 * One pattern that matches where any rule's does (their alternation), or undefined when the rules cannot be joined
 * safely (a backreference or a named group, whose numbering or name would clash).
 */
function anyOf(rules: ModerationRule[]): RegExp | undefined {
  if (!rules.length || rules.some((r) => /\\[1-9]|\\k<|\(\?<[^=!]/.test(r.pattern.source) || r.pattern.flags !== 'g')) {
    return undefined;
  }
  try {
    return new RegExp(rules.map((r) => `(?:${r.pattern.source})`).join('|'));
  } catch {
    return undefined;
  }
}

export function createLocalModerator(options: LocalModerationOptions = {}): TextModerator {
  const off = new Set(options.disable ?? []);
  const rules: ModerationRule[] = [
    ...DEFAULT_RULES.filter((r) => !off.has(r.id)),
    ...(options.rules ?? []).map((r) => ({ ...r, pattern: new RegExp(r.pattern, 'g') })),
  ];
  const flagAt = options.flagAt ?? 'MEDIUM';
  const any = anyOf(rules);
  return (text) => {
    const norm = normalise(text);
    // Most texts match no rule: one scan says so, instead of one per rule (each `matchAll` clones its pattern).
    if (any && !any.test(norm)) return { flagged: false, severity: null, hits: [] };
    const hits: ModerationHit[] = [];
    for (const rule of rules) {
      rule.pattern.lastIndex = 0;
      for (const m of norm.matchAll(rule.pattern)) {
        const start = m.index;
        const framed = !rule.noFrame && FRAME.test(norm.slice(Math.max(0, start - 80), start));
        const severity = framed ? DOWN[rule.severity] : rule.severity;
        hits.push({
          category: rule.category,
          severity,
          score: SCORE[severity],
          rule: rule.id,
          start,
          end: start + m[0].length,
        });
      }
    }
    // A span inside a stronger hit of the same category says nothing more.
    const kept = hits.filter((h) => !hits.some((o) => o !== h && o.category === h.category
      && severityAtLeast(o.severity, h.severity) && o.severity !== h.severity
      && o.start! <= h.start! && o.end! >= h.end!));
    kept.sort((a, b) => a.start! - b.start!);
    const severity = kept.reduce<Severity | null>((s, h) => maxSeverity(s, h.severity), null);
    return { flagged: severityAtLeast(severity, flagAt), severity, hits: kept };
  };
}
