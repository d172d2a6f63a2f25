/**
 * `s` as one flat string. A string built with `+` or a template is a tree of pieces (a line
 * protocol line: a dozen, ~400 bytes); flat, it takes a third of that. Worth it for strings that
 * wait in a batch: the garbage collector copies them while they wait. Converting to a number is the
 * cheapest way to make V8 flatten a string; the number is thrown away.
 */
export function flatString(s: string): string {
  void Number(s);
  return s;
}
