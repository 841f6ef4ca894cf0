import { DEFAULT_STAGE_POLICY } from '#libs/config';

/** The early stage calls first; a call nobody answers escalates to the stage's SMS. */
export const VOICE_FIRST_POLICY = JSON.stringify({
  stages: DEFAULT_STAGE_POLICY.stages.map((s) =>
    s.stage === 'early'
      ? {
          ...s,
          channels: [
            { channel: 'voice', templateKey: 'early.voice.reminder', registered: false },
            ...s.channels,
          ],
        }
      : s,
  ),
});

export function voiceBody(caseId: string, phone: string, locale: 'zh-CN' | 'en' = 'zh-CN') {
  return {
    caseId,
    channel: 'voice',
    templateKey: 'early.voice.reminder',
    locale,
    recipient: { role: 'debtor', name: '张三', phone, timeZone: 'Asia/Shanghai' },
    data: { amountDue: '3280.50', dueDate: '2026-11-01', cardLast4: '1234', dpd: 22 },
  };
}
