/**
 * Preloaded into the api/worker processes by the benchmarks (`NODE_OPTIONS=--import …/cpu-profile-hook.js`)
 * so the measured window only is profiled: the first SIGUSR2 starts the V8 sampling profiler, the second
 * stops it and writes `<CPU_PROFILE_DIR>/<CPU_PROFILE_NAME>-<pid>.cpuprofile` (the Chrome DevTools format,
 * same as `node --cpu-prof`), then prints `cpu-profile-written <file>` on stderr.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.CPU_PROFILE_DIR ?? '.';
const name = process.env.CPU_PROFILE_NAME ?? 'process';
const session = new Session();
session.connect();
let running = false;

const post = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
  new Promise((resolve, reject) =>
    session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))),
  );

process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    void post('Profiler.enable')
      .then(() => post('Profiler.setSamplingInterval', { interval: 500 }))
      .then(() => post('Profiler.start'));
    return;
  }
  running = false;
  void post('Profiler.stop').then((res) => {
    const file = join(dir, `${name}-${process.pid}.cpuprofile`);
    writeFileSync(file, JSON.stringify((res as { profile: unknown }).profile));
    process.stderr.write(`cpu-profile-written ${file}\n`);
  });
});
