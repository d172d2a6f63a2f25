/** Compiles an MQTT topic filter (`+`, `#`, `$share/<group>/` stripped) into a matcher. */
export function topicMatcher(filter: string): (topic: string) => boolean {
  const levels = stripShare(filter).split('/');
  return (topic) => {
    const parts = topic.split('/');
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]!;
      if (level === '#') return !(i === 0 && parts[0]!.startsWith('$'));
      if (i >= parts.length) return false;
      if (level === '+') {
        if (i === 0 && parts[0]!.startsWith('$')) return false;
        continue;
      }
      if (level !== parts[i]) return false;
    }
    return parts.length === levels.length;
  };
}

/** `$share/group/a/b` → `a/b`; other filters unchanged. */
export function stripShare(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(slash + 1);
}
