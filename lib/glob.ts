import { RE2JS } from 're2js';

// File-name patterns run on RE2 (re2js, a JavaScript port of Google's RE2): matching takes time linear in the name
// whatever the pattern, where JavaScript's backtracking RegExp takes exponential time on patterns like `***...Z`
// (and so would every regex-based glob library: minimatch and picomatch say so). Only the translation of the glob
// syntax to RE2 syntax is Orchard's.

const special = /[\\.+*?()|[\]{}^$]/g;
const escape = (text: string) => text.replace(special, '\\$&');

/** The RE2 class for a glob class body (`a-z`, `!abc`, `^abc`). */
function characterClass(body: string): string {
  const negated = body.startsWith('!') || body.startsWith('^');
  const chars = negated ? body.slice(1) : body;
  // Inside a class only `\`, `]`, `[` and `^` need escaping; `-` keeps its range meaning.
  return '[' + (negated ? '^' : '') + chars.replace(/[\\\][^]/g, '\\$&') + ']';
}

/** RE2 syntax for a glob with `*`, `?`, `[abc]`, `[!abc]`, `{jpg,jpeg}` (nestable) and `\` escapes. */
export function globToRe2(pattern: string): string {
  let source = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) source += escape(pattern[++i]);
    else if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      // A `]` right after `[` or `[!` is a member of the class, as in shells.
      const first = pattern[i + 1] === '!' || pattern[i + 1] === '^' ? i + 2 : i + 1;
      const end = pattern.indexOf(']', first + 1);
      if (end < 0) throw new Error(`glob ${JSON.stringify(pattern)} has an unclosed "["`);
      source += characterClass(pattern.slice(i + 1, end));
      i = end;
    } else if (c === '{') {
      braces++;
      source += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      source += ')';
    } else if (c === ',' && braces > 0) source += '|';
    else source += escape(c);
  }
  if (braces > 0) throw new Error(`glob ${JSON.stringify(pattern)} has an unclosed "{"`);
  return `^(?:${source})$`;
}

/** A case-insensitive matcher for a file-name pattern, in time linear in the name. */
export function fileNameMatcher(pattern: string): (name: string) => boolean {
  const source = globToRe2(pattern);
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE | RE2JS.DOTALL);
  } catch (err) {
    throw new Error(`glob ${JSON.stringify(pattern)} is not a valid pattern (${(err as Error).message})`);
  }
  return (name) => regex.matches(name);
}
