// Expands the Grafana InfluxQL macros and template variables the provisioned dashboards use, so
// tests can run every panel query against a real InfluxDB.

/** Escapes a value for use inside an InfluxQL regex literal `/.../` (as Grafana does, plus `/`). */
export function escapeInfluxRegex(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}/]/g, '\\$&');
}

/** Options of {@link expandGrafanaMacros}. */
export interface MacroOptions {
  /** What `$timeFilter` becomes. @defaultValue 'time > now() - 1h' */
  readonly timeFilter?: string;
  /** What `$__interval` and `$interval` become. @defaultValue '10s' */
  readonly interval?: string;
  /** Every template variable is "All" with allValue `.*` (Grafana inserts a custom all value unescaped). */
  readonly all?: boolean;
}

// A regex literal after =~ or !~ : /.../ with \/ escapes inside.
const REGEX_LITERAL = /([=!]~\s*)\/((?:[^/\\\n]|\\.)*)\//g;
// $name, ${name}, [[name]]
const VARIABLE = /\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g;

/**
 * Replaces `$timeFilter`, `$__interval`, `$interval`, `$__interval_ms` and the template variables
 * in `vars` (regex-escaped inside `=~ /.../` literals, verbatim elsewhere). An unknown `$name`
 * throws, so a dashboard that uses an undefined variable fails the test naming it. With `all`,
 * every variable becomes `.*`, as Grafana does for "All" with `allValue: ".*"`.
 */
export function expandGrafanaMacros(
  query: string,
  vars: Readonly<Record<string, string>>,
  opts: MacroOptions = {},
): string {
  const interval = opts.interval ?? '10s';
  const builtins: Record<string, string> = {
    timeFilter: opts.timeFilter ?? 'time > now() - 1h',
    __interval: interval,
    interval,
    __interval_ms: String(intervalMs(interval)),
  };
  const replace = (text: string, inRegex: boolean) =>
    text.replace(VARIABLE, (match, braced?: string, plain?: string, bracketed?: string) => {
      const name = (braced ?? plain ?? bracketed)!;
      if (name in builtins) {
        if (inRegex) throw new Error(`macro ${match} inside a regex literal in: ${query}`);
        return builtins[name]!;
      }
      if (opts.all) return '.*';
      const value = vars[name];
      if (value === undefined) throw new Error(`unknown template variable ${match} in: ${query}`);
      return inRegex ? escapeInfluxRegex(value) : value;
    });
  // Regex literals first (escaped values), then the rest (verbatim values).
  const parts: string[] = [];
  let last = 0;
  for (const m of query.matchAll(REGEX_LITERAL)) {
    parts.push(replace(query.slice(last, m.index), false));
    parts.push(`${m[1]}/${replace(m[2]!, true)}/`);
    last = m.index + m[0].length;
  }
  parts.push(replace(query.slice(last), false));
  return parts.join('');
}

function intervalMs(interval: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(interval);
  if (!m) throw new Error(`bad interval ${interval}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
