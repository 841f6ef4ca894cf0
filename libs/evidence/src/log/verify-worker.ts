/** The verify pool's worker (verify-pool.ts): one page of leaves or SETs checked on a worker thread. */
import { checkLeafPage, checkSetPage } from './verify-work.js';
import type { VerifyTask, VerifyTaskResult } from './verify-pool.js';

export default function verifyTask(task: VerifyTask): VerifyTaskResult {
  if (task.kind === 'sets') return { kind: 'sets', ...checkSetPage(task.page, task.key, task.skipKeyIds) };
  return { kind: 'leaves', ...checkLeafPage(task.page) };
}
