/**
 * `s` as one flat string. A string built with `+` or a template is a tree of pieces (a line
 * protocol line: a dozen, ~300 bytes); flat, it takes a third of that. Worth it for strings that
 * wait in a batch: the garbage collector copies them while they wait. Reading a character makes V8
 * flatten the string in place; the character is stored where the optimizing compiler cannot prove
 * it unused; `void Number(s)` was removed as dead code once optimized, leaving the tree.
 */
export function flatString(s: string): string {
  lastCode = s.charCodeAt(s.length - 1);
  return s;
}

// Written on every call so the optimizer cannot drop the read that flattens the string.
// eslint-disable-next-line @typescript-eslint/no-unused-vars
let lastCode = 0;
