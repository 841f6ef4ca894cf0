import twilio from 'twilio';
import type { Locale } from '#libs/core';

/**
 * The text-to-speech voice per template language: Amazon Polly voices through Twilio's `<Say>`
 * (Zhiyu speaks Mandarin, `cmn-CN`; Joanna US English). docs.twilio.com/docs/voice/twiml/say.
 */
export const TTS_VOICES: Readonly<Record<Locale, { voice: string; language: string }>> = {
  'zh-CN': { voice: 'Polly.Zhiyu', language: 'cmn-CN' },
  en: { voice: 'Polly.Joanna', language: 'en-US' },
};

/**
 * The TwiML of a voice reminder: the text said twice with a pause between (a person who picks up
 * late still hears it whole). Built with the official client's VoiceResponse, which escapes the
 * text; these exact bytes are stored as the call's artifact and given to the provider.
 */
export function buildTwiml(text: string, locale: Locale): string {
  const r = new twilio.twiml.VoiceResponse();
  const { voice, language } = TTS_VOICES[locale];
  r.say({ voice: voice as 'Polly.Joanna', language: language as 'en-US' }, text);
  r.pause({ length: 1 });
  r.say({ voice: voice as 'Polly.Joanna', language: language as 'en-US' }, text);
  return r.toString();
}
