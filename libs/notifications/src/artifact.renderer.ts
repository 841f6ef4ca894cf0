import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  composeEml,
  type EmailAttachment,
  listUnsubscribeHeaders,
  messageIdFor,
  type OutboundMessage,
  unsubscribeToken,
  validatePostalAddress,
  isMainlandNumber,
  buildTwiml,
} from '#libs/channels';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import type { Locale } from '#libs/core';
import { type JsonValue } from '#libs/evidence';
import { type LetterInput, type LetterService, preflightLetter, renderLetterPdf } from '#libs/letters';
import type { TemplateDefinition } from '#libs/templates';
import type { NotificationRow } from './notification.repository.js';
import { TemplateRegistry } from './template-registry.js';

/** What dispatch sends and stores: the artifact whose SHA-256 goes into the evidence. */
export interface RenderedArtifact {
  mediaType: string;
  content: Buffer;
  sha256: string;
  meta: Record<string, JsonValue>;
  outbound: OutboundMessage;
  /** Extra artifacts stored next to the main one (e.g. the PDF attached to an email). */
  extra: { mediaType: string; content: Buffer; sha256: string }[];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const dateFormats = new Map<string, Intl.DateTimeFormat>();

/** Calendar date of an instant in a zone, `YYYY-MM-DD` (one cached formatter per zone). */
function localDate(ms: number, timeZone: string): string {
  let f = dateFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormats.set(timeZone, f);
  }
  return f.format(ms);
}

/** What the accept-time letter checks need of a notification that is not stored yet. */
export type LetterCheckTarget = Pick<
  NotificationRow,
  'id' | 'caseId' | 'locale' | 'recipient' | 'data' | 'createdAt'
>;

/**
 * Renders a notification's pinned template version into the exact bytes that go out: the SMS
 * text, the email (.eml, with the letter PDF attached when the template asks for it), or the
 * letter PDF (deterministic: the same notification always gives the same bytes).
 */
@Injectable()
export class ArtifactRenderer {
  constructor(
    private readonly templates: TemplateRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Whether an SMS to `to` goes through a mainland gateway (registered templates only). */
  sendsRegistered(to: string): boolean {
    return this.config.smsMainland.length > 0 && isMainlandNumber(to);
  }

  async render(n: NotificationRow): Promise<RenderedArtifact> {
    // `resolve` loads a version another process published since this one last refreshed.
    const def = await this.templates.resolve(n.templateKey, n.locale as Locale, n.templateVersion);
    const unsubscribeUrl =
      n.channel === 'email'
        ? `${this.config.http.publicBaseUrl}/unsubscribe?t=${unsubscribeToken(
            this.config.email.unsubscribeSecret,
            {
              address: n.recipientAddress,
              notificationId: n.id,
              channel: 'email',
            },
            new Date(n.createdAt),
          )}`
        : undefined;
    const issuedOn = localDate(n.createdAt, n.recipient.timeZone || 'Asia/Shanghai');
    const ctx = {
      recipientRole: n.recipient.role,
      recipientName: n.recipient.name,
      caseId: n.caseId,
      notificationId: n.id,
      unsubscribeUrl,
      issuedOn,
    };
    const out = await this.templates.render(def, n.data, ctx);
    const base = {
      notificationId: n.id,
      to: n.recipientAddress,
      webhookBaseUrl: this.config.http.webhookBaseUrl,
    };

    if (n.channel === 'sms') {
      if (!out.sms) throw new Error(`template ${def.key} has no SMS part`);
      // A mainland gateway is given the registration filled with these values, never free text;
      // the evidence keeps the codes and values next to the text the debtor reads.
      const registered = this.sendsRegistered(n.recipientAddress)
        ? this.templates.registeredSms(def, n.data, ctx, out.sms.text)
        : undefined;
      const content = Buffer.from(out.sms.text, 'utf8');
      return {
        mediaType: 'text/plain; charset=utf-8',
        content,
        sha256: sha256(content),
        meta: {
          encoding: out.sms.encoding,
          segments: out.sms.segments,
          characters: [...out.sms.text].length,
          ...(registered ? { registered: registered as unknown as JsonValue } : {}),
        },
        outbound: {
          ...base,
          channel: 'sms',
          sms: { body: out.sms.text, ...(registered ? { registered } : {}) },
        },
        extra: [],
      };
    }

    if (n.channel === 'letter') {
      if (!out.letter) throw new Error(`template ${def.key} has no letter part`);
      const service = this.letterService(def.stage);
      const pdf = await renderLetterPdf(this.letterInput(n, out.letter, issuedOn, service));
      const pdfSha256 = sha256(pdf);
      const address = n.recipient.address as NonNullable<typeof n.recipient.address>;
      return {
        mediaType: 'application/pdf',
        content: pdf,
        sha256: pdfSha256,
        meta: {
          documentId: n.id,
          service,
          bytes: pdf.length,
        },
        outbound: {
          ...base,
          channel: 'letter',
          letter: {
            documentId: n.id,
            pdf,
            pdfSha256,
            recipientName: n.recipient.name,
            address,
            service,
          },
        },
        extra: [],
      };
    }

    if (n.channel === 'voice') {
      if (!out.voice) throw new Error(`template ${def.key} has no voice part`);
      // What the call says, as the provider is given it: the TwiML bytes are the artifact.
      const twiml = buildTwiml(out.voice.text, def.locale);
      const content = Buffer.from(twiml, 'utf8');
      return {
        mediaType: 'application/xml; charset=utf-8',
        content,
        sha256: sha256(content),
        meta: { characters: [...out.voice.text].length, language: def.locale },
        outbound: { ...base, channel: 'voice', voice: { text: out.voice.text, locale: def.locale, twiml } },
        extra: [],
      };
    }

    if (n.channel !== 'email') throw new Error(`channel ${n.channel} has no artifact renderer`);
    if (!out.email) throw new Error(`template ${def.key} has no email part`);
    const attachments: EmailAttachment[] = [];
    const extra: RenderedArtifact['extra'] = [];
    if (def.attachLetter) {
      // An emailed copy of a letter: the letter template renders with the same data.
      const letterDef = await this.templates.resolve(def.attachLetter, n.locale as Locale);
      const letter = (
        await this.templates.render(letterDef, n.data, {
          recipientName: n.recipient.name,
          caseId: n.caseId,
          notificationId: n.id,
          issuedOn,
        })
      ).letter;
      if (!letter) throw new Error(`template ${def.attachLetter} has no letter part`);
      const pdf = await renderLetterPdf(this.copyInput(n, letter, issuedOn));
      attachments.push({ filename: `${letter.title}.pdf`, contentType: 'application/pdf', content: pdf });
      extra.push({ mediaType: 'application/pdf', content: pdf, sha256: sha256(pdf) });
    }
    const headers = unsubscribeUrl ? listUnsubscribeHeaders(unsubscribeUrl) : undefined;
    const messageId = messageIdFor(n.id, this.config.email.messageIdDomain);
    // The exact bytes sent: signed once here, stored, and handed to the provider as they are.
    const eml = await composeEml(
      {
        from: this.config.email.from,
        to: n.recipientAddress,
        subject: out.email.subject,
        text: out.email.text,
        html: out.email.html,
        messageId,
        date: new Date(n.createdAt),
        headers,
        attachments,
      },
      this.config.email.dkim,
    );
    return {
      mediaType: 'message/rfc822',
      content: eml,
      sha256: sha256(eml),
      meta: {
        messageId,
        subject: out.email.subject,
        attachments: extra.map((x) => ({ mediaType: x.mediaType, sha256: x.sha256, size: x.content.length })),
      },
      outbound: {
        ...base,
        channel: 'email',
        email: {
          subject: out.email.subject,
          html: out.email.html,
          text: out.email.text,
          attachments,
          headers,
          raw: eml,
        },
      },
      extra,
    };
  }

  /**
   * The LetterInput of a letter notification: exactly what the renderer paints, and what the accept-time checks
   * ({@link precheckLetter}) measure.
   */
  private letterInput(
    n: LetterCheckTarget,
    letter: NonNullable<Awaited<ReturnType<TemplateRegistry['render']>>['letter']>,
    issuedOn: string,
    service: LetterService,
  ): LetterInput {
    const address = n.recipient.address;
    const checked = address ? validatePostalAddress(address, n.recipient.name) : null;
    if (!address || !checked || !checked.ok)
      throw new Error(`notification ${n.id} has no valid postal address`);
    return {
      documentId: n.id,
      caseId: n.caseId,
      date: issuedOn,
      locale: n.locale === 'en' ? 'en' : 'zh-CN',
      recipient: { name: n.recipient.name, addressLines: checked.addressLines, postcode: address.postcode },
      title: letter.title,
      bodyMarkdown: letter.markdown,
      attachments: letter.attachments.map((a) => ({ title: a.title, bodyMarkdown: a.markdown })),
      bank: this.letterBank(),
      verifyUrl: `${this.config.letter.verifyBaseUrl}/${n.id}`,
      service,
      sealImagePath: this.config.letter.sealImagePath,
    };
  }

  /**
   * Accept-time checks of a letter notification, on the same LetterInput {@link render} would paint (same template
   * render, date and service): every character has a glyph in the font chain (else the field and the code point
   * are named), the address fits the envelope window, the total is principal + interest and fees, and the payment
   * deadline falls after the letter date. Throws TemplateDataError (422); nothing is stored before it passes.
   */
  async precheckLetter(n: LetterCheckTarget, def: TemplateDefinition): Promise<void> {
    const issuedOn = localDate(n.createdAt, n.recipient.timeZone || 'Asia/Shanghai');
    const out = await this.templates.render(def, n.data, {
      recipientRole: n.recipient.role,
      recipientName: n.recipient.name,
      caseId: n.caseId,
      notificationId: n.id,
      issuedOn,
    });
    if (!out.letter) throw new Error(`template ${def.key} has no letter part`);
    const input = this.letterInput(n, out.letter, issuedOn, this.letterService(def.stage));
    preflightLetter(input, {
      sources: [
        { path: 'recipient.name', value: n.recipient.name },
        { path: 'recipient.address', value: n.recipient.address },
        { path: 'data', value: n.data },
      ],
      data: n.data,
      addressPath: 'recipient.address',
    });
  }

  /** The LetterInput of the copy of a letter attached to an email (not posted: no service endorsement). */
  private copyInput(
    n: LetterCheckTarget & Pick<NotificationRow, 'recipientAddress'>,
    letter: NonNullable<Awaited<ReturnType<TemplateRegistry['render']>>['letter']>,
    issuedOn: string,
  ): LetterInput {
    const checked = n.recipient.address ? validatePostalAddress(n.recipient.address, n.recipient.name) : null;
    return {
      documentId: n.id,
      caseId: n.caseId,
      date: issuedOn,
      locale: n.locale === 'en' ? 'en' : 'zh-CN',
      recipient: {
        name: n.recipient.name,
        addressLines: checked?.ok ? checked.addressLines : [n.recipientAddress],
        postcode: n.recipient.address?.postcode,
      },
      title: letter.title,
      bodyMarkdown: letter.markdown,
      attachments: letter.attachments.map((a) => ({ title: a.title, bodyMarkdown: a.markdown })),
      bank: this.letterBank(),
      verifyUrl: `${this.config.letter.verifyBaseUrl}/${n.id}`,
      sealImagePath: this.config.letter.sealImagePath,
    };
  }

  /**
   * Accept-time checks of the letter copy an email attaches (`attachLetter`): glyph coverage, amounts and deadline
   * as for a posted letter (no envelope window: the copy is not posted). Throws TemplateDataError (422).
   */
  async precheckLetterCopy(
    n: LetterCheckTarget & Pick<NotificationRow, 'recipientAddress'>,
    def: TemplateDefinition,
  ): Promise<void> {
    if (!def.attachLetter) return;
    const issuedOn = localDate(n.createdAt, n.recipient.timeZone || 'Asia/Shanghai');
    const letterDef = await this.templates.resolve(def.attachLetter, n.locale as Locale);
    const letter = (
      await this.templates.render(letterDef, n.data, {
        recipientName: n.recipient.name,
        caseId: n.caseId,
        notificationId: n.id,
        issuedOn,
      })
    ).letter;
    if (!letter) throw new Error(`template ${def.attachLetter} has no letter part`);
    preflightLetter(this.copyInput(n, letter, issuedOn), {
      sources: [
        { path: 'recipient.name', value: n.recipient.name },
        { path: 'recipient.address', value: n.recipient.address },
        { path: 'data', value: n.data },
      ],
      data: n.data,
      window: false,
    });
  }

  /** The postal service of a letter of this stage: what the provider is told and the envelope window prints. */
  private letterService(stage: string): LetterService {
    return this.registered(stage) ? 'registered' : 'ordinary';
  }

  /** Registered mail when the stage policy says so for letters (late and legal stages by default). */
  private registered(stage: string): boolean {
    const entry = this.config.stagePolicy.stages
      .find((s) => s.stage === stage)
      ?.channels.find((c) => c.channel === 'letter');
    return entry ? entry.registered : stage === 'late' || stage === 'legal';
  }

  private letterBank() {
    const b = this.templates.bank;
    return { name: b.name, addressLines: [b.address], phone: b.phone, website: b.website };
  }
}
