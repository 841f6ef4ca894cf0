/** Summarises V8 `.cpuprofile` files: self time per function (file:line) and per package. */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface FrameShare {
  frame: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  idlePct: number;
  topFrames: FrameShare[];
  byPackage: FrameShare[];
}

function shortUrl(url: string, root: string): string {
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(root)) u = u.slice(root.length).replace(/^\/+/, '');
  return u;
}

/** Which package (node_modules/<pkg>), project area (dist/libs/<x>) or runtime a frame belongs to. */
function packageOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  const m = /dist\/(libs\/[^/]+|apps\/[^/]+|test\/[^/]+|bench\/[^/]+)/.exec(url);
  return m ? m[1] : url;
}

export function summariseProfiles(files: string[], root: string, top = 15): ProfileSummary {
  const self = new Map<string, number>();
  const pkg = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const samples = p.samples ?? [];
    const deltas = p.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const node = byId.get(samples[i] as number);
      if (!node) continue;
      const ms = (deltas[i] ?? 0) / 1000;
      total += ms;
      const cf = node.callFrame;
      if (cf.functionName === '(idle)' || cf.functionName === '(program)') {
        if (cf.functionName === '(idle)') idle += ms;
      }
      const key =
        `${cf.functionName || '(anonymous)'} ${cf.url ? `${shortUrl(cf.url, root)}:${cf.lineNumber + 1}` : ''}`.trim();
      self.set(key, (self.get(key) ?? 0) + ms);
      const pk = packageOf(shortUrl(cf.url, root), cf.functionName);
      pkg.set(pk, (pkg.get(pk) ?? 0) + ms);
    }
  }
  const busy = total - idle;
  const rank = (m: Map<string, number>, skipIdle: boolean): FrameShare[] =>
    [...m.entries()]
      .filter(([k]) => !(skipIdle && k.startsWith('(idle)')))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, ms]) => ({ frame, ms: Math.round(ms), pct: busy > 0 ? (100 * ms) / busy : 0 }));
  return {
    totalMs: Math.round(total),
    idlePct: total > 0 ? (100 * idle) / total : 0,
    topFrames: rank(self, true),
    byPackage: rank(pkg, true),
  };
}

export function profileMarkdown(title: string, s: ProfileSummary): string[] {
  return [
    `${title}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${s.idlePct.toFixed(0)}% idle; share of busy time:`,
    '',
    '| self time, by package / area | % busy |',
    '|---|---:|',
    ...s.byPackage.slice(0, 10).map((f) => `| ${f.frame} | ${f.pct.toFixed(1)} |`),
    '',
    '| self time, top frames | % busy |',
    '|---|---:|',
    ...s.topFrames.map((f) => `| \`${f.frame.replace(/\|/g, '\\|')}\` | ${f.pct.toFixed(1)} |`),
    '',
  ];
}
