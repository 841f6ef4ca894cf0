/** Public input types of the letter renderer. */

export type LetterLocale = 'zh-CN' | 'en';

/** The postal service class the letter is sent with; printed as the endorsement in the address window. */
export type LetterService = 'ordinary' | 'registered';

/** The sending bank as printed in the letterhead, the return-address line and the signature block. */
export interface BankIdentity {
  /** Legal name, e.g. `示例银行股份有限公司信用卡中心`. */
  name: string;
  /** Postal address, one printed line per entry (letterhead and return-address line). */
  addressLines: string[];
  postcode?: string;
  /** Customer-service phone number printed in the letterhead. */
  phone: string;
  /** Optional website or e-mail shown after the phone number. */
  website?: string;
}

export interface LetterRecipient {
  name: string;
  /** Address lines as they go on the envelope (street, district/city, ...), without the postcode. */
  addressLines: string[];
  postcode?: string;
}

export interface LetterAttachment {
  /** Title of the attachment, e.g. `还款承诺书`. */
  title: string;
  bodyMarkdown: string;
}

export interface LetterInput {
  documentId: string;
  caseId: string;
  /** Notice date `YYYY-MM-DD`; also the PDF CreationDate/ModDate (00:00:00 UTC) so output is reproducible. */
  date: string;
  locale: LetterLocale;
  recipient: LetterRecipient;
  /** Letter title, e.g. `信用卡逾期欠款催收函`. */
  title: string;
  /** Body in the Markdown subset understood by {@link parseMarkdown}. */
  bodyMarkdown: string;
  /** Extra parts (e.g. the repayment-commitment form 还款承诺书), each starting on a new page. */
  attachments?: LetterAttachment[];
  bank: BankIdentity;
  /** Verification URL encoded in the footer QR code and printed in the footer. */
  verifyUrl: string;
  /**
   * The postal service the letter goes out with (the one the print provider is told): printed above the address
   * as `挂号信 / REGISTERED MAIL` or `平信 / ORDINARY MAIL`. Absent (a copy that is not posted, e.g. attached to an
   * email, or a preview): no endorsement is printed.
   */
  service?: LetterService;
  /** Optional PNG/JPEG of the bank's seal, drawn over the signature block. */
  sealImagePath?: string;
}

/** Rectangle in PDF points, origin at the top-left corner of the page, y growing downwards. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}
