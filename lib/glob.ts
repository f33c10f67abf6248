/** A case-insensitive matcher for a file-name pattern with `*`, `?`, `[abc]` and `{jpg,jpeg}`. */
export function fileNameMatcher(pattern: string): (name: string) => boolean {
  let source = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new Error(`glob ${JSON.stringify(pattern)} has an unclosed "["`);
      const body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
      source += '[' + (body.startsWith('!') ? '^' + body.slice(1) : body) + ']';
      i = end;
    } else if (c === '{') {
      braces++;
      source += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      source += ')';
    } else if (c === ',' && braces > 0) source += '|';
    else source += c.replace(/[.+^$()|\\\]}]/g, '\\$&');
  }
  if (braces > 0) throw new Error(`glob ${JSON.stringify(pattern)} has an unclosed "{"`);
  const regex = new RegExp(`^${source}$`, 'i');
  return (name) => regex.test(name);
}
